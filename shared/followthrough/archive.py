"""Reading an X data archive into normalized activity, for the offline audit.

The archive is the ``.zip`` X lets users download (Settings > Your account >
Download an archive of your data), or its unpacked folder. Each data file is
``window.YTD.<name>.part<N> = [ ... ]``; only the files and fields the
analysis needs are read, one file at a time, and validated by pydantic: the
follow lists straight into the activity's models, tweets, likes and DMs into
plain dicts (TypedDicts) that the activity's models are then built from.

What an archive cannot tell, and how it is handled:

- mentions by others are not in it: ``mentions`` is always unavailable;
- follow times are not in it: follows and followers have ``since=None``;
- likes have no time: a like is dated by its post's id (X ids carry their
  creation time), as most likes come soon after a post;
- liked posts rarely name their author (``expandedUrl`` is usually
  ``twitter.com/i/web/status/<id>``): such likes cannot be tied to anyone.

DM texts are reduced to a fingerprint and flags at once (``masking.dm_signals``).
The link and call-to-action flags are worked out only for the first message of
each conversation, the only one the automated-DM detector judges: the other
messages keep them False.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, NotRequired, TypeVar, cast

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from followthrough import masking
from followthrough.activity import Account, Activity, DmEvent, FollowEdge, Like, Post, PostKind

SNOWFLAKE_EPOCH_MS = 1288834974657
# X ids before snowflakes (late 2010) carry no time
_FIRST_SNOWFLAKE = 29_700_859_247

_LENIENT = ConfigDict(extra="ignore", populate_by_name=True)
_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
_PREFIX = re.compile(rb"\A\s*window\.YTD\.\w+\.part\d+\s*=\s*")
_MANIFEST_PREFIX = re.compile(rb"\A\s*window\.__THAR_CONFIG\s*=\s*")
_HEAD_BYTES = 4096  # far more than a prefix takes
_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.rstrip() strips
_STATUS_URL = re.compile(r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(\w{1,15})/status(?:es)?/(\d+)", re.I)


class ArchiveError(Exception):
    """A missing, corrupt or unexpected archive file; the message names the file."""


def snowflake_time(post_id: str) -> datetime | None:
    """When an X id was made, None for ids older than snowflakes or not numeric."""
    if not post_id.isdigit() or int(post_id) < _FIRST_SNOWFLAKE:
        return None
    return datetime.fromtimestamp(((int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def _archive_time(value: Any) -> Any:
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


ArchiveTime = Annotated[datetime, BeforeValidator(_archive_time)]


class ArchiveAccount(BaseModel):
    model_config = _LENIENT
    account_id: str = Field(validation_alias="accountId")
    username: str | None = None
    display_name: str | None = Field(None, validation_alias="accountDisplayName")
    created_at: ArchiveTime | None = Field(None, validation_alias="createdAt")


class _AccountEntry(BaseModel):
    model_config = _LENIENT
    account: ArchiveAccount


# Tweets, likes and DMs are validated into plain dicts (TypedDicts): a large archive holds tens of
# thousands of entries that only pass through on their way to the activity, and dicts are several
# times cheaper to build and to free than models. The keys are the field names; the aliases are X's.

@with_config(_LENIENT)
class ArchiveMention(TypedDict, total=False):
    id: Annotated[str, Field(validation_alias=AliasChoices("id_str", "id"))]
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
class ArchiveTweet(TypedDict):
    id: Annotated[str, Field(validation_alias=AliasChoices("id_str", "id"))]
    full_text: NotRequired[Annotated[str, Field(validation_alias=AliasChoices("full_text", "text"))]]
    created_at: ArchiveTime
    in_reply_to_status_id: NotRequired[Annotated[str | None, Field(
        validation_alias=AliasChoices("in_reply_to_status_id_str", "in_reply_to_status_id"))]]
    in_reply_to_user_id: NotRequired[Annotated[str | None, Field(
        validation_alias=AliasChoices("in_reply_to_user_id_str", "in_reply_to_user_id"))]]
    in_reply_to_screen_name: NotRequired[str | None]
    quoted_status_id: NotRequired[Annotated[str | None, Field(
        validation_alias=AliasChoices("quoted_status_id_str", "quoted_status_id"))]]
    entities: NotRequired[ArchiveEntities]


@with_config(_LENIENT)
class _TweetEntry(TypedDict):
    tweet: ArchiveTweet


class ArchiveFollowEdge(FollowEdge):
    """``{"following": {"accountId", "userLink"}}`` or ``{"follower": {...}}`` as a ``FollowEdge``.

    Validating the file straight into the activity's models spares building
    tens of thousands of objects twice.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)
    user_id: str = Field(validation_alias=AliasChoices(AliasPath("following", "accountId"),
                                                       AliasPath("follower", "accountId"), "user_id"))


