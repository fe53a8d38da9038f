"""Issue 15 scenarios: the stand-in plants follow-ups, relationships and follow-for-follow followers with their
truth; the real collector and analysis (on the in-memory twins) must find them.

Week 1's digest suggests five conversations; in week 2 the subscriber takes up two (``take_up``), so three
are still open and carried; in week 3 the subscriber takes up one of those carried (done) and the others
expire. The follow-up is scored exactly; relationships (against the truth derived from the wire data, every
planted one included) and follow-for-follow followers (planted) with precision and recall >= 0.95.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from followthrough.adapters.store.memory import memory_repositories
from followthrough.bootstrap import Services
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.report import WeeklyReport
from followthrough.subscriber import iso_week
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from followthrough_devkit.xsim.generator import take_up, talk_counts
from tests.support.twins import make_twins

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWorld]:
    twins = make_twins(lambda: NOW)

    def on_twins(services: Services) -> Services:
        twins.repositories = memory_repositories(services.clock)
        return twins.install(services)

    names = LocalAws(endpoint_url="")  # resource names only: no AWS is started, none is called
    for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
        monkeypatch.setenv(name, "")
    w = start_world(seed=11, now=NOW, profile="small", aws=names, adapt=on_twins)
    yield w
    w.close()


def week_of(world: DemoWorld, *, send: bool = True) -> WeeklyReport:
    """Collect this week (and send its digest unless ``send`` is False); the stored report."""
    sid, week = world.subscriber.subscriber_id, iso_week(world.sim.now())
    result = world.services.collect.run(CollectRequest(subscriber_id=sid, week=week))
    assert result.status == "collected", result.reason
    if send:
        assert world.services.digest_sender.send(DigestRequest(subscriber_id=sid, week=week)).outcome == "sent"
    stored = world.services.repositories.weeks.get_week(sid, week)
    assert stored is not None
    return stored[0]


def scores(found: set[str], truth: set[str]) -> tuple[float, float]:
    hits = len(found & truth)
    return (hits / len(found) if found else 1.0), (hits / len(truth) if truth else 1.0)


def test_last_weeks_five_followed_up_in_every_state(world: DemoWorld) -> None:
    uid = world.subscriber.x_user_id
    first = week_of(world)
    assert first.follow_up is None  # the first digest says nothing about it
    suggested = [(c.kind, c.user_id, c.post_id) for c in first.conversations]
    assert len(suggested) == 5

    world.sim.advance_week(seed=1)
    account = world.sim.accounts[uid]
    taken = take_up(account, suggested[:2], seed=1)
    second = week_of(world)
    assert second.follow_up is not None and second.follow_up.base_week == first.week
    states = {i.user_id: i.state for i in second.follow_up.items}
    # exactly: the two taken up are done (and when), the other three still open
    assert {u for u, s in states.items() if s == "done"} == set(taken)
    assert {u for u, s in states.items() if s == "open"} == {u for _, u, _ in suggested[2:]}
    for item in second.follow_up.in_state("done"):
        assert item.done_at == taken[item.user_id]
    assert second.metrics["followup_done"] == 2 and second.metrics["followup_rate"] == 0.4
    assert second.metrics["followup_streak"] == 1

    # the third week's digest follows up the second: its own five, and the three carried once
    carried = [s for s in suggested[2:] if s[1] not in {c.user_id for c in second.conversations}]
    assert len(carried) >= 2, "one carried item to take up and one to expire"
    world.sim.advance_week(seed=2)
    done_carried = take_up(account, carried[:1], seed=2)
    third = week_of(world)
    assert third.follow_up is not None and third.follow_up.base_week == second.week
    by_person = {i.user_id: i for i in third.follow_up.items if i.carried}
    assert set(by_person) == {u for _, u, _ in carried}
    assert {u for u, i in by_person.items() if i.state == "done"} == set(done_carried)
    assert {u for u, i in by_person.items() if i.state == "expired"} == {u for _, u, _ in carried[1:]}
    assert all(i.suggested_week == first.week for i in by_person.values())

    # a skipped week: the fourth digest is not sent, the fifth compares with the third (the last one sent)
    world.sim.advance_week(seed=3)
    fourth = week_of(world, send=False)
    world.sim.advance_week(seed=4)
    fifth = week_of(world)
    assert fourth.follow_up is not None and fifth.follow_up is not None
    assert fourth.follow_up.base_week == fifth.follow_up.base_week == third.week


def test_relationships_and_follow_for_follow_followers_are_found(world: DemoWorld) -> None:
    uid = world.subscriber.x_user_id
    week_of(world)
    precision, recall = [], []
    account = world.sim.accounts[uid]
    for n in (1, 2, 3):
        planted_before = set(account.truth.planted_relationship_ids)
        world.sim.advance_week(seed=n)
        report = week_of(world)
        assert report.window_start is not None and report.window_end is not None
        counts = talk_counts(account, report.window_start, report.window_end)
        truth = {u for u, (out, back) in counts.items() if out >= 2 and back >= 2}
        planted_now = account.truth.planted_relationship_ids - planted_before
        assert planted_now and planted_now <= truth  # the planted ones, and any the week's talk made
        found = {r.user_id for r in report.relationships}
        p, r = scores(found, truth)
        precision.append(p)
        recall.append(r)
        planted = {u for u in account.truth.follow_for_follow_ids if u in set(account.weeks[-1].new_follower_ids)}
        f4f = {f.user_id for f in report.follow_for_follow}
        assert planted, "the stand-in plants follow-for-follow followers every week"
        fp, fr = scores(f4f, planted)
        assert fp >= 0.95 and fr >= 0.95, (f4f, planted)
        # never suggested as a welcome, never counted as not greeted
        assert not f4f & {c.user_id for c in report.conversations}
    assert min(precision) >= 0.95 and min(recall) >= 0.95, (precision, recall)
