"""collect against the X stand-in (HTTP on loopback) and the in-memory twins (tests/support/twins.py; no AWS).

Incremental reads, cost, credits exhausted, revoked tokens and malformed
payloads; what depends on SQS itself (requeue delays, the DLQ) and the calls
DynamoDB sees are in tests/test_collect_aws.py.
"""

from __future__ import annotations

import pytest

from followthrough.messages import CollectRequest, DigestRequest
from followthrough.pipeline.collect import DM_SENDERS
from followthrough.report import AUTO_DMS_SHOWN
from followthrough_devkit.demo import DemoWorld
from tests.support.twins import Twins
from tests.support.world import (  # noqa: F401 (fixtures)
    NOW,
    collect_request,
    collect_world_fixture,
    served_following,
    twins_fixture,
)

_request = collect_request


def test_first_run_reads_everything_once_stores_a_report_and_queues_the_digest(world: DemoWorld, twins: Twins) -> None:
    result = world.services.collect.run(_request(world))
    assert result.status == "collected", result.reason
    account = world.sim.accounts[world.subscriber.x_user_id]
    # the whole following list as X serves it (suspended accounts are counted, not served), the top of followers
    assert result.counts["following"] == len(served_following(world))
    first_followers = world.services.settings.collector.first_run_followers
    assert result.counts["followers"] == first_followers < len(account.followers)
    assert world.sim.meter.snapshot()["followers"]["resources"] == first_followers  # none paid for past them
    for endpoint in ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events"):
        assert world.sim.meter.duplicates(endpoint) == 0, endpoint
    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, "2026-W48")
    assert stored is not None and stored[0].week == "2026-W48"
    assert stored[1].total_usd == pytest.approx(result.spend.total_usd)
    [message] = twins.queued("digest")
    assert DigestRequest.model_validate_json(message["Body"]).subscriber_id == world.subscriber.subscriber_id


def test_steady_week_reads_only_what_is_new(world: DemoWorld) -> None:
    world.services.collect.run(_request(world, "2026-W48"))
    delta = world.sim.advance_week(seed=5)[world.subscriber.x_user_id]
    world.sim.meter.reset()
    result = world.services.collect.run(_request(world, "2026-W49"))
    assert result.status == "collected", result.reason
    snapshot = world.sim.meter.snapshot()
    served = {k: v["resources"] for k, v in snapshot.items()}
    assert served["tweets"] == len(delta.post_ids)
    assert served["mentions"] == len(delta.mention_ids)
    new = delta.new_resource_count + 1  # + users/me
    # an unfollow this week starts the re-read of who they follow and lookups before naming
    # (pipeline/followees.py), paid apart
    reread = result.spend.resources.get("following_reread", 0) + result.spend.resources.get("users_lookup", 0)
    assert bool(reread) == bool(delta.unfollowed_ids)
    assert sum(served.values()) - reread <= 1.3 * new + 10, (served, new)
    assert result.counts["followers"] >= len(delta.new_follower_ids)
    assert result.counts["following"] == len(delta.new_following_ids)


def test_credits_exhausted_stops_everyone_this_run(world: DemoWorld, twins: Twins) -> None:
    world.sim.faults.inject("tweets", 402)
    result = world.services.collect.run(_request(world))
    assert result.status == "credits_exhausted"
    assert world.services.repositories.weeks.run_flag("2026-W48", "credits_exhausted")
    requests_before = sum(v["requests"] for v in world.sim.meter.snapshot().values())
    again = world.services.collect.run(_request(world))
    assert again.status == "credits_exhausted"
    assert sum(v["requests"] for v in world.sim.meter.snapshot().values()) == requests_before
    assert twins.queued("digest") == []


