"""Incremental, budgeted, resumable reads of one subscriber's X activity.

Each ``read_*`` pages newest-first and stops as soon as it reaches what an
earlier run already saw, so a steady week pays for little more than what is
new. Page sizes adapt to how much was new last time, because X charges for
every resource a page returns, wanted or not. A rate limit or an exhausted
budget leaves a resume token in the cursor; the next run continues from it
without reading anything twice.

Written as a plain loop rather than tweepy's ``Paginator`` because each page
needs its own size, a budget check before it, and a resumable token after it
(docs/decisions.md, 2026-11-22).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from followthrough.adapters.x import PageResult, XClient
from followthrough.config import XPrices
from followthrough.cursors import EndpointCursor, Spend

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
    "search_recent": "post",  # pricing.mdx: "Posts: Read", per post returned, search included
}


class BudgetExhausted(Exception):
    pass


@dataclass
class Budget:
    limit_usd: float
    prices: XPrices
    spend: Spend = field(default_factory=Spend)

    def price(self, endpoint: str) -> float:
        return float(getattr(self.prices, PRICE_OF[endpoint]))

    @property
    def remaining(self) -> float:
        return self.limit_usd - self.spend.total_usd

    def affordable_page(self, endpoint: str, wanted: int) -> int:
        """The largest page not above ``wanted`` that the remaining budget pays for in the worst case."""
        low, high = PAGE_LIMITS[endpoint]
        size = min(max(wanted, low), high)
        affordable = int(self.remaining / self.price(endpoint) + 1e-9)
        if affordable < low:
            raise BudgetExhausted(endpoint)
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


def read_since(
    endpoint: str, fetch: Callable[..., PageResult], cursor: EndpointCursor, budget: Budget, start_time: datetime | None
) -> ListRead:
    """Posts or mentions newer than ``cursor.since_id`` (the first run: since ``start_time``)."""
    out = ListRead()
    token = cursor.resume_token
    while True:
        size = budget.affordable_page(endpoint, 100)
        kwargs: dict[str, Any] = {"pagination_token": token, "max_results": size}
        if cursor.since_id:
            kwargs["since_id"] = cursor.since_id
        elif start_time is not None:
            kwargs["start_time"] = start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        result = fetch(**kwargs)
        budget.charge(endpoint, result.resources)
        page = result.page
        if not cursor.pending_head and page.data:
            cursor.pending_head = [page.data[0].id]
        out.items.extend(page.data)
        out.includes.extend(page.includes.tweets)
        token = page.meta.next_token
        cursor.resume_token = token
        if not token:
            break
    if cursor.pending_head:
        cursor.since_id = cursor.pending_head[0]
    cursor.pending_head = []
    cursor.last_new = len(out.items)
    return out


def read_until_known(
    endpoint: str,
    fetch: Callable[..., PageResult],
    cursor: EndpointCursor,
    budget: Budget,
    known: Callable[[str], bool],
    *,
    expected_new: int | None = None,
    cap: int | None = None,
) -> ListRead:
    """A newest-first list (likes, DM events, following, followers) down to the first id already known.

    The first page is sized to what is expected to be new (``expected_new``;
    for follow lists the change in X's counts, otherwise the last steady
    week's volume) plus a margin; when that was not enough, later pages are a
    quarter of it, since the known part is probably close. Without an
    expectation (a first or full read) pages are as large as X allows.
    ``cap`` bounds how many items one run may read.
    """
    out = ListRead()
    token = cursor.resume_token
    low, high = PAGE_LIMITS[endpoint]
    if expected_new is None:
        size = high
        next_size = high
    else:
        size = expected_new + max(2, expected_new // 10)
        next_size = max(size // 4, low, 5)
    while True:
        if cap is not None and len(out.items) >= cap:
            break
        result = fetch(pagination_token=token, max_results=budget.affordable_page(endpoint, size))
        budget.charge(endpoint, result.resources)
        page = result.page
        reached_known = False
        for item in page.data:
            if known(item.id):
                reached_known = True
                break
            out.items.append(item)
        if not cursor.pending_head:
            cursor.pending_head = [i.id for i in page.data[:HEAD_SIZE]]
        token = page.meta.next_token
        cursor.resume_token = token
        if reached_known or not token:
            break
        size = next_size
    cursor.resume_token = None
    if cursor.pending_head:
        cursor.known_head = cursor.pending_head
    cursor.pending_head = []
    cursor.last_new = len(out.items)
    return out


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
