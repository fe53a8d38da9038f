"""Reading an X data archive into normalized activity, for the offline audit.

The archive is the ``.zip`` X lets users download (Settings > Your account >
Download an archive of your data), or its unpacked folder, in any layout X has
shipped since 2019 (``source``). Only the files and fields the analysis needs
are read, one file at a time: a file's raw JSON is validated by pydantic
(``shapes``) into the few fields kept, then dropped before the next is read.

What an archive holds, and how it is read:

- posts: ``tweets.js`` (or ``tweet.js``, split into parts), wrapped
  (``{"tweet": {...}}``) or bare (2019); deleted posts (``deleted-tweets.js``)
  are not counted; the versions of an edited post (``edit_info``) count once,
  as the latest; a long post's whole text is in ``note-tweet.js``; a quote is
  only a ``https://x.com/<handle>/status/<id>`` link in its ``entities.urls``;
- DMs: one-to-one conversations (``direct-messages.js`` or
  ``direct-message.js``) and group ones (``direct-messages-group.js``...): the
  file a conversation is in says which it is (a group conversation need not
  say who joined); messages, business welcome messages and reactions are read;
- names: X ids in the follow lists carry no handle; handles come from
  mentions and reply targets (with ids), quote links, retweets and likes
  (handles only, tied to an id when another entry names both).

What an archive cannot tell, and how it is handled:

- mentions by others are not in it: ``mentions`` is always unavailable;
- follow times are not in it: follows and followers have ``since=None``;
- likes have no time: a like is dated by its post's id (X ids carry their
  creation time), as most likes come soon after a post;
- liked posts rarely name their author (``expandedUrl`` is usually
  ``twitter.com/i/web/status/<id>``): such likes cannot be tied to anyone.

DM texts are reduced to a fingerprint and flags at once (``masking.dm_signals``),
and only for the messages kept; the link and call-to-action flags only for the
first message of each conversation, the only one the automated-DM detector judges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from followthrough import masking
from followthrough.activity import Account, Activity, ConversationType, DmEvent, FollowEdge, Like, Post, PostKind
from followthrough.archive import source as files
from followthrough.archive.errors import ArchiveError, problem
from followthrough.archive.shapes import (
    AccountEntry,
    ArchiveConversation,
    ArchiveFollowEdge,
    ArchiveMessage,
    ArchiveNote,
    ArchiveTweet,
    DmEntry,
    LikeEntry,
    NoteEntry,
    TweetEntry,
    adapter,
)
from followthrough.archive.source import Source
from followthrough.normalize import SNOWFLAKE_EPOCH_MS, snowflake_time

__all__ = ["SNOWFLAKE_EPOCH_MS", "Archive", "ArchiveError", "load_archive", "read_archive", "snowflake_time"]

_STATUS_URL = re.compile(r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(\w{1,15})/status(?:es)?/(\d+)", re.I)
_WRAPPED = re.compile(rb"\s*\[\s*\{\s*\"tweet\"\s*:")  # [{"tweet": {...}}, ...], not 2019's bare [{...}, ...]
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")  # a liked post's hashtags, from its text (like.js has no entities)
_NOTE_MATCH_S = 60  # a long post and its cut-short tweet are made within a minute of each other

# the activity's own models, built many at a time from plain dicts (much faster than one at a time)
_POSTS: TypeAdapter[list[Post]] = TypeAdapter(list[Post])
_LIKES: TypeAdapter[list[Like]] = TypeAdapter(list[Like])
_DM_EVENTS: TypeAdapter[list[DmEvent]] = TypeAdapter(list[DmEvent])
_ACCOUNTS: TypeAdapter[dict[str, Account]] = TypeAdapter(dict[str, Account])


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
    path: str | Path,
    *,
    as_of: datetime | None = None,
    window_days: float = 30,
    lookback_days: float = 120,
    progress: files.Progress | None = None,
) -> Archive:
    """Read an archive (.zip or folder).

    ``as_of`` (default: the archive's generation date, else its newest post or
    DM) is the collection time; the window is the ``window_days`` before it;
    posts, likes and DMs older than ``lookback_days`` are dropped (the passive
    follow window must fit in it). ``progress`` is told of each file as it is
    read (its name, its size and the archive's). Raises ``ArchiveError`` naming the file on a missing, corrupt or
    unexpected file.
    """
    source = Source(Path(path), progress)
    try:
        return _load(source, as_of, window_days, lookback_days)
    finally:
        source.close()


# A file's JSON is validated in runs of entries of about this size: pydantic builds a tree of the whole
# JSON it is given before validating it, several times the JSON's size.
_CHUNK_BYTES = 4 * 2**20
# the first entry of a pretty-printed array, and how far it is indented
_FIRST_ENTRY = re.compile(rb"\[[ \t\r]*\n([ \t]*)\{")


def _chunks(body: bytes) -> Iterator[bytes]:
    """The JSON array ``body`` as arrays of consecutive entries, about ``_CHUNK_BYTES`` each.

    An entry ends where a line holds only the entries' indentation, "}" and ",": X pretty-prints its
    files, and JSON strings hold no line breaks, so no such line is inside an entry. A file printed
    otherwise is one chunk.
    """
    first = _FIRST_ENTRY.match(body)
    if first is None or len(body) <= _CHUNK_BYTES:
        yield body
        return
    end_of_entry = b"\n" + first.group(1) + b"},"
    view = memoryview(body)
    start = 1  # just after "["
    while (cut := body.find(end_of_entry, start + _CHUNK_BYTES)) >= 0:
        comma = cut + len(end_of_entry) - 1
        yield b"".join((b"[", view[start:comma], b"]"))
        start = comma + 1
    yield b"".join((b"[", view[start:]))


def _parsed(source: Source, name: str, entry: Any, body: bytes | None = None) -> Iterator[list[Any]]:
    """A data file's entries, validated a chunk at a time: one list per chunk."""
    if body is None:
        body = source.data_json(name)
    validator = adapter(entry)
    done = 0
    try:
        for chunk in _chunks(body):
            entries = validator.validate_json(chunk)
            del chunk
            done += len(entries)
            yield entries
            del entries
    except ValidationError:
        # worded for the whole file (an entry's number in it, or where the JSON breaks)
        try:
            entries = validator.validate_json(body)
        except ValidationError as exc:
            raise ArchiveError(f"{source.member(name)}: {problem(exc)}") from None
        yield entries[done:]


def _drain(lists: Iterator[list[Any]]) -> Iterator[Any]:
    """The entries in order, each let go of once taken: a file's entries are gone before the next file is read."""
    for entries in lists:
        entries.reverse()
        while entries:
            yield entries.pop()


def _entries(source: Source, kind: files.DataType, entry: Any) -> Iterator[Any]:
    """The entries of every file of a kind, one file at a time."""
    for name in source.find(kind):
        yield from _drain(_parsed(source, name, entry))


def _status_link(urls: list[Any]) -> tuple[str, str] | None:
    """(handle, post id) of the first link to a post on X."""
    for url in urls:
        found = _STATUS_URL.match(url.get("expanded_url") or "")
        if found:
            return found.group(1), found.group(2)
    return None


def _post_row(tweet: ArchiveTweet, subscriber_id: str) -> dict[str, Any]:
    """The ``Post`` fields of one of the subscriber's tweets; handles are tied to ids later (``_Reader._resolve``)."""
    text = tweet.get("full_text", "")
    entities = tweet.get("entities", {})
    mentions = entities.get("user_mentions", [])
    urls = entities.get("urls", [])
    kind: PostKind = "original"
    retweeted = quoted_id = quoted_handle = None
    if text.startswith("RT @"):
        kind = "retweet"
        retweeted = text[4:].split(":", 1)[0].strip()
    else:
        quoted_id = tweet.get("quoted_status_id")
        link = _status_link(urls)
        if link is not None:
            quoted_handle, quoted_id = link
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
        "quoted_author_username": quoted_handle,
        "retweeted_author_username": retweeted,
        "mentioned_ids": [m["id"] for m in mentions if m.get("id") and m["id"] != "-1"],
        "mentioned_usernames": [m["screen_name"] for m in mentions if m.get("screen_name")],
        "urls": [u.get("expanded_url") or u.get("url") for u in urls if u.get("expanded_url") or u.get("url")],
        "hashtags": [h["text"] for h in entities.get("hashtags", [])],
    }


