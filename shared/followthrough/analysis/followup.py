"""Last week's five, followed up: did the conversations the last sent digest suggested happen (issue 15).

The base is the last digest actually sent (a week whose digest was skipped suggested nothing to
anyone). Its own suggestions are followed up, and those it carried forward from the digest before
it; one still open after its first week is carried forward once, then it expires. Reports of weeks
after the base whose digest was not sent followed up the same base: what they found done stays done
(their week's activity is not read again).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from followthrough.activity import Activity
from followthrough.analysis.interactions import first_touches_since
from followthrough.analysis.models import InteractionKind
from followthrough.report import FollowUp, FollowUpItem, WeeklyReport

# what answers a mention (a like does not), and what greets someone
_ANSWERS: tuple[InteractionKind, ...] = ("reply", "quote", "mention", "dm")
_GREETS: tuple[InteractionKind, ...] = ("reply", "quote", "mention", "dm", "like")
# version-1 reports name the mention to answer only by its URL
_STATUS = re.compile(r"/status/(\d+)")

Metrics = dict[str, float | int | None]


def follow_up(activity: Activity, previous: list[WeeklyReport], sent_weeks: Collection[str]) -> FollowUp | None:
    """The last sent digest's conversations, each done (when, how), still open or expired; None when no
    earlier digest was sent (the first digest says nothing about it)."""
    sent = [r for r in previous if r.week in sent_weeks]
    if not sent:
        return None
    base = sent[-1]
    found_earlier: dict[tuple[str, str, str], FollowUpItem] = {}
    for report in previous:
        if report.week > base.week and report.follow_up is not None and report.follow_up.base_week == base.week:
            for item in report.follow_up.in_state("done"):
                found_earlier.setdefault(_key(item), item)
    me = activity.subscriber.id
    since = base.generated_at
    touches = first_touches_since(activity, since)
    replies: dict[str, datetime] = {}
    for post in activity.posts:
        if post.author_id == me and post.replied_to_id and post.created_at > since:
            seen = replies.get(post.replied_to_id)
            replies[post.replied_to_id] = post.created_at if seen is None else min(seen, post.created_at)
    items = []
    for item in suggested(base):
        earlier = found_earlier.get(_key(item))
        if earlier is not None:
            update = {"state": "done", "done_at": earlier.done_at, "done_by": earlier.done_by}
            items.append(item.model_copy(update=update))
            continue
        kinds = _ANSWERS if item.kind == "answer_mention" else _GREETS
        done = [(at, kind) for kind, at in touches.get(item.user_id, {}).items() if kind in kinds]
        if item.post_id and item.post_id in replies:
            done.append((replies[item.post_id], "reply"))
        if done:
            at, how = min(done)
            items.append(item.model_copy(update={"state": "done", "done_at": at, "done_by": how}))
        else:
            items.append(item.model_copy(update={"state": "expired" if item.carried else "open"}))
    return FollowUp(base_week=base.week, items=items)


def suggested(base: WeeklyReport) -> list[FollowUpItem]:
    """What ``base``'s digest asked for: its conversations, then what it carried forward (still open
    after their first week; someone suggested again counts once, as the new suggestion)."""
    asked = {m.tweet_id for m in base.unanswered_mentions if "?" in m.text}
    fresh = [
        FollowUpItem(
            kind=c.kind,
            user_id=c.user_id,
            username=c.username,
            url=c.url,
            post_id=c.post_id or (_post_id(c.url) if c.kind == "answer_mention" else None),
            about_at=c.about_at,
            question=c.kind == "answer_mention" and (c.post_id or _post_id(c.url)) in asked,
            suggested_week=base.week,
        )
        for c in base.conversations
    ]
    people = {i.user_id for i in fresh}
    carried = [
        i.model_copy(update={"carried": True})
        for i in (base.follow_up.in_state("open") if base.follow_up else [])
        if i.user_id not in people
    ]
    return fresh + carried


def follow_up_metrics(found: FollowUp | None, previous: list[WeeklyReport]) -> Metrics:
    """How many were suggested and done, the rate, and the streak of digests with at least one done."""
    if found is None:
        return dict.fromkeys(("followup_suggested", "followup_done", "followup_rate", "followup_streak"))
    done = len(found.in_state("done"))
    # the streak so far: from the newest report that followed up an earlier digest than this one
    before = next(
        (r for r in reversed(previous) if r.follow_up is not None and r.follow_up.base_week != found.base_week), None
    )
    streak_so_far = int((before.metrics.get("followup_streak") or 0) if before else 0)
    return {
        "followup_suggested": len(found.items),
        "followup_done": done,
        "followup_rate": round(done / len(found.items), 4) if found.items else None,
        "followup_streak": streak_so_far + 1 if done else 0,
    }


def _key(item: FollowUpItem) -> tuple[str, str, str]:
    return item.user_id, item.kind, item.suggested_week


def _post_id(url: str) -> str | None:
    found = _STATUS.search(url)
    return found.group(1) if found else None
