"""collect against the X stand-in (HTTP on loopback) and in-process moto.

Incremental reads, cost, rate limits mid-pagination, credits exhausted,
revoked tokens and malformed payloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from followthrough import steps
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.steps import store
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(aws: LocalAws) -> Iterator[DemoWorld]:
    w = start_world(seed=11, now=NOW, profile="small", aws=aws)
    yield w
    w.close()


def _messages(aws: LocalAws, queue: str) -> list[dict]:
    got = boto3.client("sqs").receive_message(QueueUrl=aws.queue_urls[queue], MaxNumberOfMessages=10,
                                              AttributeNames=["All"])
    return got.get("Messages", [])


def _outbox() -> list:
    return list(get_backend("ses")[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _request(world: DemoWorld, week: str = "2026-W48") -> CollectRequest:
    return CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=week)


def test_first_run_reads_everything_once_stores_a_report_and_queues_the_digest(world: DemoWorld) -> None:
    result = steps.run_collect(_request(world))
    assert result.status == "collected", result.reason
    account = world.sim.accounts[world.subscriber.x_user_id]
    assert result.counts["following"] == len(account.following)
    assert result.counts["followers"] == len(account.followers)
    for endpoint in ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events"):
        assert world.sim.meter.duplicates(endpoint) == 0, endpoint
    stored = store().get_week(world.subscriber.subscriber_id, "2026-W48")
    assert stored is not None and stored[0].week == "2026-W48"
    assert stored[1].total_usd == pytest.approx(result.spend.total_usd)
    [message] = _messages(world.aws, "digest")
    assert DigestRequest.model_validate_json(message["Body"]).subscriber_id == world.subscriber.subscriber_id


def test_steady_week_reads_only_what_is_new(world: DemoWorld) -> None:
    steps.run_collect(_request(world, "2026-W48"))
    delta = world.sim.advance_week(seed=5)[world.subscriber.x_user_id]
    world.sim.meter.reset()
    result = steps.run_collect(_request(world, "2026-W49"))
    assert result.status == "collected", result.reason
    snapshot = world.sim.meter.snapshot()
    served = {k: v["resources"] for k, v in snapshot.items()}
    assert served["tweets"] == len(delta.post_ids)
    assert served["mentions"] == len(delta.mention_ids)
    new = delta.new_resource_count + 1  # + users/me
    assert sum(served.values()) <= 1.3 * new + 10, (served, new)
    assert result.counts["followers"] >= len(delta.new_follower_ids)
    assert result.counts["following"] == len(delta.new_following_ids)


def test_rate_limit_mid_pagination_requeues_and_resumes_without_rereading(world: DemoWorld) -> None:
    world.sim.faults.inject("liked_tweets", 429, after=1, reset_in=120)
    first = steps.run_collect(_request(world))
    assert first.status == "rate_limited" and 100 <= first.retry_in_s <= 120
    # back on the queue, invisible until X's window resets (no sleeping inside Lambda)
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=world.aws.queue_urls["collect"],
                                                     AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1" and _messages(world.aws, "collect") == []
    requeued = next(CollectRequest.model_validate_json(m.body) for q in
                    get_backend("sqs")[DEFAULT_ACCOUNT_ID]["us-east-1"].queues.values() for m in q._messages)
    assert requeued.requeues == 1 and requeued.subscriber_id == world.subscriber.subscriber_id
    assert _messages(world.aws, "digest") == []
    status = store().week_status(world.subscriber.subscriber_id, "2026-W48")
    assert status is not None and status[0] == "rate_limited"

    second = steps.run_collect(requeued)
    assert second.status == "collected", second.reason
    for endpoint in ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events"):
        assert world.sim.meter.duplicates(endpoint) == 0, endpoint
    account = world.sim.accounts[world.subscriber.x_user_id]
    total_likes = world.sim.meter.snapshot()["liked_tweets"]["resources"]
    assert total_likes == len(account.likes)


def test_credits_exhausted_stops_everyone_this_run(world: DemoWorld) -> None:
    world.sim.faults.inject("tweets", 402)
    result = steps.run_collect(_request(world))
    assert result.status == "credits_exhausted"
    assert store().run_flag("2026-W48", "credits_exhausted")
    requests_before = sum(v["requests"] for v in world.sim.meter.snapshot().values())
    again = steps.run_collect(_request(world))
    assert again.status == "credits_exhausted"
    assert sum(v["requests"] for v in world.sim.meter.snapshot().values()) == requests_before
    assert _messages(world.aws, "digest") == []


def test_revoked_token_marks_needs_reauth_and_mails_one_reconnect_email(world: DemoWorld) -> None:
    world.sim.revoke(world.subscriber.x_user_id)
    first = steps.run_collect(_request(world))
    assert first.status == "needs_reauth"
    sub = store().get_subscriber(world.subscriber.subscriber_id)
    assert sub is not None and sub.status == "needs_reauth" and not sub.receives_digest
    assert [set(m.destinations) for m in _outbox()] == [{world.subscriber.email}]
    assert "Reconnect" in _outbox()[0].raw_data
    # next week: not due any more, and a stray message neither crashes nor mails again
    assert list(store().due_subscribers(world.subscriber.due_slot(NOW))) == []
    again = steps.run_collect(_request(world, "2026-W49"))
    assert again.status == "not_receiving" and len(_outbox()) == 1
    # the same week's message redelivered keeps the first, better reason
    redelivered = steps.run_collect(_request(world))
    assert redelivered.status == "not_receiving"
    status = store().week_status(world.subscriber.subscriber_id, "2026-W48")
    assert status is not None and status[0] == "needs_reauth" and "refresh" in status[1]


def test_a_throttled_reconnect_email_is_sent_by_the_retry(world: DemoWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the soak (issue 18): the subscriber used to be marked before the send, so a send
    that failed was never retried and the reconnect email was lost."""
    from botocore.exceptions import ClientError

    from followthrough.adapters import mailer as mailer_module

    real_send = mailer_module.Mailer.send
    throttles = [ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}},
                             "SendRawEmail")]

    def throttled_once(self: object, recipient: str, raw: bytes) -> str:
        if throttles:
            raise throttles.pop()
        return real_send(self, recipient, raw)  # type: ignore[arg-type]

    monkeypatch.setattr(mailer_module.Mailer, "send", throttled_once)
    world.sim.revoke(world.subscriber.x_user_id)
    with pytest.raises(ClientError):
        steps.run_collect(_request(world))
    assert _outbox() == []
    retried = steps.run_collect(_request(world))  # SQS redelivers the failed record
    assert retried.status == "needs_reauth"
    assert [set(m.destinations) for m in _outbox()] == [{world.subscriber.email}]
    assert steps.run_collect(_request(world)).status == "not_receiving" and len(_outbox()) == 1