def _version_key(tweet: ArchiveTweet) -> str | None:
    """The first version's id for every version of an edited post, None for a post never edited."""
    edit = tweet.get("edit_info")
    if not edit:
        return None
    versions = edit.get("versions") or []
    if edit.get("initial_id"):
        return edit["initial_id"]
    return tweet["id"] if len(versions) > 1 else None


def _newer(row: dict[str, Any], other: dict[str, Any] | None) -> bool:
    return other is None or (int(row["id"]), row["created_at"]) > (int(other["id"]), other["created_at"])


def _clean_prefix(text: str) -> str:
    """A cut-short long post's text without its trailing link and ellipsis, to compare with the note."""
    words = text.split()
    while words and (words[-1].startswith("https://t.co/") or words[-1] in ("…", "...")):
        words.pop()
    return " ".join(words).rstrip("…").rstrip(".")[:40]


@dataclass
class _Conversation:
    conversation_id: str
    kind: ConversationType
    people: set[str] = field(default_factory=set)
    first: datetime | None = None
    # (event row with its text still in, when), texts turned into signals only for the events kept
    events: list[dict[str, Any]] = field(default_factory=list)


class _Reader:
    """One pass over an archive's files, each read and dropped in turn, into the activity."""

    def __init__(self, source: Source, as_of: datetime | None, window_days: float, lookback_days: float) -> None:
        self.source = source
        self.window = timedelta(days=window_days)
        self.lookback = timedelta(days=lookback_days)
        if as_of is None and source.manifest is not None:
            as_of = source.manifest.archive_info.generation_date
        self.end = None if as_of is None else (as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC))
        self.names: dict[str, str] = {}  # account id -> handle
        self.posts: list[dict[str, Any]] = []
        self.post_count: int | None = None
        # (post id, author's handle, post time, hashtags in its text)
        self.likes: list[tuple[str, str | None, datetime, list[str]]] = []
        self.conversations: list[_Conversation] = []

    def reach(self, at: datetime) -> bool:
        """Whether something at ``at`` is kept (everything is, while the end is not known yet)."""
        return self.end is None or self.end - self.lookback <= at <= self.end

    # --- the files ------------------------------------------------------------------------------

    def account(self) -> Account:
        members = self.source.find(files.ACCOUNT)
        if not members:
            raise ArchiveError(
                f"{self.source.path}: data/account.js not found; is this an X archive "
                "(the .zip from Settings > Your account > Download an archive of your data)?"
            )
        found = [e.account for e in _entries(self.source, files.ACCOUNT, AccountEntry)]
        if not found:
            raise ArchiveError(f"{self.source.member(members[0])}: holds no account")
        me = found[0]
        if me.username:
            self.names[me.account_id] = me.username
        return Account(id=me.account_id, username=me.username, name=me.display_name, created_at=me.created_at)

    def tweets(self, me: str) -> bool:
        """Read the posts; False when the archive has none of the files."""
        members = self.source.find(files.TWEETS)
        latest: dict[str, dict[str, Any]] = {}  # an edited post's first id -> its latest version
        count = 0
        for name in members:
            body = self.source.data_json(name)
            wrapped = _WRAPPED.match(body) is not None
            for entry in _drain(_parsed(self.source, name, TweetEntry if wrapped else ArchiveTweet, body)):
                tweet: ArchiveTweet = entry["tweet"] if wrapped else entry
                if tweet.get("deleted_at"):
                    continue
                self._names_in(tweet)
                key = _version_key(tweet)
                count += key is None or key == tweet["id"]
                if not self.reach(tweet["created_at"]):
                    continue
                row = _post_row(tweet, me)
                if key is None:
                    self.posts.append(row)
                elif _newer(row, latest.get(key)):
                    latest[key] = row
            del body  # before the next file is read
        self.posts.extend(latest.values())
        self.post_count = count
        return bool(members)

    def _names_in(self, tweet: ArchiveTweet) -> None:
        entities = tweet.get("entities")
        if entities:
            for mention in entities.get("user_mentions", ()):
                user_id, name = mention.get("id"), mention.get("screen_name")
                if user_id and user_id != "-1" and name:
                    self.names[user_id] = name
        replied_to, name = tweet.get("in_reply_to_user_id"), tweet.get("in_reply_to_screen_name")
        if replied_to and name:
            self.names[replied_to] = name

    def notes(self) -> None:
        """Long posts: the whole text, links, mentions and hashtags in place of the cut-short tweet's."""
        by_second: dict[int, list[dict[str, Any]]] = {}
        for row in self.posts:
            by_second.setdefault(int(row["created_at"].timestamp()), []).append(row)
        for entry in _entries(self.source, files.NOTE_TWEETS, NoteEntry):
            note = entry["note"]
            post = self._post_of(note, by_second)
            if post is not None:
                _merge_note(post, note)

    @staticmethod
    def _post_of(note: ArchiveNote, by_second: dict[int, list[dict[str, Any]]]) -> dict[str, Any] | None:
        at = int(note["created_at"].timestamp())
        text = note.get("core", {}).get("text", "")
        near = [row for s in range(at - _NOTE_MATCH_S, at + _NOTE_MATCH_S + 1) for row in by_second.get(s, ())]
        fits = [row for row in near if text.startswith(_clean_prefix(row["text"]))]
        return min(fits, key=lambda row: abs(row["created_at"].timestamp() - at), default=None)

    def liked(self) -> bool:
        members = self.source.find(files.LIKES)
        for entry in _entries(self.source, files.LIKES, LikeEntry):
            like = entry["like"]
            liked_at = snowflake_time(like["tweet_id"])
            if liked_at is None or not self.reach(liked_at):
                continue
            found = _STATUS_URL.match(like.get("expanded_url") or "")
            handle = found.group(1) if found and found.group(1).lower() != "i" else None
            self.likes.append((like["tweet_id"], handle, liked_at, _HASHTAG.findall(like.get("full_text") or "")))
        return bool(members)

    def follows(self, kind: files.DataType) -> list[FollowEdge] | None:
        members = self.source.find(kind)
        if not members:
            return None
        edges: list[FollowEdge] = []
        for name in members:
            for chunk in _parsed(self.source, name, ArchiveFollowEdge):
                edges.extend(chunk)
        return edges

    def dms(self) -> bool:
        found = False
        kinds: tuple[tuple[files.DataType, ConversationType], ...] = (
            (files.DMS, "one_to_one"),
            (files.GROUP_DMS, "group"),
        )
        for kind, conversation_type in kinds:
            found |= bool(self.source.find(kind))
            self.conversations.extend(
                _conversation(e["conversation"], conversation_type) for e in _entries(self.source, kind, DmEntry)
            )
        return found

    # --- the activity ---------------------------------------------------------------------------

    def settle_end(self) -> datetime:
        """The end of the audited time: given, the archive's date, else its newest post or DM."""
        if self.end is None:
            times = [row["created_at"] for row in self.posts]
            times += [c.first for c in self.conversations if c.first is not None]
            times += [
                e["created_at"] for c in self.conversations for e in c.events if e["event_type"] != "ReactionCreate"
            ]
            self.end = max(times) if times else datetime.now(UTC)
        return self.end

    def post_models(self) -> list[Post]:
        ids_by_name = {name.lower(): user_id for user_id, name in self.names.items()}
        rows = [row for row in self.posts if self.reach(row["created_at"])]
        for row in rows:
            row["retweeted_author_id"] = ids_by_name.get((row.pop("retweeted_author_username") or "").lower())
            row["quoted_author_id"] = ids_by_name.get((row["quoted_author_username"] or "").lower())
            notes_named = row.pop("note_mentions", ())
            row["mentioned_ids"] += [ids_by_name[n.lower()] for n in notes_named if n.lower() in ids_by_name]
        rows.sort(key=lambda p: p["created_at"])
        return _POSTS.validate_python(rows)

    def like_models(self) -> list[Like]:
        ids_by_name = {name.lower(): user_id for user_id, name in self.names.items()}
        return _LIKES.validate_python(
            [
                {
                    "post_id": post_id,
                    "author_id": ids_by_name.get(handle.lower()) if handle else None,
                    "post_created_at": at,
                    "seen_at": at,
                    "hashtags": tags,  # the weekly chats among the posts liked (those whose author is known)
                }
                for post_id, handle, at, tags in self.likes
                if self.reach(at)
            ]
        )

    def dm_models(self) -> tuple[list[DmEvent], dict[str, datetime]]:
        """DM events in reach, and the conversations that began before it (id -> first message time).

        A conversation that began before the kept period must not look new when
        its next message comes: the analysis is told it is known.
        """
        end = self.settle_end()
        cut = end - self.lookback
        rows: list[dict[str, Any]] = []
        earlier: dict[str, datetime] = {}
        for conversation in self.conversations:
            if conversation.first is not None and conversation.first < cut:
                earlier[conversation.conversation_id] = conversation.first
            rows.extend(_event_rows(conversation, cut, end))
        return _DM_EVENTS.validate_python(rows), earlier


