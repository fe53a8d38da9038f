"""The simulated X: accounts, tokens, OAuth codes, a clock, a meter, faults and rate limits.

Transport-free: ``XSim.handle`` takes a method, a request target, headers and a
body and returns a ``SimResponse``; ``server.XSimServer`` puts it on a socket.
All state changes happen under one lock, so the threaded server is safe.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import threading
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from followthrough.pipeline.postcap import BillingCycle
from followthrough.xmodels import XUser
from followthrough_devkit.xsim.account import SyntheticAccount, WeekDelta
from followthrough_devkit.xsim.activity import ActivityHub
from followthrough_devkit.xsim.api import (
    ACCESS_TOKEN_TTL_S,
    API_ENDPOINTS,
    AUTH_CODE_TTL_S,
    DEFAULT_SCOPES,
    ENDPOINTS,
    POST_CAP_ENDPOINTS,
    RATE_LIMITS,
    RATE_WINDOW_S,
    SimResponse,
    TokenError,
    dispatch,
)
from followthrough_devkit.xsim.generator import advance_week, default_anchor, generate_account
from followthrough_devkit.xsim.realism import Realism

# What X bills, per resource kind: the same post (or user, or DM event) read again by the app within one UTC
# day is not billed again, whichever subscriber's token read it (pricing.mdx, "Deduplication").
RESOURCE_KIND = {
    "tweets": "post",
    "mentions": "post",
    "liked_tweets": "post",
    "users_me": "user",
    "users_lookup": "user",
    "following": "user",
    "followers": "user",
    "dm_events": "dm_event",
}


class Meter:
    """Requests and resources served, per endpoint, since the last ``reset`` (one "run"), and what X would
    bill for them: each resource once per app and UTC day, however many subscribers read it that day.

    The Posts billed per billing cycle (what X's monthly Post cap counts) are X's ledger, not the run's:
    ``reset`` keeps them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cycle_posts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = dict.fromkeys(ENDPOINTS, 0)
            self._resources = dict.fromkeys(ENDPOINTS, 0)
            # reader -> ids: two subscribers may well read the same post; one reading it twice is a re-read.
            # Numeric ids are kept as ints: a week of a thousand subscribers' reads is millions of them.
            self._seen: dict[str, dict[str, set[int | str]]] = {e: {} for e in ENDPOINTS}
            self._twice = dict.fromkeys(ENDPOINTS, 0)
            self._billed = dict.fromkeys(ENDPOINTS, 0)
            # resources another subscriber's read had already made free that UTC day (X's dedup)
            self._shared_same_day = dict.fromkeys(ENDPOINTS, 0)
            # kind -> id -> [the UTC days it was billed (bits from the run's first day), first reader, serves]
            self._days: dict[str, dict[int | str, list[Any]]] = {}
            self._first_day: int | None = None

    def request(self, endpoint: str) -> None:
        with self._lock:
            self._requests[endpoint] = self._requests.get(endpoint, 0) + 1

    def served(
        self,
        endpoint: str,
        resources: int,
        primary_ids: Iterable[str],
        reader: str = "",
        at: datetime | None = None,
        cycle: str = "",
    ) -> None:
        """``resources`` counts everything returned (data and includes); ids are the page's own items,
        served to ``reader`` (the token's user) at ``at``, in billing cycle ``cycle``. Included resources
        (the posts a post quotes) are billed without deduplication: their ids are not passed."""
        day = (at or datetime.now(UTC)).astimezone(UTC).date().toordinal()
        with self._lock:
            if self._first_day is None:
                self._first_day = day
            bit = 1 << min(max(day - self._first_day, 0), 62)
            self._resources[endpoint] = self._resources.get(endpoint, 0) + resources
            seen = self._seen.setdefault(endpoint, {}).setdefault(reader, set())
            days = self._days.setdefault(RESOURCE_KIND.get(endpoint, endpoint), {})
            ids = list(primary_ids)
            billed = resources - len(ids)
            for rid in ids:
                key = int(rid) if rid.isdigit() and rid[0] != "0" else rid
                if key in seen:
                    self._twice[endpoint] = self._twice.get(endpoint, 0) + 1
                else:
                    seen.add(key)
                entry = days.get(key)
                if entry is None:
                    days[key] = [bit, reader, 1]
                    billed += 1
                    continue
                entry[2] += 1
                if not entry[0] & bit:
                    entry[0] |= bit
                    billed += 1
                elif entry[1] != reader:
                    self._shared_same_day[endpoint] = self._shared_same_day.get(endpoint, 0) + 1
            self._billed[endpoint] = self._billed.get(endpoint, 0) + billed
            if endpoint in POST_CAP_ENDPOINTS and cycle:
                self._cycle_posts[cycle] = self._cycle_posts.get(cycle, 0) + billed

    def duplicates(self, endpoint: str) -> int:
        """How many items of ``endpoint`` were served again to the same reader in this run."""
        with self._lock:
            return self._twice.get(endpoint, 0)

    def posts_billed(self, cycle: str) -> int:
        """Posts X counts toward its monthly cap in the billing cycle that began on ``cycle``."""
        with self._lock:
            return self._cycle_posts.get(cycle, 0)

    def posts_by_cycle(self) -> dict[str, int]:
        with self._lock:
            return dict(self._cycle_posts)

    def billed_again_on_other_days(self) -> dict[str, int]:
        """Per resource kind: how many times a resource was billed again because it was read on another
        UTC day of the run; what reading everyone who reads it on one UTC day would have saved."""
        with self._lock:
            return {
                kind: sum(entry[0].bit_count() - 1 for entry in by_id.values()) for kind, by_id in self._days.items()
            }

    def overlap(self, days: int = 7) -> dict[str, dict[str, float]]:
        """Per resource kind, what different subscribers reading the same resources comes to: how many were
        read by several, what X billed, and what it would bill were each reader collected on a day of its
        own among ``days`` (a resource read by k subscribers on random days is billed on
        days * (1 - (1 - 1/days) ** k) distinct days, on average, instead of once)."""
        with self._lock:
            out: dict[str, dict[str, float]] = {}
            for kind, by_id in self._days.items():
                served = sum(entry[2] for entry in by_id.values())
                billed = sum(entry[0].bit_count() for entry in by_id.values())
                spread = sum(days * (1 - (1 - 1 / days) ** entry[2]) for entry in by_id.values())
                out[kind] = {
                    "distinct": len(by_id),
                    "served": served,
                    "read_by_several": sum(1 for entry in by_id.values() if entry[2] > 1),
                    "billed": billed,
                    f"billed_if_spread_over_{days}_days": round(spread),
                    "saved_by_one_day": round(spread - billed),
                }
            return out

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                e: {
                    "requests": self._requests.get(e, 0),
                    "resources": self._resources.get(e, 0),
                    "resource_ids_returned_twice": self._twice.get(e, 0),
                    "billed": self._billed.get(e, 0),
                    "free_same_day_other_reader": self._shared_same_day.get(e, 0),
                }
                for e in self._requests
            }


