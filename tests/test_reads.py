"""The budgeted, resumable newest-first reader on a list in memory: shares, partial reads, backlogs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from followthrough.adapters.x import PageResult
from followthrough.config import XPrices
from followthrough.cursors import EndpointCursor
from followthrough.pipeline.reads import Budget, BudgetExhausted, read_until_known


@dataclass
class NewestFirst:
    """A list X serves newest first; tokens continue below the last item served, as X's do."""

    ids: list[str]
    served: Counter[str] = field(default_factory=Counter)

    def add_on_top(self, count: int) -> None:
        top = int(self.ids[0]) if self.ids else 0
        self.ids[:0] = [str(top + count - i) for i in range(count)]

    def fetch(self, pagination_token: str | None = None, max_results: int = 100) -> PageResult:
        start = self.ids.index(pagination_token) if pagination_token else 0
        page = self.ids[start : start + max_results]
        self.served.update(page)
        rest = self.ids[start + max_results :]
        body: Any = SimpleNamespace(
            data=[SimpleNamespace(id=i) for i in page],
            meta=SimpleNamespace(next_token=rest[0] if rest else None),
            includes=SimpleNamespace(tweets=[]),
        )
        return PageResult(body, len(page))


PRICES = XPrices()  # a like costs $0.001


def test_a_read_stops_at_its_share_and_hands_back_what_it_got() -> None:
    likes = NewestFirst([str(n) for n in range(1000, 0, -1)])
    budget = Budget(10.0, PRICES, shares={"liked_tweets": 0.25})  # the budget would pay for all 1,000
    cursor = EndpointCursor()
    with pytest.raises(BudgetExhausted) as stopped:
        read_until_known("liked_tweets", likes.fetch, cursor, budget, lambda _id: False)
    assert stopped.value.share and stopped.value.partial is not None
    assert len(stopped.value.partial.items) == 250 and budget.spend.usd["liked_tweets"] == pytest.approx(0.25)
    assert cursor.resume_token == "750"  # where the next attempt continues


def test_shares_are_the_budget_left_by_weight_and_count_what_each_spent() -> None:
    budget = Budget(3.0, PRICES)
    budget.charge("users_me", 10)  # $0.10 of users/me: not any read's
    budget.charge("following", 50)  # $0.50 earlier this week: against following's own share
    budget.share_out({"liked_tweets": 1.0, "following": 2.0})
    assert budget.shares == pytest.approx({"liked_tweets": 2.9 / 3, "following": 2 * 2.9 / 3})
    assert budget.remaining_for("following") == pytest.approx(2 * 2.9 / 3 - 0.5)
    assert budget.remaining_for("dm_events") == pytest.approx(budget.remaining)  # no share: the budget


def test_an_interrupted_read_continues_next_week_below_what_is_new_with_no_item_twice() -> None:
    likes = NewestFirst([str(n) for n in range(1000, 0, -1)])
    cursor = EndpointCursor()
    cursor.start_week("W1", paged_by_since_id=False)
    week1 = Budget(0.3, PRICES)
    with pytest.raises(BudgetExhausted) as stopped:
        read_until_known("liked_tweets", likes.fetch, cursor, week1, lambda _id: False)
    assert stopped.value.partial is not None
    got = [i.id for i in stopped.value.partial.items]

    likes.add_on_top(40)  # a week of new likes
    assert not cursor.start_week("W2", paged_by_since_id=False)  # nothing dropped
    assert cursor.backlog_token == "700" and cursor.resume_token is None
    head = set(cursor.known_head)
    rest = read_until_known(
        "liked_tweets", likes.fetch, cursor, Budget(5.0, PRICES), head.__contains__, expected_new=39
    )
    got += [i.id for i in rest.items]

    assert sorted(got, key=int) == sorted(likes.ids, key=int)  # every like, the new ones too
    assert len(got) == len(set(got))
    # served twice: only the margin of the new week's first page (it must see a known id to stop)
    assert sum(n - 1 for n in likes.served.values()) <= 39 // 10 + 2
    assert cursor.backlog_token is None and cursor.known_head[0] == likes.ids[0]


