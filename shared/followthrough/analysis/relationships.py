"""Relationships, not follows: who the subscriber talked with both ways (issue 15).

After Huberman, Romero and Wu (2008): a "friend" is someone a user directed at least two posts to;
here it must go both ways, so a relationship is someone the subscriber directed at least
``relationship_min_each_way`` posts or DMs to and who directed as many to them, in the report's window.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from followthrough.activity import Activity
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.follows import People
from followthrough.analysis.interactions import dm_partner, talked_to
from followthrough.report import Relationship, WeeklyReport


def talked_from(activity: Activity, start: datetime) -> Counter[str]:
    """Account id -> how many mentions (replies included) and one-to-one DMs they directed to the subscriber."""
    me = activity.subscriber.id
    counts: Counter[str] = Counter()
    for post in activity.mentions:
        if post.author_id != me and post.kind != "retweet" and post.created_at >= start:
            counts[post.author_id] += 1
    for event in activity.dm_events:
        talk = event.sender_id != me and event.event_type == "MessageCreate" and event.created_at >= start
        if talk and dm_partner(event, me) == event.sender_id:
            counts[event.sender_id] += 1
    return counts


def relationships(
    activity: Activity, who: People, previous: list[WeeklyReport], cfg: AnalysisConfig
) -> list[Relationship]:
    """This window's relationships, most talk first; ``new`` marks those first seen this month.

    A relationship is new when the first report that has it (this one if none earlier does) is at most
    ``new_relationship_days`` old and is not the oldest report at hand: the oldest cannot tell what was
    there before it (in the first report everyone would be new).
    """
    start, now = activity.window_start, activity.collected_at
    to_them = talked_to(activity, start)
    from_them = talked_from(activity, start)
    least = cfg.relationship_min_each_way
    month_ago = now - timedelta(days=cfg.new_relationship_days)
    first_seen: dict[str, datetime] = {}
    for report in previous:  # oldest first
        for r in report.relationships:
            first_seen.setdefault(r.user_id, report.generated_at)
    oldest = previous[0].generated_at if previous else now
    found = []
    for user_id, sent in to_them.items():
        received = from_them.get(user_id, 0)
        if sent < least or received < least:
            continue
        found.append(
            Relationship(
                user_id=user_id,
                username=who.username(user_id),
                to_them=sent,
                from_them=received,
                followee=user_id in who.followees,
                new=oldest < first_seen.get(user_id, now) and first_seen.get(user_id, now) >= month_ago,
            )
        )
    found.sort(key=lambda r: (-(r.to_them + r.from_them), r.user_id))
    return found


def weekly_relationships(
    activity: Activity, who: People, previous: list[WeeklyReport], cfg: AnalysisConfig, *, measured: bool
) -> tuple[list[Relationship], dict[str, int | None]]:
    """The week's relationships and their counts (all, followees, new this month); None when not
    ``measured`` (both directions are needed: the subscriber's posts and the mentions of them)."""
    if not measured:
        return [], dict.fromkeys(("relationships", "followee_relationships", "new_relationships"))
    found = relationships(activity, who, previous, cfg)
    return found, {
        "relationships": len(found),
        "followee_relationships": sum(r.followee for r in found) if who.following_known else None,
        "new_relationships": sum(r.new for r in found),
    }
