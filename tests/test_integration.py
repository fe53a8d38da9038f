"""The whole weekly flow against moto's real server and the X stand-in, both over HTTP on loopback.

EventBridge scheduled event -> dispatch -> SQS -> collect (tweepy) -> SQS -> digest -> SES outbox.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from followthrough_devkit.demo import DemoWorld, run_week, start_world, write_outputs
from followthrough_devkit.lambda_runtime import queue_depth

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def world() -> Iterator[DemoWorld]:
    """A world of each test's own (a test that runs the weeks changes it)."""
    w = start_world(seed=7, now=NOW)
    assert w.aws.endpoint_url.startswith("http://127.0.0.1:")
    yield w
    w.close()


@pytest.fixture
def first_week(world: DemoWorld) -> dict:
    """The world after its first weekly run, for the tests of what comes after it."""
    return run_week(world)


def _digests_to(world: DemoWorld) -> list[dict]:
    return [m for m in world.aws.sent_emails() if world.subscriber.email in m["destinations"]]


def test_first_week_mails_a_digest_naming_planted_findings(world: DemoWorld, tmp_path: Path) -> None:
    result = run_week(world)
    assert result["dispatch"]["queued"] == 1
    assert result["collect"].failed == 0 and result["digest"].failed == 0
    [sent] = _digests_to(world)
    message = email.message_from_string(sent["raw_data"], policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    out = write_outputs(world, result["week"], tmp_path)
    assert out is not None
    html = (tmp_path / "digest.html").read_text()
    truth = world.sim.accounts[world.subscriber.x_user_id].truth
    users = world.sim.accounts[world.subscriber.x_user_id].users
    planted_passive = {users[i].username for i in truth.passive_follow_ids if i in users}
    planted_auto_dm = {users[i].username for i in truth.auto_dm_sender_ids if i in users}
    assert any(f"@{name}" in html for name in planted_passive)
    assert any(f"@{name}" in html for name in planted_auto_dm)
    stored = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, result["week"])
    assert stored is not None
    report = stored[0]
    flagged = {d.sender_id for d in report.auto_dms.received}
    account = world.sim.accounts[world.subscriber.x_user_id]
    served_window = NOW - timedelta(days=30)  # X serves the last 30 days of DMs
    reachable = {
        e.sender_id
        for e in account.dm_events
        if e.id in truth.auto_dm_event_ids and e.created_at and e.created_at >= served_window
    }
    assert reachable and flagged == reachable
    # no one the subscriber interacted with in the 90-day window is called passive...
    window = NOW - timedelta(days=90)
    for follow in report.passive_follows:
        latest = truth.followee_interactions.get(follow.user_id, {})
        assert all(at < window for at in latest.values()), (follow.user_id, latest)
    # ...and people never talked to are found
    assert {p.user_id for p in report.passive_follows} & truth.passive_follow_ids
    assert queue_depth(world.aws.queue_urls["collect-dlq"]) == 0
    assert queue_depth(world.aws.queue_urls["digest-dlq"]) == 0


@pytest.mark.usefixtures("first_week")
def test_running_the_same_hour_again_sends_nothing_more(world: DemoWorld) -> None:
    before = len(_digests_to(world))
    again = run_week(world, at=NOW + timedelta(minutes=20))
    assert again["dispatch"]["queued"] == 0
    assert len(_digests_to(world)) == before == 1


@pytest.mark.usefixtures("first_week")
def test_next_week_reads_only_the_new_week_and_mails_once_more(world: DemoWorld) -> None:
    delta = world.sim.advance_week(seed=21)[world.subscriber.x_user_id]
    world.sim.meter.reset()
    result = run_week(world, at=NOW + timedelta(days=7))
    assert result["week"] == "2026-W49" and result["dispatch"]["queued"] == 1
    assert len(_digests_to(world)) == 2
    served = world.sim.meter.snapshot()
    assert served["tweets"]["resources"] == len(delta.post_ids)
    assert served["mentions"]["resources"] == len(delta.mention_ids)
    assert all(v["resource_ids_returned_twice"] == 0 for v in served.values())
    report, _ = world.services.repositories.weeks.get_week(world.subscriber.subscriber_id, "2026-W49")  # type: ignore[misc]
    assert "engagement_score" in report.deltas
