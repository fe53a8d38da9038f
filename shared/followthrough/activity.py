"""Normalized activity: what the collector hands to the analysis.

These are domain models: plain data, no I/O. DM texts never get here: the
collector turns each DM into a fingerprint of its masked text plus the few
flags the automated-DM detector needs (see ``masking``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

PostKind = Literal["original", "reply", "quote", "retweet"]
# what a DM conversation is, when the source says so (an archive keeps group conversations in files of their own)
ConversationType = Literal["one_to_one", "group"]


class Account(BaseModel):
    """An X account as far as the product cares about it."""

    model_config = ConfigDict(frozen=True)

    id: str
    username: str | None = None
    name: str | None = None
    created_at: datetime | None = None
    followers_count: int | None = None
    following_count: int | None = None
    post_count: int | None = None


class Post(BaseModel):
    """A post by the subscriber (``Activity.posts``) or mentioning them (``Activity.mentions``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    author_id: str
    created_at: datetime
    text: str = ""
    conversation_id: str | None = None
    kind: PostKind = "original"
    in_reply_to_user_id: str | None = None
    replied_to_id: str | None = None
    quoted_id: str | None = None
    quoted_author_id: str | None = None
    quoted_author_username: str | None = None
    retweeted_id: str | None = None
    retweeted_author_id: str | None = None
    mentioned_ids: list[str] = []
    mentioned_usernames: list[str] = []
    urls: list[str] = []
    hashtags: list[str] = []


class Like(BaseModel):
    """A post the subscriber liked. X does not say when; ``seen_at`` is when we first saw the like."""

    model_config = ConfigDict(frozen=True)

    post_id: str
    author_id: str | None = None
    post_created_at: datetime | None = None
    seen_at: datetime
    hashtags: list[str] = []


class DmEvent(BaseModel):
    """A DM event, without its text.

    ``event_type`` is "MessageCreate", "WelcomeMessageCreate" (a business's
    welcome message: automated by definition) or "ReactionCreate" (a reaction
    to a message, no text).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    event_type: str = "MessageCreate"
    conversation_id: str
    # None: not known, the id and the participants decide
    conversation_type: ConversationType | None = None
    sender_id: str
    created_at: datetime
    participant_ids: list[str] = []
    fingerprint: str | None = None
    has_link: bool = False
    has_call_to_action: bool = False
    word_count: int = 0


class FollowEdge(BaseModel):
    """One entry of a following/followers list: who, and since when.

    ``since`` is when the collector first saw the edge; ``None`` means it was
    already there on the first collection, so we do not know when it began.
    Flat on purpose: a large account has tens of thousands of these, and X's
    list entries carry little more than an id and a username (``accounts``
    holds whatever else is known about a person).
    """

    model_config = ConfigDict(frozen=True)

    user_id: str
    username: str | None = None
    since: datetime | None = None
    # following entries: whether they follow the subscriber back (X's connection_status); None: not known
    follows_back: bool | None = None
    # when their latest post was, as of the last time X served this entry (following only; None: not known)
    last_post_at: datetime | None = None
    # ``since`` is when X said the follow happened (an Activity API event), not when a collection saw it
    exact: bool = False


class Activity(BaseModel):
    """Everything known about one subscriber for one weekly run."""

    subscriber: Account
    collected_at: datetime
    window_start: datetime
    posts: list[Post] = []
    mentions: list[Post] = []
    likes: list[Like] = []
    dm_events: list[DmEvent] = []
    following: list[FollowEdge] = []
    followers: list[FollowEdge] = []
    accounts: dict[str, Account] = {}
    # posts X's recent search found for the subscriber's handle or name (opt-in); None: not searched
    untagged_mentions: list[Post] | None = None
    # Names of inputs that could not be read this run (e.g. "mentions" for an
    # archive, or "likes" when the budget ran out): metrics built on them are
    # reported as unavailable, never as zero.
    unavailable: list[str] = []
    # the followers list holds only its newest part (the count comes from the subscriber's profile)
    followers_complete: bool = True
    # set when the following list may be stale: when it last agreed with X's count
    following_as_of: datetime | None = None