def _merge_note(row: dict[str, Any], note: ArchiveNote) -> None:
    core = note.get("core", {})
    row["text"] = core.get("text") or row["text"]
    for url in core.get("urls", ()):
        if url.get("expanded_url") and url["expanded_url"] not in row["urls"]:
            row["urls"].append(url["expanded_url"])
    for tag in core.get("hashtags", ()):
        if tag.get("text") and tag["text"] not in row["hashtags"]:
            row["hashtags"].append(tag["text"])
    known = {name.lower() for name in row["mentioned_usernames"]}
    named = [m["screen_name"] for m in core.get("mentions", ()) if m.get("screen_name")]
    extra = [name for name in named if name.lower() not in known]
    row["mentioned_usernames"] += extra
    row["note_mentions"] = extra


def _conversation(raw: ArchiveConversation, kind: ConversationType) -> _Conversation:
    """One conversation's people, first message time and events (texts still in)."""
    found = _Conversation(raw["conversation_id"], kind)
    parts = found.conversation_id.split("-")
    if kind == "one_to_one" and len(parts) == 2 and all(p.isdigit() for p in parts):
        found.people.update(parts)
    reactions: dict[str, dict[str, Any]] = {}
    for item in raw.get("messages", ()):
        message = item.get("message")
        if message is not None:
            _add_message(found, message, "MessageCreate", reactions)
        else:
            _read_other(item, found, reactions)
    found.events.extend(reactions.values())
    return found


