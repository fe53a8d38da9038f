"""X's monthly Post-read cap (pricing.mdx, post-cap.mdx): the app-wide meter admits, trims and queues, and a
usage-capped 429 stops Post reads for everyone, once, without a retry loop.

Against the X stand-in (HTTP on loopback) and the in-memory twins; the counter's own contract, on both
stores, is in tests/test_store_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from followthrough.adapters.store.memory import memory_repositories
from followthrough.adapters.x import TokenSet
from followthrough.bootstrap import Services
from followthrough.messages import CollectRequest
from followthrough.pipeline.collect import POST_CAP_REACHED_METRIC, POST_CAP_USED_METRIC
from followthrough.pipeline.postcap import BillingCycle, posts_read
from followthrough.subscriber import Subscriber
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from followthrough_devkit.xsim.generator import generate_account
from followthrough_devkit.xsim.sim import Meter
from tests.support.twins import Twins, make_twins

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday; the billing cycle is 1 November - 1 December
POST_ENDPOINTS = ("tweets", "mentions", "liked_tweets")


@dataclass
class MetricsRecorder:
    """What the steps publish, as Powertools' ``add_metric`` is called."""

    added: list[tuple[str, float]] = field(default_factory=list)

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.added.append((name, value))

    def values(self, name: str) -> list[float]:
        return [v for n, v in self.added if n == name]


def _world(monkeypatch: pytest.MonkeyPatch, twins: Twins, metrics: MetricsRecorder, **env: str) -> DemoWorld:
    names = LocalAws(endpoint_url="")  # resource names only: no AWS is started, none is called
    for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
        monkeypatch.setenv(name, "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def adapt(services: Services) -> None:
        twins.repositories = memory_repositories(services.clock)
        twins.install(services)
        services.metrics = metrics  # type: ignore[assignment,misc]

    return start_world(seed=11, now=NOW, profile="small", aws=names, adapt=adapt)


@pytest.fixture
def twins() -> Twins:
    return make_twins(lambda: NOW)


@pytest.fixture
def metrics() -> MetricsRecorder:
    return MetricsRecorder()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, twins: Twins, metrics: MetricsRecorder) -> Iterator[DemoWorld]:
    w = _world(monkeypatch, twins, metrics)
    yield w
    w.close()


def _second_subscriber(world: DemoWorld) -> Subscriber:
    """Another subscriber, with their own X account in the stand-in, never collected."""
    sim, services = world.sim, world.services
    user_id = sim.add_account(generate_account(23, "small", anchor=NOW))
    subscriber = world.subscriber.model_copy(
        update={"subscriber_id": f"sub-{user_id}", "x_user_id": user_id, "username": sim.accounts[user_id].me.username}
    )
    services.repositories.subscribers.put_subscriber(subscriber, reference=NOW)
    access, refresh = sim.issue_tokens(user_id)
    services.token_keeper.save(
        subscriber.subscriber_id, TokenSet(access, refresh, sim.now().timestamp() + 7200), expected_version=None
    )
    return subscriber


def _collect(world: DemoWorld, subscriber: Subscriber | None = None, week: str = "2026-W48") -> Any:
    sid = (subscriber or world.subscriber).subscriber_id
    return world.services.collect.run(CollectRequest(subscriber_id=sid, week=week))


def _post_requests(world: DemoWorld) -> int:
    snapshot = world.sim.meter.snapshot()
    return sum(snapshot[e]["requests"] for e in POST_ENDPOINTS)


