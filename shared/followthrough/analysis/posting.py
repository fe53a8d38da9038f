"""How the subscriber posts: conversation vs. broadcast, cadence, bursts, links, hashtag chats."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Container, Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from followthrough.activity import Post
from followthrough.analysis.config import AnalysisConfig
from followthrough.report import HashtagChat

Metrics = dict[str, float | int | None]

# links to X itself are quotes, media or threads, not promotion of anyone's site
_X_HOSTS = frozenset({"x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com", "t.co", "pic.twitter.com"})


def normalize_domain(domain: str) -> str:
    """'https://www.Example.com/blog' -> 'example.com'."""
    text = domain.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.")


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def _is_own(host: str, own: frozenset[str]) -> bool:
    return host in own or any(host.endswith("." + domain) for domain in own)


def count_bursts(times: list[float], posts: int, span_s: float) -> int:
    """Non-overlapping runs of at least ``posts`` posts within ``span_s`` seconds; ``times`` sorted timestamps."""
    bursts, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > span_s:
            start += 1
        if end - start + 1 >= posts:
            bursts += 1
            start = end + 1
    return bursts


def posting_metrics(
    posts: Iterable[Post],
    subscriber_id: str,
    own_domains: Iterable[str],
    cfg: AnalysisConfig,
    window_start: datetime,
    now: datetime,
) -> Metrics:
    """Metrics over the subscriber's posts of the window.

    Broadcasts are original posts and thread continuations (replies to
    oneself); conversation is replies to others and quotes.
    """
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    per_day: Counter[str] = Counter()
    timeline: list[float] = []
    own = frozenset(d for d in (normalize_domain(d) for d in own_domains) if d)
    links = own_links = 0
    for post in posts:
        if post.id in seen or not window_start <= post.created_at <= now:
            continue
        seen.add(post.id)
        kind: str = post.kind
        if kind == "reply" and post.in_reply_to_user_id == subscriber_id:
            kind = "thread"
        kinds[kind] += 1
        per_day[post.created_at.date().isoformat()] += 1
        if kind in ("original", "quote", "retweet"):
            timeline.append(post.created_at.timestamp())
        if kind == "retweet":
            continue
        for url in post.urls:
            host = _host(url)
            if host is None or host in _X_HOSTS:
                continue
            links += 1
            own_links += _is_own(host, own)
    total = len(seen)
    conversational = kinds["reply"] + kinds["quote"]
    broadcasts = kinds["original"] + kinds["thread"]
    days = max((now - window_start).total_seconds() / 86400, 1 / 24)
    timeline.sort()
    bursts = count_bursts(timeline, cfg.burst_posts, cfg.burst_minutes * 60)
    heavy_days = sum(1 for n in per_day.values() if n > cfg.twittiarrhea_posts_per_day)
    return {
        "posts": total,
        "originals": kinds["original"],
        "thread_posts": kinds["thread"],
        "replies": kinds["reply"],
        "quotes": kinds["quote"],
        "retweets": kinds["retweet"],
        "broadcasts": broadcasts,
        "conversation_share": round(conversational / (conversational + broadcasts), 4)
        if conversational + broadcasts
        else None,
        "posts_per_day": round(total / days, 2),
        "busiest_day_posts": max(per_day.values(), default=0),
        "heavy_days": heavy_days,
        "bursts": bursts,
        "twittiarrhea": int(bursts > 0 or heavy_days > 0),
        "links_shared": links,
        "own_links": own_links if own else None,
        "self_promotion_share": round(own_links / links, 4) if own and links else None,
    }


def _tagged(
    posts: Iterable[Post], window_start: datetime, now: datetime
) -> tuple[dict[str, list[Post]], dict[str, str]]:
    """The subscriber's posts of the window (not retweets) by lower-cased hashtag, and each tag as first written."""
    mine: dict[str, list[Post]] = defaultdict(list)
    shown: dict[str, str] = {}
    seen: set[str] = set()
    for post in posts:
        if post.kind == "retweet" or post.id in seen or not window_start <= post.created_at <= now:
            continue
        seen.add(post.id)
        for key, tag in {t.lower(): t for t in post.hashtags}.items():
            mine[key].append(post)
            shown.setdefault(key, tag)
    return mine, shown


def _others_with(
    mentions: Iterable[Post], tags: Container[str], subscriber_id: str
) -> dict[str, list[tuple[datetime, str]]]:
    """Lower-cased hashtag -> (when, author) of others' posts that mention the subscriber with it."""
    theirs: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for mention in mentions:
        if mention.kind == "retweet" or mention.author_id == subscriber_id:
            continue
        for key in {t.lower() for t in mention.hashtags}:
            if key in tags:
                theirs[key].append((mention.created_at, mention.author_id))
    return theirs


def _participants(run: list[Post], theirs: list[tuple[datetime, str]], span: timedelta, subscriber_id: str) -> int:
    others: set[str] = set()
    for post in run:
        others.update(u for u in (post.in_reply_to_user_id, post.quoted_author_id, *post.mentioned_ids) if u)
    first, last = run[0].created_at, run[-1].created_at
    others.update(author for at, author in theirs if first - span <= at <= last + span)
    others.discard(subscriber_id)
    return len(others)


def _chats_of(
    tag: str, tagged: list[Post], theirs: list[tuple[datetime, str]], subscriber_id: str, cfg: AnalysisConfig
) -> list[HashtagChat]:
    """Runs of one hashtag within ``hashtag_chat_minutes`` that make a chat; runs do not overlap."""
    span = timedelta(minutes=cfg.hashtag_chat_minutes)
    tagged.sort(key=lambda p: p.created_at.timestamp())
    chats: list[HashtagChat] = []
    start = 0
    while start < len(tagged):
        end = start
        while end + 1 < len(tagged) and tagged[end + 1].created_at - tagged[start].created_at <= span:
            end += 1
        run = tagged[start : end + 1]
        participants = _participants(run, theirs, span, subscriber_id) if len(run) >= cfg.hashtag_chat_min_posts else 0
        if len(run) >= cfg.hashtag_chat_min_posts and participants >= cfg.hashtag_chat_min_others:
            chats.append(
                HashtagChat(hashtag=f"#{tag}", started_at=run[0].created_at, posts=len(run), participants=participants)
            )
            start = end + 1
        else:
            start += 1
    return chats


def hashtag_chats(
    posts: Iterable[Post],
    mentions: Iterable[Post],
    subscriber_id: str,
    cfg: AnalysisConfig,
    window_start: datetime,
    now: datetime,
) -> list[HashtagChat]:
    """Hashtags the subscriber used ``hashtag_chat_min_posts`` times within ``hashtag_chat_minutes``.

    Other participants are the people those posts reply to, mention or quote,
    and authors of mentions with the same hashtag from the hour around them.
    """
    mine, shown = _tagged(posts, window_start, now)
    if not mine:
        return []
    theirs = _others_with(mentions, mine, subscriber_id)
    chats = [
        chat
        for key, tagged in mine.items()
        for chat in _chats_of(shown[key], tagged, theirs.get(key, []), subscriber_id, cfg)
    ]
    chats.sort(key=lambda c: (c.started_at, c.hashtag))
    return chats
