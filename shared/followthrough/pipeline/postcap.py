"""Living within X's monthly Post-read cap, for the whole app (pricing.mdx, post-cap.mdx).

A pay-per-use app may read 3 million Posts per monthly billing cycle, every
subscriber's posts, mentions and liked posts together. Each collect reserves
the Posts it expects to read in an atomic counter (``PostReadRepository``)
before reading, and settles it with what it read after. Reservations may not
run ahead of an even pace through the cycle by more than ``pace_lead_days``:
that is how "the rest of the cycle cannot cover everyone due" shows before it
is too late, and then the least valuable Post reads are left out first (liked
posts, then mentions, then the subscriber's own posts), and new subscribers'
first runs (thousands of Posts each) wait until the pace has room for them.

Past the cap X answers 429 with the problem type ``usage-capped``: not a rate
limit (retrying at ``x-rate-limit-reset`` would loop until the next cycle), so
it is recorded once for the app and no collect asks X for Posts again until the
cycle resets; the reads that are not Posts (follows, DMs) go on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from followthrough.adapters.store import CollectorState, PostReadRepository, PostReads
from followthrough.config import PostCapConfig
from followthrough.cursors import Cursors, Spend

# what X counts toward the cap, least valuable first (the reverse of the collector's read order)
TRIM_ORDER = ("liked_tweets", "mentions", "tweets")
# the opt-in search for mentions without the @ reads Posts too; it is never trimmed, it goes first
POST_ENDPOINTS = frozenset((*TRIM_ORDER, "search_recent"))


def posts_read(spend: Spend | None) -> int:
    """The Posts a subscriber-week's spend counts (each post a page returns, with the posts it includes)."""
    return sum(n for endpoint, n in (spend.resources if spend else {}).items() if endpoint in POST_ENDPOINTS)


def describe_day(moment: datetime) -> str:
    """ "Tuesday 01 December 2026" (UTC): the day a queued first run or a capped cycle's Post reads resume."""
    return f"{moment.astimezone(UTC):%A %d %B %Y}"


@dataclass(frozen=True)
class BillingCycle:
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.date().isoformat()

    @classmethod
    def of(cls, at: datetime, day: int) -> BillingCycle:
        """The cycle ``at`` falls in, cycles starting on ``day`` of each month at 00:00 UTC."""
        at = at.astimezone(UTC)
        start = datetime(at.year, at.month, day, tzinfo=UTC)
        if at < start:
            start = _months_later(start, -1)
        return cls(start, _months_later(start, 1))