@dataclass
class _Injected:
    status: int | None
    times: int
    after: int
    reset_in: int
    delay_s: float = 0.0
    garbled: bool = False


@dataclass
class FaultDecision:
    status: int | None = None  # fail with this status
    reset_in: int = 60
    delay_s: float = 0.0
    # an API body cut mid-JSON; on the token endpoint, an edge's HTML error page (the grant untouched)
    truncate: bool = False


@dataclass
class _RandomFaults:
    rate: float
    statuses: tuple[int, ...]
    rng: random.Random
    delay_s: float
    truncate_rate: float
    endpoints: frozenset[str]


class Faults:
    """Injected failures: exact ones for unit tests, seeded random ones for soak tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: dict[str, list[_Injected]] = {}
        self._random: _RandomFaults | None = None

    def inject(self, endpoint: str, status: int, times: int = 1, after: int = 0, reset_in: int = 60) -> None:
        """The next ``times`` requests to ``endpoint``, after ``after`` untouched ones, fail with ``status``."""
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, not {status}")
        self._add(endpoint, _Injected(status, times, after, reset_in))

    def inject_slow(self, endpoint: str, delay_s: float, times: int = 1, after: int = 0) -> None:
        """The next ``times`` requests to ``endpoint`` are answered ``delay_s`` late (the token endpoint:
        a 504 from X's edge after the wait, the grant untouched, as when X never got to the request)."""
        if delay_s <= 0:
            raise ValueError("delay_s must be > 0")
        self._add(endpoint, _Injected(None, times, after, 60, delay_s=delay_s))

    def inject_garbled(self, endpoint: str, times: int = 1, after: int = 0) -> None:
        """The next ``times`` answers of ``endpoint`` do not parse: an API body cut mid-JSON (nothing
        served), the token endpoint's an HTML error page from X's edge (the grant untouched)."""
        self._add(endpoint, _Injected(None, times, after, 60, garbled=True))

    def _add(self, endpoint: str, fault: _Injected) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")
        if fault.times < 1 or fault.after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        with self._lock:
            self._queue.setdefault(endpoint, []).append(fault)

    def random(
        self,
        rate: float,
        statuses: tuple[int, ...] = (429, 503),
        seed: int = 0,
        delay_s: float = 0.0,
        truncate_rate: float = 0.0,
        endpoints: Iterable[str] | None = None,
    ) -> None:
        """Each API request fails with probability ``rate`` (a status from ``statuses``), is slowed by
        ``delay_s`` with probability ``rate``, and has its body cut mid-JSON with probability ``truncate_rate``.
        The OAuth token endpoint is spared unless named in ``endpoints``."""
        if not 0.0 <= rate <= 1.0 or not 0.0 <= truncate_rate <= 1.0:
            raise ValueError("rates are probabilities between 0 and 1")
        chosen = frozenset(endpoints) if endpoints is not None else frozenset(API_ENDPOINTS)
        unknown = chosen - set(ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown endpoints {sorted(unknown)}")
        with self._lock:
            self._random = _RandomFaults(rate, tuple(statuses), random.Random(seed), delay_s, truncate_rate, chosen)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random = None

    def pending(self, endpoint: str) -> int:
        """Injected failures still to come for ``endpoint``."""
        with self._lock:
            return sum(f.times for f in self._queue.get(endpoint, []))

    def decide(self, endpoint: str) -> FaultDecision:
        with self._lock:
            queue = self._queue.get(endpoint)
            if queue:
                head = queue[0]
                if head.after > 0:
                    head.after -= 1
                else:
                    head.times -= 1
                    if head.times == 0:
                        queue.pop(0)
                    return FaultDecision(
                        status=head.status,
                        reset_in=head.reset_in,
                        delay_s=head.delay_s,
                        truncate=head.garbled,
                    )
            chaos = self._random
            if chaos is None or endpoint not in chaos.endpoints:
                return FaultDecision()
            rng = chaos.rng
            decision = FaultDecision()
            if rng.random() < chaos.rate and chaos.statuses:
                decision.status = rng.choice(chaos.statuses)
                decision.reset_in = rng.randrange(5, 120)
            if chaos.delay_s and rng.random() < chaos.rate:
                decision.delay_s = chaos.delay_s
            if chaos.truncate_rate and rng.random() < chaos.truncate_rate:
                decision.truncate = True
            return decision


@dataclass
class RateWindow:
    limit: int
    used: int
    reset_at: datetime


class RateLimiter:
    """Per-user, per-endpoint 15-minute windows on the simulation clock."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.limits = dict(limits)
        self._windows: dict[tuple[str, str], RateWindow] = {}
        self._lock = threading.Lock()

    def hit(self, user_key: str, endpoint: str, now: datetime) -> RateWindow:
        limit = self.limits.get(endpoint, 0)
        with self._lock:
            window = self._windows.get((user_key, endpoint))
            if window is None or now >= window.reset_at:
                window = RateWindow(limit=limit, used=0, reset_at=now + timedelta(seconds=RATE_WINDOW_S))
                self._windows[(user_key, endpoint)] = window
            window.used += 1
            return RateWindow(window.limit, window.used, window.reset_at)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


@dataclass
class AccessToken:
    user_id: str
    scopes: frozenset[str]
    expires_at: datetime
    revoked: bool = False


@dataclass
class RefreshToken:
    user_id: str
    scopes: frozenset[str]
    used: bool = False
    revoked: bool = False


@dataclass
class AuthCode:
    user_id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str
    method: str
    issued_at: datetime
    used: bool = False


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str | None = None


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge for ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _Recipe:
    """A seeded account not held in memory: what regenerates it exactly, and who is in its world."""

    seed: int
    profile: str
    anchor: datetime  # as generated; each week in ``weeks`` moves it on by seven days
    weeks: list[int]  # the ``advance_week`` seeds to apply after generating, in order
    username: str
    name: str
    user_ids: array[int]  # the numeric ids of its world's users, sorted, as of ``indexed_weeks`` weeks
    indexed_weeks: int = 0


def footprint(account: SyntheticAccount) -> int:
    """The generated objects an account holds (users, posts, DM events): about 3 KB each in memory."""
    return len(account.users) + len(account.posts) + len(account.mentions) + len(account.likes) + len(account.dm_events)


def _numeric_user_ids(account: SyntheticAccount) -> array[int]:
    return array("q", sorted(int(uid) for uid in account.users if uid.isdigit()))


class Accounts(Mapping[str, SyntheticAccount]):
    """The seeded accounts by user id, in the order they were added.

    ``add`` holds an account in memory as it is (a test may change it in place). ``add_seeded``
    keeps only its recipe (seed, profile, anchor, the weeks it was advanced by) and regenerates it
    from that when it is read, keeping the most recently read ones while their ``footprint`` fits
    in ``budget`` objects (the one being read always stays). The generator is deterministic, so a
    regenerated account is the same account, planted truth included, and a thousand subscribers'
    worlds need the memory of a few dozen; a large world (50,000 followers) is about 180 MB and a
    few seconds to regenerate. Weeks are added to seeded accounts lazily: ``advance_week`` records
    the week's seed, and the account is advanced when it is next read.
    """

    def __init__(self, budget: int = 300_000, *, own_unfollows: bool = True) -> None:
        self.budget = budget
        self.own_unfollows = own_unfollows  # the subscriber's own unfollows in each week (Realism)
        self.regenerated = 0  # seeded accounts rebuilt because they were not in memory
        self.cpu_s = 0.0  # thread CPU spent regenerating and advancing seeded accounts
        self._entries: dict[str, SyntheticAccount | _Recipe] = {}
        self._recent: OrderedDict[str, tuple[SyntheticAccount, int]] = OrderedDict()
        self._recent_size = 0
        self._lock = threading.RLock()

    def add(self, account: SyntheticAccount) -> str:
        with self._lock:
            self._forget(account.user_id)
            self._entries[account.user_id] = account
            return account.user_id

    def add_seeded(self, seed: int, profile: str, anchor: datetime | None = None) -> SyntheticAccount:
        """Generate the account once (returned, and kept in memory for now), then keep only its recipe."""
        account = generate_account(seed, profile, anchor)
        with self._lock:
            self._entries[account.user_id] = _Recipe(
                seed,
                profile,
                account.anchor,
                [],
                account.me.username,
                account.me.name or "",
                _numeric_user_ids(account),
            )
            self._remember(account)
        return account

    def __getitem__(self, user_id: str) -> SyntheticAccount:
        with self._lock:
            entry = self._entries[user_id]
            if isinstance(entry, SyntheticAccount):
                return entry
            recent = self._recent.get(user_id)
            if recent is not None and len(recent[0].weeks) == len(entry.weeks):
                self._recent.move_to_end(user_id)
                return recent[0]
            started = time.thread_time()
            if recent is None:
                account = generate_account(entry.seed, entry.profile, entry.anchor)
                self.regenerated += 1
            else:
                account = recent[0]
            try:
                for week_seed in entry.weeks[len(account.weeks) :]:
                    advance_week(account, week_seed, own_unfollows=self.own_unfollows)
            except BaseException:
                self._forget(user_id)  # half advanced: regenerate it next time
                raise
            if entry.indexed_weeks != len(entry.weeks):
                entry.user_ids, entry.indexed_weeks = _numeric_user_ids(account), len(entry.weeks)
            self._remember(account)
            self.cpu_s += time.thread_time() - started
            return account

    def _remember(self, account: SyntheticAccount) -> None:
        self._forget(account.user_id)
        size = footprint(account)
        self._recent[account.user_id] = (account, size)
        self._recent_size += size
        while self._recent_size > self.budget and len(self._recent) > 1:
            _, (_, dropped) = self._recent.popitem(last=False)
            self._recent_size -= dropped

    def _forget(self, user_id: str) -> None:
        recent = self._recent.pop(user_id, None)
        if recent is not None:
            self._recent_size -= recent[1]

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def identity(self, user_id: str) -> tuple[str, str]:
        """(username, display name), without regenerating a seeded account."""
        entry = self._entries[user_id]
        if isinstance(entry, SyntheticAccount):
            return entry.username, entry.me.name or ""
        return entry.username, entry.name

    def advance_week(self, seed: int) -> Mapping[str, WeekDelta]:
        """One more week for every account (the i-th added with ``seed + i``); a seeded account's
        week is added, and its delta made, when it is next read."""
        with self._lock:
            held: dict[str, WeekDelta] = {}
            pending: dict[str, int] = {}
            for i, (user_id, entry) in enumerate(self._entries.items()):
                if isinstance(entry, SyntheticAccount):
                    held[user_id] = advance_week(entry, seed + i, own_unfollows=self.own_unfollows)
                else:
                    entry.weeks.append(seed + i)
                    pending[user_id] = len(entry.weeks) - 1
            return WeekDeltas(self, held, pending)

    def find_user(self, user_id: str) -> XUser | None:
        """Any user of any account's world (the first account that has them). A seeded world is
        regenerated only when its index of users names them, or when it has weeks not yet indexed."""
        key = int(user_id) if user_id.isdigit() else None
        with self._lock:
            for owner, entry in self._entries.items():
                if isinstance(entry, _Recipe):
                    if entry.indexed_weeks == len(entry.weeks):
                        ids = entry.user_ids
                        at = bisect_left(ids, key) if key is not None else len(ids)
                        if at == len(ids) or ids[at] != key:
                            continue
                    entry = self[owner]
                user = entry.users.get(user_id)
                if user is not None:
                    return user
        return None


class WeekDeltas(Mapping[str, WeekDelta]):
    """What one ``advance_week`` added, by user id; a seeded account's delta is made when asked for."""

    def __init__(self, accounts: Accounts, held: dict[str, WeekDelta], pending: dict[str, int]) -> None:
        self._accounts = accounts
        self._held = held
        self._pending = pending  # user id -> the index of this week in the account's weeks

    def __getitem__(self, user_id: str) -> WeekDelta:
        if user_id in self._held:
            return self._held[user_id]
        return self._accounts[user_id].weeks[self._pending[user_id]]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._held, *self._pending])

    def __len__(self) -> int:
        return len(self._held) + len(self._pending)