def _add_message(
    into: _Conversation, message: ArchiveMessage, event_type: str, reactions: dict[str, dict[str, Any]]
) -> None:
    """A message or welcome message; its validated dict becomes the event's row."""
    into.people.add(message["sender_id"])
    recipient = message.get("recipient_id")
    if recipient and recipient != "0":
        into.people.add(recipient)
    at = message["created_at"]
    if into.first is None or at < into.first:
        into.first = at
    row = cast(dict[str, Any], message)
    row["event_type"] = event_type
    into.events.append(row)
    for reaction in message.get("reactions") or ():
        _add_reaction(reactions, reaction, message["id"])


def _read_other(item: Any, into: _Conversation, reactions: dict[str, dict[str, Any]]) -> None:
    """A welcome message, a reaction or a join."""
    if item.get("welcome") is not None:
        _add_message(into, item["welcome"], "WelcomeMessageCreate", reactions)
    elif item.get("reaction") is not None:
        _add_reaction(reactions, item["reaction"], None)
    elif item.get("join") is not None:
        join = item["join"]
        into.people.update(join.get("participants", ()))
        if join.get("initiating_user_id"):
            into.people.add(join["initiating_user_id"])


def _add_reaction(reactions: dict[str, dict[str, Any]], reaction: Any, message_id: str | None) -> None:
    """A reaction, once: X lists it both on its message and as its own event."""
    target = reaction.get("event_id") or message_id or ""
    event_id = f"{target}:{reaction['sender_id']}:{reaction.get('key', '')}"
    reactions[event_id] = {
        "id": event_id,
        "event_type": "ReactionCreate",
        "sender_id": reaction["sender_id"],
        "created_at": reaction["created_at"],
    }