@with_config(_LENIENT)
class ArchiveLike(TypedDict):
    tweet_id: Annotated[str, Field(validation_alias="tweetId")]
    expanded_url: NotRequired[Annotated[str | None, Field(validation_alias="expandedUrl")]]


@with_config(_LENIENT)
class _LikeEntry(TypedDict):
    like: ArchiveLike


@with_config(_LENIENT)
class ArchiveMessage(TypedDict):
    """A ``messageCreate`` entry; its text is turned into a fingerprint and flags, then dropped."""

    id: str
    sender_id: Annotated[str, Field(validation_alias="senderId")]
    recipient_id: NotRequired[Annotated[str | None, Field(validation_alias="recipientId")]]
    text: NotRequired[str]
    created_at: Annotated[ArchiveTime, Field(validation_alias="createdAt")]


@with_config(_LENIENT)
class ArchiveJoin(TypedDict, total=False):
    participants: Annotated[list[str], Field(validation_alias=AliasChoices("participantsSnapshot", "userIds"))]


@with_config(_LENIENT)
class ArchiveDmItem(TypedDict, total=False):
    """One entry of a conversation; only messages and joins matter (reactions, renames... are skipped)."""

    message: Annotated[ArchiveMessage | None, Field(validation_alias="messageCreate")]
    join: Annotated[ArchiveJoin | None, Field(validation_alias=AliasChoices("joinConversation", "participantsJoin"))]


@with_config(_LENIENT)
class ArchiveConversation(TypedDict):
    conversation_id: Annotated[str, Field(validation_alias="conversationId")]
    messages: NotRequired[list[ArchiveDmItem]]


@with_config(_LENIENT)
class _DmEntry(TypedDict):
    conversation: Annotated[ArchiveConversation, Field(validation_alias="dmConversation")]


class _ArchiveInfo(BaseModel):
    model_config = _LENIENT
    generation_date: ArchiveTime | None = Field(None, validation_alias="generationDate")


class _Manifest(BaseModel):
    model_config = _LENIENT
    archive_info: _ArchiveInfo = Field(default_factory=_ArchiveInfo, validation_alias="archiveInfo")


E = TypeVar("E")
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}
# the activity's own models, built many at a time from plain dicts (much faster than one at a time)
_POSTS: TypeAdapter[list[Post]] = TypeAdapter(list[Post])
_LIKES: TypeAdapter[list[Like]] = TypeAdapter(list[Like])
_DM_EVENTS: TypeAdapter[list[DmEvent]] = TypeAdapter(list[DmEvent])
_ACCOUNTS: TypeAdapter[dict[str, Account]] = TypeAdapter(dict[str, Account])


def _adapter(entry: type[E]) -> TypeAdapter[list[E]]:
    if entry not in _ADAPTERS:
        # most string values are unique ids and texts: caching only keys is faster
        _ADAPTERS[entry] = TypeAdapter(list[entry], config=ConfigDict(cache_strings="keys"))  # type: ignore[valid-type]
    return _ADAPTERS[entry]


