"""Deterministic synthetic X accounts with planted facts.

``generate_account(seed, profile, anchor)`` builds one subscriber's world in the
months before ``anchor``; ``advance_week`` adds one more week of activity. The
same seed, profile and anchor always give the same data (one
``random.Random`` drives everything; ids are snowflakes of the event time plus
random low bits, so ordering by id is ordering by time, as on X).

How facts are planted: the subscriber's followees are split into an *active*
pool and a *passive* pool. Every outbound action of the subscriber (reply,
mention, like, retweet, quote, one-to-one DM) targets only active followees or
non-followees, and every active followee gets at least one. Passive followees
may still mention the subscriber (inbound). The ground truth in
``SyntheticAccount.truth`` is then *derived* from the generated wire objects,
so it cannot drift from the data.
"""

from __future__ import annotations

import bisect
import gc
import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from followthrough.analysis.models import InteractionKind
from followthrough.masking import fingerprint
from followthrough.xmodels import (
    XDmEvent,
    XEntities,
    XHashtagEntity,
    XMentionEntity,
    XReference,
    XTweet,
    XTweetMetrics,
    XUrlEntity,
    XUser,
    XUserMetrics,
)
from followthrough_devkit.xsim import texts
from followthrough_devkit.xsim.account import (
    DmNegatives,
    HashtagChat,
    PlantedFacts,
    SyntheticAccount,
    WeekDelta,
    WeeklyChat,
)

TWITTER_EPOCH_MS = 1288834974657
_FIRST_SNOWFLAKE = datetime(2010, 11, 5, tzinfo=UTC)
_TCO_CHARS = string.ascii_letters + string.digits
_LANDING_PAGES = ("guide", "free", "start", "playbook")
_ASCII_FIRST_NAMES = tuple(n for n in texts.FIRST_NAMES if n.isascii())
# usernames are ASCII: "Zoë" becomes "Zo"
_ASCII = {n: n.encode("ascii", "ignore").decode() or "x" for n in texts.FIRST_NAMES + texts.LAST_NAMES}
_EARLIEST_ACCOUNT = datetime(2008, 3, 1, tzinfo=UTC)
# Standard normal draws, indexed by random bits: lognormal account metrics without a gauss() per number.
_NORMAL_RNG = random.Random(20260901)
_NORMAL = tuple(_NORMAL_RNG.gauss(0.0, 1.0) for _ in range(4096))


@dataclass(frozen=True)
class WeeklyRates:
    posts: int
    mentions: int
    likes: int
    dm_events: int
    new_follows: int
    new_followers: int
    lost_followers: int
    auto_dm_senders: int
    # accounts the subscriber unfollows, in about half of the weeks (Realism.own_unfollows)
    unfollows: int = 0


@dataclass(frozen=True)
class Profile:
    following: int
    followers: int
    mutual_share: float  # share of followees who follow back
    active_share: float  # share of followees the subscriber interacts with
    weekly: WeeklyRates
    post_weeks: int  # weeks of own posts in the history
    mentions: int  # mentions in the history (X serves the newest 800)
    likes: int  # likes in the history
    strangers: int  # accounts that are neither followees nor followers
    auto_dm_senders: int
    own_auto_dm_recipients: int
    hashtag_chats: int


_TYPICAL_WEEK = WeeklyRates(
    posts=20,
    mentions=60,
    likes=100,
    dm_events=30,
    new_follows=15,
    new_followers=25,
    lost_followers=3,
    auto_dm_senders=1,
    unfollows=3,
)

_TYPICAL = Profile(
    following=1000,
    followers=1000,
    mutual_share=0.35,
    active_share=0.25,
    weekly=_TYPICAL_WEEK,
    post_weeks=26,
    mentions=1000,
    likes=1500,
    strangers=500,
    auto_dm_senders=6,
    own_auto_dm_recipients=5,
    hashtag_chats=4,
)

PROFILES: dict[str, Profile] = {
    "small": Profile(
        following=150,
        followers=200,
        mutual_share=0.45,
        active_share=0.4,
        weekly=WeeklyRates(4, 12, 20, 6, 3, 5, 1, 1, unfollows=1),
        post_weeks=26,
        mentions=240,
        likes=400,
        strangers=120,
        auto_dm_senders=3,
        own_auto_dm_recipients=3,
        hashtag_chats=2,
    ),
    "typical": _TYPICAL,
    "large": Profile(
        following=5000,
        followers=50000,
        mutual_share=0.5,
        active_share=0.12,
        weekly=WeeklyRates(100, 300, 500, 150, 75, 125, 15, 3, unfollows=10),
        post_weeks=34,
        mentions=1200,
        likes=3000,
        strangers=1500,
        auto_dm_senders=12,
        own_auto_dm_recipients=8,
        hashtag_chats=6,
    ),
    # a typical account that likes a lot and has for years: 35,000 likes, about 1,300 of them in the
    # last 90 days (issue 13: a first run must not spend its whole budget on the like history)
    # a typical account that likes a lot and has for years: 35,000 likes, about 1,300 of them in the
    # last 90 days (issue 13: a first run must not spend its whole budget on the like history)
    "heavy_liker": replace(_TYPICAL, likes=35_000),
    "demo": Profile(
        following=520,
        followers=840,
        mutual_share=0.4,
        active_share=0.3,
        weekly=_TYPICAL_WEEK,
        post_weeks=26,
        mentions=1000,
        likes=1500,
        strangers=400,
        auto_dm_senders=6,
        own_auto_dm_recipients=5,
        hashtag_chats=4,
    ),
}

# How each active followee gets its first (guaranteed) interaction.
_PRIMARY_KINDS: tuple[tuple[InteractionKind, float], ...] = (
    ("like", 0.5),
    ("reply", 0.22),
    ("retweet", 0.1),
    ("mention", 0.07),
    ("quote", 0.06),
    ("dm", 0.05),
)
# The subscriber's posts besides answers to mentions and hashtag chats.
_POST_MIX = (("original", 0.42), ("reply", 0.26), ("quote", 0.1), ("retweet", 0.22))
_ANSWER_SHARE = 0.3  # of the subscriber's weekly posts, replies to mentions
# issue 15: planted each week by advance_week
F4F_PER_WEEK = 2  # follow-for-follow followers: following 3,000-8,000, at least 5 times their followers
RELATIONSHIPS_PER_WEEK = 2  # two or three posts each way with the subscriber within the week
# an ordinary new follower is drawn again while it looks anything like follow-for-follow
_F4F_LOOKALIKE_FOLLOWING, _F4F_LOOKALIKE_RATIO = 1500, 2.0
_THREAD_SHARE = 0.05  # of the subscriber's posts, originals that get one or two thread continuations


