"""What happens to a collect message: read one subscriber's week from X incrementally, analyze, store
(``Collector``), then queue the digest, or the same work again after X's rate limit (``CollectStep``, at the end)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from followthrough import normalize
from followthrough.activity import Activity, DmEvent, FollowEdge, Post
from followthrough.adapters.mailer import Mailer
from followthrough.adapters.queue import Queue
from followthrough.adapters.store import (
    ActivityRepository,
    CollectorState,
    CollectorStateRepository,
    Graph,
    StoredWeek,
    SubscriberRepository,
    SuppressionRepository,
    WeekRepository,
)
from followthrough.adapters.store.protocols import FOLLOW_LISTS, WeekCollected
from followthrough.adapters.x import (
    PageResult,
    XAuthRevoked,
    XClient,
    XClientRefused,
    XCreditsExhausted,
    XMalformed,
    XRateLimited,
    XRefreshUnavailable,
    XUsageCapped,
)
from followthrough.analysis import AnalysisResult, History, analyze
from followthrough.config import CollectorConfig
from followthrough.cursors import Cursors, EndpointCursor, FolloweeCheck, Spend
from followthrough.email import build_message
from followthrough.follow_events import FollowEvent, apply_to_graphs, with_follow_times
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.pipeline import followees
from followthrough.pipeline.delivery import PermanentFailure
from followthrough.pipeline.postcap import Admission, PostCap
from followthrough.pipeline.reads import (
    Budget,
    BudgetExhausted,
    ListRead,
    fetch_for,
    look_up_users,
    read_since,
    read_until_known,
)
from followthrough.pipeline.tokens import TokenKeeper
from followthrough.report import AUTO_DMS_SHOWN, WeeklyReport
from followthrough.subscriber import TURNED_OFF, Subscriber
from followthrough.xmodels import XUser

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

log = logging.getLogger(__name__)

SEARCH = "search_recent"  # the opt-in search for mentions without the @
SEARCH_WINDOW = timedelta(days=7)  # what recent search reaches (search/introduction.mdx)
RECENT_DAYS = 14  # posts, mentions and likes kept for the next run's analysis (a week + the answer grace)
MENTIONS_FIRST_RUN_DAYS = 14
DM_SENDERS = "dm_senders_lookup"  # the spend label of the lookup naming automated DMs' senders (users)
CREDITS_FLAG = "credits_exhausted"
# how long a process trusts that X's credits were not exhausted this week before reading the flag again
CREDITS_UNFLAGGED_TRUSTED_S = 60

Status = Literal[
    "collected",
    "rate_limited",
    "refresh_deferred",
    "client_refused",  # X refused the app's own credentials at the token endpoint: tokens kept, requeued
    "needs_reauth",
    "credits_exhausted",
    "not_receiving",
    "unknown",
    "superseded",
    "queued",  # a first run waiting for room in X's monthly Post-read cap
]
# the first retry of a refresh X's token endpoint failed (5xx, 429, a timeout); doubled on each requeue
REFRESH_RETRY_S = 60

# Reads in order of value for money: conversations first, then the cheap
# likes, then the dearer follow lists and DMs. Each read first spends only its
# share of the budget (CollectorConfig.read_weights); this order decides who
# gets what the others leave.
READ_ORDER = ("tweets", "mentions", "liked_tweets", "following", "dm_events", "followers")
# a followers read that reaches no follower it knew within twice what it expects and this many more
# stops: what it read cannot be told new from old (_new_followers)
UNDATED_MARGIN = 50

T = TypeVar("T")
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class CollectResult:
    status: Status
    subscriber_id: str
    week: str
    retry_in_s: int = 0
    reason: str = ""
    spend: Spend = field(default_factory=Spend)
    counts: dict[str, int] = field(default_factory=dict)
    report: WeeklyReport | None = None
    post_cap: Admission | None = None


@dataclass
class Collector:
    """Load, compute, save: one read of the subscriber's partition, the X reads, the (pure) analysis,
    then batched writes of the state and one write of the week."""

    subscribers: SubscriberRepository
    state: CollectorStateRepository
    weeks: WeekRepository
    tokens: TokenKeeper
    make_client: Callable[[str], XClient]
    config: CollectorConfig
    send_reconnect_email: Callable[[Subscriber], None]
    post_cap: PostCap  # the app-wide meter of X's monthly Post-read cap
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # X Activity API follow events, when the deployment receives them (None: follow lists are polled only)
    activity: ActivityRepository | None = None
    # week -> (the credits flag's reason or None, when read): the flag once per batch, not per message
    _credits_flags: dict[str, tuple[str | None, datetime]] = field(default_factory=dict, init=False, repr=False)

    def run(self, request: CollectRequest) -> CollectResult:
        sid, week = request.subscriber_id, request.week
        state = self.state.load(sid, week)
        subscriber = state.subscriber
        if subscriber is None:
            # no retry can collect it: the message goes to the DLQ with this reason (pipeline.delivery)
            raise PermanentFailure(f"collect for {sid} {week}: no such subscriber")
        if not subscriber.receives_digest:
            reason = f"not receiving digests (status {subscriber.status})"
            self.weeks.mark_week(sid, week, "skipped", reason, keep_earlier=True)
            return CollectResult("not_receiving", sid, week, reason=reason)
        if state.week is not None and state.week.status in ("collected", "sent"):
            # a redelivered message: the week is read and analyzed; only the digest may still be owed
            return CollectResult("collected", sid, week, reason="already collected this week")
        cursors = state.cursors
        if cursors.me_week is not None and cursors.me_week > week:
            # a message from an earlier week arriving after a later week's run:
            # reading now would mix the weeks up
            reason = f"superseded: week {cursors.me_week} was already collected"
            self.weeks.mark_week(sid, week, "superseded", reason)
            return CollectResult("superseded", sid, week, reason=reason)
        exhausted = self._credits_exhausted(week)
        if exhausted:
            self.weeks.mark_week(sid, week, "credits_exhausted", exhausted)
            return CollectResult("credits_exhausted", sid, week, reason=exhausted)
        admission = self.post_cap.admit(state, subscriber.skipped_reads)
        if admission.queued_until is not None:
            reason = self.post_cap.queued_reason(admission)
            self.weeks.mark_week(sid, week, "queued", reason)
            return CollectResult("queued", sid, week, reason=reason, post_cap=admission)
        try:
            token = self.tokens.access_token(sid, loaded=state.tokens)  # raises XAuthRevoked: X refused the grant
            try:
                return self._collect(subscriber, self.make_client(token), week, state, admission)
            except XAuthRevoked:
                # X refused the access token (revoked, or expired early): one
                # refresh tells a lapsed token from a revoked grant
                fresh = self.tokens.access_token(sid, force_refresh=True)
                return self._collect(subscriber, self.make_client(fresh), week, state, admission)
        except XAuthRevoked as exc:
            return self._revoked(subscriber, week, str(exc))
        except XRefreshUnavailable as exc:
            # X's token endpoint had a bad moment, or refused the app's credentials (every subscriber alike,
            # until the operators fix the secret): the tokens are still good, nobody is told to reconnect
            status: Status = "client_refused" if isinstance(exc, XClientRefused) else "refresh_deferred"
            retry = REFRESH_RETRY_S * 2 ** min(request.requeues, 4)
            reason = f"token refresh deferred, tokens kept: {exc}; retry in {retry}s"
            self.weeks.mark_week(sid, week, status, reason)
            return CollectResult(status, sid, week, retry_in_s=retry, reason=reason)
        except XCreditsExhausted as exc:
            self.weeks.set_run_flag(week, CREDITS_FLAG, str(exc))
            self._credits_flags[week] = (str(exc), self.now())
            self.weeks.mark_week(sid, week, "credits_exhausted", str(exc))
            return CollectResult("credits_exhausted", sid, week, reason=str(exc))
        finally:
            self.post_cap.settle(admission)

    def _credits_exhausted(self, week: str) -> str | None:
        """Why X's credits ran out this week, if they did. A flag once seen holds for the week; its
        absence is trusted for a minute (a process that missed it meanwhile gets X's 402 and sets it)."""
        known = self._credits_flags.get(week)
        now = self.now()
        if known is None or (known[0] is None and now - known[1] > timedelta(seconds=CREDITS_UNFLAGGED_TRUSTED_S)):
            known = (self.weeks.run_flag(week, CREDITS_FLAG), now)
            self._credits_flags[week] = known
        return known[0]

    def _revoked(self, subscriber: Subscriber, week: str, reason: str) -> CollectResult:
        """Stop collecting every week; ask the subscriber, once, to reconnect."""
        needs_reauth(self.subscribers, self.send_reconnect_email, subscriber, self.now())
        self.weeks.mark_week(subscriber.subscriber_id, week, "needs_reauth", reason)
        return CollectResult("needs_reauth", subscriber.subscriber_id, week, reason=reason)

    @staticmethod
    def _me(client: XClient, cursors: Cursors, budget: Budget, week: str) -> XUser:
        """Who the subscriber is on X: read once a week (an attempt later in the week reuses it)."""
        if cursors.me is not None and cursors.me_week == week:
            return XUser.model_validate(cursors.me)
        me = client.me().data
        budget.charge("users_me", 1)
        cursors.me, cursors.me_week = me.model_dump(mode="json"), week
        return me

    def _collect(
        self, subscriber: Subscriber, client: XClient, week: str, state: CollectorState, admission: Admission
    ) -> CollectResult:
        """Read, merge, analyze, save; ``state`` as ``run`` loaded it (and as a failed attempt left it)."""
        sid = subscriber.subscriber_id
        now = self.now()
        first_run = subscriber.first_collected_at is None
        cursors = state.cursors
        # a second run in the same week (a requeue after a rate limit) spends from the same budget
        spent = state.week.spend if state.week is not None and state.week.spend is not None else Spend()
        budget = Budget(
            self.config.first_run_budget_usd if first_run else self.config.weekly_budget_usd,
            self.config.prices,
            spent.model_copy(deep=True),
            # what the re-read allowance paid, in this attempt or an earlier one, leaves the week's budget whole
            apart=followees.PAID_APART,
        )
        admission.spend = budget.spend
        result = CollectResult("collected", sid, week, spend=budget.spend, post_cap=admission)
        try:
            me = self._me(client, cursors, budget, week)
        except XRateLimited as exc:
            return self._rate_limited(result, exc, now)  # nothing read yet, nothing to keep
        events = self._apply_follow_events(state, me.id)
        reads: dict[str, ListRead] = {}
        try:
            self._read_fairly(subscriber, client, me, state, budget, week, now, reads, admission)
            self._search_untagged(subscriber, client, me, cursors, budget, week, now, reads, admission)
            whole_following = self._reconcile_following(client, me, cursors, state.graphs, reads, budget, week, now)
        except XRateLimited as exc:
            # Keep what was read and where each read stopped; the handler puts
            # the work back on the queue until X's window resets.
            if isinstance(exc.partial, ListRead) and exc.partial.items:
                _add_read(reads, exc.endpoint, exc.partial)
            self._keep(state, reads, now, me, budget.spend, week)
            return self._rate_limited(result, exc, now)
        except Exception:
            self._keep(state, reads, now, me, budget.spend, week)
            raise
        activity = self._merge(
            state,
            reads,
            now,
            me,
            unavailable=[s.split(":")[0] for s in budget.spend.skipped]
            + (["follower_baseline"] if cursors.followers_undated_week == week else []),
            searched=SEARCH in reads or _read_in(cursors, SEARCH, week),
        )
        activity = with_follow_times(activity, events)
        self._check_followees(activity, cursors, state.graphs, "following" in reads, whole_following)
        if first_run:
            # the first digest covers all the DMs X still serves: all of it is news to the subscriber
            activity.window_start = now - timedelta(days=self.config.dm_window_days)
        history = History(
            ledger=dict(state.ledger),
            previous_reports=state.previous_reports,
            sent_weeks=state.sent_weeks,
            known_dm_conversations=dict(state.dm_conversations),
        )
        # lookups before naming may find followees gone (_name_only_followed): following is saved then too
        stale = activity.following_as_of is not None
        read_lists = [which for which in FOLLOW_LISTS if which in reads or (stale and which == "following")]
        try:
            analysis = analyze(
                activity, history, week=week, own_domains=list(subscriber.own_domains), time_zone=subscriber.time_zone
            )
            analysis = self._name_only_followed(client, activity, history, subscriber, analysis, state, budget)
            analysis = _name_dm_senders(client, analysis, budget)
        except Exception:
            # what was read is kept even if the analysis fails: a retry must not read it again
            self.state.save(state, graphs=read_lists)
            self.weeks.put_week_spend(sid, week, budget.spend)
            raise
        self.state.save(
            state,
            graphs=read_lists,
            ledger_updates=analysis.ledger_updates,
            dm_conversation_updates=analysis.dm_conversation_updates,
            collected=WeekCollected(week, analysis.report, budget.spend),
        )
        if first_run:
            self.subscribers.update_subscriber(sid, current=subscriber, first_collected_at=now)
        result.report = analysis.report
        result.counts = {k: len(v.items) for k, v in reads.items()}
        return result

    def _reconcile_following(
        self,
        client: XClient,
        me: XUser,
        cursors: Cursors,
        graphs: dict[str, Graph],
        reads: dict[str, ListRead],
        budget: Budget,
        week: str,
        now: datetime,
    ) -> bool:
        """After the week's reads: accrue the re-read allowance and, while the followee set disagrees with
        X's count, go on re-reading it (pipeline/followees.py). True when the count offset may be learned
        now: the list was read whole in this run, or a set kept from before offsets were learned (None)
        has just been re-read."""
        check = cursors.followees
        if "following" not in reads or cursors.get("following").done_week != week:
            return False  # not read, or read in part: the read itself goes on next week before any re-read
        if reads["following"].full:
            check.reread_started_at, check.reread_token, check.reread_seen = None, None, []
            check.accrued_week, check.allowance_usd = week, 0.0  # just read whole: nothing to save up for yet
            return True
        reported = me.public_metrics.following_count if me.public_metrics else None
        if reported is None:
            return False
        self._accrue(check, week, reported, budget)
        new_ids = {u.id for u in reads["following"].items}

        def agrees() -> bool:
            known = len(graphs["following"].keys() | new_ids)
            return check.offset is not None and reported - known - check.offset == 0

        if agrees() and not check.rereading:
            return False
        started = check.reread_started_at or now
        fetch = fetch_for(client, "following", me.id)
        changes = followees.reread(
            fetch,
            check,
            graphs["following"],
            budget,
            now,
            reads["following"],
            self._lookup_reserve(budget),
            client=client,
            agrees=agrees,
        )
        if changes is None:
            budget.spend.notes.append(
                "following: re-reading who you follow to catch up with X's count; it goes on next week"
            )
            return False
        return started == now or check.offset is None

    def _accrue(self, check: FolloweeCheck, week: str, reported: int, budget: Budget) -> None:
        followees.accrue(check, week, self.config.followee_reread_usd_per_week, reported * budget.price("following"))

    def _lookup_reserve(self, budget: Budget) -> float:
        """What the allowance keeps for the lookups before naming (``_name_only_followed``), which must not go
        without."""
        return 3 * self.config.followees_verified * budget.price("users_lookup")

    @staticmethod
    def _check_followees(
        activity: Activity, cursors: Cursors, graphs: dict[str, Graph], read: bool, whole: bool
    ) -> None:
        """The followee set against X's count (when the list was read this run); what the analysis is told."""
        check = cursors.followees
        if read:
            reported = activity.subscriber.following_count
            followees.check_counts(check, reported, len(graphs["following"]), activity.collected_at, whole_list=whole)
        activity.followers_complete = not cursors.followers_partial
        activity.following_as_of = check.agreed_at if check.drift else None

    def _name_only_followed(
        self,
        client: XClient,
        activity: Activity,
        history: History,
        subscriber: Subscriber,
        analysis: AnalysisResult,
        state: CollectorState,
        budget: Budget,
    ) -> AnalysisResult:
        """While the followee set may be stale: look up the accounts the digest could name, drop those no
        longer followed (and analyze again without them), and name only accounts confirmed this run."""
        if activity.following_as_of is None:
            return analysis
        graph, check, now = state.graphs["following"], state.cursors.followees, activity.collected_at
        confirmed: set[str] = set()
        limit = self.config.followees_verified
        for _ in range(3):  # each round removes what it found gone; the next names others
            report = analysis.report
            named = [p.user_id for p in report.passive_follows[:limit]]
            named += [c.user_id for c in report.conversations if c.kind == "greet_followee"]
            named += [d.user_id for d in (report.dormant_followees or [])[:limit]]
            unchecked = [uid for uid in dict.fromkeys(named) if uid not in confirmed and uid in graph]
            if not unchecked:
                break
            # what is left of the week's budget first, then the allowance
            week_left = max(budget.remaining, 0.0)
            lookups = Budget(budget.spend.total_usd + week_left + check.allowance_usd, budget.prices, budget.spend)
            spent_before = budget.spend.total_usd
            followed, changes = followees.verify(client, unchecked, lookups, now)
            over = budget.spend.total_usd - spent_before - week_left
            check.allowance_usd = round(max(check.allowance_usd - max(over, 0.0), 0.0), 4)
            confirmed |= followed
            if not (changes.gone or changes.unserved):
                break
            followees.apply_changes(graph, check, changes)
            self._check_followees(activity, state.cursors, state.graphs, True, False)
            activity.following = _edges(graph)
            analysis = analyze(
                activity,
                history,
                week=analysis.report.week,
                own_domains=list(subscriber.own_domains),
                time_zone=subscriber.time_zone,
            )
        report = analysis.report
        report.passive_follows = [p for p in report.passive_follows if p.user_id in confirmed]
        report.conversations = [c for c in report.conversations if c.kind != "greet_followee" or c.user_id in confirmed]
        if report.dormant_followees is not None:
            report.dormant_followees = [d for d in report.dormant_followees if d.user_id in confirmed]
        return analysis

    def _search_untagged(
        self,
        subscriber: Subscriber,
        client: XClient,
        me: XUser,
        cursors: Cursors,
        budget: Budget,
        week: str,
        now: datetime,
        reads: dict[str, ListRead],
        admission: Admission,
    ) -> None:
        """Mentions without the @ (opt-in): X's recent search for the handle and the display name, not tagging
        or by the subscriber, not retweets. After every other read, from what is left of the week's budget and
        at most ``untagged_search_usd`` of it; a week already searched is not searched again."""
        cursor = cursors.get(SEARCH)
        if SEARCH not in subscriber.opted_in_reads or cursor.done_week == week:
            return
        if admission.skipped:  # the month's Post reads are short: the least valuable of them goes first
            budget.spend.skipped.append(f"{SEARCH}: {next(iter(admission.skipped.values()))}")
            return
        cursor.start_week(week, paged_by_since_id=True)
        oldest = now - SEARCH_WINDOW + timedelta(minutes=5)  # X refuses a start_time outside its seven days
        since = normalize.snowflake_time(cursor.since_id) if cursor.since_id else None
        if since is None or since < oldest:
            cursor.since_id = None  # last week's newest is out of reach: the window's start says where to begin
        capped = Budget(
            budget.spend.total_usd + min(budget.remaining, self.config.untagged_search_usd),
            budget.prices,
            budget.spend,
        )
        query = untagged_query(me)
        try:
            reads[SEARCH] = read_since(SEARCH, lambda **kw: client.search_recent(query, **kw), cursor, capped, oldest)
            cursor.done_week = week
        except BudgetExhausted:
            budget.spend.skipped.append(f"{SEARCH}: the weekly X budget left too little for the search")
        except (XMalformed, XUsageCapped) as exc:
            budget.spend.skipped.append(f"{SEARCH}: {self._unread(exc, me.id, SEARCH, admission)}")

    def _unread(self, exc: XMalformed | XUsageCapped, sid: str, endpoint: str, admission: Admission) -> str:
        """Why ``endpoint`` is not read this week, after X answered ``exc``."""
        if isinstance(exc, XUsageCapped):
            # not a rate limit: no retry helps before the billing cycle resets, so no Post is asked
            # for again, by this collect or any other; what is not a Post is still read
            return self.post_cap.cap_reached(admission, str(exc))
        log.error("malformed X payload", extra={"subscriber_id": sid, "endpoint": endpoint})
        return str(exc)

    def _read_fairly(
        self,
        subscriber: Subscriber,
        client: XClient,
        me: XUser,
        state: CollectorState,
        budget: Budget,
        week: str,
        now: datetime,
        reads: dict[str, ListRead],
        admission: Admission,
    ) -> None:
        """Every read due this week into ``reads``, each within its share of the budget, round after
        round. What a read could not finish is kept, and said in ``budget.spend.skipped``; it continues
        where it stopped next time."""
        cursors, skipped = state.cursors, budget.spend.skipped
        # an earlier attempt this week said why some reads were not made: they are decided again now
        skipped[:] = [s for s in skipped if cursors.get(s.split(":")[0]).done_week == week]
        due: list[str] = []
        for endpoint in READ_ORDER:
            if why_not := _not_read(endpoint, subscriber, admission):
                skipped.append(f"{endpoint}: {why_not}")
                continue
            cursor = cursors.get(endpoint)
            if cursor.done_week == week:
                continue  # read completely by an earlier attempt this week
            if cursor.start_week(week, paged_by_since_id=endpoint in ("tweets", "mentions")):
                skipped.append(f"{endpoint}: an unfinished read from an earlier week was dropped")
            due.append(endpoint)
        unfinished: dict[str, str] = {}
        given_up: set[str] = set()  # X answered malformed or usage-capped: no retry this run
        spent_before = -1.0
        # rounds: the reads still unfinished share what the others left, by weight, until it is all
        # spent or nobody can use it (a read that needs less than its share leaves the rest to the others)
        while budget.spend.total_usd > spent_before:
            todo = [e for e in due if cursors.get(e).done_week != week and e not in given_up]
            if not todo:
                break
            spent_before = budget.spend.total_usd
            budget.share_out({e: self.config.read_weights.get(e, 1.0) for e in todo})
            for endpoint in todo:
                if capped := admission.skipped.get(endpoint):  # X's monthly cap was met by another read
                    unfinished[endpoint] = capped
                    given_up.add(endpoint)
                    continue
                try:
                    got = self._read(endpoint, client, me, cursors, state.graphs, budget, now, week)
                except BudgetExhausted as exc:
                    if exc.partial is not None and (exc.partial.items or endpoint in reads):
                        _add_read(reads, endpoint, exc.partial)
                        unfinished[endpoint] = (
                            f"read in part, the weekly X budget of ${budget.limit_usd:.2f} was reached; "
                            "the rest is read next week"
                        )
                    else:
                        unfinished[endpoint] = f"the weekly X budget of ${budget.limit_usd:.2f} was reached"
                    continue
                except (XMalformed, XUsageCapped) as exc:
                    unfinished[endpoint] = self._unread(exc, subscriber.subscriber_id, endpoint, admission)
                    given_up.add(endpoint)
                    continue
                _add_read(reads, endpoint, got)
                cursors.get(endpoint).done_week = week
                unfinished.pop(endpoint, None)
        budget.shares = {}
        skipped.extend(f"{endpoint}: {why}" for endpoint, why in unfinished.items())

    def _rate_limited(self, result: CollectResult, exc: XRateLimited, now: datetime) -> CollectResult:
        """Recorded, for the handler to put the work back on the queue until X's window resets."""
        retry = max(int((exc.reset_at or now.timestamp() + 60) - now.timestamp()), 1)
        self.weeks.mark_week(result.subscriber_id, result.week, "rate_limited", f"{exc.endpoint}: retry in {retry}s")
        result.status, result.retry_in_s, result.reason = "rate_limited", retry, str(exc)
        return result

    def _apply_follow_events(self, state: CollectorState, me: str) -> list[FollowEvent]:
        """Apply the follow events received since the last run to the follow lists, before any list is read
        (an unfollow leaves at once, without a re-read; the count check then agrees with X), and save them;
        returns every stored event (their times date the follows for the analysis). A rerun applies nothing
        twice."""
        if self.activity is None or state.subscriber is None:
            return []
        held = self.activity.get_subscriptions(state.subscriber.subscriber_id)
        state.cursors.followees.told_by_events = held is not None and bool(held.ids)
        events = self.activity.follow_events(state.subscriber.subscriber_id)
        applied = set(state.cursors.follow_events_applied)
        new = {e.event_id for e in events} - applied
        if new:
            sizes = {which: len(state.graphs[which]) for which in FOLLOW_LISTS}
            changed = apply_to_graphs(state.graphs, events, me, new=new)
            for which in changed:
                # X's count moved by what the events explain: the next read of the list does not look for
                # those follows again past the known part (followees.read_new_follows), nor for the unfollows
                cursor = state.cursors.get(which)
                if cursor.last_reported is not None:
                    cursor.last_reported += len(state.graphs[which]) - sizes[which]
            # the ids of the events still stored: an expired one cannot come back
            state.cursors.follow_events_applied = [e.event_id for e in events]
            self.state.save(state, graphs=sorted(changed))
        return events

    def _keep(
        self, state: CollectorState, reads: dict[str, ListRead], now: datetime, me: XUser, spend: Spend, week: str
    ) -> None:
        """An attempt that stopped early: save what it read and spent, for the next attempt (this
        process's, after a refresh, or a redelivery's) to continue from."""
        assert state.subscriber is not None
        self._merge(state, reads, now, me, unavailable=[])
        self.state.save(state, graphs=[which for which in FOLLOW_LISTS if which in reads])
        self.weeks.put_week_spend(state.subscriber.subscriber_id, week, spend)
        state.week = replace(state.week or StoredWeek(None, "", None, None), spend=spend.model_copy(deep=True))

    def _read(
        self,
        endpoint: str,
        client: XClient,
        me: XUser,
        cursors: Cursors,
        graphs: dict[str, Graph],
        budget: Budget,
        now: datetime,
        week: str,
    ) -> ListRead:
        cursor = cursors.get(endpoint)
        fetch = fetch_for(client, endpoint, me.id)
        if endpoint == "tweets":
            return read_since(
                endpoint, fetch, cursor, budget, now - timedelta(days=self.config.first_run_lookback_days)
            )
        if endpoint == "mentions":
            return read_since(endpoint, fetch, cursor, budget, now - timedelta(days=MENTIONS_FIRST_RUN_DAYS))
        if endpoint in FOLLOW_LISTS:
            return self._read_follows(endpoint, fetch, cursors, graphs[endpoint], me, budget, now, week)
        head = set(cursor.known_head)
        window = _likes_past(now - timedelta(days=self.config.first_run_lookback_days))
        # resumed this week, a read returns only its rest: a first read's estimate, from the part read
        # before, stays; a later read's first part found ``resume_found`` of the week's new items
        resumed = cursor.weekly_estimate is not None and bool(cursor.resume_token)
        found_before = cursor.resume_found if resumed and head else None
        try:
            out = read_until_known(
                endpoint,
                fetch,
                cursor,
                budget,
                head.__contains__,
                expected_new=cursor.weekly_estimate if head else None,
                cap=self.config.likes_read_cap if endpoint == "liked_tweets" else None,
                past_window=window if endpoint == "liked_tweets" else None,
            )
        except BudgetExhausted as exc:
            if not head and not resumed and exc.partial is not None and exc.partial.items:
                # a first read's newest part (newest first) holds its last week: enough to size next
                # week's first page; a later read's part is only as far as the budget went, not a week
                cursor.weekly_estimate = _weekly_volume(endpoint, exc.partial, now, first_read=not head)
            raise
        if not resumed:
            cursor.weekly_estimate = _weekly_volume(endpoint, out, now, first_read=not head)
        elif found_before is not None:
            cursor.weekly_estimate = found_before + len(out.items) - out.backlog  # both parts: the whole week
        return out

    def _read_follows(
        self,
        endpoint: str,
        fetch: Callable[..., PageResult],
        cursors: Cursors,
        known: Graph,
        me: XUser,
        budget: Budget,
        now: datetime,
        week: str,
    ) -> ListRead:
        """New follows or followers down to the known part, then a check against X's counts.

        The first page is sized from the growth of the count X reports plus
        last week's departures, so a steady week reads little more than who is
        new. Followees gone are reconciled apart (``_reconcile_following``); when
        the counts say followers are gone, the list is re-read whole at most every
        few weeks (who left matters less than who came), when the budget covers it
        and the whole list is held (a first run holds only its top).
        """
        cursor = cursors.get(endpoint)
        metrics = me.public_metrics
        reported = (
            None
            if metrics is None
            else (metrics.following_count if endpoint == "following" else metrics.followers_count)
        )
        cap = self.config.followers_read_cap if endpoint == "followers" else None
        if not known and endpoint == "followers":
            # the top only: who follows back comes with the following list, and next week's new followers
            # stop at these; the count comes from the profile
            wanted = self.config.first_run_followers
            out = read_until_known(endpoint, fetch, cursor, budget, lambda _id: False, expected_new=wanted, cap=wanted)
            cursors.followers_partial = reported is None or reported > len(out.items)
        elif not known:
            out = self._full_read(endpoint, fetch, cursors, budget, now, cap)
        else:
            growth = (
                reported - cursor.last_reported
                if reported is not None and cursor.last_reported is not None
                else (reported or 0) - len(known)
            )
            expected = max(growth, 0) + cursor.lost_estimate + 1
            told = cursors.followees.told_by_events and growth == 0 and not cursor.lost_estimate
            if endpoint == "following" and not cursor.backlog_token and told:
                # X's Activity API told every follow and unfollow since the last read, and with them applied
                # X's count agrees: there is nothing new at the top of the list to read
                cursor.last_reported, cursor.completed_at = reported, now
                return ListRead()
            if endpoint == "following" and not cursor.backlog_token:
                # seeking new follows the count says are missing past the known part: the re-read allowance
                # pays for that (pipeline/followees.py)
                check = cursors.followees
                if reported is not None:
                    self._accrue(check, week, reported, budget)
                out = followees.read_new_follows(
                    fetch, cursor, budget, known, max(growth, 0), expected, check, self._lookup_reserve(budget)
                )
            elif endpoint == "following":
                # an earlier week's unfinished following read (a first run's on a small budget), which
                # read_new_follows would not go on with: its backlog first, then the top
                out = read_until_known(
                    endpoint, fetch, cursor, budget, known.__contains__, expected_new=expected, backlog_in_expected=True
                )
            else:
                out = _new_followers(fetch, cursor, known, budget, expected, growth, self.config.followers_read_cap)
                if out.undated:
                    cursors.followers_undated_week = week
            cursor.lost_estimate = 0 if out.undated else max(len(out.items) - max(growth, 0), 0)
            if endpoint == "following":
                # gone followees are the reconciliation's business (_reconcile_following)
                cursor.last_reported, cursor.completed_at = reported, now
                return out
            gone = len(known) + len(out.items) - reported if reported is not None else 0
            partial = cursors.followers_partial or (cap is not None and reported is not None and reported > cap)
            if gone > 0 and not partial:
                last = cursors.last_full_followers_read
                due = last is None or (now - last >= timedelta(weeks=self.config.full_followers_reread_weeks))
                affordable = budget.remaining >= (reported or 0) * budget.price(endpoint)
                if due and affordable:
                    out = self._full_read(endpoint, fetch, cursors, budget, now, cap)
                else:
                    budget.spend.notes.append(
                        f"{endpoint}: {gone} account(s) gone from the list; who exactly is known after the next "
                        "full re-read" + ("" if affordable else " (it does not fit this week's budget)")
                    )
        cursor.last_reported = reported
        cursor.completed_at = now
        return out

    @staticmethod
    def _full_read(
        endpoint: str,
        fetch: Callable[..., PageResult],
        cursors: Cursors,
        budget: Budget,
        now: datetime,
        cap: int | None,
    ) -> ListRead:
        cursor = cursors.get(endpoint)
        out = read_until_known(endpoint, fetch, cursor, budget, lambda _id: False, cap=cap)
        out.full = True
        cursor.lost_estimate = 0
        if endpoint == "followers":
            cursors.last_full_followers_read = now
        return out

    def _merge(
        self,
        state: CollectorState,
        reads: dict[str, ListRead],
        now: datetime,
        me: XUser,
        *,
        unavailable: list[str],
        searched: bool = False,
    ) -> Activity:
        """Fold what was read into ``state`` (saved by the caller); returns everything the analysis needs."""
        recent, graphs = state.recent, state.graphs
        me_account = normalize.account(me)
        includes = [t for r in reads.values() for t in r.includes]

        def items(endpoint: str) -> list[Any]:
            return reads[endpoint].items if endpoint in reads else []

        new_posts = normalize.posts(items("tweets"), includes)
        new_mentions = normalize.posts(items("mentions"))
        new_likes = [normalize.like(t, now) for t in items("liked_tweets")]
        new_dms = [normalize.dm_event(e) for e in items("dm_events")]
        # followers not in the graph yet, with the counts their list entries carry (follow-for-follow
        # followers are told by them); the graph keeps only ids, times and usernames. Nobody on a first
        # read: it cannot tell new followers from old.
        known = graphs["followers"]
        undated = "followers" in reads and reads["followers"].undated  # none of them can be told new (_new_followers)
        new_followers = [u for u in items("followers") if u.id not in known] if known and not undated else []
        for which in FOLLOW_LISTS:
            if which in reads:
                # the first read cannot tell when, nor one that lost its way (_new_followers)
                stamp = now.isoformat() if graphs[which] and not reads[which].undated else None
                fresh: Graph = {
                    u.id: _entry(_since(graphs[which].get(u.id), stamp), u, which) for u in reads[which].items
                }
                graphs[which] = fresh if reads[which].full else {**graphs[which], **fresh}

        recent_cut = now - timedelta(days=RECENT_DAYS)
        # Quotes name their author by username (from the quoted post's URL):
        # the follow lists say which account that is, at no extra cost.
        id_by_username = {str(v[1]).lower(): k for g in graphs.values() for k, v in g.items() if v[1]}
        new_posts = normalize.resolve_quoted_authors(new_posts, id_by_username)
        activity = Activity(
            subscriber=me_account,
            collected_at=now,
            window_start=now - timedelta(days=7),
            posts=_merged(recent.posts if recent else [], new_posts, _EPOCH, _created, _id),
            mentions=_merged(recent.mentions if recent else [], new_mentions, recent_cut, _created, _id),
            likes=_merged(
                recent.likes if recent else [], new_likes, _EPOCH, lambda like: like.seen_at, lambda like: like.post_id
            ),
            dm_events=_merged(
                recent.dm_events if recent else [],
                new_dms,
                now - timedelta(days=self.config.dm_window_days),
                _created,
                _id,
            ),
            following=_edges(graphs["following"]),
            followers=_edges(graphs["followers"]),
            accounts=normalize.accounts(new_followers),
            unavailable=sorted(set(unavailable)),
            # a rerun in the week keeps what the week's search found; a week after, X's seven days have moved on
            untagged_mentions=_merged(
                (recent.untagged_mentions or []) if recent else [],
                normalize.posts(items(SEARCH)),
                now - SEARCH_WINDOW,
                _created,
                _id,
            )
            if searched
            else None,
        )
        # What the next run needs besides the ledger: two weeks of posts,
        # mentions and likes, a DM window; the follow lists are saved apart.
        state.recent = activity.model_copy(
            update={
                "posts": [p for p in activity.posts if p.created_at >= recent_cut],
                "likes": [like for like in activity.likes if like.seen_at >= recent_cut],
                "following": [],
                "followers": [],
                "accounts": {},
            }
        )
        return activity


def _read_in(cursors: Cursors, endpoint: str, week: str) -> bool:
    """Whether ``endpoint`` was read completely this week (by this attempt or an earlier one)."""
    cursor = cursors.endpoints.get(endpoint)
    return cursor is not None and cursor.done_week == week


def untagged_query(me: XUser) -> str:
    """Recent-search query for the handle and the display name, not tagging them, not by them, no retweets
    (operators.mdx: keyword, "exact phrase", OR, @, from:, is:retweet, negation)."""
    handle = me.username
    name = " ".join(me.name.replace('"', " ").split())
    names = f'({handle} OR "{name}")' if name and name.lower() != handle.lower() else handle
    return f"{names} -@{handle} -from:{handle} -is:retweet"


def needs_reauth(
    subscribers: SubscriberRepository,
    send_reconnect_email: Callable[[Subscriber], None],
    subscriber: Subscriber,
    now: datetime,
) -> None:
    """X no longer accepts the subscriber's grant: mark them ``needs_reauth`` and ask them, once, to reconnect
    (the collector when X refuses a token, the webhook on an ``oauth.revoke`` event)."""
    if subscriber.reconnect_email_sent_at is None:
        # mailed before anything is recorded: a send that fails (SES throttling past botocore's
        # retries) fails the record, and its retry finds the subscriber as it was and mails then
        send_reconnect_email(subscriber)
    subscribers.update_subscriber(
        subscriber.subscriber_id,
        current=subscriber,
        status="needs_reauth",
        reconnect_email_sent_at=subscriber.reconnect_email_sent_at or now,
    )


def _merged(
    old: Iterable[T], new: Iterable[T], keep_from: datetime, when: Callable[[T], datetime], key: Callable[[T], str]
) -> list[T]:
    """Old and new items by id (new wins), those from ``keep_from`` on, oldest first."""
    by_id: dict[str, T] = {}
    for item in (*old, *new):
        by_id[key(item)] = item
    return sorted((x for x in by_id.values() if when(x) >= keep_from), key=when)


def _not_read(endpoint: str, subscriber: Subscriber, admission: Admission) -> str | None:
    """Why ``endpoint`` is left out this week before asking X, if it is."""
    if endpoint in subscriber.skipped_reads:  # turned off on the settings page: no credits spent
        return TURNED_OFF
    return admission.skipped.get(endpoint)


def _name_dm_senders(client: XClient, analysis: AnalysisResult, budget: Budget) -> AnalysisResult:
    """The automated DMs a digest shows come from accounts the lists read may not hold (a spammer, a follower
    below the top the first run reads): one lookup of at most ``AUTO_DMS_SHOWN`` ids names them. If it cannot
    be had (budget, X failing) the digest says "An account" and links the conversation."""
    received = analysis.report.auto_dms.received
    unnamed = [d.sender_id for d in received[:AUTO_DMS_SHOWN] if d.sender_username is None]
    found = look_up_users(client, unnamed, budget, DM_SENDERS) if unnamed else None
    if found is None:
        return analysis
    named = [
        d
        if d.sender_username or d.sender_id not in found
        else d.model_copy(update={"sender_username": found[d.sender_id].username})
        for d in received
    ]
    auto_dms = analysis.report.auto_dms.model_copy(update={"received": named})
    return analysis.model_copy(update={"report": analysis.report.model_copy(update={"auto_dms": auto_dms})})


def _likes_past(cut: datetime) -> Callable[[list[Any]], int | None]:
    """Whether a page of likes reached the passive window's start (0), else about how many likes are left
    until it does (None: no estimate).

    Likes come newest-liked first, with no since_id or start_time
    (openapi.json), and carry no like time: the liked post's time stands in,
    since people mostly like recent posts. The page's oldest tenth must all
    be older than ``cut``, so one like of an old post does not end the read.
    What is left is the page's pace (likes per second of liked posts' time,
    between the medians of its newest and oldest tenths) over the time still
    to go, with a quarter more and its own oldest tenth on top, so the page
    that reaches the window mostly ends a little past it rather than up to a
    whole page past it.
    """

    def past(page: list[Any]) -> int | None:
        if not page:
            return None
        tenth = max(1, len(page) // 10)
        if all(t.created_at is not None and t.created_at < cut for t in page[-tenth:]):
            return 0
        newest, oldest = _median_time(page[:tenth]), _median_time(page[-tenth:])
        if newest is None or oldest is None or newest <= oldest:
            return None
        pace = len(page) / (newest - oldest).total_seconds()
        to_go = max((oldest - cut).total_seconds(), 0.0) * pace
        return math.ceil(to_go * 1.25) + tenth + 5

    return past


def _median_time(likes: list[Any]) -> datetime | None:
    times = sorted(t.created_at for t in likes if t.created_at is not None)
    return times[len(times) // 2] if times else None


def _new_followers(
    fetch: Callable[..., PageResult],
    cursor: EndpointCursor,
    known: Graph,
    budget: Budget,
    expected: int,
    growth: int,
    cap: int,
) -> ListRead:
    """The followers above the part of the list known from earlier weeks, down to the first known one.

    A first run keeps only the top of the list (``first_run_followers``). If
    all of those have left by the next week, nothing known is left to stop
    at, and every old follower read would be called new. So a read that
    finds no known follower within twice what it expects plus
    ``UNDATED_MARGIN`` (or by the list's end) stops there. X's count grew
    by ``growth``, so when it read no more than that, all of it is new.
    Otherwise the whole read is ``undated``: stored as known, with no date,
    so the next week's read stops at it, and this week's new followers are
    not measured.
    """
    out = read_until_known(
        "followers",
        fetch,
        cursor,
        budget,
        known.__contains__,
        expected_new=expected,
        cap=min(cap, 2 * expected + UNDATED_MARGIN),
        backlog_in_expected=True,
    )
    out.undated = not out.reached_known and len(out.items) > max(growth, 0)
    return out


def _add_read(reads: dict[str, ListRead], endpoint: str, more: ListRead) -> None:
    """``more`` of ``endpoint`` into ``reads``: a read continued in this run adds to what it got before."""
    if endpoint not in reads:
        reads[endpoint] = more
        return
    reads[endpoint].extend(more)
    reads[endpoint].full = more.full  # a full re-read resumed: both parts together are the whole list


def _weekly_volume(endpoint: str, read: ListRead, now: datetime, *, first_read: bool) -> int:
    """How many new likes or DM events a week brings, to size next week's first page.

    A first read returns the whole history, so only its last seven days count;
    likes carry no time, but people mostly like recent posts, so the liked
    post's time stands in.
    """
    if not first_read:
        return len(read.items) - read.backlog  # an earlier week's backlog is not this week's
    week_ago = now - timedelta(days=7)
    times = [item.created_at for item in read.items]
    return sum(1 for t in times if t is not None and t >= week_ago)


def _created(item: Post | DmEvent) -> datetime:
    return item.created_at


def _id(item: Post | DmEvent) -> str:
    return item.id


def _since(entry: list[str | bool | None] | None, stamp: str | None) -> str | None:
    """When an entry was first seen: as stored, or ``stamp`` for one not seen before."""
    since = entry[0] if entry is not None else stamp
    return since if isinstance(since, str) else None


def _entry(since: str | None, user: XUser, which: str) -> list[str | bool | None]:
    """[first seen, username] and, for a followee, [.., the id of their latest post when X served them (it dates
    it), whether they follow back] (pipeline/followees.py)."""
    if which == "following":
        return followees.edge(since, user)
    return [since, user.username]


def _edges(graph: Graph) -> list[FollowEdge]:
    edges = []
    for user_id, entry in graph.items():
        since, username = entry[0], entry[1]
        latest = entry[2] if len(entry) > 2 else None
        back = entry[3] if len(entry) > 3 else None
        edges.append(
            FollowEdge(
                user_id=user_id,
                username=username if isinstance(username, str) else None,
                since=datetime.fromisoformat(since) if isinstance(since, str) else None,
                last_post_at=normalize.snowflake_time(latest) if isinstance(latest, str) and latest else None,
                follows_back=back if isinstance(back, bool) else None,
            )
        )
    return edges


# -- the use case: one collect message -------------------------------------------------------------

MAX_REQUEUES = 20
# template.yaml alarms on these metrics (dimension service=collect)
CREDITS_METRIC = "XCreditsExhausted"
CLIENT_REFUSED_METRIC = "XClientRefused"  # the token endpoint refused the app's client id or secret
POST_CAP_REACHED_METRIC = "XPostCapReached"  # once per billing cycle: X answered usage-capped
POST_CAP_USED_METRIC = "XPostCapUsedPercent"  # of the monthly Post cap, reserved and read


@dataclass
class ReconnectEmail:
    """The one email sent when X no longer accepts the subscriber's connection."""

    suppression: SuppressionRepository
    mailer: Mailer
    sender: str
    public_base_url: str

    def send(self, subscriber: Subscriber) -> None:
        if self.suppression.is_suppressed(subscriber.email):
            log.info("reconnect email not sent: address suppressed", extra={"subscriber_id": subscriber.subscriber_id})
            return
        text = (
            "Hello,\n\nX no longer accepts the connection Followthrough had to your account, so this week's "
            "digest could not be made. Sign in again to reconnect (it takes a minute):\n\n"
            f"{self.public_base_url.rstrip('/')}/\n\nUntil then we will not try again or write again.\n"
        )
        raw = build_message(
            sender=self.sender,
            recipient=subscriber.email,
            subject="Reconnect your X account to keep your weekly digest",
            text=text,
        )
        self.mailer.send(subscriber.email, raw)


@dataclass
class CollectStep:
    """Collect one subscriber-week, then queue the digest, or the same work again after X's rate limit."""

    collector: Collector
    collect_queue: Queue
    digest_queue: Queue
    metrics: Metrics
    # longest delay before rate-limited work comes back (SQS allows at most 900 s)
    max_requeue_delay_s: int = 900

    def run(self, request: CollectRequest) -> CollectResult:
        result = self.collector.run(request)
        if result.status == "collected":
            self.digest_queue.send(DigestRequest(subscriber_id=request.subscriber_id, week=request.week))
        elif result.status in ("rate_limited", "refresh_deferred", "client_refused"):
            if request.requeues >= MAX_REQUEUES:
                raise RuntimeError(
                    f"subscriber {request.subscriber_id} still {result.status} after {MAX_REQUEUES} requeues"
                )
            self.collect_queue.send(
                request.model_copy(update={"requeues": request.requeues + 1}),
                delay_seconds=min(result.retry_in_s, self.max_requeue_delay_s),
            )
        if result.status == "credits_exhausted":
            self.metrics.add_metric(name=CREDITS_METRIC, unit=MetricUnit.Count, value=1)
        elif result.status == "client_refused":
            log.error("X refused the app's client credentials at the token endpoint", extra={"reason": result.reason})
            self.metrics.add_metric(name=CLIENT_REFUSED_METRIC, unit=MetricUnit.Count, value=1)
        if result.post_cap is not None:
            if result.post_cap.first_to_see_cap:
                self.metrics.add_metric(name=POST_CAP_REACHED_METRIC, unit=MetricUnit.Count, value=1)
            if result.post_cap.used_percent is not None:
                self.metrics.add_metric(
                    name=POST_CAP_USED_METRIC, unit=MetricUnit.Percent, value=result.post_cap.used_percent
                )
        self.metrics.add_metric(name=f"Collect_{result.status}", unit=MetricUnit.Count, value=1)
        self.metrics.add_metric(
            name="XSpendMilliUSD", unit=MetricUnit.Count, value=round(result.spend.total_usd * 1000)
        )
        log.info(
            "collected",
            extra={
                "subscriber_id": result.subscriber_id,
                "week": result.week,
                "status": result.status,
                "spend_usd": result.spend.total_usd,
                "counts": result.counts,
            },
        )
        return result
