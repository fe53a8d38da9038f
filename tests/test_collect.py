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
from followthrough.local.aws import LocalAws
from followthrough.local.demo import DemoWorld, start_world
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.steps import store

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