class _Source:
    """The archive's data files, from a folder or a .zip, found by file name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if path.is_dir():
            data = path / "data" if (path / "data").is_dir() else path
            prefix = "data/" if data != path else ""
            self._members = {f.name: prefix + f.name for f in data.iterdir() if f.is_file()}
            self._root = data
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ArchiveError(f"{path}: not a readable .zip file ({exc})") from None
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            # files under a data/ folder (at any depth), else at the top
            for name in sorted(names, key=lambda n: n.count("/"), reverse=True):
                parts = name.split("/")
                if len(parts) == 1 or parts[-2] == "data":
                    self._members[parts[-1]] = name
        else:
            raise ArchiveError(f"{path}: no such file or folder")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def find(self, pattern: str) -> list[str]:
        """Data files whose name matches, part files in order (tweets.js, tweets-part1.js, ...)."""
        rx = re.compile(rf"^(?:{pattern})(?:-part(\d+))?\.js$")
        found = [(int(m.group(1) or 0), name) for name in self._members if (m := rx.match(name))]
        return [self._members[name] for _, name in sorted(found)]

    def _open(self, member: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(member)
        return (self._root / Path(member).name).open("rb")

    def read(self, member: str, prefix: re.Pattern[bytes] | None = None) -> bytes | None:
        """The file's bytes, or with ``prefix`` those after it (None when the file does not start with it).

        The data files are megabytes long: the part after the prefix is read
        straight into its own buffer rather than sliced (copied) out of the whole.
        """
        try:
            with self._open(member) as stream:
                if prefix is None:
                    return stream.read()
                head = stream.read(_HEAD_BYTES)
                found = prefix.match(head)
                if found is not None and found.end() < len(head):
                    stream.seek(found.end())
                    return stream.read()
                data = head + stream.read()  # the prefix may go on past the head: match the whole
                found = prefix.match(data)
                return None if found is None else data[found.end():]
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(f"{member}: could not be read ({exc})") from None


def _problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"corrupt or truncated JSON ({first['msg']})"
    where = " > ".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"unexpected content at entry {where}: {first['msg']}{more}"


def _parse(source: _Source, member: str, entry: type[E]) -> list[E]:
    body = source.read(member, _PREFIX)
    if body is None:
        raise ArchiveError(f"{member}: does not start like an X archive data file "
                           "('window.YTD.<name>.part0 = [...]'); the file may be damaged")
    # without trailing whitespace and a trailing ";" (the body is copied only when there are any)
    end = len(body)
    while end and body[end - 1] in _ASCII_WHITESPACE:
        end -= 1
    if body[end - 1:end] == b";":
        end -= 1
    if end < len(body):
        body = body[:end]
    try:
        return _adapter(entry).validate_json(body)
    except ValidationError as exc:
        raise ArchiveError(f"{member}: {_problem(exc)}") from None


def _parse_all(source: _Source, pattern: str, entry: type[E]) -> list[E] | None:
    """Entries of every part file, None when the archive has no such file."""
    members = source.find(pattern)
    if not members:
        return None
    out = _parse(source, members[0], entry)
    for member in members[1:]:
        out.extend(_parse(source, member, entry))
    return out


def _manifest_time(source: _Source) -> datetime | None:
    members = source.find("manifest")
    if not members:
        return None
    body = source.read(members[0], _MANIFEST_PREFIX)
    if body is None:
        raise ArchiveError(f"{members[0]}: does not start with 'window.__THAR_CONFIG ='; the file may be damaged")
    try:
        info = _Manifest.model_validate_json(body.rstrip().rstrip(b";")).archive_info
    except ValidationError as exc:
        raise ArchiveError(f"{members[0]}: {_problem(exc)}") from None
    return info.generation_date


def _post(tweet: ArchiveTweet, subscriber_id: str, ids_by_name: dict[str, str]) -> dict[str, Any]:
    """The ``Post`` fields of one of the subscriber's tweets."""
    text = tweet.get("full_text", "")
    entities = tweet.get("entities", {})
    mentions = entities.get("user_mentions", [])
    urls = entities.get("urls", [])
    kind: PostKind = "original"
    retweeted_author = quoted_id = quoted_author = None
    if text.startswith("RT @"):
        kind = "retweet"
        name = text[4:].split(":", 1)[0].strip().lower()
        retweeted_author = ids_by_name.get(name)
    else:
        quoted_id = tweet.get("quoted_status_id")
        for url in urls:
            found = _STATUS_URL.match(url.get("expanded_url") or "")
            if found:
                quoted_id, quoted_author = found.group(2), ids_by_name.get(found.group(1).lower())
                break
        if quoted_id:
            kind = "quote"
        elif tweet.get("in_reply_to_status_id") or tweet.get("in_reply_to_user_id"):
            kind = "reply"
    return {
        "id": tweet["id"],
        "author_id": subscriber_id,
        "created_at": tweet["created_at"],
        "text": text,
        "kind": kind,
        "in_reply_to_user_id": tweet.get("in_reply_to_user_id"),
        "replied_to_id": tweet.get("in_reply_to_status_id"),
        "quoted_id": quoted_id,
        "quoted_author_id": quoted_author,
        "retweeted_author_id": retweeted_author,
        "mentioned_ids": [m["id"] for m in mentions if m.get("id") and m["id"] != "-1"],
        "mentioned_usernames": [m["screen_name"] for m in mentions if m.get("screen_name")],
        "urls": [u.get("expanded_url") or u.get("url") for u in urls if u.get("expanded_url") or u.get("url")],
        "hashtags": [h["text"] for h in entities.get("hashtags", [])],
    }