def test_revoked_token_marks_needs_reauth_and_mails_one_reconnect_email(world: DemoWorld, twins: Twins) -> None:
    world.sim.revoke(world.subscriber.x_user_id)
    first = world.services.collect.run(_request(world))
    assert first.status == "needs_reauth"
    sub = world.services.repositories.subscribers.get_subscriber(world.subscriber.subscriber_id)
    assert sub is not None and sub.status == "needs_reauth" and not sub.receives_digest
    assert [set(m.destinations) for m in twins.mailer.sent] == [{world.subscriber.email}]
    assert "Reconnect" in twins.mailer.sent[0].raw_data
    # next week: not due any more, and a stray message neither crashes nor mails again
    assert list(world.services.repositories.subscribers.due_subscribers(world.subscriber.due_slot(NOW))) == []
    again = world.services.collect.run(_request(world, "2026-W49"))
    assert again.status == "not_receiving" and len(twins.mailer.sent) == 1
    # the same week's message redelivered keeps the first, better reason
    redelivered = world.services.collect.run(_request(world))
    assert redelivered.status == "not_receiving"
    status = world.services.repositories.weeks.week_status(world.subscriber.subscriber_id, "2026-W48")
    assert status is not None and status[0] == "needs_reauth" and "refresh" in status[1]


