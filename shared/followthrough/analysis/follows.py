"""Passive follows, the "@reply everyone you follow" challenge, new followers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter

from followthrough.activity import Account, FollowEdge
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.interactions import Touch
from followthrough.analysis.models import InteractionKind
from followthrough.analysis.wording import duration, join_words
from followthrough.report import Challenge, FollowForFollow, PassiveFollow

_USER_ID = attrgetter("user_id")
_PAST_TENSE = {
    "reply": "a reply",
    "mention": "a mention",
    "retweet": "a retweet",
    "quote": "a quote",
    "like": "a like",
    "dm": "a DM",
}


@dataclass
class People:
    """Who follows whom, as far as the activity tells."""

    subscriber_id: str
    followees: dict[str, FollowEdge]
    followers: dict[str, FollowEdge]
    accounts: dict[str, Account]
    following_known: bool
    followers_known: bool

    def account(self, user_id: str) -> Account | None:
        found = self.accounts.get(user_id)
        if found is not None:
            return found
        edge = self.followees.get(user_id) or self.followers.get(user_id)
        return Account(id=edge.user_id, username=edge.username) if edge else None

    def username(self, user_id: str) -> str | None:
        account = self.account(user_id)
        return account.username if account else None

    def follows_back(self, user_id: str) -> bool | None:
        """Whether a followee follows the subscriber: as X said on the following list, else from the
        followers list when it is whole (None: not known)."""
        edge = self.followees.get(user_id)
        if edge is not None and edge.follows_back is not None:
            return edge.follows_back
        return (user_id in self.followers) if self.followers_known else None

    def follower_since(self, user_id: str) -> datetime | None:
        """When they were first seen following the subscriber (None: not a follower, or not known)."""
        edge = self.followers.get(user_id)
        return edge.since if edge else None

    def follower_exact(self, user_id: str) -> bool:
        """Whether X dated their follow (an Activity API event) rather than a collection first seeing it."""
        edge = self.followers.get(user_id)
        return edge is not None and edge.exact


def _by_id(edges: list[FollowEdge], me: str) -> dict[str, FollowEdge]:
    """Account id -> edge (the last one of an id wins), without the subscriber."""
    # built in C: a large account's follower list has tens of thousands of edges
    found = dict(zip(map(_USER_ID, edges), edges, strict=True))
    found.pop(me, None)
    return found


def people(
    subscriber: Account,
    following: list[FollowEdge],
    followers: list[FollowEdge],
    accounts: dict[str, Account],
    *,
    following_known: bool,
    followers_known: bool,
) -> People:
    me = subscriber.id
    return People(
        subscriber_id=me,
        followees=_by_id(following, me),
        followers=_by_id(followers, me),
        accounts=accounts,
        following_known=following_known,
        followers_known=followers_known,
    )


def posts_per_day(account: Account | None, now: datetime) -> float | None:
    if account is None or account.post_count is None or account.created_at is None:
        return None
    age_days = max((now - account.created_at).total_seconds() / 86400, 1.0)
    return account.post_count / age_days


def passive_follows(
    who: People,
    merged: dict[str, Touch],
    mentioned_by: set[str],
    cfg: AnalysisConfig,
    now: datetime,
    *,
    likes_checked: bool,
    limit: int | None,
    unchecked_without_handle: Sequence[InteractionKind] = (),
) -> tuple[list[PassiveFollow], int, Challenge]:
    """The best ``limit`` "talk to" candidates among passive follows, how many there are, and the challenge.

    ``unchecked_without_handle``: kinds of interaction whose account is known only by a handle; for a
    followee whose handle is not known, the reasons say these could not be checked.
    """
    cutoff = now - timedelta(days=cfg.passive_window_days)
    too_new = now - timedelta(days=cfg.new_follow_grace_days)
    interacted = 0
    # (-score, followed since (unknown = oldest), id): a large account has thousands of
    # passive follows, so reasons are written only for those that make the list
    ranked: list[tuple[float, float, str]] = []
    # thousands of followees: what the loop reads is looked up once
    accounts, follows_back = who.accounts, who.follows_back
    w_mentioned, w_follows_back, w_active, w_tenure = (
        cfg.rank_w_mentioned_you,
        cfg.rank_w_follows_back,
        cfg.rank_w_active,
        cfg.rank_w_tenure,
    )
    active_rate, unknown_tenure = cfg.active_posts_per_day, cfg.passive_window_days
    for user_id, edge in who.followees.items():
        last = merged.get(user_id)
        if last is not None and last[0] >= cutoff:
            interacted += 1
            continue
        since = edge.since
        if since is not None and since > too_new:
            continue
        account = accounts.get(user_id)  # a follow list entry knows no post count
        rate = None if account is None or account.post_count is None else posts_per_day(account, now)
        tenure_days = (now - since).days if since is not None else unknown_tenure
        score = (
            w_mentioned * (user_id in mentioned_by)
            + w_follows_back * bool(follows_back(user_id))
            + w_active * (rate is not None and rate >= active_rate)
            + w_tenure * min(tenure_days / 365, 1.0)
        )
        ranked.append((-score, since.timestamp() if since is not None else float("-inf"), user_id))
    ranked.sort()
    followees = len(who.followees)
    challenge = Challenge(
        followees=followees,
        interacted=interacted,
        share=round(interacted / followees, 4) if followees else None,
        window_days=cfg.passive_window_days,
    )
    unchecked = _Unchecked(likes=not likes_checked, without_handle=tuple(unchecked_without_handle))
    listed = [
        _explain(who, user_id, -score, merged.get(user_id), mentioned_by, cfg, now, unchecked)
        for score, _, user_id in ranked[:limit]
    ]
    return listed, len(ranked), challenge


@dataclass(frozen=True)
class _Unchecked:
    """What the data could not tell about the subscriber's interactions."""

    likes: bool  # likes could not be tied to their authors
    without_handle: tuple[InteractionKind, ...]  # kinds that name their account by handle only


