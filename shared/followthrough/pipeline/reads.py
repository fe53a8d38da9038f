"""Incremental, budgeted, resumable reads of one subscriber's X activity.

Each ``read_*`` pages newest-first and stops as soon as it reaches what an
earlier run already saw, so a steady week pays for little more than what is
new. Page sizes adapt to how much was new last time, because X charges for
every resource a page returns, wanted or not. A rate limit or an exhausted
budget leaves a resume token in the cursor; the next run continues from it
without reading anything twice: the same week from the token, a later week
from the top down to where the interrupted read began, then from the token
(the backlog) down to where it was going. What an interrupted read got
before it stopped travels with ``BudgetExhausted`` or ``XRateLimited``, so
nothing paid for is lost.

Each read spends at most its share of the week's budget (``Budget.shares``)
while others still wait for their turn, so one heavy read (a first run's like
history) cannot starve the rest.

Written as a plain loop rather than tweepy's ``Paginator`` because each page
needs its own size, a budget check before it, and a resumable token after it
(docs/decisions.md, 2026-11-22).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from followthrough.adapters.x import PageResult, XClient, XMalformed, XRateLimited, XUnavailable
from followthrough.config import XPrices
from followthrough.cursors import EndpointCursor, Spend
from followthrough.xmodels import XUser

HEAD_SIZE = 20  # ids remembered at the top of a newest-first list, in case some are deleted
PAGE_LIMITS = {  # (min, max) max_results per endpoint, from X's documentation
    "tweets": (5, 100),
    "mentions": (5, 100),
    "liked_tweets": (5, 100),
    "following": (1, 1000),
    "followers": (1, 1000),
    "dm_events": (1, 100),
    "search_recent": (10, 100),
}
PRICE_OF = {
    "tweets": "post",
    "mentions": "post",
    "liked_tweets": "like",
    "following": "user",
    "followers": "user",
    "dm_events": "dm_event",
    "users_me": "user",
    "users_lookup": "user",
    "dm_senders_lookup": "user",  # pipeline/collect.py: the names of the automated DMs' senders a digest shows
    "following_reread": "user",  # pipeline/followees.py: the reconciliation re-read
    "following_unordered": "user",  # pipeline/followees.py: new follows sought past the known part
    "following_passed": "user",  # pipeline/followees.py: lookups of followees the re-read passed unseen
    "search_recent": "post",  # pricing.mdx: "Posts: Read", per post returned, search included
}


class BudgetExhausted(Exception):
    """The week's budget, or this read's share of it, does not pay for another page."""

    def __init__(self, endpoint: str, *, share: bool = False) -> None:
        super().__init__(endpoint)
        self.endpoint = endpoint
        self.share = share  # only the read's share ran out: the rest of the budget may finish it
        self.partial: ListRead | None = None  # what the read got before it stopped (paid for; keep it)


@dataclass
class Budget:
    limit_usd: float
    prices: XPrices
    spend: Spend = field(default_factory=Spend)
    # endpoint -> the most it may have spent this week while other reads wait for their turn
    shares: dict[str, float] = field(default_factory=dict)
    # spend labels paid from elsewhere (the followee re-read allowance, pipeline/followees.py): recorded in
    # ``spend`` but not taken from this budget, in this attempt or a later one in the same week
    apart: frozenset[str] = frozenset()

    def price(self, endpoint: str) -> float:
        return float(getattr(self.prices, PRICE_OF[endpoint]))

    @property
    def spent_usd(self) -> float:
        """What this budget paid: the week's spend less what was paid apart."""
        return round(self.spend.total_usd - sum(self.spend.usd.get(label, 0.0) for label in self.apart), 6)

    @property
    def remaining(self) -> float:
        return self.limit_usd - self.spent_usd

    def remaining_for(self, endpoint: str) -> float:
        """What ``endpoint`` may still spend: the budget left, and no more than the rest of its share."""
        share = self.shares.get(endpoint)
        if share is None:
            return self.remaining
        return min(self.remaining, share - self.spend.usd.get(endpoint, 0.0))

    def share_out(self, weights: dict[str, float]) -> None:
        """Give each read in ``weights`` its share, by weight, of the budget the others have not spent
        (``users/me``, reads finished earlier this week); what a read spent this week counts against its own."""
        total = sum(weights.values())
        pool = self.limit_usd - sum(
            usd for endpoint, usd in self.spend.usd.items() if endpoint not in weights and endpoint not in self.apart
        )
        self.shares = {endpoint: pool * w / total for endpoint, w in weights.items()} if total else {}

    def affordable_page(self, endpoint: str, wanted: int) -> int:
        """The largest page not above ``wanted`` that the remaining budget pays for in the worst case."""
        low, high = PAGE_LIMITS[endpoint]
        size = min(max(wanted, low), high)
        left = self.remaining_for(endpoint)
        affordable = int(left / self.price(endpoint) + 1e-9)
        if affordable < low:
            raise BudgetExhausted(endpoint, share=left < self.remaining)
        return min(size, affordable)

    def charge(self, endpoint: str, resources: int) -> None:
        self.spend.add(endpoint, resources, resources * self.price(endpoint))


