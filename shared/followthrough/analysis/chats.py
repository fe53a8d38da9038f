"""Chats worth joining: hashtags that recur at about the same local weekday and hour with several people."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from followthrough.activity import Like, Post
from followthrough.analysis.config import AnalysisConfig
from followthrough.report import ChatToJoin


@dataclass(frozen=True)
class _Seen:
    post_id: str
    author_id: str
    at: datetime  # local time
    tag: str  # as written


def _by_tag(likes: Iterable[Like], mentions: Iterable[Post], me: str, zone: ZoneInfo) -> dict[str, dict[str, _Seen]]:
    """Lowercased hashtag -> post id -> the post (a liked mention counts once), without the subscriber's own."""
    found: dict[str, dict[str, _Seen]] = defaultdict(dict)
    for post_id, author, at, tags in (
        *((like.post_id, like.author_id, like.post_created_at, like.hashtags) for like in likes),
        *((m.id, m.author_id, m.created_at, m.hashtags) for m in mentions),
    ):
        if not author or author == me or at is None:
            continue
        for tag in tags:
            found[tag.lower()][post_id] = _Seen(post_id, author, at.astimezone(zone), tag)
    return found


def _week(at: datetime) -> tuple[int, int]:
    year, week, _ = at.isocalendar()
    return year, week


def _in_slot(at: datetime, weekday: int, hour: int, slack: int) -> bool:
    return at.weekday() == weekday and abs(at.hour - hour) <= slack


def chats_to_join(
    likes: Iterable[Like],
    mentions: Iterable[Post],
    posts: Iterable[Post],
    me: str,
    followees: Collection[str],
    usernames: Callable[[str], str | None],
    cfg: AnalysisConfig,
    time_zone: str,
) -> list[ChatToJoin]:
    """At most ``cfg.chats_to_join`` likely weekly chats, the most followees taking part first.

    For each hashtag the local weekday-and-hour slot holding the most of its
    posts is taken; the hashtag is a chat when that slot holds at least half
    of them (a topic tag such as #ai is spread over the week), in
    ``chat_min_weeks`` weeks, by ``chat_min_authors`` people including
    ``chat_min_followees`` followees.
    """
    zone = ZoneInfo(time_zone)
    slack = cfg.chat_hour_slack
    mine = [p.created_at.astimezone(zone) for p in posts]
    mine_tags = [{t.lower() for t in p.hashtags} for p in posts]
    found: list[ChatToJoin] = []
    for tag, by_id in _by_tag(likes, mentions, me, zone).items():
        seen = list(by_id.values())
        if len({s.author_id for s in seen}) < cfg.chat_min_authors:
            continue
        slots = {(s.at.weekday(), s.at.hour) for s in seen}
        best = max(
            ((sum(_in_slot(s.at, d, h, slack) for s in seen), -d, -h) for d, h in slots),
            default=None,
        )
        if best is None:
            continue
        weekday, hour = -best[1], -best[2]
        inside = [s for s in seen if _in_slot(s.at, weekday, hour, slack)]
        authors = {s.author_id for s in inside}
        takers = sorted(a for a in authors if a in followees)
        weeks = {_week(s.at) for s in inside}
        if (
            2 * len(inside) < len(seen)
            or len(weeks) < cfg.chat_min_weeks
            or len(authors) < cfg.chat_min_authors
            or len(takers) < cfg.chat_min_followees
        ):
            continue
        hours = sorted(s.at.hour for s in inside)
        takes_part = any(
            tag in tags and _in_slot(at, weekday, hour, slack) for at, tags in zip(mine, mine_tags, strict=True)
        )
        spelled = Counter(s.tag for s in inside).most_common(1)[0][0]
        found.append(
            ChatToJoin(
                hashtag=spelled,
                weekday=weekday,
                hour=hours[len(hours) // 2],
                time_zone=time_zone,
                weeks=len(weeks),
                authors=len(authors),
                followees=len(takers),
                followee_usernames=[u for u in map(usernames, takers) if u][:5],
                takes_part=takes_part,
            )
        )
    found.sort(key=lambda c: (-c.followees, -c.weeks, -c.authors, c.hashtag.lower()))
    return found[: cfg.chats_to_join]