def _event_rows(conversation: _Conversation, cut: datetime, end: datetime) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    opened: datetime | None = None  # when the first kept message was sent
    for row in conversation.events:
        at = row["created_at"]
        if cut <= at <= end:
            kept.append(row)
            if row["event_type"] != "ReactionCreate" and (opened is None or at < opened):
                opened = at
    if not kept:
        return kept
    participants = sorted(conversation.people)
    conversation_id, kind = conversation.conversation_id, conversation.kind
    # Only the first message of a conversation is ever judged as an opener, so only it (or those sent
    # at the same moment) needs the costlier link and call-to-action flags.
    for row in kept:
        row.update(masking.dm_signals(row.pop("text", ""), flags=row["created_at"] == opened))
        row["conversation_id"] = conversation_id
        row["conversation_type"] = kind
        row["participant_ids"] = participants
    return kept


def _load(source: Source, as_of: datetime | None, window_days: float, lookback_days: float) -> Archive:
    reader = _Reader(source, as_of, window_days, lookback_days)
    me = reader.account()
    has_posts = reader.tweets(me.id)
    reader.notes()
    has_likes = reader.liked()
    following = reader.follows(files.FOLLOWING)
    followers = reader.follows(files.FOLLOWERS)
    has_dms = reader.dms()
    end = reader.settle_end()
    dm_events, earlier = reader.dm_models()
    missing = {
        "posts": has_posts,
        "likes": has_likes,
        "following": following is not None,
        "followers": followers is not None,
        "dm_events": has_dms,
    }
    subscriber = me.model_copy(
        update={
            "following_count": len(following) if following is not None else None,
            "followers_count": len(followers) if followers is not None else None,
            "post_count": reader.post_count if has_posts else None,
        }
    )
    # every part is a validated model already: validating the whole again would only check them again
    activity = Activity.model_construct(
        subscriber=subscriber,
        collected_at=end,
        window_start=end - reader.window,
        posts=reader.post_models(),
        likes=reader.like_models(),
        dm_events=dm_events,
        # usernames stay in ``accounts``: the follow lists hold only ids
        following=cast(list[FollowEdge], following or []),
        followers=cast(list[FollowEdge], followers or []),
        accounts=_ACCOUNTS.validate_python(
            {user_id: {"id": user_id, "username": name} for user_id, name in reader.names.items()}
        ),
        unavailable=sorted({"mentions", *(name for name, found in missing.items() if not found)}),
    )
    return Archive(activity, earlier)