def test_a_throttled_reconnect_email_is_sent_by_the_retry(
    world: DemoWorld, twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the soak (issue 18): the subscriber used to be marked before the send, so a send
    that failed was never retried and the reconnect email was lost."""
    from botocore.exceptions import ClientError

    real_send = twins.mailer.send
    throttles = [
        ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendRawEmail")
    ]

    def throttled_once(recipient: str, raw: bytes) -> str:
        if throttles:
            raise throttles.pop()
        return real_send(recipient, raw)

    monkeypatch.setattr(twins.mailer, "send", throttled_once)
    world.sim.revoke(world.subscriber.x_user_id)
    with pytest.raises(ClientError):
        world.services.collect.run(_request(world))
    assert twins.mailer.sent == []
    retried = world.services.collect.run(_request(world))  # SQS redelivers the failed record
    assert retried.status == "needs_reauth"
    assert [set(m.destinations) for m in twins.mailer.sent] == [{world.subscriber.email}]
    assert world.services.collect.run(_request(world)).status == "not_receiving" and len(twins.mailer.sent) == 1


def test_expired_access_token_is_refreshed_through_oauth(world: DemoWorld) -> None:
    world.sim.advance(7200 + 60)  # the stored access token has expired
    result = world.services.collect.run(_request(world))
    assert result.status == "collected", result.reason
    assert world.sim.meter.snapshot()["oauth_token"]["requests"] == 1


def test_malformed_payload_is_a_clear_error_for_that_read_only(world: DemoWorld) -> None:
    world.sim.faults.random(rate=0.0, truncate_rate=1.0, endpoints=["mentions"])
    result = world.services.collect.run(_request(world))
    assert result.status == "collected"
    assert any(s.startswith("mentions:") and "JSON" in s for s in result.spend.skipped), result.spend.skipped
    assert result.report is not None and "mentions" in result.report.unavailable


def test_server_errors_are_retried_a_bounded_number_of_times(world: DemoWorld) -> None:
    world.sim.faults.inject("mentions", 503, times=2)
    result = world.services.collect.run(_request(world))
    assert result.status == "collected"
    assert world.sim.meter.snapshot()["mentions"]["requests"] >= 3

    world.sim.faults.inject("dm_events", 503, times=10)
    from followthrough.adapters.x import XUnavailable

    with pytest.raises(XUnavailable):
        world.services.collect.run(_request(world, "2026-W49"))
    assert world.sim.faults.pending("dm_events") == 7  # 1 try + 2 retries, then it gave up


def test_a_small_budget_is_shared_by_every_read_and_records_what_was_read_in_part(
    world: DemoWorld, twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRST_RUN_BUDGET_USD", "0.30")
    world.reload()
    twins.install(world.services)
    result = world.services.collect.run(_request(world))
    assert result.status == "collected"
    assert result.spend.total_usd <= 0.30
    weights = world.services.settings.collector.read_weights
    pool = 0.30 - result.spend.usd["users_me"]
    skipped = {s.split(":")[0]: s for s in result.spend.skipped}
    for endpoint, weight in weights.items():  # nobody starved: each read got most of its share, or all it needed
        assert endpoint not in skipped or result.spend.usd[endpoint] >= 0.7 * pool * weight / sum(weights.values())
    # the top of the followers list (first_run_followers) needs less than its share; the others are cut
    top = world.services.settings.collector.first_run_followers
    assert "followers" not in skipped and result.spend.resources["followers"] == top
    assert skipped.keys() == set(weights) - {"followers"}
    assert all("read in part" in why for why in skipped.values()), skipped
    assert result.report is not None
    assert {"posts", "mentions", "likes", "following", "dm_events"} <= set(result.report.unavailable)
    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, "2026-W48")
    assert stored is not None and stored[1].skipped == result.spend.skipped


def test_sample_event_parses_through_the_handler_model() -> None:
    import json

    from followthrough_devkit.lambda_runtime import load_function

    with open("events/collect.json") as f:
        event = json.load(f)
    record = load_function("collect").CollectRecord.model_validate(event["Records"][0])
    assert record.body == CollectRequest(subscriber_id="sub-demo", week="2026-W48", requeues=0)
    assert record.messageId == event["Records"][0]["messageId"]


def test_the_credits_flag_is_read_once_a_minute_until_it_is_set(twins: Twins, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from followthrough.pipeline.collect import CREDITS_FLAG, Collector

    weeks = twins.repositories.weeks
    reads: list[str] = []
    real_run_flag = weeks.run_flag
    monkeypatch.setattr(weeks, "run_flag", lambda week, flag: reads.append(week) or real_run_flag(week, flag))
    at = [NOW]
    collector = Collector(
        subscribers=twins.repositories.subscribers,
        state=twins.repositories.collector_state,
        weeks=weeks,
        tokens=None,
        make_client=None,
        config=None,  # type: ignore[arg-type]
        send_reconnect_email=None,
        post_cap=None,  # type: ignore[arg-type]
        now=lambda: at[0],
    )  # type: ignore[arg-type]
    assert collector._credits_exhausted("2026-W48") is None and len(reads) == 1
    weeks.set_run_flag("2026-W48", CREDITS_FLAG, "X: credits exhausted")  # by another process
    at[0] += timedelta(seconds=30)
    assert collector._credits_exhausted("2026-W48") is None and len(reads) == 1
    at[0] += timedelta(seconds=31)
    assert collector._credits_exhausted("2026-W48") == "X: credits exhausted" and len(reads) == 2
    at[0] += timedelta(hours=1)
    assert collector._credits_exhausted("2026-W48") == "X: credits exhausted" and len(reads) == 2
    assert collector._credits_exhausted("2026-W49") is None and reads == ["2026-W48", "2026-W48", "2026-W49"]


@pytest.mark.parametrize("world", ["typical"], indirect=True)
def test_the_automated_dms_a_digest_shows_name_their_senders(world: DemoWorld) -> None:
    """Their senders are mostly in neither list the first run holds whole (the following list) nor the top
    of followers it reads: one lookup of the shown ones names them."""
    result = world.services.collect.run(_request(world))
    assert result.status == "collected" and result.report is not None
    shown = result.report.auto_dms.received[:AUTO_DMS_SHOWN]
    assert shown
    users = world.sim.accounts[world.subscriber.x_user_id].users
    assert [d.sender_username for d in shown] == [users[d.sender_id].username for d in shown]
    looked_up = result.spend.resources.get(DM_SENDERS, 0)
    assert 0 < looked_up <= len(shown)  # only the unnamed among the shown; each once
    assert world.sim.meter.snapshot()["users_lookup"]["requests"] == 1


@pytest.mark.parametrize("world", ["typical"], indirect=True)
def test_without_the_lookup_the_automated_dms_are_still_reported(world: DemoWorld) -> None:
    world.sim.faults.inject("users_lookup", 503, times=10)
    result = world.services.collect.run(_request(world))
    assert result.status == "collected" and result.report is not None
    shown = result.report.auto_dms.received[:AUTO_DMS_SHOWN]
    assert shown and any(d.sender_username is None for d in shown)  # "An account", with the conversation
    assert DM_SENDERS not in result.spend.resources
