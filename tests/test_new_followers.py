"""New followers when the first run's top of the followers list is gone by the next week.

A first run reads only the top of the followers list (``first_run_followers``); the next week's read of
new followers stops at the first follower it knows. Against the X stand-in over HTTP, on the in-memory
twins (the ``world`` of tests/test_collect.py).
"""

from __future__ import annotations

from followthrough.digest.view import build_view
from followthrough.pipeline.collect import UNDATED_MARGIN
from followthrough_devkit.demo import DemoWorld
from tests.support.world import (  # noqa: F401 (fixtures)
    collect_request,
    collect_world_fixture,
    twins_fixture,
)


def _followers_graph(world: DemoWorld, week: str) -> dict[str, list[object]]:
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, week)
    return state.graphs["followers"]


def _followers_now(world: DemoWorld) -> set[str]:
    return {u.id for u in world.sim.accounts[world.subscriber.x_user_id].followers}


def _new_this_week(world: DemoWorld, seed: int) -> set[str]:
    delta = world.sim.advance_week(seed=seed)[world.subscriber.x_user_id]
    return set(delta.new_follower_ids) & _followers_now(world)


def test_new_followers_are_counted_when_some_of_the_first_runs_top_stays(world: DemoWorld) -> None:
    first = world.services.collect.run(collect_request(world, "2026-W48"))
    assert first.status == "collected", first.reason
    top = list(_followers_graph(world, "2026-W48"))
    assert len(top) == world.services.settings.collector.first_run_followers
    for follower_id in top[:-1]:  # all but the oldest of them leave
        world.sim.followed_by(world.subscriber.x_user_id, follower_id, unfollow=True)
    came = _new_this_week(world, seed=5)
    world.sim.meter.reset()

    result = world.services.collect.run(collect_request(world, "2026-W49"))

    assert result.status == "collected", result.reason
    assert result.report is not None and result.report.metrics["new_followers"] == len(came) > 0
    dated = {uid for uid, entry in _followers_graph(world, "2026-W49").items() if entry[0] is not None}
    assert dated == came
    assert world.sim.meter.snapshot()["followers"]["resources"] <= len(came) + 10


def test_when_all_of_the_first_runs_top_has_left_new_followers_are_not_measured_then_counted_again(
    world: DemoWorld,
) -> None:
    first = world.services.collect.run(collect_request(world, "2026-W48"))
    assert first.status == "collected", first.reason
    for follower_id in _followers_graph(world, "2026-W48"):
        world.sim.followed_by(world.subscriber.x_user_id, follower_id, unfollow=True)
    _new_this_week(world, seed=5)
    world.sim.meter.reset()

    lost = world.services.collect.run(collect_request(world, "2026-W49"))

    assert lost.status == "collected", lost.reason
    assert lost.report is not None
    # not the whole list of old followers called new: not measured, and the digest says why
    assert lost.report.metrics["new_followers"] is None
    assert lost.report.metrics["new_followers_not_greeted"] is None
    assert "follower_baseline" in lost.report.unavailable and "follow_times" not in lost.report.unavailable
    served = world.sim.meter.snapshot()["followers"]["resources"]
    assert served < len(_followers_now(world)) and served <= 2 * lost.counts["followers"] + UNDATED_MARGIN
    assert all(entry[0] is None for entry in _followers_graph(world, "2026-W49").values())  # known, undated
    view = build_view(lost.report, [], lost.spend.skipped)
    assert any("newest last week have all left" in note for note in view.not_measured), view.not_measured

    # what that read found is known now: the next week's new followers are counted again
    came = _new_this_week(world, seed=6)
    again = world.services.collect.run(collect_request(world, "2026-W50"))
    assert again.status == "collected", again.reason
    assert again.report is not None and "follower_baseline" not in again.report.unavailable
    assert again.report.metrics["new_followers"] == len(came) > 0
