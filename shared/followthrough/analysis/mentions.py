"""Mentions by others and whether the subscriber answered them."""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from followthrough.activity import Post
from followthrough.analysis.config import AnalysisConfig
from followthrough.analysis.wording import post_url
from followthrough.report import UnansweredMention


@dataclass
class MentionFindings:
    unanswered: list[UnansweredMention] = field(default_factory=list)
    received: int = 0
    due: int = 0
    answered_in_time: int = 0
    median_response_hours: float | None = None
    # authors of mentions in the data at hand, for ranking passive follows
    authors: set[str] = field(default_factory=set)

    @property
    def response_rate(self) -> float | None:
        return round(self.answered_in_time / self.due, 4) if self.due else None


Answers = tuple[dict[str, datetime], dict[tuple[str, str], list[datetime]]]


def _answers(posts: list[Post], subscriber_id: str) -> Answers:
    """Earliest answer per post id, and answer times per (conversation, person)."""
    by_post: dict[str, datetime] = {}
    by_thread: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for post in posts:
        if post.author_id not in (subscriber_id, "") or post.kind == "retweet":
            continue
        for target in (post.replied_to_id, post.quoted_id):
            if target and (target not in by_post or post.created_at < by_post[target]):
                by_post[target] = post.created_at
        if post.conversation_id and post.in_reply_to_user_id:
            by_thread[(post.conversation_id, post.in_reply_to_user_id)].append(post.created_at)
    for times in by_thread.values():
        times.sort()
    return by_post, by_thread


def check_mentions(
    mentions: list[Post],
    posts: list[Post],
    subscriber_id: str,
    usernames: Callable[[str], str | None],
    cfg: AnalysisConfig,
    window_start: datetime,
    now: datetime,
) -> MentionFindings:
    """Mentions whose answer period ended this week, and how they were answered.

    An answer is a reply to (or quote of) the mention, or a reply to its
    author later in the same conversation. Each mention is judged once, in
    the week its ``unanswered_grace_hours`` end.
    """
    grace = timedelta(hours=cfg.unanswered_grace_hours)
    by_post, by_thread = _answers(posts, subscriber_id)
    out = MentionFindings()
    delays: list[float] = []
    seen: set[str] = set()
    for mention in sorted(mentions, key=lambda m: (m.created_at.timestamp(), m.id)):
        if mention.id in seen or mention.author_id in (subscriber_id, "") or mention.kind == "retweet":
            continue
        seen.add(mention.id)
        out.authors.add(mention.author_id)
        at = mention.created_at
        if window_start <= at <= now:
            out.received += 1
        if not window_start - grace <= at < now - grace:
            continue
        out.due += 1
        answered = by_post.get(mention.id)
        if mention.conversation_id:
            times = by_thread.get((mention.conversation_id, mention.author_id), [])
            i = bisect_left(times, at)
            if i < len(times) and (answered is None or times[i] < answered):
                answered = times[i]
        if answered is not None and answered <= now:
            delays.append((answered - at).total_seconds() / 3600)
            if answered - at <= grace:
                out.answered_in_time += 1
                continue
        else:
            answered = None
        username = usernames(mention.author_id)
        out.unanswered.append(
            UnansweredMention(
                tweet_id=mention.id,
                author_id=mention.author_id,
                author_username=username,
                created_at=at,
                text=mention.text,
                url=post_url(mention.id, username),
                replied_at=answered,
            )
        )
    out.unanswered.reverse()  # newest first: the freshest are the easiest to pick up again
    if delays:
        out.median_response_hours = round(statistics.median(delays), 2)
    return out