def default_anchor() -> datetime:
    """The current hour, UTC."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class _State:
    """What ``advance_week`` needs to keep planting facts the same way."""

    used_ids: set[int] = field(default_factory=set)
    usernames: set[str] = field(default_factory=set)
    active: list[str] = field(default_factory=list)
    passive: set[str] = field(default_factory=set)
    strangers: list[str] = field(default_factory=list)
    follower_only: list[str] = field(default_factory=list)
    # users in planted scenarios: never dropped as lost followers
    protected: set[str] = field(default_factory=set)
    dm_fingerprints: set[str] = field(default_factory=set)


def _pick_weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    r = rng.random() * sum(w for _, w in table)
    for name, weight in table:
        r -= weight
        if r < 0:
            return name
    return table[-1][0]


class _Gen:
    """Builds or extends one account; all randomness flows from ``rng``."""

    def __init__(self, rng: random.Random, account: SyntheticAccount, state: _State, profile: Profile) -> None:
        self.rng = rng
        self.acc = account
        self.st = state
        self.prof = profile
        self.me = account.me
        self.first_name = (account.me.name or account.me.username).split()[0]
        # instants already taken, so every list has a strict newest-first order
        self.like_instants = set(account.like_times.values())
        self.follow_instants = set(account.follow_times.values())
        self.follower_instants = set(account.follower_times.values())

    # ----- ids, times, users -------------------------------------------------

    def snowflake(self, t: datetime) -> str:
        ms = int(t.timestamp() * 1000)
        while True:
            value = ((ms - TWITTER_EPOCH_MS) << 22) | self.rng.getrandbits(22)
            if value not in self.st.used_ids:
                self.st.used_ids.add(value)
                return str(value)

    def legacy_id(self) -> str:
        while True:
            value = self.rng.randrange(10_000_000, 250_000_000)
            if value not in self.st.used_ids:
                self.st.used_ids.add(value)
                return str(value)

    def between(self, start: datetime, end: datetime) -> datetime:
        span = max(int((end - start).total_seconds()), 1)
        return start + timedelta(seconds=self.rng.randrange(span))

    def username(self, first: str, last: str, bits: int) -> str:
        first_a = _ASCII[first]
        last_a = _ASCII[last]
        pattern = bits % 5
        if pattern == 0:
            base = first_a + last_a
        elif pattern == 1:
            base = f"{first_a}_{last_a}"
        elif pattern == 2:
            base = f"{first_a.lower()}{last_a[0].lower()}{10 + (bits >> 3) % 90}"
        elif pattern == 3:
            base = f"the{first_a}{last_a[0]}"
        else:
            base = f"{first_a[0]}{last_a}".lower()
        base = base[:15]
        name = base
        attempts = 0
        while name.lower() in self.st.usernames:
            attempts += 1
            suffix = str(self.rng.randrange(1, 10 ** min(2 + attempts // 4, 6)))
            name = base[: 15 - len(suffix)] + suffix
        self.st.usernames.add(name.lower())
        return name

    def new_user(self, *, newest: datetime | None = None, ascii_name: bool = False) -> XUser:
        """A new account created before ``newest``; one draw of random bits feeds most of its fields."""
        rng = self.rng
        bits = rng.getrandbits(64)
        more = rng.getrandbits(64)
        names = _ASCII_FIRST_NAMES if ascii_name else texts.FIRST_NAMES
        first = names[(bits & 0xFFF) % len(names)]
        last = texts.LAST_NAMES[((bits >> 12) & 0xFFF) % len(texts.LAST_NAMES)]
        role = texts.BIO_ROLES[((bits >> 24) & 0xFF) % len(texts.BIO_ROLES)]
        topic = texts.BIO_TOPICS[((bits >> 32) & 0xFF) % len(texts.BIO_TOPICS)]
        tail = texts.BIO_TAILS[((bits >> 40) & 0xFF) % len(texts.BIO_TAILS)]
        newest = newest or self.acc.anchor - timedelta(days=7)
        span = max(int((newest - _EARLIEST_ACCOUNT).total_seconds()), 1)
        created = _EARLIEST_ACCOUNT + timedelta(seconds=rng.getrandbits(32) % span)
        uid = self.snowflake(created) if created >= _FIRST_SNOWFLAKE else self.legacy_id()
        followers = int(math.exp(5.6 + 1.7 * _NORMAL[more & 0xFFF]))
        user = XUser.model_construct(
            id=uid,
            username=self.username(first, last, (more >> 48) & 0xFFFF),
            name=f"{first} {last}" if ((bits >> 48) & 0xFF) < 218 else first,
            created_at=created,
            description=f"{role} · {topic}. {tail}".strip(),
            protected=((bits >> 56) & 0xFF) < 8,
            public_metrics=XUserMetrics.model_construct(
                followers_count=followers,
                following_count=int(math.exp(5.9 + 1.1 * _NORMAL[(more >> 12) & 0xFFF])),
                tweet_count=int(math.exp(7.0 + 1.6 * _NORMAL[(more >> 24) & 0xFFF])),
                listed_count=followers // 60,
                like_count=int(math.exp(7.2 + 1.6 * _NORMAL[(more >> 36) & 0xFFF])),
            ),
        )
        self.acc.users[uid] = user
        return user

    def user(self, uid: str) -> XUser:
        return self.acc.users[uid]

    def ordinary_user(self, *, newest: datetime | None = None) -> XUser:
        """A new account that looks nothing like a follow-for-follow one (redrawn while it does)."""
        while True:
            user = self.new_user(newest=newest)
            m = user.public_metrics
            if m is None or not (
                m.following_count >= _F4F_LOOKALIKE_FOLLOWING
                and m.following_count >= _F4F_LOOKALIKE_RATIO * max(m.followers_count, 1)
            ):
                return user
            del self.acc.users[user.id]

    def follow_for_follow_user(self, *, newest: datetime | None = None) -> XUser:
        """An account following thousands, far more than follow it: the essay's follow-for-follow follower."""
        user = self.new_user(newest=newest)
        following = self.rng.randrange(3000, 8000)
        metrics = user.public_metrics
        assert metrics is not None
        user = user.model_copy(
            update={
                "public_metrics": metrics.model_copy(
                    update={"following_count": following, "followers_count": following // self.rng.randrange(5, 40)}
                )
            }
        )
        self.acc.users[user.id] = user
        return user

    # ----- posts ------------------------------------------------------------

    def tco(self) -> str:
        return "https://t.co/" + "".join(self.rng.choice(_TCO_CHARS) for _ in range(10))

    def tweet(
        self,
        author: XUser,
        at: datetime,
        body: str,
        *,
        reply_to: XTweet | None = None,
        quote: XTweet | None = None,
        retweet: XTweet | None = None,
        mention: list[XUser] | None = None,
        links: list[str] | None = None,
        hashtags: list[str] | None = None,
    ) -> XTweet:
        """One post in X's wire shape; mentions, links and hashtags go into text and entities alike."""
        rng = self.rng
        tid = self.snowflake(at)
        mentions = list(mention or [])
        refs: list[XReference] = []
        conversation_id = tid
        in_reply_to: str | None = None
        url_entities: list[XUrlEntity] = []
        prefix = ""
        suffix = ""
        if retweet is not None:
            original_author = self.user(retweet.author_id or "")
            mentions = [original_author]
            body = f"RT @{original_author.username}: {retweet.text}"
            if len(body) > 280:
                body = body[:279] + "…"
            refs.append(XReference.model_construct(type="retweeted", id=retweet.id))
        else:
            if reply_to is not None:
                refs.append(XReference.model_construct(type="replied_to", id=reply_to.id))
                conversation_id = reply_to.conversation_id or reply_to.id
                in_reply_to = reply_to.author_id
                if reply_to.author_id != author.id:
                    target = self.user(reply_to.author_id or "")
                    mentions = [target, *[m for m in mentions if m.id != target.id]]
                    prefix = "".join(f"@{m.username} " for m in mentions)
            elif mentions:
                suffix += " " + " ".join(f"@{m.username}" for m in mentions)
            for tag in hashtags or []:
                suffix += f" #{tag}"
            for link in links or []:
                short = self.tco()
                suffix += f" {short}"
                display = link.split("://", 1)[-1]
                url_entities.append(
                    XUrlEntity.model_construct(
                        url=short, expanded_url=link, display_url=display[:26] + ("…" if len(display) > 26 else "")
                    )
                )
            if quote is not None:
                quoted_author = self.user(quote.author_id or "")
                short = self.tco()
                suffix += f" {short}"
                link = f"https://x.com/{quoted_author.username}/status/{quote.id}"
                url_entities.append(
                    XUrlEntity.model_construct(url=short, expanded_url=link, display_url=link[8:34] + "…")
                )
                refs.append(XReference.model_construct(type="quoted", id=quote.id))
            body = prefix + body + suffix
        entities = None
        if mentions or url_entities or hashtags:
            entities = XEntities.model_construct(
                mentions=[XMentionEntity.model_construct(username=m.username, id=m.id) for m in mentions],
                urls=url_entities,
                hashtags=[XHashtagEntity.model_construct(tag=t) for t in (hashtags or [])] if retweet is None else [],
            )
        likes = int(math.exp(rng.gauss(1.5, 1.3)))
        return XTweet.model_construct(
            id=tid,
            text=body,
            author_id=author.id,
            created_at=at,
            conversation_id=conversation_id,
            in_reply_to_user_id=in_reply_to,
            referenced_tweets=refs,
            entities=entities,
            public_metrics=XTweetMetrics.model_construct(
                retweet_count=likes // 6, reply_count=rng.randrange(0, 4), like_count=likes, quote_count=likes // 20
            ),
            edit_history_tweet_ids=[tid],
        )

    def others_post(self, author: XUser, at: datetime, *, hashtags: list[str] | None = None) -> XTweet:
        rng = self.rng
        links = (
            [f"https://{rng.choice(texts.OTHER_DOMAINS)}/{rng.choice(texts.LINK_PATHS)}"] if rng.random() < 0.2 else []
        )
        post = self.tweet(author, at, rng.choice(texts.OTHERS_POSTS), links=links, hashtags=hashtags)
        self.acc.referenced[post.id] = post
        return post

    def own_link(self) -> str:
        return f"https://{self.rng.choice(self.acc.own_domains)}/{self.rng.choice(texts.LINK_PATHS)}"

    def pick_target(self, required: list[str]) -> XUser:
        """Someone the subscriber acts towards: a required active followee first, else active or non-followee."""
        if required:
            return self.user(required.pop())
        r = self.rng.random()
        if r < 0.55 and self.st.active:
            return self.user(self.rng.choice(self.st.active))
        if r < 0.85 and self.st.strangers:
            return self.user(self.rng.choice(self.st.strangers))
        pool = self.st.follower_only or self.st.strangers
        return self.user(self.rng.choice(pool))

    def make_posts(self, start: datetime, end: datetime, count: int, required: dict[str, list[str]]) -> list[XTweet]:
        """The subscriber's originals, replies to others, self-threads, quotes and retweets."""
        rng = self.rng
        kinds = [_pick_weighted(rng, _POST_MIX) for _ in range(count)]
        for kind in ("reply", "quote", "retweet"):
            missing = len(required.get(kind, [])) - kinds.count(kind)
            kinds.extend([kind] * max(missing, 0))
        n_mention_posts = len(required.get("mention", []))
        n_threads = round(count * _THREAD_SHARE)
        made: list[XTweet] = []
        originals: list[XTweet] = []
        for kind in kinds:
            at = self.between(start, end)
            if kind == "original":
                mention: list[XUser] = []
                if n_mention_posts > 0:
                    mention = [self.user(required["mention"].pop())]
                    n_mention_posts -= 1
                elif rng.random() < 0.06 and self.st.strangers:
                    mention = [self.user(rng.choice(self.st.strangers))]
                links: list[str] = []
                own = False
                if rng.random() < 0.3:
                    own = rng.random() < 0.5
                    links = [
                        self.own_link()
                        if own
                        else f"https://{rng.choice(texts.OTHER_DOMAINS)}/{rng.choice(texts.LINK_PATHS)}"
                    ]
                tags = [rng.choice(texts.HASHTAGS)] if rng.random() < 0.25 else []
                opener, subject = rng.choice(texts.ORIGINAL_OPENERS), rng.choice(texts.ORIGINAL_SUBJECTS)
                body = f"{opener} {subject}. {rng.choice(texts.ORIGINAL_LESSONS)}"
                post = self.tweet(self.me, at, body, mention=mention, links=links, hashtags=tags)
                if own:
                    self.acc.truth.own_link_post_ids.add(post.id)
                originals.append(post)
            elif kind == "reply":
                target = self.pick_target(required.get("reply", []))
                parent = self.others_post(target, at - timedelta(minutes=rng.randrange(5, 2880)))
                post = self.tweet(self.me, at, rng.choice(texts.REPLY_BODIES), reply_to=parent)
            elif kind == "quote":
                target = self.pick_target(required.get("quote", []))
                quoted = self.others_post(target, at - timedelta(minutes=rng.randrange(60, 7200)))
                post = self.tweet(self.me, at, rng.choice(texts.QUOTE_COMMENTS), quote=quoted)
            else:
                target = self.pick_target(required.get("retweet", []))
                original = self.others_post(target, at - timedelta(minutes=rng.randrange(10, 4320)))
                post = self.tweet(self.me, at, "", retweet=original)
            made.append(post)
        # Thread continuations: a few minutes after an original, replying to the subscriber's own post.
        roots = [p for p in originals if p.created_at and p.created_at < end - timedelta(minutes=30)]
        for _ in range(min(n_threads, len(roots))):
            root = rng.choice(roots)
            parent = root
            at = root.created_at or start
            for _ in range(rng.randrange(1, 3)):
                at = at + timedelta(minutes=rng.randrange(1, 8))
                post = self.tweet(self.me, at, rng.choice(texts.THREAD_CONTINUATIONS), reply_to=parent)
                self.acc.truth.self_reply_ids.add(post.id)
                made.append(post)
                parent = post
        # more followees to mention than originals to mention them in: they get a like instead
        required.setdefault("like", []).extend(required.pop("mention", []))
        self.acc.posts.extend(made)
        return made

    def hashtag_chat(self, start: datetime, index: int) -> list[XTweet]:
        """One hour of a hashtag chat: the subscriber posts with the tag several times, others too."""
        rng = self.rng
        tag = texts.CHAT_TAGS[index % len(texts.CHAT_TAGS)]
        participants = [self.user(uid) for uid in rng.sample(self.st.active, min(2, len(self.st.active)))]
        participants += [self.user(uid) for uid in rng.sample(self.st.strangers, min(3, len(self.st.strangers)))]
        if self.st.follower_only:
            participants.append(self.user(rng.choice(self.st.follower_only)))
        chat = HashtagChat(tag=tag, start=start, end=start + timedelta(hours=1))

        def minute(lo: int, hi: int) -> datetime:
            return start + timedelta(minutes=rng.randrange(lo, hi), seconds=rng.randrange(60))

        mine: list[XTweet] = []
        for i, answer in enumerate(texts.CHAT_ANSWERS[: rng.randrange(3, 6)]):
            mine.append(self.tweet(self.me, minute(5 + 10 * i, 14 + 10 * i), answer, hashtags=[tag]))
        others = [self.others_post(p, minute(0, 55), hashtags=[tag]) for p in participants]
        answered = rng.sample(others, 2)
        for other in others:  # answer two, like the rest: either way they show up in what X serves
            at = (other.created_at or start) + timedelta(minutes=rng.randrange(1, 5))
            if other in answered:
                mine.append(self.tweet(self.me, at, rng.choice(texts.REPLY_BODIES), reply_to=other, hashtags=[tag]))
            else:
                self.like(other, at)
        chat_mentions: list[XTweet] = []
        for p in rng.sample(participants, 3):
            body = rng.choice(texts.CHAT_OTHERS)
            chat_mentions.append(self.tweet(p, minute(10, 58), body, mention=[self.me], hashtags=[tag]))
        self.acc.mentions.extend(chat_mentions)
        self.acc.posts.extend(mine)
        chat.subscriber_post_ids = [p.id for p in mine]
        chat.other_post_ids = [p.id for p in others + chat_mentions]
        self.acc.truth.hashtag_chats.append(chat)
        return mine

    def make_mentions(self, start: datetime, end: datetime, count: int) -> list[XTweet]:
        """Posts by others that mention the subscriber: replies to their posts and plain mentions."""
        rng = self.rng
        own = sorted(
            (p for p in self.acc.posts if not p.referenced_tweets and p.created_at is not None),
            key=lambda p: p.created_at or start,
        )
        own_times = [p.created_at or start for p in own]
        passive = sorted(self.st.passive)
        made: list[XTweet] = []
        for _ in range(count):
            at = self.between(start, end)
            r = rng.random()
            if r < 0.35 and self.st.follower_only:
                author = self.user(rng.choice(self.st.follower_only))
            elif r < 0.68 or not self.st.active:
                author = self.user(rng.choice(self.st.strangers))
            elif r < 0.9 or not passive:
                author = self.user(rng.choice(self.st.active))
            else:
                author = self.user(rng.choice(passive))
            body = rng.choice(texts.MENTION_BODIES)
            # a recent post of the subscriber to reply to, if any
            hi = bisect.bisect_left(own_times, at)
            lo = bisect.bisect_left(own_times, at - timedelta(days=10))
            if rng.random() < 0.55 and hi > lo:
                parent = own[rng.randrange(lo, hi)]
                post = self.tweet(author, at, body, reply_to=parent)
            else:
                mention = [self.me]
                if rng.random() < 0.15 and self.st.strangers:
                    other = self.user(rng.choice(self.st.strangers))
                    if other.id != author.id:
                        mention.append(other)
                post = self.tweet(author, at, body.capitalize(), mention=mention)
            made.append(post)
        self.acc.mentions.extend(made)
        return made

    def answer_mentions(
        self, candidates: list[XTweet], count: int, end: datetime, earliest: datetime | None = None
    ) -> list[XTweet]:
        """The subscriber replies to some mentions within minutes to hours (late ones: early in the week)."""
        rng = self.rng
        answered = self.acc.truth.answered_mentions
        eligible = [
            m
            for m in candidates
            if m.author_id not in self.st.passive
            and m.id not in answered
            and m.created_at is not None
            and m.created_at < end - timedelta(minutes=10)
        ]
        made: list[XTweet] = []
        for mention in rng.sample(eligible, min(count, len(eligible))):
            created = mention.created_at or end
            if earliest is not None and created < earliest:
                at = self.between(earliest, min(end, earliest + timedelta(days=2)))
            else:
                at = self.between(
                    created + timedelta(minutes=5), min(end - timedelta(minutes=1), created + timedelta(hours=10))
                )
            tags = [h.tag for h in mention.entities.hashtags] if mention.entities else []
            extra = [
                self.user(m.id)
                for m in (mention.entities.mentions if mention.entities else [])
                if m.id and m.id not in (self.me.id, mention.author_id)
            ]
            reply = self.tweet(
                self.me, at, rng.choice(texts.ANSWER_BODIES), reply_to=mention, mention=extra, hashtags=tags
            )
            answered[mention.id] = reply.id
            made.append(reply)
        self.acc.posts.extend(made)
        return made

    def make_likes(self, start: datetime, end: datetime, count: int, required: list[str]) -> list[XTweet]:
        rng = self.rng
        made: list[XTweet] = []
        likable_mentions = [
            m for m in self.acc.mentions if m.author_id not in self.st.passive and m.id not in self.acc.like_times
        ]
        for _ in range(count):
            at = self.between(start, end)
            if likable_mentions and rng.random() < 0.04:
                mention = likable_mentions.pop(rng.randrange(len(likable_mentions)))
                created = mention.created_at or start
                if start <= created < end:
                    at = self.between(created + timedelta(minutes=1), min(end, created + timedelta(hours=6)))
                    self.like(mention, at)
                    made.append(mention)
                    continue
            author = self.pick_target(required)
            post = self.others_post(author, at - timedelta(minutes=rng.randrange(2, 4320)))
            self.like(post, at)
            made.append(post)
        return made

    def like(self, post: XTweet, at: datetime) -> None:
        while at in self.like_instants:
            at += timedelta(seconds=1)
        self.like_instants.add(at)
        self.acc.like_times[post.id] = at
        self.acc.likes.append(post)

    # ----- DMs --------------------------------------------------------------

    def conversation_id(self, a: str, b: str) -> str:
        low, high = sorted((a, b), key=int)
        return f"{low}-{high}"

    def dm(self, sender: str, other: str, at: datetime, text: str) -> XDmEvent:
        event = XDmEvent.model_construct(
            id=self.snowflake(at),
            event_type="MessageCreate",
            text=text,
            sender_id=sender,
            dm_conversation_id=self.conversation_id(sender, other),
            created_at=at,
            participant_ids=[],
        )
        self.acc.dm_events.append(event)
        return event

    def filler_text(self) -> str:
        """A DM no other generated DM normalizes to (so it never looks automated)."""
        rng = self.rng
        for attempt in range(40):
            text = f"{rng.choice(texts.DM_OPENERS)}, {rng.choice(texts.DM_MIDDLES)}, {rng.choice(texts.DM_CLOSERS)}"
            if attempt > 20:
                text += f" {rng.choice(texts.DM_MIDDLES)} too"
            fp = fingerprint(text)
            if fp not in self.st.dm_fingerprints:
                self.st.dm_fingerprints.add(fp)
                return text
        return text

    def conversation(self, partner: str, start: datetime, end: datetime, messages: int, *, me_first: bool) -> None:
        rng = self.rng
        at = self.between(start, end - timedelta(hours=2))
        sender = self.me.id if me_first else partner
        for _ in range(messages):
            if at >= end:
                break
            self.dm(sender, partner if sender == self.me.id else self.me.id, at, self.filler_text())
            if rng.random() < 0.7:
                sender = partner if sender == self.me.id else self.me.id
            at += timedelta(minutes=rng.randrange(2, 1440))

    def group_conversation(self, start: datetime, end: datetime) -> int:
        rng = self.rng
        pool = [uid for uid in self.st.strangers + self.st.follower_only if uid not in self.st.protected]
        members = rng.sample(pool, 3)
        at = self.between(start, end - timedelta(days=2))
        conv = self.snowflake(at)
        join = XDmEvent.model_construct(
            id=self.snowflake(at),
            event_type="ParticipantsJoin",
            text=None,
            sender_id=members[0],
            dm_conversation_id=conv,
            created_at=at,
            participant_ids=[self.me.id, *members[1:]],
        )
        self.acc.dm_events.append(join)
        senders = [*members, self.me.id]
        n = rng.randrange(5, 9)
        for _ in range(n):
            at += timedelta(minutes=rng.randrange(1, 600))
            self.acc.dm_events.append(
                XDmEvent.model_construct(
                    id=self.snowflake(at),
                    event_type="MessageCreate",
                    text=self.filler_text(),
                    sender_id=rng.choice(senders),
                    dm_conversation_id=conv,
                    created_at=at,
                    participant_ids=[],
                )
            )
        return n + 1

    def auto_dm_sender(self, start: datetime, end: datetime, family: int) -> XUser:
        """A new follower who sends one templated DM with a link minutes after following, then nothing."""
        rng = self.rng
        sender = self.new_user(newest=start, ascii_name=True)
        followed = self.between(start, end - timedelta(minutes=30))
        self.add_follower(sender, followed, planted=True)
        template = texts.AUTO_DM_TEMPLATES[family % len(texts.AUTO_DM_TEMPLATES)]
        slug = sender.username.lower()
        text = template.format(
            recipient=self.first_name,
            sender=(sender.name or "Sam").split()[0],
            n=rng.choice((3, 5, 10, 12, 25, 50, 100)),
            d=rng.choice((7, 14, 21, 30, 60, 90)),
            url=f"https://{slug}.example/{rng.choice(_LANDING_PAGES)}?ref={rng.randrange(100, 9999)}",
        )
        event = self.dm(sender.id, self.me.id, followed + timedelta(minutes=rng.randrange(1, 20)), text)
        self.acc.truth.auto_dm_sender_ids.add(sender.id)
        self.acc.truth.auto_dm_event_ids.add(event.id)
        return sender

    def own_auto_dm(self, start: datetime, end: datetime) -> tuple[XUser, XDmEvent]:
        rng = self.rng
        recipient = self.new_user(newest=start, ascii_name=True)
        followed = self.between(start, end - timedelta(hours=3))
        self.add_follower(recipient, followed, planted=True)
        text = texts.OWN_AUTO_DM_TEMPLATE.format(
            recipient=(recipient.name or "there").split()[0],
            url=f"https://newsletter.{self.acc.own_domains[0]}/?ref={rng.randrange(100, 9999)}",
        ) + rng.choice(("", " :)", " 🙂", "!"))
        event = self.dm(self.me.id, recipient.id, followed + timedelta(minutes=rng.randrange(1, 6)), text)
        self.acc.truth.own_auto_dm_recipient_ids.add(recipient.id)
        self.acc.truth.own_auto_dm_event_ids.add(event.id)
        return recipient, event

    # ----- follow graph -----------------------------------------------------

    def add_follower(self, user: XUser, at: datetime, *, planted: bool = False) -> None:
        """``planted`` followers play one scripted part and stay out of the random pools."""
        while at in self.follower_instants:
            at += timedelta(seconds=1)
        self.follower_instants.add(at)
        self.acc.follower_times[user.id] = at
        self.acc.followers.append(user)
        if planted:
            self.st.protected.add(user.id)
        elif user.id not in self.acc.follow_times:
            self.st.follower_only.append(user.id)

    def add_followee(self, user: XUser, at: datetime) -> None:
        while at in self.follow_instants:
            at += timedelta(seconds=1)
        self.follow_instants.add(at)
        self.acc.follow_times[user.id] = at
        self.acc.following.append(user)

    def follow_time(self, since: datetime, user: XUser, recent: bool) -> datetime:
        """When a follow began: in the last eight weeks, or earlier; never before either account existed."""
        # integer seconds: this runs once per follower, 50,000 times for the large profile
        end = int(self.acc.anchor.timestamp())
        lo = int(max(since, user.created_at or since).timestamp()) + 3600
        recent_start = max(end - 8 * 7 * 86400, lo)
        if recent:
            lo, hi = recent_start, end
        else:
            hi = max(recent_start, lo + 86400)
        return datetime.fromtimestamp(lo + self.rng.getrandbits(40) % max(hi - lo, 1), UTC)


def _primary_kinds(rng: random.Random, active: list[str]) -> dict[str, list[str]]:
    required: dict[str, list[str]] = {kind: [] for kind, _ in _PRIMARY_KINDS}
    for uid in active:
        required[_pick_weighted(rng, _PRIMARY_KINDS)].append(uid)
    return required


def generate_account(seed: int, profile: str = "demo", anchor: datetime | None = None) -> SyntheticAccount:
    """One subscriber's world in the months before ``anchor`` (UTC; default: the current hour)."""
    # Hundreds of thousands of small acyclic objects: the cyclic collector would only slow this down.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _generate(seed, profile, anchor)
    finally:
        if paused:
            gc.enable()


def _generate(seed: int, profile: str, anchor: datetime | None) -> SyntheticAccount:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    prof = PROFILES[profile]
    anchor = (anchor or default_anchor()).astimezone(UTC)
    # the anchor only places the account in time: the same seed is the same people and story
    rng = random.Random(f"followthrough-xsim:{seed}:{profile}")
    state = _State()
    truth = PlantedFacts()
    placeholder = XUser.model_construct(id="0", username="placeholder", name="")
    acc = SyntheticAccount(
        seed=seed,
        profile=profile,
        anchor=anchor,
        me=placeholder,
        posts=[],
        mentions=[],
        likes=[],
        following=[],
        followers=[],
        follow_times={},
        follower_times={},
        like_times={},
        dm_events=[],
        users={},
        referenced={},
        own_domains=[],
        truth=truth,
        state=state,
    )
    gen = _Gen(rng, acc, state, prof)

    # The subscriber.
    me = gen.new_user(newest=anchor - timedelta(days=3 * 365), ascii_name=True)
    acc.me = me
    gen.me = me
    gen.first_name = (me.name or me.username).split()[0]
    slug = me.username.lower().replace("_", "")
    acc.own_domains = [f"{slug}.example", f"{slug}.substack.example"]
    since = me.created_at or anchor - timedelta(days=3 * 365)

    # Follow graph: followees, then followers (mutuals are followees who follow back).
    week = prof.weekly
    # the planted "thanks for the follow" pair are followed later; the second already follows the subscriber
    thanked = len(texts.THANKS_FOR_FOLLOW)
    for i in range(prof.following - thanked):
        user = gen.new_user()
        gen.add_followee(user, gen.follow_time(since, user, recent=i < week.new_follows * 8))
    followees = [u.id for u in acc.following]
    mutuals = rng.sample(followees, min(int(prof.following * prof.mutual_share), prof.followers))
    planted_new_followers = prof.auto_dm_senders + prof.own_auto_dm_recipients + thanked - 1
    for i, uid in enumerate(mutuals):
        user = acc.users[uid]
        gen.add_follower(user, gen.follow_time(since, user, recent=i < week.new_followers * 2))
    for i in range(prof.followers - len(mutuals) - planted_new_followers):
        user = gen.new_user()
        gen.add_follower(user, gen.follow_time(since, user, recent=i < week.new_followers * 6))
    state.strangers = [gen.new_user().id for _ in range(prof.strangers)]

    # Active and passive followees.
    active = rng.sample(followees, max(int(prof.following * prof.active_share), 8))
    active_set = set(active)
    mutual_set = set(mutuals)
    state.active = active
    state.passive = set(followees) - active_set

    # Planted DM scenarios, all within the last four weeks.
    recent = anchor - timedelta(days=28)
    for i in range(prof.auto_dm_senders):
        gen.auto_dm_sender(
            recent, anchor - timedelta(days=1), family=0 if i < (prof.auto_dm_senders * 2 + 2) // 3 else 1
        )
    own_recipients = [gen.own_auto_dm(recent, anchor - timedelta(days=1)) for _ in range(prof.own_auto_dm_recipients)]
    first_recipient, first_event = own_recipients[0]
    gen.dm(
        first_recipient.id, me.id, (first_event.created_at or anchor) + timedelta(hours=1), "thanks! will have a look"
    )
    _plant_dm_negatives(gen, rng, active, mutual_set, recent)

    # The subscriber's posts, hashtag chats, mentions and answers.
    required = _primary_kinds(rng, [uid for uid in active if uid not in state.protected])
    post_start = anchor - timedelta(weeks=prof.post_weeks)
    n_posts = week.posts * prof.post_weeks
    mention_weeks = prof.mentions / week.mentions
    n_answers = int(week.posts * _ANSWER_SHARE * mention_weeks)
    chat_posts: list[XTweet] = []
    for c in range(prof.hashtag_chats):
        day = gen.between(post_start + timedelta(days=1), anchor - timedelta(days=2))
        chat_posts += gen.hashtag_chat(day.replace(hour=rng.choice((17, 18, 19, 20)), minute=0, second=0), c)
    gen.make_posts(post_start, anchor, max(n_posts - n_answers - len(chat_posts), 0), required)
    mention_start = anchor - timedelta(weeks=mention_weeks)
    mentions = gen.make_mentions(mention_start, anchor, prof.mentions)
    gen.answer_mentions(mentions, n_answers, anchor)

    # Likes and DMs.
    like_start = anchor - timedelta(weeks=prof.likes / week.likes)
    gen.make_likes(like_start, anchor, prof.likes, required["like"])
    _fill_dms(gen, rng, required["dm"], anchor - timedelta(days=30), anchor, round(week.dm_events * 30 / 7))
    _fill_dms(gen, rng, [], anchor - timedelta(days=90), anchor - timedelta(days=30), week.dm_events * 4)
    plant_insights(acc, state, prof, anchor - timedelta(weeks=_CHAT_WEEKS), first=True)

    _finalize(acc)
    _pick_unserved(acc)
    return acc


# Accounts counted in the subscriber's public_metrics that the lists do not serve (suspended, deactivated):
# a share of each list, at least one (Realism.unserved_accounts decides whether they are hidden).
UNSERVED_FOLLOWING_SHARE = 0.004
UNSERVED_FOLLOWERS_SHARE = 0.01


def _pick_unserved(acc: SyntheticAccount) -> None:
    """Chosen with a random stream of their own, so the rest of the world is the same with or without them."""
    state = acc.state
    assert isinstance(state, _State)
    rng = random.Random(f"followthrough-xsim-unserved:{acc.seed}:{acc.profile}")
    followees = sorted(uid for uid in state.passive if uid not in state.protected)
    followers = sorted(uid for uid in state.follower_only if uid not in state.protected)
    want_following = max(1, round(len(acc.following) * UNSERVED_FOLLOWING_SHARE))
    want_followers = max(1, round(len(acc.followers) * UNSERVED_FOLLOWERS_SHARE))
    chosen = rng.sample(followees, min(want_following, len(followees)))
    chosen += rng.sample(followers, min(want_followers, len(followers)))
    acc.unserved = set(chosen)
    state.protected.update(chosen)  # they stay as they are: never unfollowed, never lost


def unfollow(account: SyntheticAccount, user_ids: list[str]) -> None:
    """The subscriber stops following ``user_ids`` (in place; counts and planted facts follow)."""
    _drop_followees(account, set(user_ids))
    _finalize(account)


def _drop_followees(account: SyntheticAccount, gone: set[str]) -> None:
    account.following = [u for u in account.following if u.id not in gone]
    for uid in gone:
        account.follow_times.pop(uid, None)
    state = account.state
    if isinstance(state, _State):
        state.passive -= gone
        state.active = [uid for uid in state.active if uid not in gone]


def _plant_dm_negatives(gen: _Gen, rng: random.Random, active: list[str], mutuals: set[str], recent: datetime) -> None:
    acc = gen.acc
    me = acc.me
    neg = DmNegatives()
    # A friend (mutual, active) who sends one link inside a real exchange.
    friends = [uid for uid in active if uid in mutuals and uid not in gen.st.protected] or active
    friend = rng.choice(friends)
    gen.st.protected.add(friend)
    at = gen.between(recent, acc.anchor - timedelta(days=4))
    for who, line in texts.FRIEND_EXCHANGE:
        sender = friend if who == "friend" else me.id
        other = me.id if who == "friend" else friend
        text = line.format(url="https://blog.example.org/cohort-charts-done-right")
        event = gen.dm(sender, other, at, text)
        if "{url}" in line:
            neg.friend_link_sender_id = friend
            neg.friend_link_event_id = event.id
        at += timedelta(minutes=rng.randrange(5, 900))
    # Two people the subscriber just followed, each thanking for the follow in their own words.
    for i, (thanks, answer) in enumerate(zip(texts.THANKS_FOR_FOLLOW, texts.THANKS_REPLIES, strict=True)):
        user = gen.new_user(newest=recent - timedelta(days=60))
        followed = gen.between(recent, acc.anchor - timedelta(days=2))
        gen.add_followee(user, followed)
        if i == 1:  # "following me back": they followed first
            gen.add_follower(user, followed - timedelta(days=rng.randrange(3, 40)))
        gen.st.active.append(user.id)
        gen.st.protected.add(user.id)
        event = gen.dm(user.id, me.id, followed + timedelta(minutes=rng.randrange(20, 180)), thanks)
        answered = (event.created_at or followed) + timedelta(hours=rng.randrange(1, 9))
        gen.dm(me.id, user.id, answered, answer)
        gen.dm(user.id, me.id, answered + timedelta(minutes=rng.randrange(5, 240)), texts.THANKS_WRITE_BACK[i])
        neg.thanks_for_follow_sender_ids.append(user.id)
        neg.thanks_for_follow_event_ids.append(event.id)
    # A long real exchange that starts with a link, with a long-time follower.
    partner = rng.choice([uid for uid in gen.st.follower_only if uid not in gen.st.protected])
    gen.st.protected.add(partner)
    at = gen.between(recent, acc.anchor - timedelta(days=8))
    for i, (who, line) in enumerate(texts.LONG_EXCHANGE):
        sender = partner if who == "partner" else me.id
        other = me.id if who == "partner" else partner
        event = gen.dm(sender, other, at, line.format(url="https://research.example.com/retention-curves-2026"))
        if i == 0:
            neg.long_exchange_first_event_id = event.id
            neg.long_exchange_conversation_id = event.dm_conversation_id or ""
            neg.long_exchange_partner_id = partner
        at += timedelta(minutes=rng.randrange(1, 600))
    acc.truth.dm_negatives = neg


def _fill_dms(gen: _Gen, rng: random.Random, required: list[str], start: datetime, end: datetime, target: int) -> None:
    """Ordinary conversations until the window holds about ``target`` DM events."""
    acc = gen.acc

    def in_window() -> int:
        return sum(1 for e in acc.dm_events if e.created_at and start <= e.created_at < end)

    for uid in required:
        gen.conversation(uid, start, end, rng.randrange(2, 6), me_first=True)
    if in_window() < target and end - start > timedelta(days=3):
        gen.group_conversation(start, end)
    st = gen.st
    while (have := in_window()) < target:
        r = rng.random()
        if r < 0.4 and st.active:
            partner = rng.choice(st.active)
        elif r < 0.75 and st.follower_only:
            partner = rng.choice(st.follower_only)
        else:
            partner = rng.choice(st.strangers)
        if partner in st.protected:
            continue  # planted conversations keep exactly their scripted messages
        gen.conversation(partner, start, end, min(rng.randrange(2, 9), target - have), me_first=rng.random() < 0.5)


def _relationship_plan(gen: _Gen) -> list[tuple[str, int]]:
    """``RELATIONSHIPS_PER_WEEK`` people (active followees or followers, none planted before) and how many
    posts each way they will trade with the subscriber this week (two or three)."""
    st, rng = gen.st, gen.rng
    pool = sorted({*st.active, *st.follower_only} - st.protected - gen.acc.truth.planted_relationship_ids)
    return [(uid, rng.randrange(2, 4)) for uid in rng.sample(pool, min(RELATIONSHIPS_PER_WEEK, len(pool)))]


def _plant_relationships(gen: _Gen, plan: list[tuple[str, int]], start: datetime, end: datetime) -> None:
    """The planned relationships: the subscriber replies to their posts, they mention the subscriber."""
    rng, me, acc = gen.rng, gen.me, gen.acc
    for uid, rounds in plan:
        person = gen.user(uid)
        for _ in range(rounds):
            theirs = gen.others_post(person, gen.between(start, end - timedelta(hours=3)))
            at = (theirs.created_at or start) + timedelta(minutes=rng.randrange(5, 90))
            acc.posts.append(gen.tweet(me, at, rng.choice(texts.ANSWER_BODIES), reply_to=theirs))
            back = at + timedelta(minutes=rng.randrange(5, 60))
            acc.mentions.append(gen.tweet(person, back, rng.choice(texts.MENTION_BODIES).capitalize(), mention=[me]))
        acc.truth.planted_relationship_ids.add(uid)


def _finalize(acc: SyntheticAccount) -> None:
    """Newest first everywhere, counts in ``me`` consistent, truth derived from the data."""
    acc.posts.sort(key=lambda t: int(t.id), reverse=True)
    acc.mentions.sort(key=lambda t: int(t.id), reverse=True)
    acc.dm_events.sort(key=lambda e: int(e.id), reverse=True)
    acc.likes.sort(key=lambda t: acc.like_times[t.id], reverse=True)
    acc.following.sort(key=lambda u: acc.follow_times[u.id], reverse=True)
    acc.followers.sort(key=lambda u: acc.follower_times[u.id], reverse=True)
    # Keep exactly the posts some served post points at (others' posts were pooled in ``referenced``).
    pool = acc.referenced
    for collection in (acc.posts, acc.mentions, acc.likes):
        for post in collection:
            pool.setdefault(post.id, post)
    acc.referenced = {
        ref.id: pool[ref.id]
        for collection in (acc.posts, acc.mentions, acc.likes)
        for post in collection
        for ref in post.referenced_tweets
    }
    old = acc.me.public_metrics
    acc.me = acc.me.model_copy(
        update={
            "public_metrics": XUserMetrics.model_construct(
                followers_count=len(acc.followers),
                following_count=len(acc.following),
                tweet_count=len(acc.posts),
                listed_count=old.listed_count if old else 0,
                like_count=len(acc.likes),
            )
        }
    )
    acc.users[acc.me.id] = acc.me
    _derive_truth(acc)
    acc.version += 1


def subscriber_interactions(acc: SyntheticAccount) -> dict[str, dict[InteractionKind, datetime]]:
    """Every account the subscriber acted towards, by kind, with the latest time (from the wire data)."""
    me = acc.me.id
    found: dict[str, dict[InteractionKind, datetime]] = {}

    def note(uid: str | None, kind: InteractionKind, at: datetime | None) -> None:
        if not uid or uid == me or at is None:
            return
        kinds = found.setdefault(uid, {})
        if kind not in kinds or kinds[kind] < at:
            kinds[kind] = at

    for post in acc.posts:
        refs = {r.type: r.id for r in post.referenced_tweets}
        if "retweeted" in refs:
            note(acc.referenced[refs["retweeted"]].author_id, "retweet", post.created_at)
            continue
        if "quoted" in refs:
            note(acc.referenced[refs["quoted"]].author_id, "quote", post.created_at)
        note(post.in_reply_to_user_id, "reply", post.created_at)
        for m in post.entities.mentions if post.entities else []:
            if m.id != post.in_reply_to_user_id:
                note(m.id, "mention", post.created_at)
    for post in acc.likes:
        note(post.author_id, "like", acc.like_times.get(post.id))
    for event in acc.dm_events:
        conv = event.dm_conversation_id or ""
        if event.sender_id == me and event.event_type == "MessageCreate" and "-" in conv:
            low, high = conv.split("-", 1)
            note(high if low == me else low, "dm", event.created_at)
    return found


def _derive_truth(acc: SyntheticAccount) -> None:
    truth = acc.truth
    following = set(acc.follow_times)
    interactions = subscriber_interactions(acc)
    truth.followee_interactions = {uid: kinds for uid, kinds in interactions.items() if uid in following}
    truth.passive_follow_ids = following - set(truth.followee_interactions)
    truth.mutual_ids = following & set(acc.follower_times)
    mention_ids = {m.id for m in acc.mentions}
    truth.unanswered_mention_ids = mention_ids - set(truth.answered_mentions)
    truth.liked_mention_ids = {t.id for t in acc.likes if t.id in truth.unanswered_mention_ids}
    truth.passive_followees_mentioning = {m.author_id for m in acc.mentions if m.author_id in truth.passive_follow_ids}
    truth.dormant_followee_ids = {
        uid for uid, last in truth.quiet_followees.items() if uid in following and last < acc.anchor - DORMANT_AFTER
    }


def advance_week(account: SyntheticAccount, seed: int, *, own_unfollows: bool = True) -> WeekDelta:
    """Add one week of activity after ``account.anchor`` and move the anchor a week on (in place).

    ``own_unfollows``: the subscriber may unfollow a few accounts (``WeeklyRates.unfollows``; see
    ``realism.Realism``). Returns what was new; it is also appended to ``account.weeks``. For an
    account a running server is serving, call ``XSim.advance_week`` instead: it
    holds the simulation's lock and moves its clock along.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _advance_week(account, seed, own_unfollows)
    finally:
        if paused:
            gc.enable()


def _advance_week(account: SyntheticAccount, seed: int, own_unfollows: bool) -> WeekDelta:
    prof = PROFILES[account.profile]
    state = account.state
    if not isinstance(state, _State):
        raise ValueError("this account was not made by generate_account; cannot advance it")
    start = account.anchor
    end = start + timedelta(days=7)
    rng = random.Random(f"followthrough-xsim-week:{account.seed}:{seed}:{start.isoformat()}")
    week = prof.weekly
    account.anchor = end
    gen = _Gen(rng, account, state, prof)
    before_posts = {p.id for p in account.posts}
    before_mentions = {m.id for m in account.mentions}
    before_likes = set(account.like_times)
    before_dms = {e.id for e in account.dm_events}
    before_following = set(account.follow_times)
    before_followers = set(account.follower_times)
    previous_unanswered = [
        m
        for m in account.mentions
        if m.id in account.truth.unanswered_mention_ids and m.created_at and m.created_at >= start - timedelta(days=7)
    ]

    # Follow graph changes: new followees (a third become active this week), new and lost followers.
    new_active: list[str] = []
    for _ in range(week.new_follows):
        user = gen.new_user(newest=start)
        gen.add_followee(user, gen.between(start, end))
        if rng.random() < 1 / 3:
            new_active.append(user.id)
        else:
            state.passive.add(user.id)
    state.active.extend(new_active)
    auto_senders = [gen.auto_dm_sender(start, end, family=rng.randrange(2)).id for _ in range(week.auto_dm_senders)]
    for _ in range(week.new_followers - len(auto_senders) - F4F_PER_WEEK):
        gen.add_follower(gen.ordinary_user(newest=start), gen.between(start, end))
    for _ in range(F4F_PER_WEEK):
        f4f = gen.follow_for_follow_user(newest=start)
        gen.add_follower(f4f, gen.between(start, end), planted=True)
        account.truth.follow_for_follow_ids.add(f4f.id)
    losable = [uid for uid in state.follower_only if uid not in state.protected and uid in account.follower_times]
    lost = rng.sample(losable, min(week.lost_followers, len(losable)))
    lost_set = set(lost)
    account.followers = [u for u in account.followers if u.id not in lost_set]
    for uid in lost:
        del account.follower_times[uid]
    state.follower_only = [uid for uid in state.follower_only if uid not in lost_set]
    unfollowed = _own_unfollows(account, state, seed, start) if own_unfollows else []

    # Activity.
    required = _primary_kinds(rng, new_active)
    n_answers = max(int(week.posts * _ANSWER_SHARE), 1)
    # the planted relationships' posts and mentions are part of the week's
    relationships = _relationship_plan(gen)
    planted = sum(rounds for _, rounds in relationships)
    gen.make_posts(start, end, max(week.posts - n_answers - planted, 1), required)
    mentions = gen.make_mentions(start, end, max(week.mentions - planted, 0))
    late = gen.answer_mentions(previous_unanswered, 1, end, earliest=start)
    gen.answer_mentions(mentions, n_answers - len(late), end)
    gen.make_likes(start, end, week.likes, required["like"])
    _fill_dms(gen, rng, required["dm"], start, end, week.dm_events)
    _plant_relationships(gen, relationships, start, end)
    plant_insights(account, state, prof, start, first=False)
    _finalize(account)

    late_ids = [ref.id for reply in late for ref in reply.referenced_tweets if ref.type == "replied_to"]
    delta = WeekDelta(
        start=start,
        end=end,
        post_ids=[p.id for p in account.posts if p.id not in before_posts],
        mention_ids=[m.id for m in account.mentions if m.id not in before_mentions],
        liked_post_ids=[t.id for t in account.likes if t.id not in before_likes],
        dm_event_ids=[e.id for e in account.dm_events if e.id not in before_dms],
        new_following_ids=[u.id for u in account.following if u.id not in before_following],
        new_follower_ids=[u.id for u in account.followers if u.id not in before_followers],
        lost_follower_ids=lost,
        unfollowed_ids=unfollowed,
        late_answered_mention_ids=late_ids,
        auto_dm_sender_ids=auto_senders,
    )
    account.weeks.append(delta)
    return delta


def _own_unfollows(account: SyntheticAccount, state: _State, seed: int, start: datetime) -> list[str]:
    """Accounts the subscriber stops following this week: passive ones followed before the week, in about
    half of the weeks. A random stream of its own, so turning it off changes nothing else."""
    rng = random.Random(f"followthrough-xsim-unfollow:{account.seed}:{seed}:{start.isoformat()}")
    count = PROFILES[account.profile].weekly.unfollows
    if not count or rng.random() >= 0.5:
        return []
    candidates = sorted(
        uid
        for uid in state.passive
        if uid not in state.protected and uid in account.follow_times and account.follow_times[uid] < start
    )
    gone = rng.sample(candidates, min(count, len(candidates)))
    _drop_followees(account, set(gone))
    return gone


def take_up(
    account: SyntheticAccount, suggestions: Sequence[tuple[str, str, str | None]], seed: int
) -> dict[str, datetime]:
    """The subscriber takes up these suggestions (kind, user id, post id) during the account's last week:
    answers the mention with a reply to it, says hello with a reply to their post or a DM, welcomes a
    follower with a DM or a like. Returns (and notes in ``truth.taken_up``) user id -> when."""
    state = account.state
    if not isinstance(state, _State) or not account.weeks:
        raise ValueError("take_up needs an account made by generate_account and advanced at least one week")
    week = account.weeks[-1]
    rng = random.Random(f"followthrough-xsim-take-up:{account.seed}:{seed}:{week.start.isoformat()}")
    gen = _Gen(rng, account, state, PROFILES[account.profile])
    mentions = {m.id: m for m in account.mentions}
    taken: dict[str, datetime] = {}
    for i, (kind, uid, post_id) in enumerate(suggestions):
        at = gen.between(week.start + timedelta(hours=2), week.end - timedelta(hours=2))
        person = gen.user(uid)
        if kind == "answer_mention" and post_id in mentions:
            account.posts.append(gen.tweet(gen.me, at, rng.choice(texts.ANSWER_BODIES), reply_to=mentions[post_id]))
            account.truth.answered_mentions[post_id] = account.posts[-1].id
        elif i % 2 == 0:
            gen.dm(gen.me.id, uid, at, gen.filler_text())
        elif kind == "welcome_follower":
            gen.like(gen.others_post(person, at - timedelta(hours=1)), at)
        else:
            theirs = gen.others_post(person, at - timedelta(hours=1))
            account.posts.append(gen.tweet(gen.me, at, rng.choice(texts.ANSWER_BODIES), reply_to=theirs))
        taken[uid] = at
    account.truth.taken_up.update(taken)
    _finalize(account)
    return taken


def talk_counts(account: SyntheticAccount, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """From the wire data, for relationships: user id -> (posts and one-to-one DMs the subscriber directed
    to them, posts and DMs they directed to the subscriber) within ``start`` .. ``end``."""
    me = account.me.id
    to_them: dict[str, int] = {}
    from_them: dict[str, int] = {}
    for post in account.posts:
        if post.created_at is None or not start <= post.created_at <= end:
            continue
        refs = {r.type: r.id for r in post.referenced_tweets}
        if "retweeted" in refs:
            continue
        people = {post.in_reply_to_user_id, *(m.id for m in (post.entities.mentions if post.entities else []))}
        if "quoted" in refs:
            people.add(account.referenced[refs["quoted"]].author_id)
        for uid in people - {None, me}:
            to_them[str(uid)] = to_them.get(str(uid), 0) + 1
    for post in account.mentions:
        retweet = any(r.type == "retweeted" for r in post.referenced_tweets)
        if post.created_at is not None and start <= post.created_at <= end and post.author_id and not retweet:
            from_them[post.author_id] = from_them.get(post.author_id, 0) + 1
    for event in account.dm_events:
        conv = event.dm_conversation_id or ""
        if event.event_type != "MessageCreate" or conv.count("-") != 1 or event.created_at is None:
            continue
        if start <= event.created_at <= end:
            low, high = conv.split("-")
            other = high if low == me else low
            counts = to_them if event.sender_id == me else from_them
            counts[other] = counts.get(other, 0) + 1
    return {uid: (n, from_them.get(uid, 0)) for uid, n in to_them.items()}


# ----- issue 15: quiet followees, weekly chats among followees, mentions without the @ ---------------
# Each planted with a random stream of its own, so the rest of a seed's world stays as it was.

DORMANT_AFTER = timedelta(days=90)
_DORMANT_SHARE = 0.08  # of followees: last post 91 days to 3 years before the anchor
_QUIET_SHARE = 0.04  # of followees: last post 20 to 80 days before (quiet, not dormant)
# (tag, UTC weekday, UTC hour, the subscriber posts in it); tags not in texts.CHAT_TAGS (the one-off chats)
_WEEKLY_CHATS = (("BufferChat", 1, 21, False), ("CommunityHour", 3, 16, True))
_CHAT_WEEKS = 6
_TOPIC_TAG = "BuildInPublic"
_CHAT_LINES = (
    "Q1: what is one habit that keeps you talking to customers?",
    "Late to the chat tonight, catching up on the answers.",
    "Great question. For us it was weekly office hours.",
    "Same here, the smallest experiments taught us the most.",
)
# {handle} without the @, {name} the display name; questions end with "?"
_UNTAGGED_QUESTIONS = (
    "Has anyone tried the onboarding checklist {name} shared last week?",
    "Does {handle} still run those pricing teardowns?",
    "Who else read {name}'s piece on churn? Thoughts?",
)
_UNTAGGED_REMARKS = (
    "Great thread by {name} on retention curves, worth the read.",
    "Borrowed the trial-length idea from {handle}, it worked.",
)


def _posting_authors(acc: SyntheticAccount) -> set[str]:
    posts = (*acc.posts, *acc.mentions, *acc.likes, *acc.referenced.values(), *acc.untagged_posts)
    return {t.author_id for t in posts if t.author_id}


def _plant_quiet_followees(gen: _Gen, rng: random.Random) -> None:
    """Followees who post nothing in the data, with their last post long ago (dormant) or a while ago (quiet).

    Out of every random pool from here on, so they stay silent as weeks are added.
    """
    acc, st = gen.acc, gen.st
    authors = _posting_authors(acc)
    pool = sorted(uid for uid in st.passive if uid not in st.protected and uid not in authors)
    rng.shuffle(pool)
    n_dormant = int(len(acc.following) * _DORMANT_SHARE)
    n_quiet = int(len(acc.following) * _QUIET_SHARE)
    for i, uid in enumerate(pool[: n_dormant + n_quiet]):
        user = acc.users[uid]
        created = user.created_at or _EARLIEST_ACCOUNT
        if i < n_dormant:
            lo, hi = (
                max(created + timedelta(days=1), acc.anchor - timedelta(days=3 * 365)),
                acc.anchor - timedelta(days=91),
            )
        else:
            lo, hi = max(created + timedelta(days=1), acc.anchor - timedelta(days=80)), acc.anchor - timedelta(days=20)
        if lo >= hi:
            continue
        last = lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))
        user.most_recent_tweet_id = str(((int(last.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22))
        acc.truth.quiet_followees[uid] = last
        st.passive.discard(uid)
        st.protected.add(uid)


def _chat_posts(gen: _Gen, chat: WeeklyChat, day: datetime) -> None:
    """One hour of a weekly chat: some of its people post with the tag; the subscriber likes two, is mentioned once."""
    rng = gen.rng
    start = day.replace(hour=chat.hour, minute=0, second=0, microsecond=0)
    if start >= gen.acc.anchor:
        return
    people = [gen.user(uid) for uid in (*chat.followee_ids, *chat.other_ids)]
    posting = rng.sample(people, rng.randrange(3, len(people) + 1))
    posts = [
        gen.others_post(
            p, start + timedelta(minutes=rng.randrange(0, 50), seconds=rng.randrange(60)), hashtags=[chat.tag]
        )
        for p in posting
    ]
    for post in rng.sample(posts, 2):
        gen.like(
            post,
            min(
                (post.created_at or start) + timedelta(minutes=rng.randrange(1, 9)),
                gen.acc.anchor - timedelta(seconds=1),
            ),
        )
    author = rng.choice(posting)
    mention = gen.tweet(
        author,
        start + timedelta(minutes=rng.randrange(5, 55)),
        rng.choice(_CHAT_LINES),
        mention=[gen.me],
        hashtags=[chat.tag],
    )
    gen.acc.mentions.append(mention)
    chat.post_ids += [p.id for p in posts] + [mention.id]
    if chat.takes_part:
        gen.acc.posts.append(
            gen.tweet(
                gen.me, start + timedelta(minutes=rng.randrange(10, 50)), rng.choice(_CHAT_LINES), hashtags=[chat.tag]
            )
        )


def _topic_posts(gen: _Gen, start: datetime, end: datetime, count: int) -> None:
    """A topic hashtag liked at any hour of the week, by many people: recurring, but no chat."""
    pool = gen.st.strangers + gen.st.active
    for _ in range(count):
        at = gen.between(start, end - timedelta(hours=1))
        post = gen.others_post(gen.user(gen.rng.choice(pool)), at, hashtags=[_TOPIC_TAG])
        gen.like(post, at + timedelta(minutes=gen.rng.randrange(1, 50)))


def _days(start: datetime, end: datetime, weekday: int) -> list[datetime]:
    first = start + timedelta(days=(weekday - start.weekday()) % 7)
    return [first + timedelta(weeks=w) for w in range((end - first).days // 7 + 1) if first + timedelta(weeks=w) < end]


def _plant_weekly_chats(gen: _Gen, start: datetime, end: datetime, *, first: bool) -> None:
    acc, st, rng = gen.acc, gen.st, gen.rng
    if first:
        active = sorted(uid for uid in st.active if uid not in st.protected)
        if len(active) < 8 or len(st.strangers) < 4:
            return
        for tag, weekday, hour, takes_part in _WEEKLY_CHATS:
            followees = rng.sample(active, 4)
            active = [uid for uid in active if uid not in followees]
            others = rng.sample(st.strangers, 2)
            acc.truth.weekly_chats.append(WeeklyChat(tag, weekday, hour, followees, others, takes_part))
        acc.truth.topic_tags = [_TOPIC_TAG]
    for chat in acc.truth.weekly_chats:
        for day in _days(start, end, chat.weekday):
            _chat_posts(gen, chat, day)
    if acc.truth.topic_tags:
        _topic_posts(gen, start, end, 4 * max((end - start).days // 7, 1))


def _untagged_post(gen: _Gen, at: datetime, line: str) -> XTweet:
    me = gen.acc.me
    post = gen.tweet(
        gen.user(gen.rng.choice(gen.st.strangers)), at, line.format(handle=me.username, name=me.name or me.username)
    )
    gen.acc.untagged_posts.append(post)
    gen.acc.truth.untagged_mention_ids.add(post.id)
    if line in _UNTAGGED_QUESTIONS:
        gen.acc.truth.untagged_question_ids.add(post.id)
    return post


def _plant_untagged(gen: _Gen, start: datetime, end: datetime) -> None:
    """Two or three posts a week that name the subscriber without the @, one of them a question."""
    rng = gen.rng
    if not gen.st.strangers:
        return
    for week_start in [start + timedelta(weeks=w) for w in range(max((end - start).days // 7, 1))]:
        week_end = min(week_start + timedelta(days=7), end)
        _untagged_post(gen, gen.between(week_start, week_end - timedelta(hours=1)), rng.choice(_UNTAGGED_QUESTIONS))
        for line in rng.sample(_UNTAGGED_REMARKS, rng.randrange(1, 3)):
            _untagged_post(gen, gen.between(week_start, week_end - timedelta(hours=1)), line)


def plant_insights(acc: SyntheticAccount, state: _State, profile: Profile, start: datetime, *, first: bool) -> None:
    """Quiet followees (first time only), weekly chats and untagged mentions from ``start`` to the anchor."""
    stream = f"followthrough-xsim-insights:{acc.seed}:{acc.profile}:{start.isoformat()}"
    gen = _Gen(random.Random(stream), acc, state, profile)
    if first:
        _plant_quiet_followees(gen, gen.rng)
    _plant_weekly_chats(gen, start, acc.anchor, first=first)
    _plant_untagged(gen, start, acc.anchor)
    acc.untagged_posts.sort(key=lambda t: int(t.id), reverse=True)
