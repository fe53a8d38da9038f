"""The subscriber's interactions with other accounts, and the followee ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from followthrough.activity import Activity, DmEvent
from followthrough.analysis.models import Interaction, InteractionKind

# (when, kind): plain tuples while scanning, because a week of a large account
# holds tens of thousands of events and only a few become ledger rows
Touch = tuple[datetime, InteractionKind]
# which kind a ledger row names when two interactions share a timestamp (any fixed order will do)
_PRECEDENCE: dict[InteractionKind, int] = {"dm": 0, "reply": 1, "quote": 2, "mention": 3, "retweet": 4, "like": 5}


def dm_partner(event: DmEvent, subscriber_id: str) -> str | None:
    """The other person of a one-to-one conversation, None for group conversations."""
    people = set(event.participant_ids)
    if not people:
        # one-to-one conversation ids are "<low id>-<high id>"; group ones are plain ids
        if event.conversation_id.count("-") != 1:
            return None
        people = set(event.conversation_id.split("-"))
    people.add(event.sender_id)
    people.discard(subscriber_id)
    if len(people) != 1:
        return None
    return people.pop()


def subscriber_touches(activity: Activity, *, use_likes: bool = True) -> dict[str, Touch]:
    """Account id -> the subscriber's latest interaction with it in this activity.

    Counted: a reply to them, a mention of them outside a retweet, a retweet
    or quote of their post, a like of their post, a DM to them in a
    one-to-one conversation.
    """
    me = activity.subscriber.id
    latest: dict[str, Touch] = {}

    def note(user_id: str | None, at: datetime, kind: InteractionKind) -> None:
        if not user_id or user_id == me:
            return
        seen = latest.get(user_id)
        if seen is None or at > seen[0] or (at == seen[0] and _PRECEDENCE[kind] < _PRECEDENCE[seen[1]]):
            latest[user_id] = (at, kind)

    for post in activity.posts:
        if post.author_id not in (me, ""):
            continue
        at = post.created_at
        if post.kind == "retweet":
            # mentions inside a retweet are the original author's, not the subscriber's
            note(post.retweeted_author_id, at, "retweet")
            continue
        note(post.in_reply_to_user_id, at, "reply")
        note(post.quoted_author_id, at, "quote")
        for user_id in post.mentioned_ids:
            if user_id != post.in_reply_to_user_id:
                note(user_id, at, "mention")
    if use_likes:
        for like in activity.likes:
            note(like.author_id, like.seen_at, "like")
    # a conversation's partner, worked out once per conversation (and again only if its participants differ)
    partners: dict[str, tuple[list[str], str | None]] = {}
    for event in activity.dm_events:
        if event.sender_id == me and event.event_type == "MessageCreate":
            known = partners.get(event.conversation_id)
            if known is not None and known[0] == event.participant_ids:
                partner = known[1]
            else:
                partner = dm_partner(event, me)
                partners[event.conversation_id] = (event.participant_ids, partner)
            note(partner, event.created_at, "dm")
    return latest


def merge_ledger(
    ledger: dict[str, Interaction], touches: dict[str, Touch], followee_ids: Iterable[str]
) -> tuple[dict[str, Touch], dict[str, Interaction]]:
    """Latest interaction per followee across weeks, and the ledger rows that changed."""
    merged: dict[str, Touch] = {}
    updates: dict[str, Interaction] = {}
    for user_id in followee_ids:
        stored = ledger.get(user_id)
        fresh = touches.get(user_id)
        if fresh is not None and (stored is None or fresh[0] > stored.at):
            updates[user_id] = Interaction(at=fresh[0], kind=fresh[1])
            merged[user_id] = fresh
        elif stored is not None:
            merged[user_id] = (stored.at, stored.kind)
    return merged, updates
