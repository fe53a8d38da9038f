"""A generator of X archives in each layout real exports have had, with the truth they hold labelled.

The shapes follow public readers of real exports (``timhutton/twitter-archive-parser``'s ``parser.py``,
``alkihis/twitter-archive-reader``'s ``TwitterArchive.ts`` and ``types/GDPRDMs.ts``, ``GDPRManifest.ts``):

- ``2019``: files at the archive's root, re-zipped inside one top folder with ``__MACOSX`` companions;
  no manifest; bare tweets (no ``{"tweet": ...}`` wrapper) in ``tweet.js``; singular DM files
  (``direct-message.js``, ``direct-message-group.js``, ``YTD.direct_message.part0``); a UTF-8 BOM and
  CRLF line ends;
- ``2021``: an unpacked folder with ``data/`` and ``data/manifest.js`` naming each type's files
  (``dataTypes.tweet`` -> ``data/tweet.js``), wrapped tweets, plural DM files;
- ``2025``: the .zip as downloaded (a top folder), ``data/manifest.js`` listing ``tweets.js`` and
  ``tweets-part1.js``, ``note-tweet.js``, edited posts (``edit_info``), ``deleted-tweets.js``, business
  welcome messages, reactions, group conversations without join items.

Every layout holds the same world: who the subscriber follows and how (or whether) they interacted
with each of them, and which DMs are automated. ``World.truth`` labels it.
"""

from __future__ import annotations

import json
import random
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from followthrough.archive import SNOWFLAKE_EPOCH_MS

GENERATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ME, MY_HANDLE = "100", "me_on_x"
LAYOUTS = ("2019", "2021", "2025")

# how the subscriber treats a followee, and whether the followee is then a passive follow (None: the
# archive cannot tell, e.g. a quote of someone whose handle appears nowhere else)
SCENARIOS: dict[str, bool | None] = {
    "reply": False,
    "mention": False,
    "retweet": False,
    "quote_known_handle": False,
    "like": False,
    "dm": False,
    "long_post_mention": False,
    "edited_reply": False,
    "reacted_to_their_dm": False,
    "quote_unknown_handle": None,
    "nothing": True,
    "old_reply": True,
    "group_dm_only": True,
    "deleted_reply": True,
    "dm_received_only": True,
}
TEMPLATE_NAMES = ["José", "Zoë", "Łukasz", "李", "أحمد", "Anna", "Björn", "Chen", "Dolores"]


