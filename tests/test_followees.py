"""The followee set never knowingly stale (pipeline/followees.py): unfollows found by the count check,
named accounts looked up first, the re-read across weeks, the digest honest until then, a steady count
offset tolerated. Against the X stand-in over HTTP, on the in-memory twins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from followthrough.adapters.store.memory import memory_repositories
from followthrough.adapters.x import PageResult
from followthrough.bootstrap import Services
from followthrough.config import XPrices
from followthrough.cursors import EndpointCursor, FolloweeCheck, Spend
from followthrough.messages import CollectRequest
from followthrough.pipeline import followees
from followthrough.pipeline.collect import CollectResult
from followthrough.pipeline.reads import Budget
from followthrough.report import WeeklyReport
from followthrough.subscriber import iso_week
from followthrough.xmodels import XMeta, XPage, XUser
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from followthrough_devkit.xsim import SyntheticAccount
from followthrough_devkit.xsim.generator import unfollow
from followthrough_devkit.xsim.realism import Realism
from tests.support.digest import render
from tests.support.twins import make_twins

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# unfollows only where a test makes them; the rest of X's ways (suspended accounts counted, short pages,
# a few follows out of order) stay on
NO_OWN_UNFOLLOWS = Realism(own_unfollows=False)


@pytest.fixture
def make_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., DemoWorld]]:
    worlds: list[DemoWorld] = []

    def make(realism: Realism = NO_OWN_UNFOLLOWS, reread_usd: float = 4.0) -> DemoWorld:
        names = LocalAws(endpoint_url="")  # resource names only: no AWS is started, none is called
        for name in [*names.environ(), "X_API_BASE_URL", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"]:
            monkeypatch.setenv(name, "")  # start_world's settings are undone after the test
        monkeypatch.setenv("FOLLOWEE_REREAD_USD_PER_WEEK", str(reread_usd))
        twins = make_twins(lambda: NOW)

        def on_twins(services: Services) -> Services:
            twins.repositories = memory_repositories(services.clock)
            return twins.install(services)

        world = start_world(seed=5, now=NOW, profile="typical", aws=names, adapt=on_twins, realism=realism)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


def _collect(world: DemoWorld) -> tuple[CollectResult, WeeklyReport]:
    services = world.services
    result = services.collect.run(
        CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=iso_week(services.now()))
    )
    assert result.status == "collected", result.reason
    assert result.report is not None
    return result, result.report


def _account(world: DemoWorld) -> SyntheticAccount:
    assert world.subscriber.x_user_id is not None
    return world.sim.accounts[world.subscriber.x_user_id]


def _next_week(world: DemoWorld, seed: int) -> None:
    world.sim.advance_week(seed=seed)


def _named(report: WeeklyReport) -> set[str]:
    """Every followee a digest of ``report`` could name."""
    named = {p.user_id for p in report.passive_follows} | {d.user_id for d in report.dormant_followees or []}
    return named | {c.user_id for c in report.conversations if c.kind == "greet_followee"}


def _known_followees_in_order(world: DemoWorld) -> list[str]:
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2099-W01")
    return list(state.graphs["following"])


def _known_followees(world: DemoWorld) -> set[str]:
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2099-W01")
    return set(state.graphs["following"])


def test_unfollows_not_named_while_stale_and_gone_after_the_reread(make_world: Callable[..., DemoWorld]) -> None:
    world = make_world()
    _, report = _collect(world)
    account = _account(world)
    assert len(account.following) == 1000
    # three accounts the subscriber never talks with, from the bottom of the ranking: not named anyway
    passive = [p.user_id for p in report.passive_follows]
    gone = passive[-3:]
    unfollow(account, gone)
    _next_week(world, seed=1)

    result, week2 = _collect(world)
    assert week2.following_as_of == NOW  # the set last agreed with X's count at the first run
    assert not _named(week2) & set(gone)
    assert _named(week2) and result.spend.resources.get("users_lookup", 0) >= len(week2.passive_follows)
    html, text = render(week2, previous=[report])
    assert "as of 23 Nov 2026" in text and "as of 23 Nov 2026" in html
    # those the re-read has not gone past yet are still counted: that is what "as of" says
    assert set(gone) & _known_followees(world)

    # the re-read goes on from its cursor, week by week, as the allowance pays ($4 a week: three weeks)
    weeks, reread = 1, result.spend.resources.get("following_reread", 0)
    while week2.following_as_of is not None:
        assert weeks < 4, "the re-read the design promises did not finish"
        _next_week(world, seed=1 + weeks)
        result, week2 = _collect(world)
        assert not _named(week2) & set(gone)
        weeks += 1
        reread += result.spend.resources.get("following_reread", 0)
    known = _known_followees(world)
    assert not known & set(gone)
    served = {u.id for u in account.following if u.id not in account.unserved}
    assert known == served
    assert week2.challenge.followees == len(served)
    assert reread <= len(served)  # each page once: the re-read resumed from its cursor, below the new follows
    html, text = render(week2, previous=[report])
    assert "as of" not in text


def test_unfollows_the_reread_passes_are_gone_that_week_and_it_stops_once_the_count_agrees(
    make_world: Callable[..., DemoWorld],
) -> None:
    world = make_world()  # $4 a week: 400 of the 1,000 a week
    _collect(world)
    account = _account(world)
    first_read = list(_known_followees_in_order(world))
    gone = first_read[30:33]  # near the top of the list: the first week of a re-read goes past them
    unfollow(account, gone)
    _next_week(world, seed=1)

    result, week2 = _collect(world)

    assert not _known_followees(world) & set(gone)  # gone this week, not when the re-read reaches the end
    looked_up = result.spend.resources.get(followees.PASSED, 0)
    assert len(gone) <= looked_up <= len(gone) + 5  # the ones passed unseen, and a few served out of order
    assert result.spend.resources.get(followees.REREAD, 0) < len(first_read) // 2  # it stopped early
    assert week2.following_as_of is None  # the set agrees with X's count again: not stale
    served = {u.id for u in account.following if u.id not in account.unserved}
    assert _known_followees(world) == served
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2099-W01")
    assert not state.cursors.followees.rereading


def test_what_a_reread_passed_unseen_is_only_what_it_went_past() -> None:
    started = NOW
    # X's order is the graph's for the first read's entries; followees first seen later sit above them
    graph: dict[str, list[str | bool | None]] = {str(n): [None, f"u{n}", None, None] for n in range(100)}
    graph["new"] = [(NOW - timedelta(days=3)).isoformat(), "new", None, None]
    graph["during"] = [(NOW + timedelta(hours=1)).isoformat(), "during", None, None]
    seen = {"new", *(str(n) for n in range(60) if n not in (10, 45))}
    # 10 is 49 seen entries above the last one seen, 45 only 14: out of order for all we know yet
    assert followees.passed_unseen(graph, seen, started, slack=25) == ["10"]
    assert followees.passed_unseen(graph, seen, started, slack=10) == ["45", "10"]
    # never "during": first seen after the re-read began, it was followed meanwhile, above where it reads
    assert "during" not in followees.passed_unseen(graph, seen | {str(n) for n in range(100)}, started, slack=1)


def test_an_unfollowed_account_the_digest_would_name_is_dropped_the_same_week(
    make_world: Callable[..., DemoWorld],
) -> None:
    # the same world twice: the first says whom week 2's digest names when nobody is unfollowed
    reference = make_world()
    _collect(reference)
    _next_week(reference, seed=1)
    _, untouched = _collect(reference)
    would_name = [c.user_id for c in untouched.conversations if c.kind == "greet_followee"]
    would_name += [p.user_id for p in untouched.passive_follows if p.user_id not in would_name]
    top = would_name[:3]

    world = make_world(reread_usd=0.5)
    _collect(world)
    _next_week(world, seed=1)
    unfollow(_account(world), top)  # after the week is made: the same week
    _, week2 = _collect(world)
    assert _named(week2) and not _named(week2) & set(top)
    assert not _known_followees(world) & set(top)  # the lookup said so: gone at once, not counted either
    assert week2.following_as_of is None  # the three the count missed were exactly these: the set agrees again
    assert week2.challenge.followees == untouched.challenge.followees - 3


def test_a_steady_count_offset_is_no_reason_to_reread(make_world: Callable[..., DemoWorld]) -> None:
    world = make_world()
    account = _account(world)
    assert account.unserved & set(account.follow_times)  # counted by X, not served
    _collect(world)
    for seed in range(1, 4):
        _next_week(world, seed=seed)
        result, report = _collect(world)
        assert report.following_as_of is None
        assert "following_reread" not in result.spend.resources
        assert "users_lookup" not in result.spend.resources
        assert result.spend.resources["following"] < 60  # the new follows and a little around them


def test_the_tidy_stand_in_has_no_offset_and_nothing_to_reconcile(make_world: Callable[..., DemoWorld]) -> None:
    world = make_world(realism=Realism.none())
    _collect(world)
    state = world.services.repositories.collector_state.load(world.subscriber.subscriber_id, "2099-W01")
    assert state.cursors.followees.offset == 0 and state.cursors.followees.drift == 0


def test_the_count_check_learns_the_offset_only_from_a_whole_read() -> None:
    check = FolloweeCheck()
    followees.check_counts(check, 1000, 990, NOW, whole_list=False)  # a set kept from before: nothing known yet
    assert check.offset is None and check.drift == 0 and check.agreed_at is None
    followees.check_counts(check, 1000, 996, NOW, whole_list=True)
    assert (check.offset, check.drift, check.agreed_at) == (4, 0, NOW)
    later = NOW + timedelta(days=7)
    followees.check_counts(check, 1012, 1011, later, whole_list=False)  # 15 followed, 3 gone, 1 found
    assert check.drift == -3 and check.agreed_at == NOW
    followees.check_counts(check, 1012, 1008, later, whole_list=False)
    assert check.drift == 0 and check.agreed_at == later


def test_the_allowance_accrues_once_a_week_up_to_one_whole_list() -> None:
    check = FolloweeCheck()
    for week in ("2026-W49", "2026-W49", "2026-W50", "2026-W51"):
        followees.accrue(check, week, per_week=1.0, whole_list_usd=1.5)
    assert check.allowance_usd == 1.5


def test_reconciling_is_paid_by_its_allowance_and_leaves_the_week_its_reads(
    make_world: Callable[..., DemoWorld],
) -> None:
    # the subscriber's own unfollows every week keep the set stale: a re-read runs every week
    world = make_world(realism=Realism(), reread_usd=1.0)
    account = _account(world)
    _, report = _collect(world)
    reconciled = 0.0
    for week in range(1, 4):
        _next_week(world, seed=week)
        unfollow(account, [p.user_id for p in report.passive_follows[-2:]])
        result, report = _collect(world)
        spend = result.spend
        assert report.following_as_of is not None  # stale: the re-read and the lookups ran
        assert not spend.skipped, spend.skipped  # every read of the week finished within its budget
        apart = sum(spend.usd.get(label, 0.0) for label in followees.PAID_APART)
        assert apart > 0
        assert spend.total_usd - apart - spend.usd.get("users_lookup", 0.0) <= 1.50
        reconciled += apart
        assert reconciled <= 1.0 * week + 1e-9  # never more than the allowance accrued so far


def test_what_the_allowance_paid_leaves_the_weeks_budget_whole() -> None:
    # a second attempt in the same week (after a rate limit) starts from the spend the first one recorded
    spend = Spend()
    spend.add("tweets", 20, 0.10)
    spend.add(followees.REREAD, 90, 0.90)
    spend.add(followees.UNORDERED, 20, 0.20)
    week = Budget(1.50, XPrices(), spend, apart=followees.PAID_APART)
    assert week.remaining == pytest.approx(1.40)
    week.share_out({"mentions": 1.0, "dm_events": 1.0})
    assert week.shares == {"mentions": pytest.approx(0.70), "dm_events": pytest.approx(0.70)}
    assert Budget(1.50, XPrices(), spend).remaining == pytest.approx(0.30)  # counted, it would starve them


def _following(ids: list[str]) -> Callable[..., PageResult]:
    """A following list served newest first, ``max_results`` at a time (the token: where the next page starts)."""

    def fetch(pagination_token: str | None = None, max_results: int = 100) -> PageResult:
        start = int(pagination_token or 0)
        data = [XUser(id=i, username=f"u{i}") for i in ids[start : start + max_results]]
        more = start + max_results < len(ids)
        page = XPage[XUser](data=data, meta=XMeta(next_token=str(start + max_results) if more else None))
        return PageResult(page=page, resources=len(data))

    return fetch


@pytest.mark.parametrize("allowance", [0.0, 1.0])
def test_follows_sought_past_the_known_part_are_paid_by_the_allowance(allowance: float) -> None:
    # 3 new follows on top, then the known part with one more new follow served out of order among it
    known = [f"k{n}" for n in range(40)]
    listed = ["n1", "n2", "n3", *known[:5], "late", *known[5:]]
    graph: dict[str, list[str | bool | None]] = {k: [None, k, None, None] for k in known}
    check = FolloweeCheck(allowance_usd=allowance)
    week = Budget(1.50, XPrices(), Spend(), apart=followees.PAID_APART)
    cursor = EndpointCursor()

    out = followees.read_new_follows(_following(listed), cursor, week, graph, growth=4, expected=3, check=check)

    assert week.spend.resources["following"] == 5  # the first page: the new follows and the top of the known
    assert week.remaining == pytest.approx(1.50 - 0.05)  # the search below them is not the week's
    found = {u.id for u in out.items}
    if allowance:
        assert found == {"n1", "n2", "n3", "late"}
        paid = week.spend.usd[followees.UNORDERED]
        assert paid > 0 and check.allowance_usd == pytest.approx(allowance - paid)
    else:
        assert found == {"n1", "n2", "n3"}  # the count check says one is missing: the re-read's to find
        assert followees.UNORDERED not in week.spend.resources