def test_expired_access_token_is_refreshed_through_oauth(world: DemoWorld) -> None:
    world.sim.advance(7200 + 60)  # the stored access token has expired
    result = steps.run_collect(_request(world))
    assert result.status == "collected", result.reason
    assert world.sim.meter.snapshot()["oauth_token"]["requests"] == 1


def test_malformed_payload_is_a_clear_error_for_that_read_only(world: DemoWorld) -> None:
    world.sim.faults.random(rate=0.0, truncate_rate=1.0, endpoints=["mentions"])
    result = steps.run_collect(_request(world))
    assert result.status == "collected"
    assert any(s.startswith("mentions:") and "JSON" in s for s in result.spend.skipped), result.spend.skipped
    assert result.report is not None and "mentions" in result.report.unavailable


def test_server_errors_are_retried_a_bounded_number_of_times(world: DemoWorld) -> None:
    world.sim.faults.inject("mentions", 503, times=2)
    result = steps.run_collect(_request(world))
    assert result.status == "collected"
    assert world.sim.meter.snapshot()["mentions"]["requests"] >= 3

    world.sim.faults.inject("dm_events", 503, times=10)
    from followthrough.adapters.x import XUnavailable

    with pytest.raises(XUnavailable):
        steps.run_collect(_request(world, "2026-W49"))
    assert world.sim.faults.pending("dm_events") == 7  # 1 try + 2 retries, then it gave up


def test_budget_stops_reads_in_order_of_value_and_records_what_was_skipped(world: DemoWorld,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRST_RUN_BUDGET_USD", "0.30")
    steps.reset()
    result = steps.run_collect(_request(world))
    assert result.status == "collected"
    assert result.spend.total_usd <= 0.30
    skipped = {s.split(":")[0] for s in result.spend.skipped}
    assert "followers" in skipped and "tweets" not in skipped
    assert result.report is not None and "followers" in result.report.unavailable
    stored = store().get_week(world.subscriber.subscriber_id, "2026-W48")
    assert stored is not None and stored[1].skipped == result.spend.skipped


def test_poison_message_goes_to_the_dlq_without_blocking_the_batch(world: DemoWorld) -> None:
    from followthrough_devkit.lambda_runtime import drain, queue_depth

    sqs = boto3.client("sqs")
    url = world.aws.queue_urls["collect"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})  # failures come back at once
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=_request(world).model_dump_json())
    first = drain("collect", url, max_batches=1)
    # at once, with its reason: the poison is not retried (it could never succeed) and blocks nothing
    assert first.delivered == 2 and first.failed == 0
    assert len(_messages(world.aws, "digest")) == 1  # the good one went through
    assert queue_depth(world.aws.queue_urls["collect-dlq"]) == 1 and queue_depth(url) == 0
    dead = sqs.receive_message(QueueUrl=world.aws.queue_urls["collect-dlq"], MessageAttributeNames=["All"])
    assert dead["Messages"][0]["Body"] == "{not json"
    assert dead["Messages"][0]["MessageAttributes"]["reason"]["StringValue"].startswith("invalid message: body: ")


def test_sample_event_parses_through_the_handler_model() -> None:
    import json

    from followthrough_devkit.lambda_runtime import load_function

    with open("events/collect.json") as f:
        event = json.load(f)
    record = load_function("collect").CollectRecord.model_validate(event["Records"][0])
    assert record.body == CollectRequest(subscriber_id="sub-demo", week="2026-W48", requeues=0)
    assert record.messageId == event["Records"][0]["messageId"]