@dataclass
class _Clock:
    base: datetime | None
    realtime: bool
    started: float = field(default_factory=time.monotonic)
    offset_s: float = 0.0


class XSim:
    """The simulated X world.

    ``anchor`` is the simulation's "now" at start; without it the clock starts
    at the anchor of the first account added (or the current hour). Accounts
    are held in memory (``add_account``) or regenerated from their seed when
    read (``add_seeded``; see ``Accounts`` for the ``account_budget``). With
    ``realtime`` the clock also moves with the wall clock; ``advance`` moves it
    by hand (token and code expiry, rate-limit windows and the 30-day DM
    window all use it). X's per-user 15-minute rate limits are enforced
    unless ``enforce_rate_limits=False`` (a test whose subject is something else).
    """

    def __init__(
        self,
        anchor: datetime | None = None,
        *,
        enforce_rate_limits: bool = True,
        realtime: bool = True,
        rate_limits: Mapping[str, int] | None = None,
        account_budget: int = 300_000,
        post_cap: int | None = 3_000_000,
        billing_cycle_day: int = 1,
        realism: Realism | None = None,
    ) -> None:
        # how closely the stand-in behaves like X (realism.py): all of it unless a test says otherwise
        self.realism = realism or Realism()
        self.accounts = Accounts(budget=account_budget, own_unfollows=self.realism.own_unfollows)
        self.meter = Meter()
        # X's monthly Post cap of a pay-per-use app (pricing.mdx); None: an enterprise plan
        self.post_cap = post_cap
        self.billing_cycle_day = billing_cycle_day
        self.faults = Faults()
        self.enforce_rate_limits = enforce_rate_limits
        self.rate_limiter = RateLimiter(rate_limits or RATE_LIMITS)
        self.lock = threading.RLock()
        self._clock = _Clock(base=anchor.astimezone(UTC) if anchor else None, realtime=realtime)
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._codes: dict[str, AuthCode] = {}
        self._clients: dict[str, OAuthClient] = {}
        # the app's X Activity API: webhooks, subscriptions, signed deliveries (xsim/activity.py)
        self.activity = ActivityHub(now=self.now)

    # ----- clock ------------------------------------------------------------

    def now(self) -> datetime:
        clock = self._clock
        base = clock.base or default_anchor()
        elapsed = time.monotonic() - clock.started if clock.realtime else 0.0
        return base + timedelta(seconds=elapsed + clock.offset_s)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by ``delta`` (seconds or a timedelta); returns the new now."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("the simulation clock only moves forward")
        with self.lock:
            self._clock.offset_s += seconds
        return self.now()

    def billing_cycle(self, at: datetime | None = None) -> str:
        return BillingCycle.of(at or self.now(), self.billing_cycle_day).key

    def post_capped(self, at: datetime) -> bool:
        """The app has read its monthly Post cap this billing cycle: X answers usage-capped until it resets."""
        return self.post_cap is not None and self.meter.posts_billed(self.billing_cycle(at)) >= self.post_cap

    # ----- accounts ---------------------------------------------------------

    def add_account(self, account: SyntheticAccount) -> str:
        """Serve ``account`` as it is, held in memory."""
        with self.lock:
            self._start_clock(account.anchor)
            return self.accounts.add(account)

    def add_seeded(self, seed: int, profile: str, anchor: datetime | None = None) -> str:
        """Serve ``generate_account(seed, profile, anchor)``, regenerated from its seed whenever it is read."""
        with self.lock:
            account = self.accounts.add_seeded(seed, profile, anchor)
            self._start_clock(account.anchor)
            return account.user_id

    def _start_clock(self, anchor: datetime) -> None:
        if self._clock.base is None:
            self._clock.base = anchor
            self._clock.started = time.monotonic()

    def advance_week(self, seed: int) -> Mapping[str, WeekDelta]:
        """One more week for every account, and the clock a week on."""
        with self.lock:
            deltas = self.accounts.advance_week(seed)
            self._clock.offset_s += timedelta(days=7).total_seconds()
            return deltas

    def find_user(self, user_id: str) -> XUser | None:
        """Any user of any seeded account's world."""
        return self.accounts.find_user(user_id)

    # ----- tokens and OAuth ---------------------------------------------------

    def register_client(self, client_id: str, client_secret: str | None = None) -> None:
        """Once any client is registered, the token endpoint accepts only registered ones."""
        with self.lock:
            self._clients[client_id] = OAuthClient(client_id, client_secret)

    def issue_tokens(self, user_id: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> tuple[str, str]:
        """A fresh (access, refresh) pair for a seeded account, as if it had just authorized the app."""
        with self.lock:
            if user_id not in self.accounts:
                raise KeyError(f"no seeded account with user id {user_id}")
            return self._new_pair(user_id, frozenset(scopes))

    def _new_pair(self, user_id: str, scopes: frozenset[str]) -> tuple[str, str]:
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        self._access[access] = AccessToken(user_id, scopes, self.now() + timedelta(seconds=ACCESS_TOKEN_TTL_S))
        self._refresh[refresh] = RefreshToken(user_id, scopes)
        return access, refresh

    def follow(self, user_id: str, other_id: str, *, unfollow: bool = False) -> None:
        """The subscriber ``user_id`` (un)follows ``other_id`` now: their following list and count change and
        the Activity API delivers the event. Only accounts held in memory (``add_account``) keep the change."""
        with self.lock:
            account = self.accounts[user_id]
            self._change_edge(account, account.following, account.follow_times, other_id, unfollow=unfollow)
            other = self._user(account, other_id)
        self.activity.follow(account.me, other, unfollow=unfollow)

    def followed_by(self, user_id: str, follower_id: str, *, unfollow: bool = False) -> None:
        """``follower_id`` (un)follows the subscriber ``user_id`` now (see ``follow``)."""
        with self.lock:
            account = self.accounts[user_id]
            self._change_edge(account, account.followers, account.follower_times, follower_id, unfollow=unfollow)
            other = self._user(account, follower_id)
        self.activity.follow(other, account.me, unfollow=unfollow)

    def _user(self, account: SyntheticAccount, user_id: str) -> XUser:
        found = account.users.get(user_id) or self.find_user(user_id)
        if found is None:
            raise KeyError(f"no user {user_id} in the simulation")
        return found

    def _change_edge(
        self,
        account: SyntheticAccount,
        users: list[XUser],
        times: dict[str, datetime],
        other_id: str,
        *,
        unfollow: bool,
    ) -> None:
        present = any(u.id == other_id for u in users)
        if unfollow == (not present):
            return  # X sends no event for a follow that is already there, or an unfollow of nobody
        if unfollow:
            users[:] = [u for u in users if u.id != other_id]
            times.pop(other_id, None)
        else:
            users.insert(0, self._user(account, other_id))
            times[other_id] = self.now()
        metrics = account.me.public_metrics
        if metrics is not None:
            change = -1 if unfollow else 1
            if users is account.following:
                metrics.following_count += change
            else:
                metrics.followers_count += change
        account.version += 1

    def revoke(self, user_id: str) -> None:
        """The subscriber revoked the app: every token issued so far stops working (and X says so to the
        Activity API's ``oauth.revoke`` subscriptions)."""
        self.activity.revoke(user_id)
        with self.lock:
            for token in self._access.values():
                if token.user_id == user_id:
                    token.revoked = True
            for refresh in self._refresh.values():
                if refresh.user_id == user_id:
                    refresh.revoked = True

    def authenticate(self, access_token: str) -> AccessToken | None:
        token = self._access.get(access_token)
        if token is None or token.revoked or self.now() >= token.expires_at:
            return None
        return token

    def issue_code(
        self, user_id: str, client_id: str, redirect_uri: str, scopes: Iterable[str], challenge: str, method: str
    ) -> str:
        with self.lock:
            code = secrets.token_urlsafe(32)
            self._codes[code] = AuthCode(
                user_id, client_id, redirect_uri, frozenset(scopes), challenge, method, self.now()
            )
            return code

    def known_clients(self) -> frozenset[str]:
        return frozenset(self._clients)

    def check_client(self, client_id: str | None, client_secret: str | None) -> str:
        if not client_id:
            raise TokenError(401, "invalid_client", "Missing valid authorization header")
        if self._clients:
            client = self._clients.get(client_id)
            if client is None or (client.client_secret is not None and client.client_secret != client_secret):
                raise TokenError(401, "invalid_client", "Missing valid authorization header")
        return client_id

    def exchange_code(self, client_id: str, code: str, redirect_uri: str, verifier: str) -> dict[str, object]:
        with self.lock:
            grant = self._codes.get(code)
            if grant is None or grant.used or grant.client_id != client_id:
                raise TokenError(400, "invalid_request", "Value passed for the authorization code was invalid.")
            grant.used = True  # single use, even when the rest of the request is wrong
            if (self.now() - grant.issued_at).total_seconds() > AUTH_CODE_TTL_S:
                raise TokenError(400, "invalid_request", "Value passed for the authorization code was invalid.")
            if redirect_uri != grant.redirect_uri:
                raise TokenError(400, "invalid_request", "Value passed for the redirect uri did not match.")
            expected = pkce_challenge(verifier) if grant.method == "S256" else verifier
            if not verifier or not secrets.compare_digest(expected, grant.challenge):
                raise TokenError(400, "invalid_request", "Value passed for the code verifier did not match.")
            return self._token_body(grant.user_id, grant.scopes)

    def refresh(self, client_id: str, refresh_token: str) -> dict[str, object]:
        with self.lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.used:
                raise TokenError(400, "invalid_request", "Value passed for the token was invalid.")
            if grant.revoked:
                raise TokenError(400, "invalid_grant", "Value passed for the token was revoked.")
            grant.used = True
            return self._token_body(grant.user_id, grant.scopes)

    def revoke_token(self, token: str) -> None:
        with self.lock:
            if token in self._access:
                self._access[token].revoked = True
            if token in self._refresh:
                self._refresh[token].revoked = True

    def _token_body(self, user_id: str, scopes: frozenset[str]) -> dict[str, object]:
        access, refresh = self._new_pair(user_id, scopes)
        body: dict[str, object] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_TTL_S,
            "access_token": access,
            "scope": " ".join(sorted(scopes)),
        }
        if "offline.access" in scopes:  # as on X: no refresh token without offline.access
            body["refresh_token"] = refresh
        else:
            del self._refresh[refresh]
        return body

    # ----- requests -----------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"") -> SimResponse:
        """Answer one HTTP request (``target`` is the path with its query string)."""
        return dispatch(self, method, target, {k.lower(): v for k, v in headers.items()}, body)