def test_billing_cycles_start_on_their_day_at_midnight_utc() -> None:
    cycle = BillingCycle.of(datetime(2026, 12, 14, 23, 59, tzinfo=UTC), 15)
    assert (cycle.start, cycle.end) == (datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 12, 15, tzinfo=UTC))
    assert BillingCycle.of(datetime(2026, 12, 15, tzinfo=UTC), 15).key == "2026-12-15"
    assert BillingCycle.of(datetime(2027, 1, 3, tzinfo=UTC), 5).key == "2026-12-05"
    assert BillingCycle.of(datetime(2026, 12, 31, 23, tzinfo=UTC), 1).end == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_first_run_reserves_and_settles_to_the_posts_it_read(world: DemoWorld, metrics: MetricsRecorder) -> None:
    result = _collect(world)
    assert result.status == "collected", result.reason
    cycle = world.services.post_cap.cycle().key
    meter = world.services.repositories.post_reads.post_reads(cycle)
    served = world.sim.meter.snapshot()
    assert meter.read == posts_read(result.spend) == sum(served[e]["resources"] for e in POST_ENDPOINTS) > 0
    assert meter.reserved == meter.read  # the reservation is released down to what was read
    assert metrics.values(POST_CAP_USED_METRIC) == [pytest.approx(100 * meter.read / 3_000_000, abs=0.01)]


def test_a_first_run_without_room_waits_with_a_date_and_reads_nothing(
    monkeypatch: pytest.MonkeyPatch, twins: Twins, metrics: MetricsRecorder
) -> None:
    world = _world(monkeypatch, twins, metrics, X_POST_CAP="2000")  # a first run is expected to read 2,500
    try:
        result = _collect(world)
        assert result.status == "queued"
        assert "Tuesday 01 December 2026" in result.reason  # the next billing cycle
        assert world.services.repositories.weeks.week_status(world.subscriber.subscriber_id, "2026-W48") == (
            "queued",
            result.reason,
        )
        assert sum(v["requests"] for v in world.sim.meter.snapshot().values()) == 0  # not even users/me
        assert twins.queued("digest") == [] and twins.queued("collect") == []  # next week's dispatch tries again
        assert world.services.repositories.post_reads.post_reads("2026-11-01").reserved == 0
    finally:
        world.close()


def test_the_date_a_first_run_waits_for_is_when_the_pace_has_room(
    monkeypatch: pytest.MonkeyPatch, twins: Twins, metrics: MetricsRecorder
) -> None:
    world = _world(monkeypatch, twins, metrics, X_POST_CAP="100000", X_POST_CAP_PACE_DAYS="0")
    try:
        cap = world.services.post_cap
        cycle = cap.cycle()
        # 22/30 of the cycle is gone: an even pace allows 73,333 Posts by now
        assert cap.first_run_from(NOW) is None
        assert world.services.repositories.post_reads.reserve_post_reads(cycle.key, 72_500, limit=100_000)
        # 72,500 + 2,500 = 75,000 Posts: three quarters of the cap, reached by the pace on 23 November 12:00
        assert cap.first_run_from(NOW) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        assert world.services.repositories.post_reads.reserve_post_reads(cycle.key, 25_000, limit=100_000)
        assert cap.first_run_from(NOW) == cycle.end  # not in this cycle
    finally:
        world.close()


def test_when_the_cycle_cannot_cover_everyone_the_least_valuable_reads_go_first(world: DemoWorld, twins: Twins) -> None:
    assert _collect(world).status == "collected"
    world.sim.advance_week(seed=5)
    world.sim.meter.reset()
    services = world.services
    cap, meter = services.post_cap, services.repositories.post_reads
    state = services.repositories.collector_state.load(world.subscriber.subscriber_id, "2026-W49")
    expected = cap._expected(state.cursors)
    cycle = cap.cycle()
    limit = cap._allowance(cycle, services.now(), 3_000_000)
    # everyone else has taken the cycle's room but for this subscriber's posts and mentions
    room = expected["tweets"] + expected["mentions"]
    assert meter.reserve_post_reads(cycle.key, limit - meter.post_reads(cycle.key).reserved - room, limit=limit)
    result = _collect(world, week="2026-W49")
    assert result.status == "collected", result.reason
    [liked] = [s for s in result.spend.skipped if s.startswith("liked_tweets:")]
    assert "Post-read cap" in liked
    served = world.sim.meter.snapshot()
    assert served["liked_tweets"]["requests"] == 0
    assert served["tweets"]["requests"] > 0 and served["mentions"]["requests"] > 0
    assert result.report is not None and "likes" in result.report.unavailable  # the digest says so
    assert meter.post_reads(cycle.key).reserved <= limit