def _dm_events(conversations: list[_DmEntry], cut: datetime, end: datetime
               ) -> tuple[list[DmEvent], dict[str, datetime]]:
    """DM events from ``cut`` to ``end``, and the conversations that began before ``cut`` (id -> first message time).

    A conversation that began before the kept period must not look new when
    its next message comes: the analysis is told it is known.
    """
    rows: list[dict[str, Any]] = []
    earlier: dict[str, datetime] = {}
    for entry in conversations:
        conversation = entry["conversation"]
        conversation_id = conversation["conversation_id"]
        people: set[str] = set()
        first: datetime | None = None
        kept: list[tuple[float, dict[str, Any]]] = []
        opened = float("inf")  # when the first kept message was sent
        for item in conversation.get("messages", ()):
            message = item.get("message")
            if message is not None:
                people.add(message["sender_id"])
                recipient = message.get("recipient_id")
                if recipient:
                    people.add(recipient)
                at = message["created_at"]
                if first is None or at < first:
                    first = at
                if cut <= at <= end:
                    stamp = at.timestamp()  # the analysis orders messages by it
                    if stamp < opened:
                        opened = stamp
                    kept.append((stamp, message))  # type: ignore[arg-type]  # becomes the event's row below
            join = item.get("join")
            if join is not None:
                people.update(join.get("participants", ()))
        if first is not None and first < cut:
            earlier[conversation_id] = first
        participants = sorted(people)
        for stamp, row in kept:
            # The message's own dict becomes the event's: its text is replaced by the signals. Only the
            # first message of a conversation is ever judged as an opener, so only it (or those sent at
            # the same moment) needs the costlier link and call-to-action flags.
            row.update(masking.dm_signals(row.pop("text", ""), flags=stamp == opened))
            row["conversation_id"] = conversation_id
            row["participant_ids"] = participants
            rows.append(row)
    return _DM_EVENTS.validate_python(rows), earlier


@dataclass
class Archive:
    """What an archive holds for the analysis: the activity, and what it says about earlier times."""

    activity: Activity
    # DM conversations that began before the kept period, for ``History.known_dm_conversations``
    earlier_dm_conversations: dict[str, datetime] = field(default_factory=dict)


def load_archive(
    path: str | Path, *, as_of: datetime | None = None, window_days: float = 30, lookback_days: float = 120
) -> Activity:
    """The archive as activity for ``analyze``; see ``read_archive``."""
    return read_archive(path, as_of=as_of, window_days=window_days, lookback_days=lookback_days).activity


def read_archive(
    path: str | Path, *, as_of: datetime | None = None, window_days: float = 30, lookback_days: float = 120
) -> Archive:
    """Read an archive (.zip or folder).

    ``as_of`` (default: the archive's generation date, else its newest post or
    DM) is the collection time; the window is the ``window_days`` before it;
    posts, likes and DMs older than ``lookback_days`` are dropped (the passive
    follow window must fit in it). Raises ``ArchiveError`` naming the file on
    a missing, corrupt or unexpected file.
    """
    source = _Source(Path(path))
    try:
        return _load(source, as_of, window_days, lookback_days)
    finally:
        source.close()


