"""What the pipeline and the sign-up need of stored data: one repository per kind of data.

Each has two implementations that pass the same contract suite
(tests/test_store_contract.py): ``dynamo.py`` (the table) and ``memory.py``
(in-memory twins, for fast tests and the dev kit). Time comes from the
injected clock, never the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from followthrough.activity import Activity
from followthrough.adapters.store.table import UniqueKind
from followthrough.analysis.models import Interaction
from followthrough.cursors import Cursors, Spend
from followthrough.follow_events import FollowEvent
from followthrough.report import WeeklyReport
from followthrough.subscriber import Subscriber

# user id -> [ISO time the edge was first seen (None: before the first collection), username] and, for
# followees, [.., the id of their latest post when X served them (a snowflake: it dates that post; None: not
# served), whether they follow back (connection_status; None: not known)]; older entries are shorter
Graph = dict[str, list[str | bool | None]]
FOLLOW_LISTS = ("following", "followers")
Clock = Callable[[], datetime]
PREVIOUS_REPORTS = 8  # earlier reports a collect or a digest loads (trends, deltas)


def sent_weeks(weeks: Mapping[str, Mapping[str, Any]], reported: Iterable[str]) -> set[str]:
    """Which of the ``reported`` weeks (``WEEK#`` items by week) had their digest sent."""
    return {w for w in reported if weeks[w].get("status") == "sent"}


def reported_weeks(weeks_with_reports: Iterable[str], before_week: str | None, limit: int) -> list[str]:
    """The last ``limit`` of these weeks before ``before_week`` (all when None), oldest first."""
    chosen = sorted(w for w in weeks_with_reports if before_week is None or w < before_week)
    return chosen[-limit:] if limit > 0 else []


@dataclass(frozen=True)
class StoredWeek:
    status: str | None  # collected, rate_limited, sent, no_digest, ...
    reason: str  # why (or the message id of a sent digest)
    report_json: Any  # the report as stored (JSON-ready), parsed only when asked for
    spend: Spend | None

    def report(self) -> tuple[WeeklyReport, Spend] | None:
        """The report and the X spend, parsed only when asked for."""
        if self.report_json is None or self.spend is None:
            return None
        return WeeklyReport.model_validate(self.report_json), self.spend


@dataclass
class StoredTokens:
    ciphertext: bytes
    expires_at: float
    version: int


@dataclass
class CollectorState:
    """Everything one collect needs of a subscriber, loaded in one read; the collector changes it and saves it."""

    subscriber: Subscriber | None
    tokens: StoredTokens | None
    week: StoredWeek | None  # the week being collected
    cursors: Cursors = field(default_factory=Cursors)
    graphs: dict[str, Graph] = field(default_factory=lambda: {which: {} for which in FOLLOW_LISTS})
    recent: Activity | None = None
    dm_conversations: dict[str, datetime] = field(default_factory=dict)  # id -> first message time
    ledger: dict[str, Interaction] = field(default_factory=dict)
    previous_reports: list[WeeklyReport] = field(default_factory=list)  # up to 8 before the week, oldest first
    sent_weeks: set[str] = field(default_factory=set)  # those of them whose digest was sent
    # how the follow lists are stored (e.g. chunk keys), so a save replaces them whole; the store's business
    stored_graphs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DigestState:
    """What a digest needs, loaded in one read."""

    subscriber: Subscriber | None
    week: StoredWeek | None
    previous_reports: list[WeeklyReport]


def export_records(state: CollectorState, weeks: Mapping[str, StoredWeek]) -> dict[str, Any]:
    """The "download my data" view of what was collected: weeks (status, report, X spend), the ledger, the
    follow graphs, recent activity and the DM conversations seen (ids and first-message times; no DM text is
    ever stored)."""
    records: dict[str, Any] = {}
    for week, stored in sorted(weeks.items()):
        report = stored.report()
        records[week] = {
            "status": stored.status,
            "reason": stored.reason,
            "report": report[0].model_dump(mode="json") if report else None,
            "x_spend": stored.spend.model_dump(mode="json") if stored.spend else None,
        }
    return {
        "weeks": records,
        "ledger": {user_id: i.model_dump(mode="json") for user_id, i in state.ledger.items()},
        "following": state.graphs.get("following", {}),
        "followers": state.graphs.get("followers", {}),
        "recent_activity": state.recent.model_dump(mode="json") if state.recent else None,
        "dm_conversations_seen": {k: v.isoformat() for k, v in state.dm_conversations.items()},
    }


class SubscriberRepository(Protocol):
    def put_subscriber(
        self, subscriber: Subscriber, *, reference: datetime | None = None, forget_at: int | None = None
    ) -> None:
        """Write the whole profile; ``forget_at``: it is deleted then (a sign-up nobody confirmed)."""

    def put_new_subscriber(self, subscriber: Subscriber, *, expires_at: int) -> None:
        """A sign-up that has not reached X yet (``ConcurrentUpdate`` if the id exists); forgotten at
        ``expires_at`` unless a later ``put_subscriber`` makes it permanent."""

    def get_subscriber(self, subscriber_id: str) -> Subscriber | None: ...

    def due_subscribers(self, slot: str) -> Iterator[Subscriber]:
        """Subscribers due in this UTC hour slot (only those who receive digests are in the due index)."""

    def claim_dispatch(self, subscriber_id: str, week: str, next_slot: str | None) -> bool:
        """Mark the subscriber dispatched for ``week``; False when an earlier run already did."""

    def update_subscriber(self, subscriber_id: str, *, current: Subscriber | None = None, **fields: Any) -> None:
        """Set these profile fields and no others, so an edit made meanwhile is kept; ``current``: the
        profile as the caller read it (saves a read; a stale one is detected and re-read)."""

    def forget_history(self, subscriber_id: str) -> int:
        """Delete what was collected and reported (the X account changed); keeps profile, tokens, pending."""

    def delete_everything(self, subscriber_id: str) -> int:
        """Delete every item of the subscriber; returns how many."""


class TokenRepository(Protocol):
    def get_tokens(self, subscriber_id: str) -> StoredTokens | None: ...

    def put_tokens(
        self,
        subscriber_id: str,
        ciphertext: bytes,
        expires_at: float,
        *,
        expected_version: int | None,
        forget_at: int | None = None,
    ) -> int:
        """Write rotated tokens only if nobody else did since ``expected_version`` (else ``ConcurrentUpdate``)."""

    def keep_tokens(self, subscriber_id: str) -> None:
        """The sign-up was confirmed: its tokens stay (their ``forget_at`` is dropped)."""

    def take_token_lease(self, subscriber_id: str, version: int, now: float, lease_s: int) -> bool:
        """Claim the right to refresh tokens at ``version`` for ``lease_s`` seconds."""

    def release_token_lease(self, subscriber_id: str, version: int) -> None:
        """Give the lease on ``version`` back early (a refresh that failed without using the token up)."""


@dataclass(frozen=True)
class WeekCollected:
    """A collect's outcome for the week's record: its report and what it spent (status ``collected``)."""

    week: str
    report: WeeklyReport
    spend: Spend


class CollectorStateRepository(Protocol):
    def load(self, subscriber_id: str, week: str) -> CollectorState:
        """The subscriber's profile, tokens, this week's status, cursors, follow lists, recent activity,
        DM conversations, ledger and previous reports, in one read of their partition."""

    def save(
        self,
        state: CollectorState,
        *,
        graphs: Collection[str] = (),
        ledger_updates: Mapping[str, Interaction] | None = None,
        dm_conversation_updates: Mapping[str, datetime] | None = None,
        collected: WeekCollected | None = None,
    ) -> None:
        """Write the cursors, the recent activity, the follow lists named in ``graphs`` (replacing them
        whole), ledger updates, new DM conversations and, with ``collected``, the week's record (its report,
        spend and the status ``collected``, replacing the record whole), in batches; ``state`` follows."""

    def subscriber_records(self, subscriber_id: str) -> dict[str, Any]:
        """What is stored about the subscriber besides the profile, for "download my data" (``export_records``).
        Never the X tokens, cursors or a pending change."""


class WeekRepository(Protocol):
    def put_week(self, subscriber_id: str, week: str, report: WeeklyReport, spend: Spend) -> None: ...

    def put_week_spend(self, subscriber_id: str, week: str, spend: Spend) -> None: ...

    def get_week_spend(self, subscriber_id: str, week: str) -> Spend | None: ...

    def mark_week(
        self, subscriber_id: str, week: str, status: str, reason: str = "", *, keep_earlier: bool = False
    ) -> None:
        """Record why a subscriber-week ended as it did; ``keep_earlier`` leaves a recorded status alone."""

    def stored_week(self, subscriber_id: str, week: str) -> StoredWeek | None: ...

    def week_status(self, subscriber_id: str, week: str) -> tuple[str, str] | None: ...

    def get_week(self, subscriber_id: str, week: str) -> tuple[WeeklyReport, Spend] | None: ...

    def recent_reports(self, subscriber_id: str, limit: int = 8, before_week: str | None = None) -> list[WeeklyReport]:
        """Up to ``limit`` stored reports, oldest first, optionally only weeks before ``before_week``."""

    def for_digest(self, subscriber_id: str, week: str) -> DigestState:
        """The profile, the week and up to 8 earlier reports, in one read."""

    def weeks_of(self, subscriber_id: str) -> list[str]:
        """Every ISO week with a stored week (``WEEK#``) or rendered digest (``DIGEST#``), oldest first."""

    def put_digest(self, subscriber_id: str, week: str, raw_message: bytes) -> None: ...

    def get_digest(self, subscriber_id: str, week: str) -> bytes | None: ...

    def set_run_flag(self, week: str, flag: str, reason: str) -> None:
        """A fact about this week's whole run (e.g. X credits exhausted), kept for two weeks."""

    def run_flag(self, week: str, flag: str) -> str | None: ...


class SignupRepository(Protocol):
    """Uniqueness claims, OAuth state, pending changes and confirmation slots; expired ones count as gone."""

    def put_oauth_state(self, state_key: str, payload: str, *, expires_at: int) -> None: ...

    def take_oauth_state(self, state_key: str) -> tuple[str, int] | None:
        """Read and delete at once, so a state works once: (payload, expires_at) or None."""

    def owner(self, kind: UniqueKind, value: str) -> str | None:
        """The subscriber that owns this X user id or email address, if any."""

    def claim(self, kind: UniqueKind, value: str, subscriber_id: str, *, expires_at: int | None = None) -> str:
        """Make ``subscriber_id`` the owner unless another subscriber owns it; returns the owner."""

    def release(self, kind: UniqueKind, value: str, subscriber_id: str) -> None:
        """Give up ownership, only if ``subscriber_id`` still holds it."""

    def take_confirmation_slot(self, email: str, *, cooldown_s: int, confirms: str) -> str | None:
        """Record a confirmation email about ``confirms`` and return None, unless one went in the last
        ``cooldown_s`` seconds: then return what that one confirms."""

    def forget_confirmation_slot(self, email: str) -> None: ...

    def count_signup_email(self, limited: str, *, window_s: int, limit: int) -> bool:
        """Count one sign-up email against ``limited`` (a hashed X account, mailbox or client) in the current
        ``window_s`` window (``LIMIT#<sha256>``, TTL); False, and nothing counted, once ``limit`` emails went
        out in it."""

    def put_pending_change(self, subscriber_id: str, payload: str, ciphertext: bytes, *, expires_at: int) -> None: ...

    def get_pending_change(self, subscriber_id: str) -> tuple[str, bytes] | None: ...

    def delete_pending_change(self, subscriber_id: str) -> None: ...


@dataclass(frozen=True)
class PostReads:
    """The app's Post reads in one billing cycle (X's monthly Post cap counts them for the whole app)."""

    reserved: int = 0  # reserved by collects in progress plus read by those that finished
    read: int = 0  # read, as the collects counted them when they finished
    capped: str | None = None  # why X refused further Post reads this cycle (its usage-capped 429), if it did


class PostReadRepository(Protocol):
    """One atomic counter per billing cycle (``cycle``: the day it began, ``2026-12-01``), shared by every
    collect, so reservations made at the same moment by many processes never overrun a limit together."""

    def post_reads(self, cycle: str) -> PostReads: ...

    def reserve_post_reads(self, cycle: str, posts: int, *, limit: int) -> bool:
        """Add ``posts`` to the cycle's reservations unless that takes them past ``limit`` or X capped the
        cycle; False, and nothing added, then."""

    def settle_post_reads(self, cycle: str, reserved: int, read: int) -> PostReads:
        """A collect that reserved ``reserved`` read ``read``: the reservation becomes what was read. Returns
        the cycle's counts after."""

    def mark_post_cap_reached(self, cycle: str, reason: str) -> bool:
        """X answered usage-capped: no more Post reads this cycle. True only for the first to record it."""


class SuppressionRepository(Protocol):
    def suppress(self, email: str, reason: str) -> None: ...

    def is_suppressed(self, email: str) -> bool: ...


@dataclass(frozen=True)
class StoredSubscriptions:
    """X Activity API subscriptions held for one subscriber's X account (or, ``x_user_id`` None, the app's)."""

    x_user_id: str | None
    ids: dict[str, str]  # event type -> X's subscription id


class ActivityRepository(Protocol):
    """X Activity API events under the subscriber, and the subscriptions held against the app's allowance.

    ``owner`` of subscriptions: a subscriber id, or None for the app's own (``oauth.revoke``)."""

    def put_event(self, subscriber_id: str, event: FollowEvent, *, expires_at: int) -> bool:
        """Store the event (``XEVENT#<event id>``, TTL) unless one with its id was stored: False for a repeat."""

    def follow_events(self, subscriber_id: str) -> list[FollowEvent]:
        """The subscriber's stored follow events not yet expired, oldest first."""

    def reserve_subscriptions(self, count: int, *, limit: int) -> bool:
        """Count ``count`` more subscriptions against the app unless that would pass ``limit``; False then."""

    def release_subscriptions(self, count: int) -> None: ...

    def subscriptions_held(self) -> int: ...

    def put_subscriptions(self, owner: str | None, subscriptions: StoredSubscriptions) -> None: ...

    def get_subscriptions(self, owner: str | None) -> StoredSubscriptions | None: ...

    def delete_subscriptions(self, owner: str | None) -> None: ...


@dataclass(frozen=True)
class Repositories:
    """The repositories of one table (or of one in-memory twin), built together."""

    subscribers: SubscriberRepository
    tokens: TokenRepository
    collector_state: CollectorStateRepository
    weeks: WeekRepository
    signups: SignupRepository
    suppression: SuppressionRepository
    post_reads: PostReadRepository
    activity: ActivityRepository
