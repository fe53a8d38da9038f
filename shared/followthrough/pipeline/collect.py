"""Collect one subscriber's week: read X incrementally, analyze, store; the handler then queues the digest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from followthrough import normalize
from followthrough.activity import Activity, DmEvent, FollowEdge, Post
from followthrough.adapters.store import Graph, Store
from followthrough.adapters.x import PageResult, XAuthRevoked, XClient, XCreditsExhausted, XMalformed, XRateLimited
from followthrough.analysis import History, analyze
from followthrough.config import CollectorConfig
from followthrough.cursors import Cursors, Spend
from followthrough.messages import CollectRequest
from followthrough.pipeline.reads import Budget, BudgetExhausted, ListRead, fetch_for, read_since, read_until_known
from followthrough.pipeline.tokens import TokenKeeper
from followthrough.report import WeeklyReport
from followthrough.subscriber import Subscriber
from followthrough.xmodels import XUser

log = logging.getLogger(__name__)

RECENT_DAYS = 14  # posts, mentions and likes kept for the next run's analysis (a week + the answer grace)
MENTIONS_FIRST_RUN_DAYS = 14
CREDITS_FLAG = "credits_exhausted"
FOLLOW_LISTS = ("following", "followers")

Status = Literal["collected", "rate_limited", "needs_reauth", "credits_exhausted", "not_receiving", "unknown",
                 "superseded"]

# Reads in order of value for money: conversations first, then the cheap
# likes, then the dearer follow lists and DMs.
READ_ORDER = ("tweets", "mentions", "liked_tweets", "following", "dm_events", "followers")

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


@dataclass
class Collector:
    store: Store
    tokens: TokenKeeper
    make_client: Callable[[str], XClient]
    config: CollectorConfig
    send_reconnect_email: Callable[[Subscriber], None]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self, request: CollectRequest) -> CollectResult:
        sid, week = request.subscriber_id, request.week
        subscriber = self.store.get_subscriber(sid)
        if subscriber is None:
            return CollectResult("unknown", sid, week, reason="subscriber no longer exists")
        if not subscriber.receives_digest:
            reason = f"not receiving digests (status {subscriber.status})"
            self.store.mark_week(sid, week, "skipped", reason, keep_earlier=True)
            return CollectResult("not_receiving", sid, week, reason=reason)
        done = self.store.week_status(sid, week)
        if done is not None and done[0] in ("collected", "sent"):
            # a redelivered message: the week is read and analyzed; only the digest may still be owed
            return CollectResult("collected", sid, week, reason="already collected this week")
        cursors = self.store.get_cursors(sid)
        if cursors.me_week is not None and cursors.me_week > week:
            # a message from an earlier week arriving after a later week's run:
            # reading now would mix the weeks up
            reason = f"superseded: week {cursors.me_week} was already collected"
            self.store.mark_week(sid, week, "superseded", reason)
            return CollectResult("superseded", sid, week, reason=reason)
        exhausted = self.store.run_flag(week, CREDITS_FLAG)
        if exhausted:
            self.store.mark_week(sid, week, "credits_exhausted", exhausted)
            return CollectResult("credits_exhausted", sid, week, reason=exhausted)
        try:
            try:
                return self._collect(subscriber, self.make_client(self.tokens.access_token(sid)), week, cursors)
            except XAuthRevoked:
                # X refused the access token (revoked, or expired early): one
                # refresh tells a lapsed token from a revoked grant
                fresh = self.tokens.access_token(sid, force_refresh=True)
                return self._collect(subscriber, self.make_client(fresh), week, cursors)
        except XAuthRevoked as exc:
            return self._revoked(subscriber, week, str(exc))
        except XCreditsExhausted as exc:
            self.store.set_run_flag(week, CREDITS_FLAG, str(exc))
            self.store.mark_week(sid, week, "credits_exhausted", str(exc))
            return CollectResult("credits_exhausted", sid, week, reason=str(exc))

    def _revoked(self, subscriber: Subscriber, week: str, reason: str) -> CollectResult:
        """Stop collecting every week; ask the subscriber, once, to reconnect."""
        first_time = subscriber.reconnect_email_sent_at is None
        self.store.update_subscriber(subscriber.subscriber_id, status="needs_reauth",
                                     reconnect_email_sent_at=subscriber.reconnect_email_sent_at or self.now())
        if first_time:
            self.send_reconnect_email(subscriber)
        self.store.mark_week(subscriber.subscriber_id, week, "needs_reauth", reason)
        return CollectResult("needs_reauth", subscriber.subscriber_id, week, reason=reason)

    def _collect(self, subscriber: Subscriber, client: XClient, week: str, cursors: Cursors) -> CollectResult:
        """Read, merge and analyze; ``cursors`` as ``run`` read them (and as a failed attempt left them)."""
        sid = subscriber.subscriber_id
        now = self.now()
        first_run = subscriber.first_collected_at is None
        # a second run in the same week (a requeue after a rate limit) spends from the same budget
        budget = Budget(self.config.first_run_budget_usd if first_run else self.config.weekly_budget_usd,
                        self.config.prices, self.store.get_week_spend(sid, week) or Spend())
        graphs = {which: self.store.get_graph(sid, which) for which in FOLLOW_LISTS}
        if cursors.me is not None and cursors.me_week == week:
            me = XUser.model_validate(cursors.me)
        else:
            me = client.me().data
            budget.charge("users_me", 1)
            cursors.me, cursors.me_week = me.model_dump(mode="json"), week
        reads: dict[str, ListRead] = {}
        result = CollectResult("collected", sid, week, spend=budget.spend)
        try:
            for endpoint in READ_ORDER:
                if endpoint in subscriber.skipped_reads:  # turned off on the settings page: no credits spent
                    budget.spend.skipped.append(f"{endpoint}: you turned this read off in your settings")
                    continue
                cursor = cursors.get(endpoint)
                if cursor.done_week == week:
                    continue  # read completely by an earlier attempt this week
                if cursor.start_week(week, paged_by_since_id=endpoint in ("tweets", "mentions")):
                    budget.spend.skipped.append(f"{endpoint}: an unfinished read from an earlier week was dropped")
                try:
                    reads[endpoint] = self._read(endpoint, client, me, cursors, graphs, budget, now)
                    cursor.done_week = week
                except BudgetExhausted:
                    budget.spend.skipped.append(f"{endpoint}: the weekly X budget of ${budget.limit_usd:.2f} "
                                                "was reached")
                except XMalformed as exc:
                    budget.spend.skipped.append(f"{endpoint}: {exc}")
                    log.error("malformed X payload", extra={"subscriber_id": sid, "endpoint": endpoint})
        except XRateLimited as exc:
            # Keep what was read and where each read stopped; the handler puts
            # the work back on the queue until X's window resets.
            self._merge(sid, cursors, reads, graphs, now, me, unavailable=[])
            retry = max(int((exc.reset_at or now.timestamp() + 60) - now.timestamp()), 1)
            self.store.put_week_spend(sid, week, budget.spend)
            self.store.mark_week(sid, week, "rate_limited", f"{exc.endpoint}: retry in {retry}s")
            result.status, result.retry_in_s, result.reason = "rate_limited", retry, str(exc)
            return result
        except Exception:
            self._merge(sid, cursors, reads, graphs, now, me, unavailable=[])
            self.store.put_week_spend(sid, week, budget.spend)
            raise
        activity = self._merge(sid, cursors, reads, graphs, now, me,
                               unavailable=[s.split(":")[0] for s in budget.spend.skipped])
        if first_run:
            # the first digest covers all the DMs X still serves: all of it is news to the subscriber
            activity.window_start = now - timedelta(days=self.config.dm_window_days)
        history = History(ledger=self.store.get_ledger(sid),
                          previous_reports=self.store.recent_reports(sid, before_week=week),
                          known_dm_conversations=self.store.get_dm_conversations(sid))
        analysis = analyze(activity, history, week=week, own_domains=list(subscriber.own_domains))
        self.store.put_ledger_updates(sid, analysis.ledger_updates)
        self.store.add_dm_conversations(sid, analysis.dm_conversation_updates)
        self.store.put_week(sid, week, analysis.report, budget.spend)
        self.store.mark_week(sid, week, "collected")
        if first_run:
            self.store.update_subscriber(sid, first_collected_at=now)
        result.report = analysis.report
        result.counts = {k: len(v.items) for k, v in reads.items()}
        return result

    def _read(self, endpoint: str, client: XClient, me: XUser, cursors: Cursors, graphs: dict[str, Graph],
              budget: Budget, now: datetime) -> ListRead:
        cursor = cursors.get(endpoint)
        fetch = fetch_for(client, endpoint, me.id)
        if endpoint == "tweets":
            return read_since(endpoint, fetch, cursor, budget,
                              now - timedelta(days=self.config.first_run_lookback_days))
        if endpoint == "mentions":
            return read_since(endpoint, fetch, cursor, budget, now - timedelta(days=MENTIONS_FIRST_RUN_DAYS))
        if endpoint in FOLLOW_LISTS:
            return self._read_follows(endpoint, fetch, cursors, graphs[endpoint], me, budget, now)
        head = set(cursor.known_head)
        out = read_until_known(endpoint, fetch, cursor, budget, head.__contains__,
                               expected_new=cursor.weekly_estimate if head else None)
        cursor.weekly_estimate = _weekly_volume(endpoint, out, now, first_read=not head)
        return out

    def _read_follows(self, endpoint: str, fetch: Callable[..., PageResult], cursors: Cursors, known: Graph,
                      me: XUser, budget: Budget, now: datetime) -> ListRead:
        """New follows or followers down to the first known one, then a check against X's counts.

        The first page is sized from the growth of the count X reports plus
        last week's departures, so a steady week reads little more than who is
        new. When the counts say someone is gone, the list is re-read whole:
        following at once (a passive-follow suggestion must not name someone
        already unfollowed), followers at most every few weeks (who left
        matters less than who came); either only when the budget covers it.
        """
        cursor = cursors.get(endpoint)
        metrics = me.public_metrics
        reported = None if metrics is None else (
            metrics.following_count if endpoint == "following" else metrics.followers_count)
        cap = self.config.followers_read_cap if endpoint == "followers" else None
        if not known:
            out = self._full_read(endpoint, fetch, cursors, budget, now, cap)
        else:
            growth = (reported - cursor.last_reported if reported is not None and cursor.last_reported is not None
                      else (reported or 0) - len(known))
            expected = max(growth, 0) + cursor.lost_estimate + 1
            out = read_until_known(endpoint, fetch, cursor, budget, known.__contains__, expected_new=expected)
            cursor.lost_estimate = max(len(out.items) - max(growth, 0), 0)
            gone = len(known) + len(out.items) - reported if reported is not None else 0
            partial = cap is not None and reported is not None and reported > cap
            if gone > 0 and not partial:
                last = cursors.last_full_followers_read
                due = endpoint == "following" or last is None or (
                    now - last >= timedelta(weeks=self.config.full_followers_reread_weeks))
                affordable = budget.remaining >= (reported or 0) * budget.price(endpoint)
                if due and affordable:
                    out = self._full_read(endpoint, fetch, cursors, budget, now, cap)
                else:
                    budget.spend.notes.append(
                        f"{endpoint}: {gone} account(s) gone from the list; who exactly is known after the next "
                        "full re-read" + ("" if affordable else " (it does not fit this week's budget)"))
        cursor.last_reported = reported
        cursor.completed_at = now
        return out

    @staticmethod
    def _full_read(endpoint: str, fetch: Callable[..., PageResult], cursors: Cursors, budget: Budget,
                   now: datetime, cap: int | None) -> ListRead:
        cursor = cursors.get(endpoint)
        out = read_until_known(endpoint, fetch, cursor, budget, lambda _id: False, cap=cap)
        out.full = True
        cursor.lost_estimate = 0
        if endpoint == "followers":
            cursors.last_full_followers_read = now
        return out

    def _merge(self, sid: str, cursors: Cursors, reads: dict[str, ListRead], graphs: dict[str, Graph],
               now: datetime, me: XUser, *, unavailable: list[str]) -> Activity:
        """Fold what was read into the stored state; returns everything the analysis needs."""
        recent = self.store.get_recent(sid)
        me_account = normalize.account(me)
        includes = [t for r in reads.values() for t in r.includes]

        def items(endpoint: str) -> list:
            return reads[endpoint].items if endpoint in reads else []

        new_posts = normalize.posts(items("tweets"), includes)
        new_mentions = normalize.posts(items("mentions"))
        new_likes = [normalize.like(t, now) for t in items("liked_tweets")]
        new_dms = [normalize.dm_event(e) for e in items("dm_events")]
        for which in FOLLOW_LISTS:
            if which in reads:
                stamp = now.isoformat() if graphs[which] else None  # the first read cannot tell when
                fresh: Graph = {u.id: [graphs[which].get(u.id, [stamp])[0], u.username] for u in reads[which].items}
                graphs[which] = fresh if reads[which].full else {**graphs[which], **fresh}
                self.store.put_graph(sid, which, graphs[which])

        recent_cut = now - timedelta(days=RECENT_DAYS)
        # Quotes name their author by username (from the quoted post's URL):
        # the follow lists say which account that is, at no extra cost.
        id_by_username = {str(v[1]).lower(): k for g in graphs.values() for k, v in g.items() if v[1]}
        new_posts = normalize.resolve_quoted_authors(new_posts, id_by_username)
        activity = Activity(
            subscriber=me_account, collected_at=now, window_start=now - timedelta(days=7),
            posts=_merged(recent.posts if recent else [], new_posts, _EPOCH, _created, _id),
            mentions=_merged(recent.mentions if recent else [], new_mentions, recent_cut, _created, _id),
            likes=_merged(recent.likes if recent else [], new_likes, _EPOCH, lambda like: like.seen_at,
                          lambda like: like.post_id),
            dm_events=_merged(recent.dm_events if recent else [], new_dms,
                              now - timedelta(days=self.config.dm_window_days), _created, _id),
            following=_edges(graphs["following"]),
            followers=_edges(graphs["followers"]),
            unavailable=sorted(set(unavailable)),
        )
        # What the next run needs besides the ledger: two weeks of posts,
        # mentions and likes, a DM window; the follow lists live in GRAPH items.
        self.store.put_recent(sid, activity.model_copy(update={
            "posts": [p for p in activity.posts if p.created_at >= recent_cut],
            "likes": [like for like in activity.likes if like.seen_at >= recent_cut],
            "following": [], "followers": [],
        }))
        self.store.put_cursors(sid, cursors)
        return activity


def _merged(old: Iterable[T], new: Iterable[T], keep_from: datetime, when: Callable[[T], datetime],
            key: Callable[[T], str]) -> list[T]:
    """Old and new items by id (new wins), those from ``keep_from`` on, oldest first."""
    by_id: dict[str, T] = {}
    for item in (*old, *new):
        by_id[key(item)] = item
    return sorted((x for x in by_id.values() if when(x) >= keep_from), key=when)


def _weekly_volume(endpoint: str, read: ListRead, now: datetime, *, first_read: bool) -> int:
    """How many new likes or DM events a week brings, to size next week's first page.

    A first read returns the whole history, so only its last seven days count;
    likes carry no time, but people mostly like recent posts, so the liked
    post's time stands in.
    """
    if not first_read:
        return len(read.items)
    week_ago = now - timedelta(days=7)
    times = [item.created_at for item in read.items]
    return sum(1 for t in times if t is not None and t >= week_ago)


def _created(item: Post | DmEvent) -> datetime:
    return item.created_at


def _id(item: Post | DmEvent) -> str:
    return item.id


def _edges(graph: Graph) -> list[FollowEdge]:
    return [FollowEdge(user_id=user_id, username=username, since=datetime.fromisoformat(since) if since else None)
            for user_id, (since, username) in graph.items()]