def test_usage_capped_stops_post_reads_for_everyone_once_without_a_loop(
    world: DemoWorld, twins: Twins, metrics: MetricsRecorder
) -> None:
    world.sim.post_cap = 50  # X's side: the app reaches its monthly cap during this collect
    result = _collect(world)
    assert result.status == "collected", result.reason
    assert any("Post-read cap is reached" in s for s in result.spend.skipped)
    assert {"following", "followers", "dm_events"} <= set(result.counts)  # what is not a Post is still read
    assert twins.queued("collect") == []  # no requeue at x-rate-limit-reset: that would loop until next cycle
    assert len(twins.queued("digest")) == 1
    assert metrics.values(POST_CAP_REACHED_METRIC) == [1]
    capped_requests = _post_requests(world)
    assert capped_requests >= 1
    cycle = world.services.post_cap.cycle().key
    assert world.services.repositories.post_reads.post_reads(cycle).capped

    # the next week, same cycle: no Post is asked for, and no second alarm
    world.sim.advance_week(seed=5)
    world.sim.meter.reset()
    again = _collect(world, week="2026-W49")
    assert again.status == "collected", again.reason
    assert _post_requests(world) == 0
    assert {s.split(":")[0] for s in again.spend.skipped} >= set(POST_ENDPOINTS)
    # a new subscriber's first run waits for the next cycle rather than starting without posts
    newcomer = _collect(world, _second_subscriber(world), week="2026-W49")
    assert newcomer.status == "queued" and "Tuesday 01 December 2026" in newcomer.reason
    assert _post_requests(world) == 0
    assert metrics.values(POST_CAP_REACHED_METRIC) == [1]


def test_the_stand_ins_meter_bills_a_resource_once_per_app_and_utc_day() -> None:
    meter = Meter()
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    meter.served("tweets", 3, ["1", "2", "3"], reader="a", at=monday, cycle="2026-11-01")
    meter.served("mentions", 2, ["2", "3"], reader="b", at=monday + timedelta(hours=5), cycle="2026-11-01")
    meter.served("tweets", 2, ["1", "4"], reader="c", at=monday + timedelta(days=1), cycle="2026-11-01")
    snapshot = meter.snapshot()
    assert snapshot["tweets"]["billed"] == 5 and snapshot["mentions"]["billed"] == 0  # "1" again on Tuesday
    assert snapshot["mentions"]["free_same_day_other_reader"] == 2
    assert meter.billed_again_on_other_days() == {"post": 1}  # "1": Monday and Tuesday
    assert meter.posts_billed("2026-11-01") == 5
    meter.reset()
    assert meter.posts_billed("2026-11-01") == 5  # X's ledger outlives a run of the meter


def test_the_stand_ins_meter_says_what_one_utc_day_saves_over_readers_spread_over_the_week() -> None:
    meter = Meter()
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    for reader in ("a", "b", "c"):  # three subscribers read post "1" on the same UTC day
        meter.served("tweets", 1, ["1"], reader=reader, at=monday, cycle="2026-11-01")
    meter.served("tweets", 1, ["2"], reader="a", at=monday, cycle="2026-11-01")
    [post] = meter.overlap(days=7).values()
    assert (post["distinct"], post["served"], post["read_by_several"], post["billed"]) == (2, 4, 1, 2)
    # spread over 7 days: post "1" on 7 * (1 - (6/7)**3) = 2.59 days on average, post "2" on one
    assert post["billed_if_spread_over_7_days"] == 4 and post["saved_by_one_day"] == 2
