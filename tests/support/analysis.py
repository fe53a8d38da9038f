"""Builders shared by the analysis tests (this module holds no tests).

A ``World`` is one subscriber's week, written the way a test reads: "they
followed 14 months ago", "I replied yesterday". DMs go through
``normalize.dm_event``, the collector's own path, so the analysis only ever
sees fingerprints and flags.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from followthrough import normalize
from followthrough.activity import Account, Activity, DmEvent, FollowEdge, Like, Post, PostKind
from followthrough.analysis import AnalysisConfig, AnalysisResult, History, analyze
from followthrough.xmodels import XDmEvent

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday of 2026-W47
WEEK = "2026-W47"
ME = "100"


def ago(days: float = 0, hours: float = 0, minutes: float = 0, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days, hours=hours, minutes=minutes)


@dataclass
class World:
    now: datetime = NOW
    posts: list[Post] = field(default_factory=list)
    mentions: list[Post] = field(default_factory=list)
    likes: list[Like] = field(default_factory=list)
    dm_events: list[DmEvent] = field(default_factory=list)
    following: list[FollowEdge] = field(default_factory=list)
    followers: list[FollowEdge] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    window_days: float = 7
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def next_id(self) -> str:
        return str(next(self._ids))

    def person(
        self,
        user_id: str,
        username: str | None = None,
        *,
        post_count: int | None = None,
        created: datetime | None = None,
    ) -> Account:
        account = Account(
            id=user_id,
            username=username if username is not None else f"user{user_id}",
            post_count=post_count,
            created_at=created,
        )
        self.accounts[user_id] = account
        return account

    def follow(
        self,
        user_id: str,
        *,
        since: datetime | None = None,
        follows_back: bool = False,
        follower_since: datetime | None = None,
        **person: object,
    ) -> Account:
        account = self.person(user_id, **person)  # type: ignore[arg-type]
        self.following.append(FollowEdge(user_id=account.id, username=account.username, since=since))
        if follows_back:
            self.followers.append(FollowEdge(user_id=account.id, username=account.username, since=follower_since))
        return account

    def follower(self, user_id: str, *, since: datetime | None = None, **person: object) -> Account:
        account = self.person(user_id, **person)  # type: ignore[arg-type]
        self.followers.append(FollowEdge(user_id=account.id, username=account.username, since=since))
        return account

    def post(
        self,
        at: datetime,
        *,
        kind: PostKind = "original",
        to: str | None = None,
        mentions: tuple[str, ...] = (),
        quote_of: str | None = None,
        retweet_of: str | None = None,
        urls: tuple[str, ...] = (),
        hashtags: tuple[str, ...] = (),
        replied_to_id: str | None = None,
        conversation_id: str | None = None,
        post_id: str | None = None,
    ) -> Post:
        """A post by the subscriber; ``to`` is whom a reply answers."""
        post = Post(
            id=post_id or self.next_id(),
            author_id=ME,
            created_at=at,
            kind=kind,
            text="a post",
            in_reply_to_user_id=to,
            replied_to_id=replied_to_id,
            conversation_id=conversation_id,
            quoted_id=self.next_id() if quote_of else None,
            quoted_author_id=quote_of,
            retweeted_id=self.next_id() if retweet_of else None,
            retweeted_author_id=retweet_of,
            # X lists the replied-to and the retweeted author among a post's mentions
            mentioned_ids=[*(x for x in (to, retweet_of) if x), *mentions],
            urls=list(urls),
            hashtags=list(hashtags),
        )
        self.posts.append(post)
        return post

    def reply(self, at: datetime, to: str, **kw: object) -> Post:
        return self.post(at, kind="reply", to=to, **kw)  # type: ignore[arg-type]

    def mention(
        self,
        author: str,
        at: datetime,
        *,
        kind: PostKind = "reply",
        hashtags: tuple[str, ...] = (),
        conversation_id: str | None = None,
        post_id: str | None = None,
        text: str = "hey @me",
    ) -> Post:
        """A post by someone else that mentions the subscriber."""
        post_id = post_id or self.next_id()
        post = Post(
            id=post_id,
            author_id=author,
            created_at=at,
            kind=kind,
            text=text,
            conversation_id=conversation_id or post_id,
            mentioned_ids=[ME],
            hashtags=list(hashtags),
            in_reply_to_user_id=ME if kind == "reply" else None,
        )
        self.mentions.append(post)
        return post

    def answer(self, mention: Post, at: datetime) -> Post:
        return self.post(
            at, kind="reply", to=mention.author_id, replied_to_id=mention.id, conversation_id=mention.conversation_id
        )

    def like(self, author: str, at: datetime) -> Like:
        like = Like(post_id=self.next_id(), author_id=author, seen_at=at)
        self.likes.append(like)
        return like

    def dm(
        self,
        sender: str,
        recipient: str,
        text: str,
        at: datetime,
        *,
        conversation_id: str | None = None,
        participants: list[str] | None = None,
    ) -> DmEvent:
        low, high = sorted((sender, recipient), key=int)
        event = normalize.dm_event(
            XDmEvent(
                id=self.next_id(),
                text=text,
                sender_id=sender,
                created_at=at,
                dm_conversation_id=conversation_id or f"{low}-{high}",
                participant_ids=participants or [],
            )
        )
        self.dm_events.append(event)
        return event

    def activity(self, *, unavailable: tuple[str, ...] = (), subscriber: Account | None = None) -> Activity:
        return Activity(
            subscriber=subscriber or Account(id=ME, username="me"),
            collected_at=self.now,
            window_start=self.now - timedelta(days=self.window_days),
            posts=self.posts,
            mentions=self.mentions,
            likes=self.likes,
            dm_events=self.dm_events,
            following=self.following,
            followers=self.followers,
            accounts=self.accounts,
            unavailable=list(unavailable),
        )

    def analyze(
        self,
        history: History | None = None,
        config: AnalysisConfig | None = None,
        *,
        own_domains: tuple[str, ...] = (),
        unavailable: tuple[str, ...] = (),
    ) -> AnalysisResult:
        return analyze(
            self.activity(unavailable=unavailable),
            history or History(),
            config,
            week=WEEK,
            own_domains=list(own_domains),
        )