_KINDS: dict[InteractionKind, tuple[str, str]] = {  # kind -> (noun, verb)
    "reply": ("reply", "replied"),
    "mention": ("mention", "mentioned"),
    "retweet": ("retweet", "retweeted"),
    "quote": ("quote", "quoted"),
    "like": ("like", "liked"),
    "dm": ("DM", "DMed"),
}


def _interaction_reason(
    last: Touch | None,
    since: datetime | None,
    handle_known: bool,
    unchecked: _Unchecked,
    cfg: AnalysisConfig,
    now: datetime,
) -> str:
    """When the subscriber last interacted, or which interactions there were none of (and which were not checked)."""
    if last is not None:
        return f"your last interaction was {_PAST_TENSE[last[1]]} {duration(now - last[0])} ago"
    return _no_interaction(since is not None, handle_known, unchecked, cfg.passive_window_days)


@lru_cache(maxsize=64)
def _no_interaction(ever: bool, handle_known: bool, unchecked: _Unchecked, window_days: int) -> str:
    """'never replied, ...' (``ever``: since the follow began) or 'no reply, ... in the last N days'.

    The same few sentences for thousands of followees: worked out once each.
    """
    not_checked: list[InteractionKind] = ["like"] if unchecked.likes else []
    by_handle = [] if handle_known else [k for k in unchecked.without_handle if k not in not_checked]
    not_checked += by_handle
    nouns = [noun for kind, (noun, _) in _KINDS.items() if kind not in not_checked]
    verbs = [verb for kind, (_, verb) in _KINDS.items() if kind not in not_checked]
    note = ""
    if not_checked:
        note = f" ({join_words([_KINDS[k][0] + 's' for k in not_checked], 'and')} could not be checked"
        note += "; the archive does not give this account's handle, which they name it by)" if by_handle else ")"
    if ever:
        return f"never {join_words(verbs)}{note}"
    return f"no {join_words(nouns)} from you in the last {window_days} days{note}"


def _explain(
    who: People,
    user_id: str,
    score: float,
    last: Touch | None,
    mentioned_by: set[str],
    cfg: AnalysisConfig,
    now: datetime,
    unchecked: _Unchecked,
) -> PassiveFollow:
    edge = who.followees[user_id]
    since = edge.since
    account = who.accounts.get(user_id)  # (an edge's username is all else there may be)
    username = account.username if account is not None else edge.username
    rate = posts_per_day(account, now)
    active = None if rate is None else rate >= cfg.active_posts_per_day
    back = who.follows_back(user_id)
    mentioned_you = user_id in mentioned_by
    reasons: list[str] = []
    if since is not None:
        reasons.append(f"followed {duration(now - since)} ago")
    handle_known = username is not None
    reasons.append(_interaction_reason(last, since, handle_known, unchecked, cfg, now))
    if back is not None:
        reasons.append("follows you back" if back else "does not follow you back")
    if mentioned_you:
        reasons.append("mentioned you recently")
    if rate is not None and active:
        reasons.append(f"posts about {rate:.1f} times a day")
    elif rate is not None:
        reasons.append("rarely posts")
    return PassiveFollow(
        user_id=user_id,
        username=username,
        reasons=reasons,
        followed_since=since,
        follows_back=bool(back),
        last_interaction_at=last[0] if last else None,
        rank_score=round(score, 3),
        active=active,
        mentioned_you=mentioned_you,
    )


def new_followers_not_greeted(
    who: People, touches: dict[str, Touch], merged: dict[str, Touch], cfg: AnalysisConfig, window_start: datetime
) -> tuple[list[FollowEdge], list[FollowEdge]]:
    """Followers first seen this week, and those of them the subscriber has not greeted, newest first.

    A follow is seen at the weekly collection after it happened, so a
    greeting up to ``follow_seen_slack_days`` before it was seen counts; one
    X dated (an Activity API event) needs a greeting after it.
    """
    seen_slack = timedelta(days=cfg.follow_seen_slack_days)
    event_slack = timedelta(seconds=cfg.follow_event_slack_s)
    new = sorted(
        (e for e in who.followers.values() if e.since is not None and e.since >= window_start),
        key=lambda e: (e.since.timestamp() if e.since else 0.0, e.user_id),
        reverse=True,
    )
    not_greeted = []
    for edge in new:
        user_id, since = edge.user_id, edge.since or window_start
        latest = max((t[0] for t in (touches.get(user_id), merged.get(user_id)) if t is not None), default=None)
        if latest is None or latest < since - (event_slack if edge.exact else seen_slack):
            not_greeted.append(edge)
    return new, not_greeted


def follow_for_follow(who: People, new: list[FollowEdge], cfg: AnalysisConfig) -> list[FollowForFollow] | None:
    """The new followers who follow thousands, far more than follow them (``f4f_min_following``,
    ``f4f_min_ratio``), in the order given; None when no new follower's counts are known."""
    found: list[FollowForFollow] = []
    known = False
    for edge in new:
        account = who.accounts.get(edge.user_id)
        if account is None or account.following_count is None or account.followers_count is None:
            continue
        known = True
        following, followers = account.following_count, account.followers_count
        if following >= cfg.f4f_min_following and following >= cfg.f4f_min_ratio * max(followers, 1):
            username = account.username or edge.username
            found.append(
                FollowForFollow(
                    user_id=edge.user_id, username=username, following_count=following, followers_count=followers
                )
            )
    return found if known or not new else None
