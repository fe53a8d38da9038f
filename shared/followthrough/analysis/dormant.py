"""Followees with nothing to talk about: no post for months, so no "say hello" and a candidate to unfollow."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from followthrough.activity import Like, Post
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.follows import People
from followthrough.report import DormantFollowee


def _latest_seen(likes: Iterable[Like], mentions: Iterable[Post]) -> dict[str, datetime]:
    """Author id -> their newest post in this week's data (a liked post, a mention of the subscriber)."""
    seen: dict[str, datetime] = {}
    for author, at in (
        *((like.author_id, like.post_created_at) for like in likes),
        *((m.author_id, m.created_at) for m in mentions),
    ):
        if author and at is not None and (author not in seen or seen[author] < at):
            seen[author] = at
    return seen


def dormant_followees(
    who: People, likes: Iterable[Like], mentions: Iterable[Post], cfg: AnalysisConfig, now: datetime
) -> list[DormantFollowee]:
    """Followees whose latest known post is older than ``dormant_after_days``, longest quiet first.

    The latest post is what X said when it last served the followee in the following list
    (``most_recent_tweet_id``), moved forward by any newer post of theirs in the data at hand; a
    followee X never dated is not judged.
    """
    cutoff = now - timedelta(days=cfg.dormant_after_days)
    newer = _latest_seen(likes, mentions)
    found: list[DormantFollowee] = []
    for user_id, edge in who.followees.items():
        last = edge.last_post_at
        if last is None or last >= cutoff:
            continue
        seen = newer.get(user_id)
        if seen is not None and seen >= cutoff:
            continue
        found.append(
            DormantFollowee(
                user_id=user_id,
                username=who.username(user_id),
                last_post_at=max(last, seen) if seen else last,
                followed_since=edge.since,
                follows_back=user_id in who.followers,
            )
        )
    found.sort(key=lambda d: (d.last_post_at, d.user_id))
    return found