def snowflake(at: datetime, seq: int = 0) -> str:
    """An X id made at ``at`` (ids carry their creation time)."""
    return str(((int(at.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | (seq & 0x3FFFFF))


def x_time(at: datetime) -> str:
    return at.strftime("%a %b %d %H:%M:%S +0000 %Y")


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Truth:
    """What the archive holds, as labels."""

    passive: set[str] = field(default_factory=set)  # followees with no interaction in the passive window
    undeterminable: set[str] = field(default_factory=set)  # followees the archive cannot tell about
    interacted: set[str] = field(default_factory=set)
    auto_received: set[str] = field(default_factory=set)  # senders of automated one-to-one openers
    welcome_senders: set[str] = field(default_factory=set)  # among them, businesses' welcome messages
    not_auto: set[str] = field(default_factory=set)  # senders of one-to-one openers that are real
    group_pitchers: set[str] = field(default_factory=set)  # sent pitches in groups only: never flagged
    auto_sent_recipients: set[str] = field(default_factory=set)  # who got the subscriber's one template
    posts_in_window: int = 0  # the subscriber's posts in the audited window (edits once, deleted not)


class World:
    """The subscriber's archive content, built once, written in any layout."""

    def __init__(self, seed: int = 14, followees: int = 70) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        self.truth = Truth()
        self.handles: dict[str, str] = {}
        self.tweets: list[dict[str, Any]] = []  # the tweet objects (unwrapped)
        self.deleted: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.likes: list[dict[str, Any]] = []
        self.dms: list[dict[str, Any]] = []  # one-to-one conversations
        self.groups: list[dict[str, Any]] = []
        self.superseded: set[str] = set()  # ids of edited posts' earlier versions
        self.long_post_followees: set[str] = set()  # named only in a long post's whole text
        self.following = [str(1000 + i) for i in range(followees)]
        self.followers = [u for u in self.following if self.rng.random() < 0.4] + [str(5000 + i) for i in range(15)]
        for user_id in self.following:
            self.handles[user_id] = f"user_{user_id}"
        scenarios = list(SCENARIOS)
        for i, user_id in enumerate(self.following):
            scenario = scenarios[i % len(scenarios)]
            getattr(self, f"_{scenario}")(user_id, self.ago(self.rng.uniform(1, 25)))
            label = SCENARIOS[scenario]
            {True: self.truth.passive, False: self.truth.interacted, None: self.truth.undeterminable}[label].add(
                user_id
            )
        self._dm_traffic()
        self._background()

    # --- helpers ----------------------------------------------------------------------------------

    def ago(self, days: float) -> datetime:
        return GENERATED - timedelta(days=days)

    def next_id(self, at: datetime) -> str:
        self.seq += 1
        return snowflake(at, self.seq)

    def mention_entity(self, user_id: str) -> dict[str, Any]:
        handle = self.handles[user_id]
        return {
            "name": handle.title(),
            "screen_name": handle,
            "indices": ["0", str(len(handle) + 1)],
            "id_str": user_id,
            "id": user_id,
        }

    def tweet(
        self,
        at: datetime,
        text: str,
        *,
        mentions: tuple[str, ...] = (),
        reply_to: str | None = None,
        urls: tuple[str, ...] = (),
        hashtags: tuple[str, ...] = (),
        count: bool = True,
    ) -> dict[str, Any]:
        tweet_id = self.next_id(at)
        body: dict[str, Any] = {
            "edit_info": {
                "initial": {
                    "editTweetIds": [tweet_id],
                    "editableUntil": iso(at + timedelta(hours=1)),
                    "editsRemaining": "5",
                    "isEditEligible": True,
                }
            },
            "retweeted": False,
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "entities": {
                "hashtags": [{"text": h, "indices": ["0", "4"]} for h in hashtags],
                "symbols": [],
                "user_mentions": [self.mention_entity(u) for u in mentions],
                "urls": [
                    {
                        "url": "https://t.co/abc",
                        "expanded_url": u,
                        "display_url": u.split("//")[1][:20],
                        "indices": ["10", "33"],
                    }
                    for u in urls
                ],
            },
            "display_text_range": ["0", str(len(text))],
            "favorite_count": "1",
            "id_str": tweet_id,
            "truncated": False,
            "retweet_count": "0",
            "id": tweet_id,
            "created_at": x_time(at),
            "favorited": False,
            "full_text": text,
            "lang": "en",
        }
        if reply_to is not None:
            body.update(
                in_reply_to_status_id_str=snowflake(at - timedelta(hours=1), 1),
                in_reply_to_status_id=snowflake(at - timedelta(hours=1), 1),
                in_reply_to_user_id=reply_to,
                in_reply_to_user_id_str=reply_to,
                in_reply_to_screen_name=self.handles.get(reply_to, MY_HANDLE),
            )
        self.tweets.append(body)
        if count and at >= self.ago(30):
            self.truth.posts_in_window += 1
        return body

    def message(
        self, sender: str, recipient: str | None, text: str, at: datetime, kind: str = "messageCreate"
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reactions": [],
            "urls": [],
            "text": text,
            "mediaUrls": [],
            "senderId": sender,
            "id": self.next_id(at),
            "createdAt": iso(at),
            "editHistory": [],
        }
        if recipient is not None:
            body = {"recipientId": recipient, **body}
        return {kind: body}

    def conversation(self, other: str, items: list[dict[str, Any]]) -> None:
        low, high = sorted((ME, other), key=int)
        # X writes a conversation's events newest first
        items.sort(key=lambda item: next(iter(item.values()))["createdAt"], reverse=True)
        self.dms.append({"dmConversation": {"conversationId": f"{low}-{high}", "messages": items}})

    # --- how the subscriber treats a followee -------------------------------------------------------

    def _reply(self, user_id: str, at: datetime) -> None:
        self.tweet(at, f"@{self.handles[user_id]} good point!", mentions=(user_id,), reply_to=user_id)

    def _mention(self, user_id: str, at: datetime) -> None:
        self.tweet(at, f"great thread by @{self.handles[user_id]}", mentions=(user_id,))

    def _retweet(self, user_id: str, at: datetime) -> None:
        self.tweet(at, f"RT @{self.handles[user_id]}: shipping day", mentions=(user_id,))

    def _quote_known_handle(self, user_id: str, at: datetime) -> None:
        self.tweet(self.ago(200), f"long ago with @{self.handles[user_id]}", mentions=(user_id,))  # names them
        self.tweet(at, "so true https://t.co/q1", urls=(f"https://x.com/{self.handles[user_id]}/status/{self.seq}",))

    def _quote_unknown_handle(self, user_id: str, at: datetime) -> None:
        self.tweet(
            at, "this https://t.co/q2", urls=(f"https://twitter.com/{self.handles[user_id]}/status/9{self.seq}",)
        )

    def _like(self, user_id: str, at: datetime) -> None:
        self.tweet(self.ago(300), f"hello @{self.handles[user_id]}", mentions=(user_id,))  # names them
        liked = self.next_id(at)
        self.likes.append(
            {
                "like": {
                    "tweetId": liked,
                    "fullText": "their post",
                    "expandedUrl": f"https://twitter.com/{self.handles[user_id]}/status/{liked}",
                }
            }
        )

    def _dm(self, user_id: str, at: datetime) -> None:
        topic = " and ".join(self.rng.sample(["slides", "demo", "venue", "lunch", "tickets", "schedule", "map"], 3))
        self.conversation(
            user_id,
            [
                self.message(ME, user_id, f"did you see the {topic} for friday?", at),
                self.message(user_id, ME, "yes, see you there", at + timedelta(hours=2)),
            ],
        )

    def _reacted_to_their_dm(self, user_id: str, at: datetime) -> None:
        # the subscriber's only answer is a reaction, listed on the message reacted to
        words = " and ".join(self.rng.sample(["photos", "recipe", "plan", "draft", "poster", "idea"], 2))
        item = self.message(user_id, ME, f"what do you think of the {words}?", at)
        body = item["messageCreate"]
        body["reactions"] = [
            {"senderId": ME, "reactionKey": "like", "eventId": body["id"], "createdAt": iso(at + timedelta(minutes=5))}
        ]
        self.conversation(user_id, [item])
        self.truth.not_auto.add(user_id)

    def _long_post_mention(self, user_id: str, at: datetime) -> None:
        self.tweet(self.ago(250), f"hi @{self.handles[user_id]}", mentions=(user_id,))  # names them
        self.long_post_followees.add(user_id)
        whole = "A long post about gardens. " * 12 + f"Thanks to @{self.handles[user_id]} for the idea."
        self.tweet(at, whole[:254] + "… https://t.co/long1")
        self.notes.append(
            {
                "noteTweet": {
                    "noteTweetId": self.next_id(at),
                    "updatedAt": iso(at),
                    "lifecycle": {"value": "5", "name": "Active", "originalName": "Active", "annotations": {}},
                    "createdAt": iso(at),
                    "core": {
                        "styletags": [],
                        "urls": [],
                        "text": whole,
                        "cashtags": [],
                        "hashtags": [],
                        "mentions": [
                            {
                                "screenName": self.handles[user_id],
                                "fromIndex": str(len(whole) - 30),
                                "toIndex": str(len(whole) - 20),
                            }
                        ],
                    },
                }
            }
        )

    def _edited_reply(self, user_id: str, at: datetime) -> None:
        first = self.tweet(at, f"@{self.handles[user_id]} god point", mentions=(user_id,), reply_to=user_id)
        second = self.tweet(
            at + timedelta(minutes=3),
            f"@{self.handles[user_id]} good point",
            mentions=(user_id,),
            reply_to=user_id,
            count=False,
        )
        versions = [first["id"], second["id"]]
        self.superseded.add(first["id"])
        first["edit_info"]["initial"]["editTweetIds"] = versions
        second["edit_info"] = {
            "edit": {
                "initialTweetId": first["id"],
                "editControlInitial": {
                    "editTweetIds": versions,
                    "editableUntil": iso(at + timedelta(hours=1)),
                    "editsRemaining": "4",
                    "isEditEligible": True,
                },
            }
        }

    def _nothing(self, user_id: str, at: datetime) -> None:
        pass

    def _old_reply(self, user_id: str, at: datetime) -> None:
        self.tweet(self.ago(150), f"@{self.handles[user_id]} indeed", mentions=(user_id,), reply_to=user_id)

    def _group_dm_only(self, user_id: str, at: datetime) -> None:
        # no join item, and only two people wrote: the file says it is a group
        self.groups.append(
            {
                "dmConversation": {
                    "conversationId": str(7_000_000 + int(user_id)),
                    "messages": [
                        self.message(user_id, None, "see you all at the meetup", at + timedelta(hours=1)),
                        self.message(ME, None, "looking forward to it", at),
                    ],
                }
            }
        )

    def _deleted_reply(self, user_id: str, at: datetime) -> None:
        body = self.tweet(at, f"@{self.handles[user_id]} hmm", mentions=(user_id,), reply_to=user_id, count=False)
        self.tweets.remove(body)
        self.deleted.append({**body, "deleted_at": x_time(at + timedelta(hours=1))})

    def _dm_received_only(self, user_id: str, at: datetime) -> None:
        words = self.rng.sample(["garden", "trip", "book", "cat", "talk", "move", "job", "bike", "song"], 3)
        self.conversation(user_id, [self.message(user_id, ME, f"hey, how was the {' and the '.join(words)}?", at)])
        self.truth.not_auto.add(user_id)

    # --- DMs beyond the followees ----------------------------------------------------------------------

    def _dm_traffic(self) -> None:
        pitch = "Hey {n}, thanks for the follow! Check out my free course https://t.co/{u}"
        for i, name in enumerate(TEMPLATE_NAMES):  # one template, many senders: automated
            sender = str(8000 + i)
            self.conversation(
                sender, [self.message(sender, ME, pitch.format(n=name, u=f"c{i}"), self.ago(self.rng.uniform(1, 25)))]
            )
            self.truth.auto_received.add(sender)
        for i in range(3):  # businesses' welcome messages
            business = str(8500 + i)
            at = self.ago(self.rng.uniform(1, 25))
            self.conversation(
                business,
                [
                    self.message(business, ME, f"Welcome to Shop {i}! How can we help?", at, "welcomeMessageCreate"),
                    self.message(ME, business, "where is my order", at + timedelta(minutes=1)),
                ],
            )
            self.truth.auto_received.add(business)
            self.truth.welcome_senders.add(business)
        for i in range(4):  # real conversations others started; one ends with a reaction to the subscriber
            friend = str(8700 + i)
            at = self.ago(self.rng.uniform(2, 25))
            day = ["monday", "tuesday", "wednesday", "thursday"][i]
            reply = self.message(ME, friend, f"sure, would {day} morning suit you?", at + timedelta(hours=1))
            items = [self.message(friend, ME, "coffee next week? I found a nice place", at), reply]
            if i == 0:
                items.append(
                    {
                        "reactionCreate": {
                            "senderId": friend,
                            "reactionKey": "like",
                            "eventId": reply["messageCreate"]["id"],
                            "createdAt": iso(at + timedelta(hours=2)),
                        }
                    }
                )
            else:
                items.append(self.message(friend, ME, "tuesday at ten", at + timedelta(hours=3)))
            self.conversation(friend, items)
            self.truth.not_auto.add(friend)
        for i in range(4):  # the same pitch sent in group conversations (no join items): not one-to-one
            pitcher = str(8800 + i)
            self.groups.append(
                {
                    "dmConversation": {
                        "conversationId": str(9_100_000 + i),
                        "messages": [
                            self.message(
                                pitcher, None, pitch.format(n="Team", u=f"g{i}"), self.ago(self.rng.uniform(1, 25))
                            )
                        ],
                    }
                }
            )
            self.truth.group_pitchers.add(pitcher)
        mine = "Hi {n}, I just launched my newsletter about gardens, would love your feedback https://t.co/{u}"
        for i, name in enumerate(["Ann", "Bo", "Cy", "Dee"]):  # the subscriber's own template, to 4 people
            other = str(8900 + i)
            self.conversation(
                other, [self.message(ME, other, mine.format(n=name, u=f"n{i}"), self.ago(self.rng.uniform(1, 25)))]
            )
            self.truth.auto_sent_recipients.add(other)

    def _background(self) -> None:
        """Posts that touch no followee, and likes no archive can tie to an author."""
        for i in range(12):
            self.tweet(
                self.ago(self.rng.uniform(0.5, 28)),
                f"thinking about gardens, day {i} #gardens",
                hashtags=("gardens",),
                urls=("https://www.me.dev/p/1",) if i % 3 == 0 else (),
            )
        for _ in range(5):
            liked = self.next_id(self.ago(self.rng.uniform(1, 25)))
            self.likes.append(
                {
                    "like": {
                        "tweetId": liked,
                        "fullText": "someone's post",
                        "expandedUrl": f"https://twitter.com/i/web/status/{liked}",
                    }
                }
            )

    # --- writing ------------------------------------------------------------------------------------

    def truth_for(self, layout: str) -> Truth:
        """The labels of the world as written in ``layout``: before 2023 there were no long posts to name anyone."""
        if layout == "2025":
            return self.truth
        truth = Truth(**{k: set(v) if isinstance(v, set) else v for k, v in vars(self.truth).items()})
        truth.interacted -= self.long_post_followees
        truth.passive |= self.long_post_followees
        return truth

    def _tweets_before_edits(self) -> list[dict[str, Any]]:
        """The tweets as archives had them before posts could be edited (2022): one version, no ``edit_info``."""
        return [{k: v for k, v in t.items() if k != "edit_info"} for t in self.tweets if t["id"] not in self.superseded]

    def files(self, layout: str) -> dict[str, bytes]:
        """The archive's files (path inside the archive -> bytes) in one layout."""
        return {"2019": self._files_2019, "2021": self._files_2021, "2025": self._files_2025}[layout]()

    def _common(self, singular: bool) -> dict[str, tuple[str, list[Any]]]:
        dm, group = (
            ("direct-message", "direct-message-group") if singular else ("direct-messages", "direct-messages-group")
        )
        return {
            "account.js": (
                "account",
                [
                    {
                        "account": {
                            "email": "me@example.com",
                            "createdVia": "web",
                            "username": MY_HANDLE,
                            "accountId": ME,
                            "createdAt": "2015-03-01T10:00:00.000Z",
                            "accountDisplayName": "Me",
                        }
                    }
                ],
            ),
            "following.js": (
                "following",
                [
                    {"following": {"accountId": u, "userLink": f"https://twitter.com/intent/user?user_id={u}"}}
                    for u in self.following
                ],
            ),
            "follower.js": (
                "follower",
                [
                    {"follower": {"accountId": u, "userLink": f"https://twitter.com/intent/user?user_id={u}"}}
                    for u in self.followers
                ],
            ),
            "like.js": ("like", self.likes),
            f"{dm}.js": (dm.replace("-", "_"), self.dms),
            f"{group}.js": (group.replace("-", "_"), self.groups),
        }

    def _files_2019(self) -> dict[str, bytes]:
        files = self._common(singular=True)
        files["tweet.js"] = ("tweet", self._tweets_before_edits())
        out = {name: _ytd(key, entries, crlf=True) for name, (key, entries) in files.items()}
        out["account.js"] = b"\xef\xbb\xbf" + out["account.js"]
        out["tweet.js"] = b"\xef\xbb\xbf" + out["tweet.js"]
        return out

    def _files_2021(self) -> dict[str, bytes]:
        files = self._common(singular=False)
        files["tweet.js"] = ("tweet", [{"tweet": t} for t in self._tweets_before_edits()])
        out = {f"data/{name}": _ytd(key, entries) for name, (key, entries) in files.items()}
        types = {
            "account": "account",
            "following": "following",
            "follower": "follower",
            "like": "like",
            "tweet": "tweet",
            "directMessages": "direct-messages",
            "directMessagesGroup": "direct-messages-group",
        }
        out["data/manifest.js"] = _manifest({key: [f"data/{name}.js"] for key, name in types.items()})
        out["Your archive.html"] = b"<html></html>"
        return out

    def _files_2025(self) -> dict[str, bytes]:
        files = self._common(singular=False)
        wrapped = [{"tweet": t} for t in self.tweets]
        half = len(wrapped) // 2
        files["tweets.js"] = ("tweets", wrapped[:half])
        files["note-tweet.js"] = ("note_tweet", self.notes)
        files["deleted-tweets.js"] = ("deleted_tweets", [{"tweet": t} for t in self.deleted])
        out = {f"data/{name}": _ytd(key, entries) for name, (key, entries) in files.items()}
        out["data/tweets-part1.js"] = _ytd("tweets", wrapped[half:], part=1)
        types = {
            "account": ["account"],
            "following": ["following"],
            "follower": ["follower"],
            "like": ["like"],
            "tweets": ["tweets", "tweets-part1"],
            "noteTweet": ["note-tweet"],
            "deletedTweets": ["deleted-tweets"],
            "directMessages": ["direct-messages"],
            "directMessagesGroup": ["direct-messages-group"],
        }
        out["data/manifest.js"] = _manifest({key: [f"data/{n}.js" for n in names] for key, names in types.items()})
        out["Your archive.html"] = b"<html></html>"
        out["data/tweets_media/1-a.jpg"] = b"\xff\xd8 not really a photo"
        return out

    def write(self, root: Path, layout: str) -> Path:
        """The archive in ``layout``: 2019 and 2025 as a .zip in one top folder, 2021 as an unpacked folder."""
        files = self.files(layout)
        if layout == "2021":
            folder = root / "twitter-2021-archive"
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            return folder
        path = root / f"twitter-{layout}.zip"
        top = f"twitter-{layout}-11-20-abc123/"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(top + name, data)
                if layout == "2019":  # re-zipped on a Mac
                    zf.writestr(f"__MACOSX/{top}._{name}", b"\x00\x05\x16\x07 resource fork")
        return path


def _ytd(key: str, entries: list[Any], *, part: int = 0, crlf: bool = False) -> bytes:
    # X pretty-prints with 2 spaces and " : " separators, non-ASCII as is
    text = f"window.YTD.{key}.part{part} = " + json.dumps(
        entries, indent=2, separators=(",", " : "), ensure_ascii=False
    )
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8")


def _global_name(file_name: str) -> str:
    """'data/tweets-part1.js' -> 'YTD.tweets.part1'."""
    stem, _, part = file_name.removeprefix("data/").removesuffix(".js").partition("-part")
    return f"YTD.{stem.replace('-', '_')}.part{part or 0}"


def _manifest(data_types: dict[str, list[str]]) -> bytes:
    body = {
        "userInfo": {"accountId": ME, "userName": MY_HANDLE, "displayName": "Me"},
        "archiveInfo": {
            "sizeBytes": "123456",
            "generationDate": iso(GENERATED),
            "isPartialArchive": False,
            "maxPartSizeBytes": "53687091200",
        },
        "readmeInfo": {"fileName": "data/README.txt", "directory": "data/", "name": "README.txt"},
        "dataTypes": {
            key: {"files": [{"fileName": name, "globalName": _global_name(name), "count": "1"} for name in names]}
            for key, names in data_types.items()
        }
        | {"tweetsMedia": {"mediaDirectory": "data/tweets_media"}},
    }
    return ("window.__THAR_CONFIG = " + json.dumps(body, indent=2)).encode("utf-8")
