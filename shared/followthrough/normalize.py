"""Wire models (xmodels) -> normalized activity (activity).

Pure functions. DM text is reduced here to a fingerprint and flags; nothing
downstream ever sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from followthrough import masking
from followthrough.activity import Account, DmEvent, Like, Post, PostKind
from followthrough.xmodels import XDmEvent, XTweet, XUser

SNOWFLAKE_EPOCH_MS = 1288834974657
# X ids before snowflakes (late 2010) carry no time
_FIRST_SNOWFLAKE = 29_700_859_247


def snowflake_time(post_id: str) -> datetime | None:
    """When an X id was made, None for ids older than snowflakes or not numeric."""
    if not post_id.isdigit() or int(post_id) < _FIRST_SNOWFLAKE:
        return None
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def account(user: XUser) -> Account:
    metrics = user.public_metrics
    return Account(
        id=user.id,
        username=user.username,
        name=user.name or None,
        created_at=user.created_at,
        followers_count=metrics.followers_count if metrics else None,
        following_count=metrics.following_count if metrics else None,
        post_count=metrics.tweet_count if metrics else None,
    )


def accounts(users: Iterable[XUser]) -> dict[str, Account]:
    return {u.id: account(u) for u in users}


_STATUS_URL = re.compile(r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/(\w{1,15})/status/(\d+)", re.IGNORECASE)


def _quoted_username(tweet: XTweet, quoted_id: str) -> str | None:
    """A quote carries the quoted post's URL, which names its author: no expansion (and no cost) needed."""
    for url in tweet.entities.urls if tweet.entities else []:
        match = _STATUS_URL.match(url.expanded_url or "")
        if match and match.group(2) == quoted_id:
            return match.group(1)
    return None


def post(tweet: XTweet, authors_of: dict[str, str] | None = None, default_time: datetime | None = None) -> Post:
    """Normalize one post.

    Whom a quote or retweet interacts with comes from ``authors_of`` (referenced
    post id -> author, from ``includes.tweets`` when asked for), else from the
    post itself: a retweet mentions the original author first ("RT @ann: …"),
    and a quote links to the quoted post.
    """
    authors_of = authors_of or {}
    refs = {r.type: r.id for r in tweet.referenced_tweets}
    kind: PostKind = "original"
    if "retweeted" in refs:
        kind = "retweet"
    elif "quoted" in refs:
        kind = "quote"
    elif "replied_to" in refs or tweet.in_reply_to_user_id:
        kind = "reply"
    entities = tweet.entities
    created = tweet.created_at or default_time
    if created is None:
        raise ValueError(f"post {tweet.id} has no created_at; ask for tweet.fields=created_at")
    return Post(
        id=tweet.id,
        author_id=tweet.author_id or "",
        created_at=created,
        text=tweet.text,
        conversation_id=tweet.conversation_id,
        kind=kind,
        in_reply_to_user_id=tweet.in_reply_to_user_id,
        replied_to_id=refs.get("replied_to"),
        quoted_id=refs.get("quoted"),
        quoted_author_id=authors_of.get(refs["quoted"]) if "quoted" in refs else None,
        quoted_author_username=_quoted_username(tweet, refs["quoted"]) if "quoted" in refs else None,
        retweeted_id=refs.get("retweeted"),
        retweeted_author_id=(authors_of.get(refs["retweeted"]) or _retweeted_author(tweet))
        if "retweeted" in refs
        else None,
        mentioned_ids=[m.id for m in entities.mentions if m.id] if entities else [],
        mentioned_usernames=[m.username for m in entities.mentions] if entities else [],
        urls=[u.expanded_url or u.url for u in entities.urls] if entities else [],
        hashtags=[h.tag for h in entities.hashtags] if entities else [],
    )


def _retweeted_author(tweet: XTweet) -> str | None:
    if tweet.text.startswith("RT @") and tweet.entities and tweet.entities.mentions:
        return tweet.entities.mentions[0].id
    return None


def resolve_quoted_authors(posts: list[Post], id_by_username: dict[str, str]) -> list[Post]:
    """Fill ``quoted_author_id`` from the quoted author's username where the id is not known."""
    out = []
    for p in posts:
        if p.quoted_author_id is None and p.quoted_author_username:
            user_id = id_by_username.get(p.quoted_author_username.lower())
            if user_id:
                p = p.model_copy(update={"quoted_author_id": user_id})
        out.append(p)
    return out


def posts(tweets: Iterable[XTweet], included: Iterable[XTweet] = ()) -> list[Post]:
    authors_of = {t.id: t.author_id for t in included if t.author_id}
    return [post(t, authors_of) for t in tweets]


def like(tweet: XTweet, seen_at: datetime) -> Like:
    return Like(
        post_id=tweet.id,
        author_id=tweet.author_id,
        post_created_at=tweet.created_at,
        seen_at=seen_at,
        hashtags=[h.tag for h in tweet.entities.hashtags] if tweet.entities else [],
    )


def dm_event(event: XDmEvent) -> DmEvent:
    """Keep what the automated-DM detector needs; drop the text."""
    text = event.text or ""
    if event.created_at is None or event.sender_id is None or event.dm_conversation_id is None:
        raise ValueError(
            f"DM event {event.id} lacks created_at, sender_id or dm_conversation_id; "
            "ask for dm_event.fields=created_at,sender_id,dm_conversation_id"
        )
    participants = list(event.participant_ids)
    if not participants and "-" in event.dm_conversation_id:
        # one-to-one conversation ids are "<low id>-<high id>"
        participants = event.dm_conversation_id.split("-")
    return DmEvent(
        id=event.id,
        event_type=event.event_type,
        conversation_id=event.dm_conversation_id,
        sender_id=event.sender_id,
        created_at=event.created_at,
        participant_ids=participants,
        **masking.dm_signals(text),
    )
