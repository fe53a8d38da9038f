"""X API v2 wire models.

Requests use the "tweet" field names (as tweepy does); parsing accepts both the
"tweet" names of the recorded responses and the "post" names of X's OpenAPI
document, so a rename on X's side degrades nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

_LENIENT = ConfigDict(extra="ignore", populate_by_name=True)


class XUserMetrics(BaseModel):
    model_config = _LENIENT
    followers_count: int = 0
    following_count: int = 0
    tweet_count: int = Field(0, validation_alias=AliasChoices("tweet_count", "post_count"))
    listed_count: int = 0
    like_count: int = 0


class XUser(BaseModel):
    model_config = _LENIENT
    id: str
    username: str
    name: str = ""
    created_at: datetime | None = None
    description: str | None = None
    protected: bool | None = None
    public_metrics: XUserMetrics | None = None
    # asked for as user.fields=most_recent_tweet_id (the request enum); served under that name (fields.mdx,
    # data-dictionary.mdx) or as most_recent_post_id (the OpenAPI User schema); absent for an account that never posted
    most_recent_tweet_id: str | None = Field(
        None, validation_alias=AliasChoices("most_recent_tweet_id", "most_recent_post_id")
    )


class XReference(BaseModel):
    model_config = _LENIENT
    type: Literal["replied_to", "quoted", "retweeted"] | str
    id: str


class XMentionEntity(BaseModel):
    model_config = _LENIENT
    username: str
    id: str | None = None


class XUrlEntity(BaseModel):
    model_config = _LENIENT
    url: str = ""
    expanded_url: str | None = None
    display_url: str | None = None


class XHashtagEntity(BaseModel):
    model_config = _LENIENT
    tag: str


class XEntities(BaseModel):
    model_config = _LENIENT
    mentions: list[XMentionEntity] = []
    urls: list[XUrlEntity] = []
    hashtags: list[XHashtagEntity] = []


class XTweetMetrics(BaseModel):
    model_config = _LENIENT
    retweet_count: int = Field(0, validation_alias=AliasChoices("retweet_count", "repost_count"))
    reply_count: int = 0
    like_count: int = 0
    quote_count: int = 0


class XTweet(BaseModel):
    model_config = _LENIENT
    id: str
    text: str = ""
    author_id: str | None = None
    created_at: datetime | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[XReference] = Field(
        default_factory=list, validation_alias=AliasChoices("referenced_tweets", "referenced_posts")
    )
    entities: XEntities | None = None
    public_metrics: XTweetMetrics | None = None
    edit_history_tweet_ids: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("edit_history_tweet_ids", "edit_history_post_ids")
    )


class XDmEvent(BaseModel):
    model_config = _LENIENT
    id: str
    event_type: str = "MessageCreate"
    text: str | None = None
    sender_id: str | None = None
    dm_conversation_id: str | None = None
    created_at: datetime | None = None
    participant_ids: list[str] = []


class XIncludes(BaseModel):
    model_config = _LENIENT
    users: list[XUser] = []
    tweets: list[XTweet] = Field(default_factory=list, validation_alias=AliasChoices("tweets", "posts"))


class XMeta(BaseModel):
    model_config = _LENIENT
    result_count: int = 0
    next_token: str | None = None
    previous_token: str | None = None
    newest_id: str | None = None
    oldest_id: str | None = None


T = TypeVar("T", XUser, XTweet, XDmEvent)


class XPage(BaseModel, Generic[T]):
    """One page of a list endpoint. An empty page has no ``data`` key at all."""

    model_config = _LENIENT
    data: list[T] = []
    includes: XIncludes = XIncludes()
    meta: XMeta = XMeta()
    errors: list[dict[str, Any]] = []


class XUserResponse(BaseModel):
    model_config = _LENIENT
    data: XUser


TweetPage = XPage[XTweet]
UserPage = XPage[XUser]
DmEventPage = XPage[XDmEvent]
