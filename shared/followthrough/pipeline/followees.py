"""The followee set, never knowingly stale (docs/decisions.md, 2026-12-02).

X has no delta for follows: only the following list (newest follow first, mostly) and the count in
``users/me``. Each week:

1. ``read_new_follows``: the top of the list down to the known part, a little past the first known
   entry when X's count says more are new (the order is not strict); that search past the known part
   is the count's reconciliation, paid by the re-read allowance, not by the week's budget;
2. ``check_counts``: X's count minus the known set minus a steady offset (accounts counted but not
   served, learned when the whole list is read in one run). Zero: the set agrees with X as of now.
   Otherwise it is stale: accounts are gone that are not identified yet (< 0), or follows were missed (> 0);
3. ``reread``: while stale, the whole list again from a cursor kept between weeks, paid by an allowance
   that accrues every week (``accrue``); what it saw that was unknown is added as it is seen; followees it
   has gone past without seeing them (``passed_unseen``: the list's order is mostly stable) are looked up
   at once and those not followed any more are gone; it stops when the set agrees with X's count again,
   and when it reaches the end, what it did not see (and was not first seen after it began) is gone;
4. ``verify``: while stale, every account a digest could name is looked up first
   (``GET /2/users?ids=`` with ``connection_status``); those not followed any more are gone at once.

While stale the report says who the subscriber follows "as of" the last time the set agreed with X.

``apply_changes`` is the one place where "this followee is known gone / known new since <time>" lands,
whatever told it (the re-read, a lookup, and later the Activity API's follow events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from followthrough.adapters.store.protocols import Graph
from followthrough.adapters.x import PageResult, XClient, XRateLimited
from followthrough.cursors import EndpointCursor, FolloweeCheck
from followthrough.pipeline.reads import HEAD_SIZE, PAGE_LIMITS, Budget, BudgetExhausted, ListRead, look_up_users
from followthrough.xmodels import XUser

# known entries read past the first one, at most, when X's count says some new follows are still below
OUT_OF_ORDER_SLACK = 25
REREAD = "following_reread"  # the spend label of the reconciliation re-read (priced as users)
UNORDERED = "following_unordered"  # the spend label of new follows sought past the known part (users)
PASSED = "following_passed"  # the spend label of lookups of followees the re-read passed unseen (users)
# paid by the allowance, on top of the week's budget (``Budget.apart``)
PAID_APART = frozenset({REREAD, UNORDERED, PASSED})


def follows_back(user: XUser) -> bool | None:
    """From ``connection_status``: None when X did not say."""
    return None if user.connection_status is None else "followed_by" in user.connection_status


def edge(since: str | None, user: XUser) -> list[str | bool | None]:
    """A following entry: [first seen (ISO, None: before the first run), username, the id of their latest post
    (None: not served), follows back (None: unknown)]."""
    return [since, user.username, user.most_recent_tweet_id, follows_back(user)]


@dataclass
class FolloweeChanges:
    """Followees known to be gone, or known to be new, at ``at`` (new ones are accounts as X served them)."""

    at: datetime
    gone: set[str] = field(default_factory=set)
    new: list[XUser] = field(default_factory=list)
    # looked up and not served (suspended, deactivated): still counted by X, so they join the offset
    unserved: set[str] = field(default_factory=set)


def apply_changes(graph: Graph, check: FolloweeCheck, changes: FolloweeChanges) -> None:
    """The one place the followee set changes outside a list read."""
    for user_id in changes.gone | changes.unserved:
        graph.pop(user_id, None)
    if changes.unserved and check.offset is not None:
        check.offset += len(changes.unserved)
    for user in changes.new:
        if user.id not in graph:
            graph[user.id] = edge(changes.at.isoformat(), user)


def read_new_follows(
    fetch: Callable[..., PageResult],
    cursor: EndpointCursor,
    budget: Budget,
    known: Graph,
    growth: int,
    expected: int,
    check: FolloweeCheck,
    reserve_usd: float = 0.0,
) -> ListRead:
    """Follows not in ``known``, newest first: whole pages down to the known part, then on while fewer than
    ``growth`` (the change in X's count) were found and fewer than ``OUT_OF_ORDER_SLACK`` known ones passed.
    ``expected`` sizes the first page. The pages past the known part seek what the count says is missing
    (a follow served out of order, or none: the count also moves with unfollows and suspensions), so the
    re-read allowance pays them, less ``reserve_usd``, as far as it goes; what they do not find is the
    re-read's to find. The week's budget pays only for the new follows above the known part."""
    out = ListRead()
    token = cursor.resume_token
    low, _ = PAGE_LIMITS["following"]
    size = expected + max(2, expected // 10)
    passed = 0
    try:
        while True:
            if passed:
                allowance = _allowance(check, budget, reserve_usd)
                try:
                    result = fetch(pagination_token=token, max_results=allowance.affordable_page("following", size))
                except BudgetExhausted:
                    break
                allowance.charge(UNORDERED, result.resources)
                _draw(check, result.resources * budget.price(UNORDERED))
            else:
                result = fetch(pagination_token=token, max_results=budget.affordable_page("following", size))
                budget.charge("following", result.resources)
            page = result.page
            out.served_ids.extend(u.id for u in page.data)
            for user in page.data:
                if user.id in known:
                    passed += 1
                else:
                    out.items.append(user)
            if not cursor.pending_head:
                cursor.pending_head = [u.id for u in page.data[:HEAD_SIZE]]
            token = page.meta.next_token
            cursor.resume_token = out.next_token = token
            if not token or (passed and (len(out.items) >= growth or passed >= OUT_OF_ORDER_SLACK)):
                break
            size = max(growth - len(out.items), low) + OUT_OF_ORDER_SLACK if passed else max(size // 4, low, 5)
    except (BudgetExhausted, XRateLimited) as exc:
        exc.partial = out  # what the pages read so far found is kept; the saved token goes on from there
        raise
    cursor.resume_token = None
    if cursor.pending_head:
        cursor.known_head = cursor.pending_head
    cursor.pending_head = []
    cursor.last_new = len(out.items)
    return out


def accrue(check: FolloweeCheck, week: str, per_week: float, whole_list_usd: float) -> None:
    """Once a week, more allowance for re-reads, up to what one whole list costs."""
    if check.accrued_week == week:
        return
    check.accrued_week = week
    check.allowance_usd = round(min(check.allowance_usd + per_week, max(whole_list_usd, per_week)), 4)


def reread(
    fetch: Callable[..., PageResult],
    check: FolloweeCheck,
    graph: Graph,
    budget: Budget,
    now: datetime,
    this_week: ListRead,
    reserve_usd: float = 0.0,
    *,
    client: XClient | None = None,
    agrees: Callable[[], bool] | None = None,
) -> FolloweeChanges | None:
    """Go on re-reading the whole list as far as the allowance pays; the changes once it reaches the end
    (or once the set agrees with X's count again).

    ``budget`` is the week's; the re-read spends only the allowance, on top of it, less ``reserve_usd``
    (kept for the lookups before naming, which must not go without). A re-read that begins
    now starts where this week's read of new follows (``this_week``) stopped: the top was just served.
    Accounts it finds that are not known are added at once; those it did not see are gone when it
    has seen the whole list, except accounts first seen after it began (followed meanwhile, above it).
    With ``client``, accounts the re-read has gone past without seeing them (``passed_unseen``) are
    looked up at once (``verify``, paid by the allowance): those not followed any more are gone now,
    not weeks later at the end of the list; those still followed are counted as seen. ``agrees``: whether
    the set now agrees with X's count; when it does the re-read stops, as a finished one would.
    """
    if not check.rereading:
        check.reread_started_at, check.reread_seen = now, list(this_week.served_ids)
        check.reread_token = this_week.next_token
        if this_week.served_ids and this_week.next_token is None:  # this week's read reached the end
            return _reread_done(check, graph, set(check.reread_seen), now)
    allowance = _allowance(check, budget, reserve_usd)
    seen = set(check.reread_seen)
    spent_before = budget.spend.total_usd
    try:
        while True:
            size = allowance.affordable_page("following", PAGE_LIMITS["following"][1])
            result = fetch(pagination_token=check.reread_token, max_results=size)
            allowance.charge(REREAD, result.resources)
            page = result.page
            found = [u for u in page.data if u.id not in graph and u.id not in seen]
            seen.update(u.id for u in page.data)
            apply_changes(graph, check, FolloweeChanges(now, new=found))
            check.reread_token = page.meta.next_token
            if not check.reread_token:
                break
            if client is not None:
                passed = passed_unseen(graph, seen, check.reread_started_at or now)
                if passed:
                    followed, changes = verify(client, passed, allowance, now, PASSED)
                    apply_changes(graph, check, changes)
                    seen |= followed  # served further down (out of order): still followed
                    if agrees is not None and agrees():
                        return _reread_stopped(check, now)
    except BudgetExhausted:
        return None
    finally:
        _draw(check, budget.spend.total_usd - spent_before)
        check.reread_seen = sorted(seen)
    return _reread_done(check, graph, seen, now)


def passed_unseen(graph: Graph, seen: set[str], started: datetime, slack: int = OUT_OF_ORDER_SLACK) -> list[str]:
    """Followees known before the re-read began that it has gone past without seeing: at least ``slack``
    followees below them (in the order X is expected to serve the list) were seen.

    The expected order: followees first seen later, newest first, above those of the first read, which
    keep the order X served them in (the graph keeps its insertion order through storage). X's order is
    mostly, not strictly, newest-follow-first (a few entries a little lower): ``slack`` allows for that,
    and whatever is passed is looked up before anything is concluded."""
    later = sorted(
        (uid for uid, entry in graph.items() if isinstance(entry[0], str)),
        key=lambda uid: str(graph[uid][0]),
        reverse=True,
    )
    expected = later + [uid for uid, entry in graph.items() if not isinstance(entry[0], str)]
    passed: list[str] = []
    seen_below = 0
    for uid in reversed(expected):
        if uid in seen:
            seen_below += 1
        elif seen_below >= slack and not _first_seen_since(graph[uid], started):
            passed.append(uid)
    return passed


def _reread_stopped(check: FolloweeCheck, now: datetime) -> FolloweeChanges:
    """The set agrees with X's count again before the re-read reached the end: nothing is left to find
    that the count knows of, so the re-read stops (the rest of the list is not concluded on)."""
    check.reread_started_at, check.reread_token, check.reread_seen = None, None, []
    check.agreed_at = now
    return FolloweeChanges(now)


def _allowance(check: FolloweeCheck, budget: Budget, reserve_usd: float) -> Budget:
    """What the re-read allowance still pays, less ``reserve_usd``, over the week's spend (``budget``'s)."""
    return Budget(budget.spend.total_usd + check.allowance_usd - reserve_usd, budget.prices, budget.spend)


def _draw(check: FolloweeCheck, usd: float) -> None:
    check.allowance_usd = round(max(check.allowance_usd - usd, 0.0), 4)


def _reread_done(check: FolloweeCheck, graph: Graph, seen: set[str], now: datetime) -> FolloweeChanges:
    """The re-read reached the end: the set is right as of when it began (changes since are the count's
    to show), so that is the "as of" date from now on."""
    started = check.reread_started_at
    assert started is not None
    gone = {uid for uid, entry in graph.items() if uid not in seen and not _first_seen_since(entry, started)}
    check.reread_started_at, check.reread_token, check.reread_seen = None, None, []
    check.agreed_at = max(started, check.agreed_at) if check.agreed_at else started
    changes = FolloweeChanges(now, gone=gone)
    apply_changes(graph, check, changes)
    return changes


def _first_seen_since(entry: list[str | bool | None], at: datetime) -> bool:
    since = entry[0]
    return isinstance(since, str) and datetime.fromisoformat(since) >= at


def check_counts(check: FolloweeCheck, reported: int | None, known: int, now: datetime, *, whole_list: bool) -> None:
    """Compare the known set with X's count; ``whole_list``: the set was read whole in this run, so the
    difference is the steady offset (accounts counted, not served). Until an offset is known (a set kept
    from before offsets were learned) nothing is concluded: a re-read is on its way."""
    if reported is None:
        return
    if whole_list:
        check.offset = reported - known
    if check.offset is None:
        return
    check.drift = reported - known - check.offset
    if check.drift == 0:
        check.agreed_at = now


def verify(
    client: XClient, user_ids: Iterable[str], budget: Budget, now: datetime, label: str = "users_lookup"
) -> tuple[set[str], FolloweeChanges]:
    """Look the accounts up; (those still followed, what changed). Whatever cannot be looked up this run
    (budget, rate limit, X failing) is neither: it must not be named. A lookup costs what a list entry does;
    it is worth it for the few accounts a digest names or a re-read passed unseen, not for the whole set.
    ``label``: what the spend calls it (the re-read's lookups are paid by its allowance, apart)."""
    ids = list(dict.fromkeys(user_ids))
    followed: set[str] = set()
    changes = FolloweeChanges(now)
    for start in range(0, len(ids), 100):
        batch = ids[start : start + 100]
        served = look_up_users(client, batch, budget, label)
        if served is None:
            break
        for user_id in batch:
            user = served.get(user_id)
            if user is None:
                changes.unserved.add(user_id)
            elif user.connection_status is not None and "following" not in user.connection_status:
                changes.gone.add(user_id)
            else:
                followed.add(user_id)
    return followed, changes