def _load(source: _Source, as_of: datetime | None, window_days: float, lookback_days: float) -> Archive:
    accounts_found = _parse_all(source, "account", _AccountEntry)
    if accounts_found is None:
        raise ArchiveError(f"{source.path}: data/account.js not found; is this an X archive "
                           "(the .zip from Settings > Your account > Download an archive of your data)?")
    if not accounts_found:
        raise ArchiveError(f"{source.find('account')[0]}: holds no account")
    me = accounts_found[0].account
    generated = _manifest_time(source)
    tweet_entries = _parse_all(source, "tweets?", _TweetEntry)
    like_entries = _parse_all(source, "like", _LikeEntry)
    following = _parse_all(source, "following", ArchiveFollowEdge)
    followers = _parse_all(source, "follower", ArchiveFollowEdge)
    dm_entries = _parse_all(source, "direct-messages(?:-group)?", _DmEntry)

    tweets = [e["tweet"] for e in tweet_entries or ()]
    if as_of is None:
        as_of = generated
    if as_of is None:
        times = [t["created_at"] for t in tweets] + [
            message["created_at"] for e in dm_entries or () for item in e["conversation"].get("messages", ())
            if (message := item.get("message"))]
        as_of = max(times) if times else datetime.now(UTC)
    as_of = as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    cut = as_of - timedelta(days=lookback_days)

    # usernames the archive reveals: mentions, reply targets, the subscriber
    names: dict[str, str] = {}
    for tweet in tweets:
        entities = tweet.get("entities")
        if entities:
            for mention in entities.get("user_mentions", ()):
                user_id, name = mention.get("id"), mention.get("screen_name")
                if user_id and user_id != "-1" and name:
                    names[user_id] = name
        replied_to, name = tweet.get("in_reply_to_user_id"), tweet.get("in_reply_to_screen_name")
        if replied_to and name:
            names[replied_to] = name
    if me.username:
        names[me.account_id] = me.username
    ids_by_name = {name.lower(): user_id for user_id, name in names.items()}

    post_rows = [_post(t, me.account_id, ids_by_name) for t in tweets if cut <= t["created_at"] <= as_of]
    post_rows.sort(key=lambda p: p["created_at"])
    posts = _POSTS.validate_python(post_rows)
    like_rows: list[dict[str, Any]] = []
    for entry in like_entries or ():
        like = entry["like"]
        liked_at = snowflake_time(like["tweet_id"])
        if liked_at is None or not cut <= liked_at <= as_of:
            continue
        found = _STATUS_URL.match(like.get("expanded_url") or "")
        author = ids_by_name.get(found.group(1).lower()) if found else None
        like_rows.append({"post_id": like["tweet_id"], "author_id": author, "post_created_at": liked_at,
                          "seen_at": liked_at})
    likes = _LIKES.validate_python(like_rows)
    dm_events, earlier = _dm_events(dm_entries or [], cut, as_of)
    missing = {"posts": tweet_entries, "likes": like_entries, "following": following, "followers": followers,
               "dm_events": dm_entries}
    # every part is a validated model already: validating the whole again would only check them again
    activity = Activity.model_construct(
        subscriber=Account(id=me.account_id, username=me.username, name=me.display_name,
                           created_at=me.created_at,
                           following_count=len(following) if following is not None else None,
                           followers_count=len(followers) if followers is not None else None,
                           post_count=len(tweets) if tweet_entries is not None else None),
        collected_at=as_of,
        window_start=as_of - timedelta(days=window_days),
        posts=posts,
        likes=likes,
        dm_events=dm_events,
        # usernames stay in ``accounts``: the follow lists hold only ids
        following=cast(list[FollowEdge], following or []),
        followers=cast(list[FollowEdge], followers or []),
        accounts=_ACCOUNTS.validate_python({user_id: {"id": user_id, "username": name}
                                            for user_id, name in names.items()}),
        unavailable=sorted({"mentions", *(name for name, found in missing.items() if found is None)}),
    )
    return Archive(activity, earlier)