def test_a_new_weeks_read_interrupted_below_a_backlog_resumes_the_week_after_with_pages_sized_to_its_rest() -> None:
    # week 1's history read stops; week 2 finishes that backlog, then its own read of the week's new likes
    # (down to week 1's head) stops half way; week 3 reads that rest as its backlog, down to week 1's head,
    # just above the history read in week 1: a page as large as X allows would serve that history again
    likes = NewestFirst([str(n) for n in range(1000, 0, -1)])
    cursor = EndpointCursor()
    cursor.start_week("W1", paged_by_since_id=False)
    with pytest.raises(BudgetExhausted) as stopped:
        read_until_known("liked_tweets", likes.fetch, cursor, Budget(0.3, PRICES), lambda _id: False)
    assert stopped.value.partial is not None
    got = [i.id for i in stopped.value.partial.items]

    for week, budget_usd in (("W2", 0.72), ("W3", 5.0)):
        likes.add_on_top(40)
        assert not cursor.start_week(week, paged_by_since_id=False)
        head = set(cursor.known_head)
        try:
            read = read_until_known(
                "liked_tweets", likes.fetch, cursor, Budget(budget_usd, PRICES), head.__contains__, expected_new=39
            )
        except BudgetExhausted as exc:
            assert week == "W2" and exc.partial is not None
            read = exc.partial
            assert cursor.backlog_token is None and cursor.resume_token is not None  # stopped in its new likes
        got += [i.id for i in read.items]

    assert sorted(got, key=int) == sorted(likes.ids, key=int) and len(got) == len(set(got))
    # served twice: only the margins of week 3's two reads (each must see a known id to stop)
    assert sum(n - 1 for n in likes.served.values()) <= 2 * (39 // 10 + 2)
    assert cursor.backlog_token is None and cursor.resume_token is None and cursor.known_head[0] == likes.ids[0]


def test_the_likes_window_ends_a_read_at_the_page_whose_oldest_are_past_it() -> None:
    likes = NewestFirst([str(n) for n in range(1000, 0, -1)])

    def past(page: list[Any]) -> int | None:
        return 0 if int(page[-1].id) < 640 else None  # ids stand in for the liked posts' times here

    out = read_until_known(
        "liked_tweets", likes.fetch, EndpointCursor(), Budget(5.0, PRICES), lambda _id: False, past_window=past
    )
    assert len(out.items) == 400  # four pages: the fourth reaches below 640


@pytest.mark.parametrize(("cap", "expected_new"), [(10, 10), (7, 40), (230, None)])
def test_a_capped_read_asks_for_no_more_than_its_cap(cap: int, expected_new: int | None) -> None:
    """Every item of a page is paid for: the page past a cap is not padded with the usual margin."""
    followers = NewestFirst([str(n) for n in range(5000, 0, -1)])
    budget = Budget(1000.0, PRICES)
    out = read_until_known(
        "followers", followers.fetch, EndpointCursor(), budget, lambda _id: False, expected_new=expected_new, cap=cap
    )
    assert len(out.items) == cap and sum(followers.served.values()) == cap


def test_the_page_that_reaches_the_likes_window_is_sized_to_what_is_left() -> None:
    likes = NewestFirst([str(n) for n in range(1000, 0, -1)])

    def past(page: list[Any]) -> int | None:
        oldest = int(page[-1].id)
        return 0 if oldest < 640 else oldest - 640 + 10  # about what is left, and a margin

    out = read_until_known(
        "liked_tweets", likes.fetch, EndpointCursor(), Budget(5.0, PRICES), lambda _id: False, past_window=past
    )
    # pages of 100 (X's most) while more is left; then one of the 71 left (701 - 640 + 10): 630 is past 640
    assert len(out.items) == 371 and sum(likes.served.values()) == 371  # not 400: nothing of a fourth full page
