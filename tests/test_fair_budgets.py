"""Fair budgets: no read starves the others, the first likes read stops at the passive window, and an
interrupted read resumes next week from its saved cursor with nothing read twice (the stand-in's meter).

Against the X stand-in over HTTP, on the in-memory twins (the ``world`` of tests/test_collect.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from followthrough.digest.view import build_view
from followthrough_devkit.demo import DemoWorld
from tests.support.twins import Twins, make_twins
from tests.support.world import (  # noqa: F401 (fixtures)
    NOW,
    collect_request,
    collect_world_fixture,
    served_following,
    twin_world,
    twins_fixture,
)

_request = collect_request
LISTS = ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events")
WEEKS = ("2026-W48", "2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53")


def _skipped(result: object) -> dict[str, str]:
    return {s.split(":")[0]: s for s in result.spend.skipped}  # type: ignore[attr-defined]


def _read_whole_following_and_top_followers(world: DemoWorld, counts: dict[str, int]) -> None:
    """A first run's follow lists: following whole as X serves it, followers only their top (who follows
    back comes with the following list: docs/decisions.md, "Cheaper first runs")."""
    assert counts["following"] == len(served_following(world))
    top = world.services.settings.collector.first_run_followers
    followers = len(world.sim.accounts[world.subscriber.x_user_id].followers)
    assert top <= counts["followers"] < min(followers, top + 10)


@pytest.mark.parametrize("world", ["heavy_liker"], indirect=True)
def test_a_35000_like_first_run_stops_at_the_passive_window_and_leaves_the_budget_to_the_rest(
    world: DemoWorld,
) -> None:
    account = world.sim.accounts[world.subscriber.x_user_id]
    assert len(account.likes) >= 35_000

    result = world.services.collect.run(_request(world))

    assert result.status == "collected", result.reason
    config = world.services.settings.collector
    assert result.spend.total_usd <= config.first_run_budget_usd
    cut = world.now - timedelta(days=config.first_run_lookback_days)
    in_window = sum(1 for t in account.likes if t.created_at is not None and t.created_at >= cut)
    served = world.sim.meter.snapshot()
    assert in_window <= served["liked_tweets"]["resources"] <= in_window + 100  # not 35,000
    assert _skipped(result) == {}
    _read_whole_following_and_top_followers(world, result.counts)
    assert served["dm_events"]["resources"] > 0 and result.counts["dm_events"] == served["dm_events"]["resources"]
    assert result.report is not None
    assert not {"likes", "following", "followers", "dm_events", "posts", "mentions"} & set(result.report.unavailable)


@pytest.mark.parametrize("world", ["heavy_liker"], indirect=True)
def test_likes_beyond_their_share_wait_until_following_dms_and_followers_had_theirs(world: DemoWorld) -> None:
    # a year's window holds ~6,000 likes ($6), the other reads cost ~$15: more than a $20 first run holds
    collector = world.services.collector
    collector.config = collector.config.model_copy(
        update={"first_run_lookback_days": 365, "first_run_budget_usd": 20.0}
    )

    result = world.services.collect.run(_request(world))

    assert result.status == "collected", result.reason
    _read_whole_following_and_top_followers(world, result.counts)
    skipped = _skipped(result)
    assert set(skipped) == {"liked_tweets"} and "the rest is read next week" in skipped["liked_tweets"]
    assert result.spend.total_usd <= collector.config.first_run_budget_usd
    assert result.spend.total_usd >= collector.config.first_run_budget_usd - 0.1  # the rest of it went to likes
    assert result.report is not None and "likes" in result.report.unavailable


def _weeks(
    world: DemoWorld, first_run_budget_usd: float, weeks: int | None = None
) -> tuple[list[list[str]], dict[str, int]]:
    """Collect ``weeks`` weeks (or until nothing is left unfinished, at most ``WEEKS``); each week's
    unfinished reads, and what the stand-in served twice over all of them (its meter is never reset)."""
    collector = world.services.collector
    collector.config = collector.config.model_copy(update={"first_run_budget_usd": first_run_budget_usd})
    unfinished: list[list[str]] = []
    for i, week in enumerate(WEEKS[: weeks or len(WEEKS)]):
        if i:
            world.sim.advance_week(seed=i)
        result = world.services.collect.run(_request(world, week))
        assert result.status == "collected", result.reason
        unfinished.append(result.spend.skipped)
        if weeks is None and not result.spend.skipped:
            break
    return unfinished, {endpoint: world.sim.meter.duplicates(endpoint) for endpoint in LISTS}


def test_interrupted_reads_resume_week_after_week_with_nothing_read_twice(
    world: DemoWorld, twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    unfinished, twice = _weeks(world, 1.00)  # a small account's first run costs about $3
    # the same account and weeks read without interruption: its re-reads are the steady weeks' page
    # margins (each read from the top sees a few known ids to know where to stop); the interruption adds none
    control = twin_world(make_twins(lambda: NOW), monkeypatch)
    try:
        calm, calm_twice = _weeks(control, 100.0, weeks=len(unfinished))
    finally:
        control.close()
    assert all(week == [] for week in calm)

    partial = {s.split(":")[0]: s for s in unfinished[0]}
    # followers' first read is their top only (the following list says who follows back): it fits at once
    assert {"liked_tweets", "following"} <= set(partial) and "followers" not in partial, partial
    assert all("read in part" in why and "next week" in why for why in partial.values()), partial
    assert 3 <= len(unfinished) < len(WEEKS) and unfinished[-1] == []  # several weeks' budgets, then done
    for endpoint in LISTS:
        assert twice[endpoint] <= calm_twice[endpoint], (endpoint, twice, calm_twice)
    sid = world.subscriber.subscriber_id
    account = world.sim.accounts[world.subscriber.x_user_id]
    graphs = world.services.repositories.collector_state.load(sid, WEEKS[len(unfinished)]).graphs
    # every followee X serves was read in the end (who left meanwhile is the reconciliation's to drop);
    # of the followers, the first run's top and everyone who came since and stayed
    assert served_following(world) <= set(graphs["following"])
    followers = {u.id for u in account.followers}
    came = {uid for delta in account.weeks for uid in delta.new_follower_ids} & followers
    assert came and came <= set(graphs["followers"])
    assert len(graphs["followers"].keys() - came) >= world.services.settings.collector.first_run_followers


def test_a_read_in_part_is_said_in_the_digest_and_not_measured(world: DemoWorld) -> None:
    collector = world.services.collector
    collector.config = collector.config.model_copy(update={"first_run_budget_usd": 1.00})

    result = world.services.collect.run(_request(world))

    assert result.status == "collected", result.reason
    assert result.report is not None and {"likes", "following"} <= set(result.report.unavailable)
    assert result.report.metrics.get("passive_follows") is None  # not zero: not measured
    notes = build_view(result.report, [], result.spend.skipped).not_measured
    assert any(n.startswith("Who you follow: read in part") and "next week" in n for n in notes), notes


def test_what_a_rate_limited_read_got_is_kept_and_the_retry_reads_only_the_rest(world: DemoWorld, twins: Twins) -> None:
    world.sim.faults.inject("liked_tweets", 429, after=1, reset_in=60)  # after the first page of 100

    first = world.services.collect.run(_request(world))

    assert first.status == "rate_limited", first.reason
    world.sim.advance(60)
    again = world.services.collect.run(_request(world))
    assert again.status == "collected", again.reason
    served = world.sim.meter.snapshot()["liked_tweets"]["resources"]
    assert served > 100 and world.sim.meter.duplicates("liked_tweets") == 0
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2026-W49")
    assert state.recent is not None and len(state.recent.likes) == served  # the first page too


def test_a_steady_read_the_budget_splits_between_rounds_still_measures_the_whole_week(world: DemoWorld) -> None:
    """The likes read runs out of its share mid-read and finishes in a later round of the same run; the
    next week's first page is sized from both parts, not from an estimate two weeks old."""
    assert world.services.collect.run(_request(world, "2026-W48")).status == "collected"
    delta = world.sim.advance_week(seed=4)[world.subscriber.x_user_id]
    collector = world.services.collector
    collector.config = collector.config.model_copy(update={"weekly_budget_usd": 0.25})

    result = world.services.collect.run(_request(world, "2026-W49"))

    assert result.status == "collected", result.reason
    assert "liked_tweets" not in _skipped(result) and {"tweets", "dm_events"} <= set(_skipped(result))
    assert result.counts["liked_tweets"] == len(delta.liked_post_ids)
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2026-W49")
    assert state.cursors.get("liked_tweets").weekly_estimate == len(delta.liked_post_ids)
