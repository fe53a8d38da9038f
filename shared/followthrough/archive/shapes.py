"""The shapes of X's archive data files, as far as the audit reads them (everything else is ignored).

Tweets, likes, notes and DMs are validated into plain dicts (TypedDicts): a large archive holds tens of
thousands of entries that only pass through on their way to the activity, and dicts are several times
cheaper to build and to free than models. The keys are the field names; the aliases are X's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NotRequired, TypeVar

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    with_config,
)
from typing_extensions import TypedDict

from followthrough.activity import FollowEdge

_LENIENT = ConfigDict(extra="ignore", populate_by_name=True)
_MONTHS = {
    m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)
}


def archive_time(value: Any) -> Any:
    """X's classic 'Wed Oct 10 20:19:24 +0000 2018' or ISO 8601, as UTC (naive times are taken as UTC).

    All times share the one ``UTC`` tzinfo: comparing datetimes whose tzinfo
    objects differ costs two offset lookups each, which adds up when sorting.
    """
    if not isinstance(value, str):
        return value
    try:
        if len(value) == 30 and value[3] == " " and value[19] == " ":
            _, month, day, clock, offset, year = value.split()
            hour, minute, second = clock.split(":")
            moment = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
            if offset == "+0000":  # what archives hold: no shift to work out
                return moment
            sign = -1 if offset[0] == "-" else 1
            return moment - sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        moment = datetime.fromisoformat(value)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unreadable time {value!r}") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


ArchiveTime = Annotated[datetime, BeforeValidator(archive_time)]
_Id = Annotated[str, Field(validation_alias=AliasChoices("id_str", "id"))]


class ArchiveAccount(BaseModel):
    model_config = _LENIENT
    account_id: str = Field(validation_alias="accountId")
    username: str | None = None
    display_name: str | None = Field(None, validation_alias="accountDisplayName")
    created_at: ArchiveTime | None = Field(None, validation_alias="createdAt")


class AccountEntry(BaseModel):
    model_config = _LENIENT
    account: ArchiveAccount


@with_config(_LENIENT)
class ArchiveMention(TypedDict, total=False):
    id: _Id
    screen_name: str


@with_config(_LENIENT)
class ArchiveUrl(TypedDict, total=False):
    url: str
    expanded_url: str | None


@with_config(_LENIENT)
class ArchiveHashtag(TypedDict):
    text: str


@with_config(_LENIENT)
class ArchiveEntities(TypedDict, total=False):
    user_mentions: list[ArchiveMention]
    urls: list[ArchiveUrl]
    hashtags: list[ArchiveHashtag]


@with_config(_LENIENT)
class ArchiveEditInfo(TypedDict, total=False):
    """``edit_info``: ``{"initial": {"editTweetIds": [...]}}`` on a first version, ``{"edit": {...}}`` on edits."""

    initial_id: Annotated[str, Field(validation_alias=AliasPath("edit", "initialTweetId"))]
    versions: Annotated[
        list[str],
        Field(
            validation_alias=AliasChoices(
                AliasPath("initial", "editTweetIds"), AliasPath("edit", "editControlInitial", "editTweetIds")
            )
        ),
    ]


@with_config(_LENIENT)
class ArchiveTweet(TypedDict):
    id: _Id
    full_text: NotRequired[Annotated[str, Field(validation_alias=AliasChoices("full_text", "text"))]]
    created_at: ArchiveTime
    in_reply_to_status_id: NotRequired[
        Annotated[
            str | None, Field(validation_alias=AliasChoices("in_reply_to_status_id_str", "in_reply_to_status_id"))
        ]
    ]
    in_reply_to_user_id: NotRequired[
        Annotated[str | None, Field(validation_alias=AliasChoices("in_reply_to_user_id_str", "in_reply_to_user_id"))]
    ]
    in_reply_to_screen_name: NotRequired[str | None]
    quoted_status_id: NotRequired[
        Annotated[str | None, Field(validation_alias=AliasChoices("quoted_status_id_str", "quoted_status_id"))]
    ]
    entities: NotRequired[ArchiveEntities]
    edit_info: NotRequired[ArchiveEditInfo]
    deleted_at: NotRequired[str | None]


@with_config(_LENIENT)
class TweetEntry(TypedDict):
    tweet: ArchiveTweet


@with_config(_LENIENT)
class ArchiveNoteUrl(TypedDict, total=False):
    expanded_url: Annotated[str, Field(validation_alias="expandedUrl")]


@with_config(_LENIENT)
class ArchiveNoteMention(TypedDict, total=False):
    screen_name: Annotated[str, Field(validation_alias="screenName")]


@with_config(_LENIENT)
class ArchiveNoteHashtag(TypedDict, total=False):
    text: Annotated[str, Field(validation_alias=AliasChoices("text", "hashtag"))]


@with_config(_LENIENT)
class ArchiveNoteCore(TypedDict, total=False):
    text: str
    urls: list[ArchiveNoteUrl]
    mentions: list[ArchiveNoteMention]
    hashtags: list[ArchiveNoteHashtag]


@with_config(_LENIENT)
class ArchiveNote(TypedDict):
    """A long post's whole text (``note-tweet.js``); tweets.js holds it cut short."""

    id: Annotated[str, Field(validation_alias="noteTweetId")]
    created_at: Annotated[ArchiveTime, Field(validation_alias="createdAt")]
    core: NotRequired[ArchiveNoteCore]