@dataclass
class ListRead:
    """The outcome of one newest-first list read."""

    items: list[Any] = field(default_factory=list)
    includes: list[Any] = field(default_factory=list)
    # a whole list re-read (follows): what was not seen is gone
    full: bool = False
    # following (pipeline/followees.py): every id the read was served, and where it stopped, so a re-read
    # begun in the same run starts there
    served_ids: list[str] = field(default_factory=list)
    next_token: str | None = None
    # how many of ``items``, the first ones, are an earlier week's backlog (not this week's new)
    backlog: int = 0
    # read_until_known: the read ended at a known id (not at its cap, the list's end or a window)
    reached_known: bool = False
    # followers: none of them could be told new from old (no known follower reached; collect.py)
    undated: bool = False

    def extend(self, more: ListRead) -> None:
        self.items.extend(more.items)
        self.includes.extend(more.includes)
        self.served_ids.extend(more.served_ids)
        self.next_token = more.next_token  # the continued read stopped where ``more`` did
        self.reached_known, self.undated = more.reached_known, more.undated


def read_since(
    endpoint: str, fetch: Callable[..., PageResult], cursor: EndpointCursor, budget: Budget, start_time: datetime | None
) -> ListRead:
    """Posts or mentions newer than ``cursor.since_id`` (the first run: since ``start_time``); an earlier
    week's backlog first."""
    out = ListRead()
    try:
        if cursor.backlog_token:
            _page_since(endpoint, fetch, budget, out, cursor.backlog_token, cursor.backlog_query, cursor, backlog=True)
            cursor.backlog_query = {}
        query = {"since_id": cursor.since_id} if cursor.since_id else {}
        if not query and start_time is not None:
            query = {"start_time": start_time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        cursor.resume_query = cursor.resume_query or query
        _page_since(endpoint, fetch, budget, out, cursor.resume_token, cursor.resume_query, cursor, backlog=False)
    except (BudgetExhausted, XRateLimited) as exc:
        exc.partial = out
        raise
    cursor.resume_query = {}
    if cursor.pending_head:
        cursor.since_id = cursor.pending_head[0]
    cursor.pending_head = []
    cursor.last_new = len(out.items)
    return out


def _page_since(
    endpoint: str,
    fetch: Callable[..., PageResult],
    budget: Budget,
    out: ListRead,
    token: str | None,
    query: dict[str, str],
    cursor: EndpointCursor,
    *,
    backlog: bool,
) -> None:
    """Page one since_id / start_time query to its end, saving the token after each page."""
    while True:
        result = fetch(pagination_token=token, max_results=budget.affordable_page(endpoint, 100), **query)
        budget.charge(endpoint, result.resources)
        page = result.page
        if not backlog and not cursor.pending_head and page.data:
            cursor.pending_head = [page.data[0].id]
        out.items.extend(page.data)
        out.includes.extend(page.includes.tweets)
        token = page.meta.next_token
        if backlog:
            cursor.backlog_token = token
        else:
            cursor.resume_token = token
        if not token:
            return


def read_until_known(
    endpoint: str,
    fetch: Callable[..., PageResult],
    cursor: EndpointCursor,
    budget: Budget,
    known: Callable[[str], bool],
    *,
    expected_new: int | None = None,
    cap: int | None = None,
    past_window: Callable[[list[Any]], int | None] | None = None,
    backlog_in_expected: bool = False,
) -> ListRead:
    """A newest-first list (likes, DM events, following, followers) down to the first id already known.

    The first page is sized to what is expected to be new (``expected_new``;
    for follow lists the change in X's counts, otherwise the last steady
    week's volume) plus a margin; when that was not enough, later pages are a
    quarter of it, since the known part is probably close. Without an
    expectation (a first or full read) pages are as large as X allows.
    ``cap`` bounds how many items one run may read; ``past_window`` says from
    a page that the rest of the list is older than anything wanted (0; likes:
    X has no since_id or start_time on liked_tweets, openapi.json), or about
    how many items are left until it is (the next page is sized to that: every
    item of a page is paid for), or None: not yet, no estimate.
    An earlier week's backlog (``cursor.backlog_token``) is read first, down
    to the same known ids; with ``backlog_in_expected`` (follow lists, whose
    expectation comes from X's counts) what it found is not expected again above.
    A read interrupted on its way down to known ids keeps how many it found
    (``resume_found``, then ``backlog_found``): its rest is read with pages
    sized to what is still expected, not as large as X allows, since its known
    ids lie just below and a larger page is paid for again past them; once that
    rest is read the interrupted week is measured whole, and sizes this week's read.
    """
    out = ListRead()
    owed = cursor.backlog_found  # what the backlog's read had found before it stopped
    try:
        if cursor.backlog_token:
            # the rest of an earlier week's read down to these ids: pages sized to that rest when what it
            # found is known (not a first or full read's history)
            expected = expected_new if owed is not None else None
            _page_down(endpoint, fetch, budget, out, cursor, known, expected, owed, cap, past_window, True)
            out.backlog = len(out.items)
            if owed is not None and expected_new is not None and not backlog_in_expected:
                expected_new = owed + out.backlog  # that week, read whole at last: the latest measure of a week
        # follow lists: X's counts expected what the backlog found too
        found = (owed or 0) + out.backlog if backlog_in_expected else 0
        if cursor.resume_token and cursor.resume_found is not None:
            found = cursor.resume_found  # resumed this week: what it found already is not to come again
        _page_down(endpoint, fetch, budget, out, cursor, known, expected_new, found, cap, past_window, False)
    except (BudgetExhausted, XRateLimited) as exc:
        exc.partial = out
        raise
    cursor.resume_token = None
    cursor.resume_found = None
    if cursor.pending_head:
        cursor.known_head = cursor.pending_head
    cursor.pending_head = []
    cursor.last_new = len(out.items)
    return out


def _page_down(
    endpoint: str,
    fetch: Callable[..., PageResult],
    budget: Budget,
    out: ListRead,
    cursor: EndpointCursor,
    known: Callable[[str], bool],
    expected: int | None,
    found: int | None,
    cap: int | None,
    past_window: Callable[[list[Any]], int | None] | None,
    backlog: bool,
) -> None:
    """Page a newest-first list from the backlog's (or resume) token until a known id, its end, ``cap``
    or ``past_window``.

    ``expected``: how many new items the whole read expects above the first known id, of which
    ``found`` were read before the token (None: a first or full read, no known id to reach). Pages
    are sized to the rest: a resumed read's known ids lie just below it, and every item of a page
    past them is paid for again. After each page the token, and how many the read has found, are
    saved where the next attempt looks for them: ``backlog_*`` while reading the backlog, else
    ``resume_*``.
    """
    token = cursor.backlog_token if backlog else cursor.resume_token
    out.reached_known = False  # this part's own end: a backlog's says nothing about the top's
    low, high = PAGE_LIMITS[endpoint]
    if expected is None or found is None:
        size = later = high
        found = None
    else:
        rest = max(expected - found, 1)
        size = rest + max(2, rest // 10)
        later = max(size // 4, low, 5)
    while cap is None or len(out.items) < cap:
        # no margin past the cap: every item of a page is paid for, and a capped read stops at the cap
        wanted = size if cap is None else min(size, max(cap - len(out.items), low))
        result = fetch(pagination_token=token, max_results=budget.affordable_page(endpoint, wanted))
        budget.charge(endpoint, result.resources)
        page = result.page
        new = 0
        for item in page.data:
            if known(item.id):
                out.reached_known = True
                break
            out.items.append(item)
            new += 1
        if not backlog and not cursor.pending_head:
            cursor.pending_head = [i.id for i in page.data[:HEAD_SIZE]]
        token = page.meta.next_token
        if found is not None:
            found += new
        if backlog:
            cursor.backlog_token, cursor.backlog_found = token, found
        else:
            cursor.resume_token, cursor.resume_found = token, found
        left = past_window(page.data) if past_window is not None else None
        if out.reached_known or not token or left == 0:
            break
        size = later if left is None else min(later, max(left, low))
    if backlog:
        cursor.backlog_token, cursor.backlog_found = None, None


def look_up_users(client: XClient, ids: list[str], budget: Budget, label: str) -> dict[str, XUser] | None:
    """Up to 100 accounts by id, as X serves them (suspended or deleted ones left out), charged to ``label``;
    None when ``budget`` does not pay for them all or X does not answer this run (rate limit, failing,
    malformed): the caller goes without, it never guesses."""
    if budget.remaining < len(ids) * budget.price(label):
        return None
    try:
        result = client.users(ids)
    except (XRateLimited, XUnavailable, XMalformed):
        return None
    budget.charge(label, result.resources)
    return {u.id: u for u in result.page.data}


def fetch_for(client: XClient, endpoint: str, user_id: str) -> Callable[..., PageResult]:
    """The client call for ``endpoint``, with the subscriber's id bound where the endpoint wants one."""
    calls: dict[str, Callable[..., PageResult]] = {
        "tweets": lambda **kw: client.posts(user_id, **kw),
        "mentions": lambda **kw: client.mentions(user_id, **kw),
        "liked_tweets": lambda **kw: client.liked_posts(user_id, **kw),
        "following": lambda **kw: client.following(user_id, **kw),
        "followers": lambda **kw: client.followers(user_id, **kw),
        "dm_events": lambda **kw: client.dm_events(**kw),
    }
    return calls[endpoint]
