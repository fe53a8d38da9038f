"""The subscriber's interactions with other accounts, and the followee ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from followthrough.activity import Activity, DmEvent, Post
from followthrough.analysis.models import Interaction, InteractionKind

# (when, kind): plain tuples while scanning, because a week of a large account
# holds tens of thousands of events and only a few become ledger rows
Touch = tuple[datetime, InteractionKind]
# which kind a ledger row names when two interactions share a timestamp (any fixed order will do)
_PRECEDENCE: dict[InteractionKind, int] = {"dm": 0, "reply": 1, "quote": 2, "mention": 3, "retweet": 4, "like": 5}
# the subscriber's DM events that are an interaction with the other person
_DM_TOUCHES = frozenset({"MessageCreate", "ReactionCreate"})


def dm_partner(event: DmEvent, subscriber_id: str) -> str | None:
    """The other person of a one-to-one conversation, None for group conversations.

    When the source says what the conversation is (``conversation_type``), that decides: a group
    conversation where only two people ever wrote is still a group.
    """
    if event.conversation_type == "group":
        return None
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


class _Latest:
    """Account id -> the subscriber's latest interaction with it, noted one at a time."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.found: dict[str, Touch] = {}

    def note(self, user_id: str | None, at: datetime, kind: InteractionKind) -> None:
        if not user_id or user_id == self.me:
            return
        seen = self.found.get(user_id)
        if seen is None or at > seen[0] or (at == seen[0] and _PRECEDENCE[kind] < _PRECEDENCE[seen[1]]):
            self.found[user_id] = (at, kind)

    def posts(self, posts: Iterable[Post]) -> None:
        for post in posts:
            if post.author_id not in (self.me, ""):
                continue
            at = post.created_at
            if post.kind == "retweet":
                # mentions inside a retweet are the original author's, not the subscriber's
                self.note(post.retweeted_author_id, at, "retweet")
                continue
            self.note(post.in_reply_to_user_id, at, "reply")
            self.note(post.quoted_author_id, at, "quote")
            for user_id in post.mentioned_ids:
                if user_id != post.in_reply_to_user_id:
                    self.note(user_id, at, "mention")

    def dms(self, events: Iterable[DmEvent]) -> None:
        # a conversation's partner, worked out once per conversation (and again only if its participants differ)
        partners: dict[str, tuple[list[str], str | None]] = {}
        for event in events:
            if event.sender_id != self.me or event.event_type not in _DM_TOUCHES:
                continue
            known = partners.get(event.conversation_id)
            if known is not None and known[0] == event.participant_ids:
                partner = known[1]
            else:
                partner = dm_partner(event, self.me)
                partners[event.conversation_id] = (event.participant_ids, partner)
            self.note(partner, event.created_at, "dm")


def subscriber_touches(activity: Activity, *, use_likes: bool = True) -> dict[str, Touch]:
    """Account id -> the subscriber's latest interaction with it in this activity.

    Counted: a reply to them, a mention of them outside a retweet, a retweet
    or quote of their post, a like of their post, a DM (or a reaction to
    theirs) in a one-to-one conversation.
    """
    latest = _Latest(activity.subscriber.id)
    latest.posts(activity.posts)
    if use_likes:
        for like in activity.likes:
            latest.note(like.author_id, like.seen_at, "like")
    latest.dms(activity.dm_events)
    return latest.found


class _FirstSince(_Latest):
    """Account id -> kind -> the subscriber's first interaction of that kind after ``since``."""

    def __init__(self, me: str, since: datetime) -> None:
        super().__init__(me)
        self.since = since
        self.first: dict[str, dict[InteractionKind, datetime]] = {}

    def note(self, user_id: str | None, at: datetime, kind: InteractionKind) -> None:
        if not user_id or user_id == self.me or at <= self.since:
            return
        kinds = self.first.setdefault(user_id, {})
        if kind not in kinds or at < kinds[kind]:
            kinds[kind] = at


def first_touches_since(activity: Activity, since: datetime) -> dict[str, dict[InteractionKind, datetime]]:
    """Account id -> kind -> the subscriber's first interaction of that kind after ``since`` (what
    ``subscriber_touches`` counts; a like at the time it was first seen)."""
    first = _FirstSince(activity.subscriber.id, since)
    first.posts(activity.posts)
    for like in activity.likes:
        first.note(like.author_id, like.seen_at, "like")
    first.dms(activity.dm_events)
    return first.first


_TALK: frozenset[InteractionKind] = frozenset({"reply", "mention", "quote", "dm"})


class _Talk(_Latest):
    """Account id -> the times the subscriber directed a post or DM to them from ``start`` on."""

    def __init__(self, me: str, start: datetime) -> None:
        super().__init__(me)
        self.start = start
        self.times: dict[str, set[datetime]] = {}

    def note(self, user_id: str | None, at: datetime, kind: InteractionKind) -> None:
        # one post that replies to and quotes someone is one post to them: counted by its time
        if user_id and user_id != self.me and kind in _TALK and at >= self.start:
            self.times.setdefault(user_id, set()).add(at)


def talked_to(activity: Activity, start: datetime) -> dict[str, int]:
    """Account id -> how many posts (replies, mentions, quotes) and one-to-one DMs the subscriber
    directed to them from ``start`` on."""
    talk = _Talk(activity.subscriber.id, start)
    talk.posts(activity.posts)
    talk.dms(activity.dm_events)
    return {user_id: len(times) for user_id, times in talk.times.items()}


def unchecked_without_handle(activity: Activity, since: datetime) -> list[InteractionKind]:
    """Interactions since ``since`` whose account is known only by a handle no id could be tied to.

    They cannot be checked against a followee whose handle is not known either (an archive's follow
    lists hold ids only, and a quote names its author only by a link with the handle).
    """
    kinds: set[InteractionKind] = set()
    for post in activity.posts:
        if post.created_at < since:
            continue
        if post.kind == "quote" and post.quoted_author_id is None and post.quoted_author_username:
            kinds.add("quote")
        elif post.kind == "retweet" and post.retweeted_author_id is None:
            kinds.add("retweet")
    return sorted(kinds, key=_PRECEDENCE.__getitem__)


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