@with_config(_LENIENT)
class NoteEntry(TypedDict):
    note: Annotated[ArchiveNote, Field(validation_alias="noteTweet")]


class ArchiveFollowEdge(FollowEdge):
    """``{"following": {"accountId", "userLink"}}`` or ``{"follower": {...}}`` as a ``FollowEdge``.

    Validating the file straight into the activity's models spares building
    tens of thousands of objects twice.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    user_id: str = Field(
        validation_alias=AliasChoices(
            AliasPath("following", "accountId"), AliasPath("follower", "accountId"), "user_id"
        )
    )


@with_config(_LENIENT)
class ArchiveLike(TypedDict):
    tweet_id: Annotated[str, Field(validation_alias="tweetId")]
    expanded_url: NotRequired[Annotated[str | None, Field(validation_alias="expandedUrl")]]
    full_text: NotRequired[Annotated[str | None, Field(validation_alias="fullText")]]


@with_config(_LENIENT)
class LikeEntry(TypedDict):
    like: ArchiveLike


@with_config(_LENIENT)
class ArchiveReaction(TypedDict):
    """``reactionCreate`` (or an entry of a message's ``reactions``): who reacted to which message, when."""

    sender_id: Annotated[str, Field(validation_alias="senderId")]
    event_id: NotRequired[Annotated[str, Field(validation_alias="eventId")]]
    key: NotRequired[Annotated[str, Field(validation_alias="reactionKey")]]
    created_at: Annotated[ArchiveTime, Field(validation_alias="createdAt")]


@with_config(_LENIENT)
class ArchiveMessage(TypedDict):
    """A ``messageCreate`` or ``welcomeMessageCreate``; its text becomes a fingerprint and flags, then is dropped."""

    id: str
    sender_id: Annotated[str, Field(validation_alias="senderId")]
    recipient_id: NotRequired[Annotated[str | None, Field(validation_alias="recipientId")]]
    text: NotRequired[str]
    created_at: Annotated[ArchiveTime, Field(validation_alias="createdAt")]
    reactions: NotRequired[list[ArchiveReaction] | None]


@with_config(_LENIENT)
class ArchiveJoin(TypedDict, total=False):
    participants: Annotated[list[str], Field(validation_alias=AliasChoices("participantsSnapshot", "userIds"))]
    initiating_user_id: Annotated[str, Field(validation_alias="initiatingUserId")]


@with_config(_LENIENT)
class ArchiveDmItem(TypedDict, total=False):
    """One entry of a conversation; messages, welcome messages, reactions and joins matter (renames... do not)."""

    message: Annotated[ArchiveMessage | None, Field(validation_alias="messageCreate")]
    welcome: Annotated[ArchiveMessage | None, Field(validation_alias="welcomeMessageCreate")]
    reaction: Annotated[ArchiveReaction | None, Field(validation_alias="reactionCreate")]
    join: Annotated[ArchiveJoin | None, Field(validation_alias=AliasChoices("joinConversation", "participantsJoin"))]


@with_config(_LENIENT)
class ArchiveConversation(TypedDict):
    conversation_id: Annotated[str, Field(validation_alias="conversationId")]
    messages: NotRequired[list[ArchiveDmItem]]


@with_config(_LENIENT)
class DmEntry(TypedDict):
    conversation: Annotated[ArchiveConversation, Field(validation_alias="dmConversation")]


E = TypeVar("E")
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def adapter(entry: Any) -> TypeAdapter[list[Any]]:
    """A list-of-``entry`` validator, built once."""
    if entry not in _ADAPTERS:
        # most string values are unique ids and texts: caching only keys is faster
        _ADAPTERS[entry] = TypeAdapter(list[entry], config=ConfigDict(cache_strings="keys"))
    return _ADAPTERS[entry]
