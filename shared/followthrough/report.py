"""The weekly report: what the analysis finds, what the digest shows.

Versioned and JSON-serializable; ids are strings. Stored per subscriber-week
and read back for week-over-week deltas and trends. Every field added after
version 1 has a default, so a stored older report still reads and renders.

Version 2 (issue 15): the follow-up of the last digest sent (``follow_up``),
relationships, follow-for-follow followers, and each suggested conversation's
post and time (``Conversation.post_id``, ``about_at``); and the insights, optional
(None: not looked at): dormant followees, chats to join, untagged mentions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 2

ConversationKind = Literal["answer_mention", "greet_followee", "welcome_follower"]


class PassiveFollow(BaseModel):
    user_id: str
    username: str | None = None
    reasons: list[str] = []
    followed_since: datetime | None = None
    follows_back: bool = False
    last_interaction_at: datetime | None = None
    rank_score: float = 0.0
    # None: not known (no post counts for this account)
    active: bool | None = None
    mentioned_you: bool = False


class AutoDmReceived(BaseModel):
    sender_id: str
    sender_username: str | None = None
    event_id: str
    conversation_id: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = []
    sent_at: datetime | None = None


class AutoDmSent(BaseModel):
    fingerprint: str
    recipient_ids: list[str]
    count: int
    reasons: list[str] = []
    last_sent_at: datetime | None = None


# how many automated DMs received a digest shows; the collector looks up their senders' names (no more)
AUTO_DMS_SHOWN = 5


class AutoDms(BaseModel):
    received: list[AutoDmReceived] = []
    sent: list[AutoDmSent] = []


class QuotedPost(BaseModel):
    """Someone else's post the digest quotes."""

    tweet_id: str
    author_id: str
    author_username: str | None = None
    created_at: datetime | None = None
    text: str = ""
    url: str | None = None


class UnansweredMention(QuotedPost):
    # a reply that came after the grace period: the mention still counts as
    # unanswered in the metrics, but the digest does not ask for an answer
    replied_at: datetime | None = None


class Conversation(BaseModel):
    """One of the five concrete conversations the digest suggests."""

    kind: ConversationKind
    user_id: str
    username: str | None = None
    url: str
    reason: str
    # the mention to answer (None for greetings; version-1 reports name it only in ``url``)
    post_id: str | None = None
    # when the mention was posted or the follow was first seen
    about_at: datetime | None = None


FollowUpState = Literal["done", "open", "expired"]


class FollowUpItem(BaseModel):
    """One conversation a sent digest suggested, and whether it happened since.

    ``open``: not yet, and carried forward to the next digest; ``expired``: it
    was carried once already (``carried``) and is not carried again.
    """

    kind: ConversationKind
    user_id: str
    username: str | None = None
    url: str = ""
    post_id: str | None = None
    about_at: datetime | None = None
    # the mention to answer asked something (its text had a question mark)
    question: bool = False
    suggested_week: str
    carried: bool = False
    state: FollowUpState = "open"
    done_at: datetime | None = None
    # how: reply, mention, quote, dm or like (models.InteractionKind)
    done_by: str | None = None


class FollowUp(BaseModel):
    """The conversations of the last digest actually sent (``base_week``), followed up."""

    base_week: str
    items: list[FollowUpItem] = []

    def fresh(self) -> list[FollowUpItem]:
        """The base digest's own suggestions (not those it carried)."""
        return [i for i in self.items if not i.carried]

    def in_state(self, state: FollowUpState) -> list[FollowUpItem]:
        return [i for i in self.items if i.state == state]


class Relationship(BaseModel):
    """Someone the subscriber talked with both ways, at least twice each, in the report's window."""

    user_id: str
    username: str | None = None
    to_them: int
    from_them: int
    followee: bool = False
    # first seen as a relationship in the last ``new_relationship_days`` (and not in the first report)
    new: bool = False


class FollowForFollow(BaseModel):
    """A new follower who follows thousands, far more than follow them: likely following for a follow back."""

    user_id: str
    username: str | None = None
    following_count: int
    followers_count: int


class Challenge(BaseModel):
    """The "@reply to everyone you follow" challenge."""

    followees: int = 0
    interacted: int = 0
    share: float | None = None
    window_days: int | None = None
    # followees who are relationships (talked with both ways, twice each, this week); None: not measured
    relationships: int | None = None
    # this week's share last, earlier weeks before it (oldest first)
    trend: list[float | None] = []


class HashtagChat(BaseModel):
    """A hashtag the subscriber used several times within an hour alongside others."""

    hashtag: str
    started_at: datetime
    posts: int
    participants: int


class DormantFollowee(BaseModel):
    """A followee with nothing to talk about: no post for a long time (a candidate to unfollow)."""

    user_id: str
    username: str | None = None
    last_post_at: datetime
    followed_since: datetime | None = None
    follows_back: bool = False


class ChatToJoin(BaseModel):
    """A hashtag that recurs at about the same local weekday and hour with several people: a likely weekly chat."""

    hashtag: str
    weekday: int = Field(ge=0, le=6)  # 0 = Monday, in the subscriber's time zone
    hour: int = Field(ge=0, le=23)
    time_zone: str = "UTC"
    weeks: int  # distinct weeks it was seen in
    authors: int
    followees: int
    followee_usernames: list[str] = []
    takes_part: bool = False  # the subscriber posted with the hashtag at that time


class UntaggedMention(QuotedPost):
    """A post that names the subscriber (handle or display name) without tagging them."""

    is_question: bool = False


class WeeklyReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    subscriber_id: str
    username: str | None = None
    week: str
    generated_at: datetime
    passive_follows: list[PassiveFollow] = []
    auto_dms: AutoDms = AutoDms()
    unanswered_mentions: list[UnansweredMention] = []
    conversations: list[Conversation] = []
    challenge: Challenge = Challenge()
    # Metric name -> value; None means "could not be measured this week".
    metrics: dict[str, float | int | None] = {}
    deltas: dict[str, float | None] = {}
    unavailable: list[str] = []
    window_start: datetime | None = None
    window_end: datetime | None = None
    hashtag_chats: list[HashtagChat] = []
    # metric name -> values over the last weeks, oldest first, this week last
    trends: dict[str, list[float | None]] = {}
    # None: nothing to follow up (no digest was sent before this week)
    follow_up: FollowUp | None = None
    relationships: list[Relationship] = []
    follow_for_follow: list[FollowForFollow] = []
    # optional since these were added (older stored reports lack them): None = not looked at, [] = none found
    dormant_followees: list[DormantFollowee] | None = None
    dormant_followee_count: int | None = None
    chats_to_join: list[ChatToJoin] | None = None
    untagged_mentions: list[UntaggedMention] | None = None
    # set when who the subscriber follows may have changed since: the last time it agreed with X (the
    # passive follows and the challenge are as of then; accounts named were confirmed this week)
    following_as_of: datetime | None = None
