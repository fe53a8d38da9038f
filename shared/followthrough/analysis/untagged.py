"""Mentions without the @: posts that name the subscriber by handle or display name without tagging them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from followthrough.activity import Account, Post
from followthrough.analysis.wording import post_url
from followthrough.report import UntaggedMention

_QUESTION = re.compile(r"\?|\b(?:anyone|does|do you|how|what|who|why|where|recommend|thoughts on)\b", re.IGNORECASE)


def _names(me: Account) -> list[re.Pattern[str]]:
    """The handle as a word (not as an @mention) and the display name as a phrase, both case-insensitive."""
    found = []
    if me.username:
        found.append(re.compile(rf"(?<![@\w]){re.escape(me.username)}\b", re.IGNORECASE))
    if me.name and me.name.strip() and me.name.strip().lower() != (me.username or "").lower():
        found.append(re.compile(rf"(?<!\w){re.escape(me.name.strip())}(?!\w)", re.IGNORECASE))
    return found


def untagged_mentions(
    found: Iterable[Post], me: Account, usernames: Callable[[str], str | None], limit: int
) -> list[UntaggedMention]:
    """What the search found that really names the subscriber untagged: questions first, then newest.

    X's search matches words loosely (case, punctuation, a name inside a URL), so each post is checked
    again here: not by the subscriber, not a retweet, not tagging them, and naming them in its text.
    """
    names = _names(me)
    handle = (me.username or "").lower()
    kept: list[UntaggedMention] = []
    for post in found:
        if post.author_id == me.id or post.kind == "retweet":
            continue
        if me.id in post.mentioned_ids or handle in (u.lower() for u in post.mentioned_usernames):
            continue
        if not any(name.search(post.text) for name in names):
            continue
        author = usernames(post.author_id)  # the search asks for no authors: each would cost a user read
        kept.append(
            UntaggedMention(
                tweet_id=post.id,
                author_id=post.author_id,
                author_username=author,
                created_at=post.created_at,
                text=post.text,
                url=post_url(post.id, author),
                is_question=bool(_QUESTION.search(post.text)),
            )
        )
    kept.sort(key=lambda m: (not m.is_question, -(m.created_at.timestamp() if m.created_at else 0.0), m.tweet_id))
    return kept[:limit]