def _months_later(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


@dataclass
class Admission:
    """What one subscriber-week may read of Posts, and what it came to."""

    cycle: str
    reserved: int = 0
    already_read: int = 0  # Posts an earlier attempt this week read (and settled)
    skipped: dict[str, str] = field(default_factory=dict)  # endpoint -> why it is not read this week
    queued_until: datetime | None = None  # a first run that waits for room in the cap
    spend: Spend | None = None  # the week's spend, as the collect leaves it
    first_to_see_cap: bool = False  # this collect recorded X's usage-capped answer (the one alarm)
    used_percent: float | None = None  # of the cap, once settled


@dataclass
class PostCap:
    """The app-wide Post-read meter and who it admits."""

    meter: PostReadRepository
    config: PostCapConfig
    now: Callable[[], datetime]

    def cycle(self, at: datetime | None = None) -> BillingCycle:
        return BillingCycle.of(at or self.now(), self.config.cycle_day)

    def _allowance(self, cycle: BillingCycle, at: datetime, cap: int) -> int:
        """Posts the cycle may have reserved by ``at``: an even pace, ``pace_lead_days`` ahead."""
        elapsed = (at - cycle.start) + timedelta(days=self.config.pace_lead_days)
        return min(cap, int(cap * elapsed / (cycle.end - cycle.start)))

    def _capped_reason(self, cycle: BillingCycle) -> str:
        return f"X's monthly Post-read cap is reached; Post reads resume on {describe_day(cycle.end)}"

    def admit(self, state: CollectorState, skipped_by_subscriber: Iterable[str] = ()) -> Admission:
        """Reserve what this subscriber-week is expected to read; trim or queue when the cap has no room."""
        now, cycle = self.now(), self.cycle()
        admission = Admission(cycle.key, already_read=posts_read(state.week.spend if state.week else None))
        cap = self.config.cap
        if cap is None:  # an enterprise plan: counted, never refused
            return admission
        first_run = state.subscriber is not None and state.subscriber.first_collected_at is None
        usage = self.meter.post_reads(cycle.key)
        if first_run:
            need = self.config.first_run_posts
            if usage.capped is None and self.meter.reserve_post_reads(
                cycle.key, need, limit=self._allowance(cycle, now, cap)
            ):
                admission.reserved = need
            else:
                admission.queued_until = self.first_run_from(now, usage) or now
            return admission
        if usage.capped is not None:
            admission.skipped = dict.fromkeys(TRIM_ORDER, self._capped_reason(cycle))
            return admission
        expected = self._expected(state.cursors)
        wanted = [e for e in reversed(TRIM_ORDER) if e not in set(skipped_by_subscriber)]
        limit = self._allowance(cycle, now, cap)
        for trimmed in range(len(TRIM_ORDER) + 1):
            left_out = set(TRIM_ORDER[:trimmed])
            keep = [e for e in wanted if e not in left_out]
            need = sum(expected[e] for e in keep)
            if not keep or self.meter.reserve_post_reads(cycle.key, need, limit=limit):
                admission.reserved = need if keep else 0
                why = (
                    "X's monthly Post-read cap: this cycle's remaining reads go to what matters more "
                    f"(back by {describe_day(cycle.end)} at the latest)"
                )
                admission.skipped = {e: why for e in wanted if e in left_out}
                return admission
        return admission  # not reached: an empty ``keep`` always admits

    def _expected(self, cursors: Cursors) -> dict[str, int]:
        """Posts each endpoint is expected to return this week, with a margin: last week's new items (posts
        twice, for the posts they quote or reply to), or a first run's share for an endpoint never read."""
        out = {}
        for endpoint in TRIM_ORDER:
            cursor = cursors.endpoints.get(endpoint)
            if cursor is None or not (cursor.since_id or cursor.known_head):
                out[endpoint] = math.ceil(self.config.first_run_posts / len(TRIM_ORDER))
                continue
            new = max(cursor.last_new, cursor.weekly_estimate or 0) * (2 if endpoint == "tweets" else 1)
            out[endpoint] = math.ceil(new * 1.25) + 5
        return out

    def first_run_from(self, at: datetime, usage: PostReads | None = None) -> datetime | None:
        """When a first run could be admitted, if not at ``at`` (None): when the pace has room for it, or the
        next cycle. Others' reservations meanwhile may push it later; it is a "not before"."""
        cap = self.config.cap
        if cap is None:
            return None
        cycle = self.cycle(at)
        usage = usage or self.meter.post_reads(cycle.key)
        need = usage.reserved + self.config.first_run_posts
        if usage.capped is None and need <= self._allowance(cycle, at, cap):
            return None
        if usage.capped is None and need <= cap:
            when = cycle.start + (cycle.end - cycle.start) * (need / cap) - timedelta(days=self.config.pace_lead_days)
            if when < cycle.end:
                return max(when, at)
        return cycle.end

    def queued_reason(self, admission: Admission) -> str:
        assert admission.queued_until is not None
        return (
            "first run queued: X's monthly Post-read cap has no room for it now; "
            f"it runs from {describe_day(admission.queued_until)}"
        )

    def cap_reached(self, admission: Admission, reason: str) -> str:
        """X answered usage-capped: recorded for the app (``first_to_see_cap`` for the one that records it),
        and no more Post reads this week. Returns why, for what is skipped."""
        cycle = self.cycle()
        admission.first_to_see_cap = self.meter.mark_post_cap_reached(admission.cycle, reason)
        why = self._capped_reason(cycle)
        admission.skipped.update(dict.fromkeys(TRIM_ORDER, why))
        return why

    def settle(self, admission: Admission) -> None:
        """The reservation becomes what was read (a collect that failed before reading settles nothing read)."""
        read = max(posts_read(admission.spend) - admission.already_read, 0) if admission.spend else 0
        after = self.meter.settle_post_reads(admission.cycle, admission.reserved, read)
        admission.reserved = 0
        if self.config.cap is not None:
            admission.used_percent = round(100 * after.reserved / self.config.cap, 2)
