"""The X API v2 surface of the simulation: routing, validation, wire shapes, paging, OAuth.

Shapes follow the recorded responses in ``x-api-samples``: ids as strings,
default fields only unless asked (posts: id, text, edit_history_tweet_ids;
users: id, name, username; DM events: id, event_type, text), ``meta`` with
``result_count``/``next_token`` (and ``newest_id``/``oldest_id`` on post
timelines), and an empty page that is exactly ``{"meta": {"result_count": 0}}``.
Errors use X's problem JSON. Pagination tokens are opaque cursors on the
item's sort key (post id, like time, follow time), so items added at the top
while a reader pages never make it see an item twice.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from followthrough.normalize import SNOWFLAKE_EPOCH_MS
from followthrough.xmodels import XDmEvent, XEntities, XTweet, XUser
from followthrough_devkit.xsim import search

if TYPE_CHECKING:
    from followthrough_devkit.xsim.account import SyntheticAccount
    from followthrough_devkit.xsim.sim import XSim


def _names(text: str) -> frozenset[str]:
    """A set of names written as whitespace-separated words."""
    return frozenset(text.split())


# Endpoint names shared by the meter, the faults and the rate limiter.
ENDPOINTS = (
    "users_me",
    "tweets",
    "mentions",
    "liked_tweets",
    "following",
    "followers",
    "dm_events",
    "users_lookup",
    "oauth_token",
)
API_ENDPOINTS = ENDPOINTS[:-1]

# Requests per user per 15-minute window (x-api-facts.md; users_lookup from X's docs). Configuration, not logic.
RATE_LIMITS: dict[str, int] = {
    "users_me": 75,
    "tweets": 900,
    "mentions": 300,
    "liked_tweets": 75,
    "following": 300,
    "followers": 300,
    "dm_events": 15,
    "users_lookup": 900,
    "search_recent": 300,  # per user (rate-limits.mdx; 450 per app)
}
RATE_WINDOW_S = 15 * 60
# How far back X lets a reader go.
REACH = {"tweets": 3200, "mentions": 800}
DM_RETENTION = timedelta(days=30)
SEARCH_WINDOW = timedelta(days=7)  # recent search: "Search Posts from the last 7 days" (search/introduction.mdx)

ACCESS_TOKEN_TTL_S = 2 * 60 * 60
AUTH_CODE_TTL_S = 30
DEFAULT_SCOPES = ("tweet.read", "users.read", "follows.read", "like.read", "dm.read", "offline.access")
KNOWN_SCOPES = _names(
    """
    tweet.read tweet.write tweet.moderate.write users.read users.email follows.read follows.write
    offline.access space.read mute.read mute.write like.read like.write list.read list.write block.read
    block.write bookmark.read bookmark.write dm.read dm.write media.write
    """
)
# Scopes each endpoint needs with an OAuth 2.0 user token.
REQUIRED_SCOPES: dict[str, frozenset[str]] = {
    "users_me": frozenset({"tweet.read", "users.read"}),
    "tweets": frozenset({"tweet.read", "users.read"}),
    "mentions": frozenset({"tweet.read", "users.read"}),
    "liked_tweets": frozenset({"tweet.read", "users.read", "like.read"}),
    "following": frozenset({"tweet.read", "users.read", "follows.read"}),
    "followers": frozenset({"tweet.read", "users.read", "follows.read"}),
    "dm_events": frozenset({"tweet.read", "users.read", "dm.read"}),
    "users_lookup": frozenset({"tweet.read", "users.read"}),
    "search_recent": frozenset({"tweet.read", "users.read"}),
}

TWEET_FIELDS = _names(
    """
    article attachments author_id card_uri community_id context_annotations conversation_id created_at
    display_text_range edit_controls edit_history_tweet_ids entities geo id in_reply_to_user_id lang
    media_metadata non_public_metrics note_tweet organic_metrics possibly_sensitive promoted_metrics
    public_metrics referenced_tweets reply_settings scopes source text withheld
    """
)
USER_FIELDS = _names(
    """
    affiliation connection_status created_at description entities id is_identity_verified location
    most_recent_tweet_id name parody pinned_tweet_id profile_banner_url profile_image_url protected
    public_metrics receives_your_dm subscription subscription_type url username verified
    verified_followers_count verified_type withheld
    """
)
DM_EVENT_FIELDS = _names(
    """
    attachments created_at dm_conversation_id entities event_type id participant_ids referenced_tweets
    sender_id text
    """
)
DM_EVENT_TYPES = ("MessageCreate", "ParticipantsJoin", "ParticipantsLeave")
TWEET_EXPANSIONS = _names(
    """
    article.cover_media article.media_entities attachments.media_keys attachments.media_source_tweet
    attachments.poll_ids author_id edit_history_tweet_ids entities.mentions.username geo.place_id
    in_reply_to_user_id entities.note.mentions.username referenced_tweets.id
    referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id
    """
)
USER_EXPANSIONS = frozenset({"affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"})
DM_EXPANSIONS = frozenset({"attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"})

DEFAULT_TWEET_FIELDS = ("edit_history_tweet_ids", "id", "text")
DEFAULT_USER_FIELDS = ("id", "name", "username")
DEFAULT_DM_FIELDS = ("event_type", "id", "text")

_MEDIA_PLACE_POLL = ("media.fields", "place.fields", "poll.fields")
_TIMELINE = (
    "max_results",
    "pagination_token",
    "expansions",
    "tweet.fields",
    "post.fields",
    "user.fields",
    *_MEDIA_PLACE_POLL,
)


@dataclass(frozen=True)
class EndpointSpec:
    params: frozenset[str]
    page_sizes: tuple[int, int] | None = None  # inclusive max_results range
    default_size: int = 0


SPECS: dict[str, EndpointSpec] = {
    "users_me": EndpointSpec(frozenset({"expansions", "tweet.fields", "post.fields", "user.fields"})),
    "users_lookup": EndpointSpec(frozenset({"ids", "expansions", "tweet.fields", "post.fields", "user.fields"})),
    "tweets": EndpointSpec(
        frozenset({*_TIMELINE, "since_id", "until_id", "start_time", "end_time", "exclude"}), (5, 100), 10
    ),
    "mentions": EndpointSpec(frozenset({*_TIMELINE, "since_id", "until_id", "start_time", "end_time"}), (5, 100), 10),
    "liked_tweets": EndpointSpec(frozenset(_TIMELINE), (5, 100), 100),
    "following": EndpointSpec(
        frozenset({"max_results", "pagination_token", "expansions", "tweet.fields", "post.fields", "user.fields"}),
        (1, 1000),
        100,
    ),
    "followers": EndpointSpec(
        frozenset({"max_results", "pagination_token", "expansions", "tweet.fields", "post.fields", "user.fields"}),
        (1, 1000),
        100,
    ),
    # openapi.json: max_results 10-100 (default 10); next_token or pagination_token; start_time within 7 days
    "search_recent": EndpointSpec(
        frozenset(
            {
                "query",
                "max_results",
                "next_token",
                "pagination_token",
                "start_time",
                "end_time",
                "since_id",
                "until_id",
                "sort_order",
                "expansions",
                "tweet.fields",
                "post.fields",
                "user.fields",
                *_MEDIA_PLACE_POLL,
            }
        ),
        (10, 100),
        10,
    ),
    "dm_events": EndpointSpec(
        frozenset(
            {
                "max_results",
                "pagination_token",
                "event_types",
                "dm_event.fields",
                "expansions",
                "tweet.fields",
                "post.fields",
                "user.fields",
                "media.fields",
            }
        ),
        (1, 100),
        100,
    ),
}

_USER_PATH = re.compile(r"^/2/users/([^/]+)/(tweets|mentions|liked_tweets|following|followers)$")
_NUMERIC_ID = re.compile(r"^[0-9]{1,19}$")
_JSON = "application/json; charset=utf-8"

_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class SimResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    endpoint: str | None = None
    # seconds the transport should wait before answering (a slowed response)
    delay_s: float = 0.0


class TokenError(Exception):
    """An OAuth token request that X would refuse: status and the RFC 6749 error body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


class InvalidRequest(Exception):
    """A query X would reject with its invalid-request problem."""

    def __init__(self, parameter: str, value: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.message = message


# ----- problem bodies -----------------------------------------------------------


def problem(status: int, user_id: str | None = None) -> dict[str, Any]:
    """X's error body for ``status`` (the shapes X returns for 401, 402, 403, 429 and 5xx)."""
    if status == 402:
        account = user_id or "0"
        return {
            "title": "CreditsDepleted",
            "detail": f"Your enrolled account [{account}] does not have any credits to fulfill this request.",
            "type": "https://api.twitter.com/2/problems/credits",
        }
    title = _STATUS_TITLES.get(status, "Error")
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def invalid_request(err: InvalidRequest) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {err.parameter: [err.value]}, "message": err.message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def not_found_user(user_id: str, parameter: str) -> dict[str, Any]:
    return {
        "value": user_id,
        "detail": f"Could not find user with {parameter}: [{user_id}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": user_id,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


# ----- wire shapes ----------------------------------------------------------------


def timestamp(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def _entities(text: str, entities: XEntities) -> dict[str, Any]:
    """Entities with X's start/end offsets (code points) into ``text``."""
    lower = text.lower()
    out: dict[str, Any] = {}

    def span(needle: str) -> dict[str, int]:
        start = lower.find(needle.lower())
        return {"start": start, "end": start + len(needle)} if start >= 0 else {}

    if entities.mentions:
        out["mentions"] = [
            {**span("@" + m.username), "username": m.username, **({"id": m.id} if m.id else {})}
            for m in entities.mentions
        ]
    if entities.urls:
        out["urls"] = [
            {
                **span(u.url),
                "url": u.url,
                **({"expanded_url": u.expanded_url} if u.expanded_url else {}),
                **({"display_url": u.display_url} if u.display_url else {}),
            }
            for u in entities.urls
        ]
    if entities.hashtags:
        out["hashtags"] = [{**span("#" + h.tag), "tag": h.tag} for h in entities.hashtags]
    return out


def tweet_wire(tweet: XTweet) -> dict[str, Any]:
    """Every field the simulation knows for a post, in X's wire names."""
    wire: dict[str, Any] = {
        "id": tweet.id,
        "text": tweet.text,
        "edit_history_tweet_ids": list(tweet.edit_history_tweet_ids or [tweet.id]),
        "lang": "en",
        "possibly_sensitive": False,
        "reply_settings": "everyone",
    }
    if tweet.author_id:
        wire["author_id"] = tweet.author_id
    if tweet.created_at:
        wire["created_at"] = timestamp(tweet.created_at)
    if tweet.conversation_id:
        wire["conversation_id"] = tweet.conversation_id
    if tweet.in_reply_to_user_id:
        wire["in_reply_to_user_id"] = tweet.in_reply_to_user_id
    if tweet.referenced_tweets:
        wire["referenced_tweets"] = [{"type": r.type, "id": r.id} for r in tweet.referenced_tweets]
    if tweet.entities:
        entities = _entities(tweet.text, tweet.entities)
        if entities:
            wire["entities"] = entities
    metrics = tweet.public_metrics
    if metrics:
        wire["public_metrics"] = {
            "retweet_count": metrics.retweet_count,
            "reply_count": metrics.reply_count,
            "like_count": metrics.like_count,
            "quote_count": metrics.quote_count,
            "bookmark_count": metrics.like_count // 12,
            "impression_count": metrics.like_count * 37 + metrics.reply_count * 11,
        }
    return wire


# Accounts the generator did not plant quiet posted within this long before the simulation's now.
RECENT_POSTER_SPAN_S = 4 * 86400


def most_recent_post_id(user: XUser, now: datetime) -> str | None:
    """``most_recent_tweet_id`` (data-dictionary.mdx): the id of the user's latest post, absent if they never posted.

    A followee the generator planted quiet carries its own; anyone else posted a little while ago (dated
    from the id, so the same user gets the same answer all week), which is what most accounts look like.
    """
    if user.most_recent_tweet_id:
        return user.most_recent_tweet_id
    metrics = user.public_metrics
    if metrics is not None and metrics.tweet_count == 0:
        return None
    at_ms = int(now.timestamp() * 1000) - (int(user.id) % RECENT_POSTER_SPAN_S) * 1000
    return str(((at_ms - SNOWFLAKE_EPOCH_MS) << 22) | (int(user.id) & 0x3FFFFF))


def user_wire(user: XUser, now: datetime | None = None) -> dict[str, Any]:
    """Every field the simulation knows for a user; ``now`` dates their latest post (without it: none)."""
    wire: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    recent = most_recent_post_id(user, now) if now is not None else None
    if recent:
        wire["most_recent_tweet_id"] = recent
    if user.created_at:
        wire["created_at"] = timestamp(user.created_at)
    if user.description is not None:
        wire["description"] = user.description
    if user.protected is not None:
        wire["protected"] = user.protected
    metrics = user.public_metrics
    if metrics:
        wire["public_metrics"] = {
            "followers_count": metrics.followers_count,
            "following_count": metrics.following_count,
            "tweet_count": metrics.tweet_count,
            "listed_count": metrics.listed_count,
            "like_count": metrics.like_count,
        }
    return wire


def dm_wire(event: XDmEvent) -> dict[str, Any]:
    wire: dict[str, Any] = {"id": event.id, "event_type": event.event_type}
    if event.text is not None and event.event_type == "MessageCreate":
        wire["text"] = event.text
    if event.sender_id:
        wire["sender_id"] = event.sender_id
    if event.dm_conversation_id:
        wire["dm_conversation_id"] = event.dm_conversation_id
    if event.created_at:
        wire["created_at"] = timestamp(event.created_at)
    # X sends participant_ids on join/leave events only; a one-to-one conversation names both in its id.
    if event.participant_ids and event.event_type != "MessageCreate":
        wire["participant_ids"] = list(event.participant_ids)
    return wire


def project(wire: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {k: wire[k] for k in sorted(wire) if k in fields}


# ----- query parsing ----------------------------------------------------------------


def _query(raw: str) -> dict[str, str]:
    parsed = parse_qs(raw, keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def _check_params(endpoint: str, query: Mapping[str, str]) -> None:
    allowed = SPECS[endpoint].params
    for name in query:
        if name not in allowed:
            listing = ",".join(sorted(allowed))
            raise InvalidRequest(name, query[name], f"The query parameter [{name}] is not one of [{listing}]")


def _csv(query: Mapping[str, str], name: str, allowed: frozenset[str] | Sequence[str]) -> list[str]:
    raw = query.get(name)
    if raw is None:
        return []
    values = [v for v in raw.split(",") if v != ""]
    for value in values:
        if value not in allowed:
            listing = ",".join(sorted(allowed))
            raise InvalidRequest(name, value, f"The `{name}` query parameter value [{value}] is not one of [{listing}]")
    if not values:
        raise InvalidRequest(name, raw, f"The `{name}` query parameter can not be empty")
    return values


def _fields(query: Mapping[str, str], name: str, allowed: frozenset[str], defaults: Sequence[str]) -> frozenset[str]:
    return frozenset(defaults) | frozenset(_csv(query, name, allowed))


def _tweet_fields(query: Mapping[str, str]) -> frozenset[str]:
    # tweet.fields is what X documents in prose and tweepy sends; post.fields is the OpenAPI spelling
    fields = _fields(query, "tweet.fields", TWEET_FIELDS, DEFAULT_TWEET_FIELDS)
    return fields | frozenset(_csv(query, "post.fields", TWEET_FIELDS))


def _max_results(endpoint: str, query: Mapping[str, str]) -> int:
    spec = SPECS[endpoint]
    assert spec.page_sizes is not None
    low, high = spec.page_sizes
    raw = query.get("max_results")
    if raw is None:
        return spec.default_size
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(
            "max_results", raw, f"The `max_results` query parameter value [{raw}] is not between {low} and {high}"
        )
    return int(raw)


def _numeric(name: str, raw: str) -> int:
    if not _NUMERIC_ID.match(raw):
        raise InvalidRequest(name, raw, f"The `{name}` query parameter value [{raw}] does not match ^[0-9]{{1,19}}$")
    return int(raw)


def _time(name: str, raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidRequest(
            name, raw, f"Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 timestamp (YYYY-MM-DDTHH:mm:ssZ)."
        )
    return parsed.astimezone(UTC)


def _encode_cursor(endpoint: str, key: int) -> str:
    return base64.b32encode(f"{endpoint}:{key}".encode()).decode().rstrip("=").lower()


def _decode_cursor(endpoint: str, token: str) -> int:
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        name, key = base64.b32decode(padded).decode().split(":", 1)
        if name != endpoint:
            raise ValueError(name)
        return int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid"
        ) from None


T = TypeVar("T")


def _page(
    endpoint: str, items: Sequence[T], neg_keys: Sequence[int], query: Mapping[str, str]
) -> tuple[Sequence[T], str | None]:
    """One page of items ordered by strictly decreasing key (``neg_keys`` ascending)."""
    size = _max_results(endpoint, query)
    token = query.get("pagination_token")
    start = bisect_left(neg_keys, -_decode_cursor(endpoint, token)) if token else 0
    page = items[start : start + size]
    end = start + size
    next_token = _encode_cursor(endpoint, -neg_keys[end]) if end < len(items) else None
    return page, next_token


def _ordered(account: SyntheticAccount, name: str, build: Callable[[], Any]) -> Any:
    """A derived index of ``account``, rebuilt only when the account changes."""
    cached = account.indexes.get(name)
    if cached is not None and cached[0] == account.version:
        return cached[1]
    value = build()
    account.indexes[name] = (account.version, value)
    return value


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


# ----- includes -------------------------------------------------------------------


class _Includes:
    def __init__(self, sim: XSim, account: SyntheticAccount | None, query: Mapping[str, str]) -> None:
        self.sim = sim
        self.account = account
        self.user_fields = _fields(query, "user.fields", USER_FIELDS, DEFAULT_USER_FIELDS)
        self.tweet_fields = _tweet_fields(query)
        self.users: dict[str, dict[str, Any]] = {}
        self.tweets: dict[str, dict[str, Any]] = {}

    def user(self, user_id: str | None) -> None:
        if not user_id or user_id in self.users:
            return
        found = (self.account.users.get(user_id) if self.account else None) or self.sim.find_user(user_id)
        if found is not None:
            self.users[user_id] = project(user_wire(found, self.sim.now()), self.user_fields)

    def tweet(self, tweet: XTweet) -> None:
        if tweet.id not in self.tweets:
            self.tweets[tweet.id] = project(tweet_wire(tweet), self.tweet_fields)

    def referenced(self, tweet: XTweet) -> list[XTweet]:
        pool = self.account.referenced if self.account else {}
        return [pool[r.id] for r in tweet.referenced_tweets if r.id in pool]

    def add_to(self, body: dict[str, Any]) -> int:
        includes: dict[str, Any] = {}
        if self.users:
            includes["users"] = list(self.users.values())
        if self.tweets:
            includes["tweets"] = list(self.tweets.values())
        if includes:
            body["includes"] = includes
        return len(self.users) + len(self.tweets)


def _tweet_includes(inc: _Includes, tweets: Sequence[XTweet], expansions: list[str]) -> None:
    wanted = set(expansions)
    for tweet in tweets:
        if "author_id" in wanted:
            inc.user(tweet.author_id)
        if "in_reply_to_user_id" in wanted:
            inc.user(tweet.in_reply_to_user_id)
        if "entities.mentions.username" in wanted and tweet.entities:
            for mention in tweet.entities.mentions:
                inc.user(mention.id)
        if wanted & {"referenced_tweets.id", "referenced_tweets.id.author_id"}:
            for ref in inc.referenced(tweet):
                if "referenced_tweets.id" in wanted:
                    inc.tweet(ref)
                if "referenced_tweets.id.author_id" in wanted:
                    inc.user(ref.author_id)


# ----- endpoint handlers --------------------------------------------------------------

# (body, resources served, ids of the page's own items)
Served = tuple[dict[str, Any], int, list[str]]


def _empty() -> Served:
    return {"meta": {"result_count": 0}}, 0, []


def _tweet_timeline(sim: XSim, endpoint: str, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    items: list[XTweet] = account.posts if endpoint == "tweets" else account.mentions
    items = items[: REACH[endpoint]]
    if "since_id" in query:
        since = _numeric("since_id", query["since_id"])
        items = [t for t in items if int(t.id) > since]
    if "until_id" in query:
        until = _numeric("until_id", query["until_id"])
        items = [t for t in items if int(t.id) < until]
    if "start_time" in query:
        start = _time("start_time", query["start_time"])
        items = [t for t in items if t.created_at and t.created_at >= start]
    if "end_time" in query:
        end = _time("end_time", query["end_time"])
        items = [t for t in items if t.created_at and t.created_at < end]
    excluded = set(_csv(query, "exclude", ("replies", "retweets")))
    if excluded:
        items = [t for t in items if not _excluded(t, excluded)]
    page, next_token = _page(endpoint, items, [-int(t.id) for t in items], query)
    return _tweet_page(sim, account, endpoint, page, next_token, query, newest_oldest=True)


def _excluded(tweet: XTweet, excluded: set[str]) -> bool:
    kinds = {r.type for r in tweet.referenced_tweets}
    if "retweets" in excluded and "retweeted" in kinds:
        return True
    return "replies" in excluded and ("replied_to" in kinds or tweet.in_reply_to_user_id is not None)


def _liked(sim: XSim, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    keys = _ordered(account, "liked_tweets", lambda: [-_micros(account.like_times[t.id]) for t in account.likes])
    page, next_token = _page("liked_tweets", account.likes, keys, query)
    return _tweet_page(sim, account, "liked_tweets", page, next_token, query, newest_oldest=False)


def _tweet_page(
    sim: XSim,
    account: SyntheticAccount,
    endpoint: str,
    page: Sequence[XTweet],
    next_token: str | None,
    query: Mapping[str, str],
    *,
    newest_oldest: bool,
) -> Served:
    fields = _tweet_fields(query)
    expansions = _csv(query, "expansions", TWEET_EXPANSIONS)
    inc = _Includes(sim, account, query)
    if not page:
        return _empty()
    _tweet_includes(inc, page, expansions)
    body: dict[str, Any] = {"data": [project(tweet_wire(t), fields) for t in page]}
    extra = inc.add_to(body)
    meta: dict[str, Any] = {"result_count": len(page)}
    if newest_oldest:
        meta["newest_id"] = page[0].id
        meta["oldest_id"] = page[-1].id
    if next_token:
        meta["next_token"] = next_token
    body["meta"] = meta
    return body, len(page) + extra, [t.id for t in page]


def _follow_list(sim: XSim, endpoint: str, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    users = account.following if endpoint == "following" else account.followers
    times = account.follow_times if endpoint == "following" else account.follower_times
    keys = _ordered(account, endpoint, lambda: [-_micros(times[u.id]) for u in users])
    page, next_token = _page(endpoint, users, keys, query)
    fields = _fields(query, "user.fields", USER_FIELDS, DEFAULT_USER_FIELDS)
    _csv(query, "expansions", USER_EXPANSIONS)  # validated; no pinned posts in the simulation
    _tweet_fields(query)
    if not page:
        return _empty()
    now = sim.now()
    body: dict[str, Any] = {"data": [project(user_wire(u, now), fields) for u in page]}
    meta: dict[str, Any] = {"result_count": len(page)}
    if next_token:
        meta["next_token"] = next_token
    body["meta"] = meta
    return body, len(page), [u.id for u in page]


def _dm_events(sim: XSim, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    oldest = sim.now() - DM_RETENTION
    types = set(_csv(query, "event_types", DM_EVENT_TYPES)) or set(DM_EVENT_TYPES)
    items = [e for e in account.dm_events if e.created_at and e.created_at >= oldest and e.event_type in types]
    page, next_token = _page("dm_events", items, [-int(e.id) for e in items], query)
    fields = _fields(query, "dm_event.fields", DM_EVENT_FIELDS, DEFAULT_DM_FIELDS)
    expansions = set(_csv(query, "expansions", DM_EXPANSIONS))
    inc = _Includes(sim, account, query)
    if not page:
        return _empty()
    for event in page:
        if "sender_id" in expansions:
            inc.user(event.sender_id)
        if "participant_ids" in expansions:
            for uid in event.participant_ids:
                inc.user(uid)
    body: dict[str, Any] = {"data": [project(dm_wire(e), fields) for e in page]}
    extra = inc.add_to(body)
    meta: dict[str, Any] = {"result_count": len(page)}
    if next_token:
        meta["next_token"] = next_token
    body["meta"] = meta
    return body, len(page) + extra, [e.id for e in page]


def _searchable_posts(account: SyntheticAccount) -> list[XTweet]:
    """Every post of the account's world, newest first: its own, mentions, liked and referenced posts, and
    the posts only search finds."""
    pool: dict[str, XTweet] = {}
    for collection in (account.posts, account.mentions, account.likes, account.referenced.values()):
        for tweet in collection:
            pool[tweet.id] = tweet
    for tweet in account.untagged_posts:
        pool[tweet.id] = tweet
    return sorted(pool.values(), key=lambda t: int(t.id), reverse=True)


def _username(account: SyntheticAccount, user_id: str | None) -> str:
    user = account.users.get(user_id or "")
    return user.username if user is not None else ""


def _search_recent(sim: XSim, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    """Posts of the last seven days matching ``query``, newest first (sort_order=relevancy is served the same)."""
    if "start_time" in query and "since_id" in query:
        raise InvalidRequest("since_id", query["since_id"], "At most one of `start_time`, `since_id` may be provided.")
    if "end_time" in query and "until_id" in query:
        raise InvalidRequest("until_id", query["until_id"], "At most one of `end_time`, `until_id` may be provided.")
    if "next_token" in query and "pagination_token" in query:
        raise InvalidRequest(
            "next_token", query["next_token"], "At most one of `pagination_token`, `next_token` may be provided."
        )
    if query.get("sort_order", "recency") not in ("recency", "relevancy"):
        raise InvalidRequest("sort_order", query["sort_order"], "The `sort_order` query parameter is not valid")
    raw = query.get("query", "")
    try:
        matches = search.compile_query(raw)
    except search.QueryError as err:
        raise InvalidRequest("query", raw, f"There were errors processing your request: {err}") from None
    now = sim.now()
    oldest = now - SEARCH_WINDOW
    start = oldest
    if "start_time" in query:
        start = _time("start_time", query["start_time"])
        if start < oldest:
            raise InvalidRequest(
                "start_time",
                query["start_time"],
                f"Invalid 'start_time':'{query['start_time']}'. 'start_time' must be on or after {timestamp(oldest)}",
            )
    end = _time("end_time", query["end_time"]) if "end_time" in query else now
    since = _numeric("since_id", query["since_id"]) if "since_id" in query else None
    until = _numeric("until_id", query["until_id"]) if "until_id" in query else None
    items = [
        t
        for t in _ordered(account, "searchable", lambda: _searchable_posts(account))
        if t.created_at is not None
        and start <= t.created_at < end
        and (since is None or int(t.id) > since)
        and (until is None or int(t.id) < until)
        and matches(search.searchable(t, _username(account, t.author_id)))
    ]
    paging = dict(query)
    if "next_token" in paging:
        paging["pagination_token"] = paging.pop("next_token")
    page, next_token = _page("search_recent", items, [-int(t.id) for t in items], paging)
    return _tweet_page(sim, account, "search_recent", page, next_token, query, newest_oldest=True)


def _users_me(sim: XSim, account: SyntheticAccount, query: Mapping[str, str]) -> Served:
    fields = _fields(query, "user.fields", USER_FIELDS, DEFAULT_USER_FIELDS)
    _csv(query, "expansions", USER_EXPANSIONS)
    _tweet_fields(query)
    me = account.me
    if account.posts:  # the subscriber's latest post is in the data
        me = me.model_copy(update={"most_recent_tweet_id": account.posts[0].id})
    return {"data": project(user_wire(me, sim.now()), fields)}, 1, [account.me.id]


def _users_lookup(sim: XSim, query: Mapping[str, str]) -> Served:
    raw = query.get("ids")
    if not raw:
        raise InvalidRequest("ids", raw or "", "The `ids` query parameter can not be empty")
    ids = raw.split(",")
    if len(ids) > 100:
        raise InvalidRequest("ids", raw, f"The `ids` query parameter value [{raw}] is not between 1 and 100")
    for uid in ids:
        _numeric("ids", uid)
    fields = _fields(query, "user.fields", USER_FIELDS, DEFAULT_USER_FIELDS)
    _csv(query, "expansions", USER_EXPANSIONS)
    _tweet_fields(query)
    found: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for uid in ids:
        user = sim.find_user(uid)
        if user is not None:
            found.append(project(user_wire(user, sim.now()), fields))
        else:
            errors.append(not_found_user(uid, "ids"))
    body: dict[str, Any] = {}
    if found:
        body["data"] = found
    if errors:
        body["errors"] = errors
    return body, len(found), [u["id"] for u in found]


# ----- dispatch ----------------------------------------------------------------------


def _json(status: int, body: Any, headers: dict[str, str] | None = None, endpoint: str | None = None) -> SimResponse:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return SimResponse(status, {"content-type": _JSON, **(headers or {})}, data, endpoint)


def _route(method: str, path: str) -> tuple[str | None, str | None]:
    """(endpoint name, user id in the path)."""
    if method != "GET":
        return None, None
    if path == "/2/users/me":
        return "users_me", None
    if path == "/2/users":
        return "users_lookup", None
    if path == "/2/dm_events":
        return "dm_events", None
    if path == "/2/tweets/search/recent":
        return "search_recent", None
    match = _USER_PATH.match(path)
    if match:
        return match.group(2), unquote(match.group(1))
    return None, None


def dispatch(sim: XSim, method: str, target: str, headers: Mapping[str, str], body: bytes) -> SimResponse:
    """Answer one request. ``headers`` have lower-case names."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    if path == "/i/oauth2/authorize":
        return _authorize(sim, method, _query(parts.query if method == "GET" else body.decode("utf-8", "replace")))
    if path == "/2/oauth2/token" and method == "POST":
        return _oauth_token(sim, headers, body)
    if path == "/2/oauth2/revoke" and method == "POST":
        form = _query(body.decode("utf-8", "replace"))
        sim.revoke_token(form.get("token", ""))
        return _json(200, {"revoked": True})
    endpoint, path_user = _route(method, path)
    if endpoint is None:
        return _json(404, problem(404))
    with sim.lock:
        return _api(sim, endpoint, path_user, _query(parts.query), headers)


def _api(
    sim: XSim, endpoint: str, path_user: str | None, query: Mapping[str, str], headers: Mapping[str, str]
) -> SimResponse:
    sim.meter.request(endpoint)
    bearer = headers.get("authorization", "")
    token = sim.authenticate(bearer[7:]) if bearer[:7].lower() == "bearer " else None
    now = sim.now()
    window = sim.rate_limiter.hit(token.user_id if token else "-", endpoint, now)

    def rate_headers(remaining: int | None = None, reset_at: datetime | None = None) -> dict[str, str]:
        left = max(window.limit - window.used, 0) if remaining is None else remaining
        return {
            "x-rate-limit-limit": str(window.limit),
            "x-rate-limit-remaining": str(left),
            "x-rate-limit-reset": str(int((reset_at or window.reset_at).timestamp())),
        }

    fault = sim.faults.decide(endpoint)
    if fault.status is not None:
        if fault.status == 429:
            limited = rate_headers(0, now + timedelta(seconds=fault.reset_in))
            return _json(429, problem(429), limited, endpoint)
        return _json(fault.status, problem(fault.status, token.user_id if token else None), rate_headers(), endpoint)
    if token is None:
        return _json(401, problem(401), rate_headers(), endpoint)
    if not REQUIRED_SCOPES[endpoint] <= token.scopes:
        return _json(403, problem(403), rate_headers(), endpoint)
    if sim.enforce_rate_limits and window.used > window.limit:
        return _json(429, problem(429), rate_headers(0), endpoint)
    try:
        _check_params(endpoint, query)
        served = _serve(sim, endpoint, path_user, token.user_id, query)
    except InvalidRequest as err:
        return _json(400, invalid_request(err), rate_headers(), endpoint)
    body, resources, ids = served
    response = _json(200, body, rate_headers(), endpoint)
    response.delay_s = fault.delay_s
    if fault.truncate:
        # a body cut mid-JSON delivers nothing: the reader must ask again, which is not a re-read
        response.body = response.body[: max(len(response.body) // 2, 1)]
    else:
        sim.meter.served(endpoint, resources, ids, reader=token.user_id)
    return response


def _serve(sim: XSim, endpoint: str, path_user: str | None, token_user: str, query: Mapping[str, str]) -> Served:
    if endpoint == "users_me":
        return _users_me(sim, sim.accounts[token_user], query)
    if endpoint == "users_lookup":
        return _users_lookup(sim, query)
    if endpoint == "dm_events":
        return _dm_events(sim, sim.accounts[token_user], query)
    if endpoint == "search_recent":
        return _search_recent(sim, sim.accounts[token_user], query)
    assert path_user is not None
    _numeric("id", path_user)
    account = sim.accounts.get(path_user)
    if account is None:
        # a real account the simulation has no timeline for reads as empty; an unknown one as not found
        if sim.find_user(path_user) is not None:
            _max_results(endpoint, query)
            return _empty()
        return {"errors": [not_found_user(path_user, "id")]}, 0, []
    if endpoint in ("tweets", "mentions"):
        return _tweet_timeline(sim, endpoint, account, query)
    if endpoint == "liked_tweets":
        return _liked(sim, account, query)
    return _follow_list(sim, endpoint, account, query)


# ----- OAuth 2.0 -------------------------------------------------------------------------


def _client_credentials(headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[str | None, str | None]:
    auth = headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:]).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


def _oauth_token(sim: XSim, headers: Mapping[str, str], body: bytes) -> SimResponse:
    endpoint = "oauth_token"
    sim.meter.request(endpoint)
    no_store = {"cache-control": "no-store", "pragma": "no-cache"}
    fault = sim.faults.decide(endpoint)
    if fault.status is not None:
        return _json(fault.status, problem(fault.status), no_store, endpoint)
    form = _query(body.decode("utf-8", "replace"))
    try:
        client_id = sim.check_client(*_client_credentials(headers, form))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            missing = [k for k in ("code", "redirect_uri", "code_verifier") if not form.get(k)]
            if missing:
                raise TokenError(400, "invalid_request", f"Missing required parameter [{missing[0]}].")
            issued = sim.exchange_code(client_id, form["code"], form["redirect_uri"], form["code_verifier"])
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise TokenError(400, "invalid_request", "Missing required parameter [refresh_token].")
            issued = sim.refresh(client_id, form["refresh_token"])
        else:
            raise TokenError(400, "unsupported_grant_type", f"Grant type [{grant_type}] is not supported.")
    except TokenError as err:
        return _json(err.status, err.body, no_store, endpoint)
    sim.meter.served(endpoint, 0, [])
    return _json(200, issued, no_store, endpoint)


_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


def _authorize_problem(params: Mapping[str, str]) -> str | None:
    if params.get("response_type") != "code":
        return "response_type must be code"
    for name in ("client_id", "redirect_uri", "scope", "state", "code_challenge"):
        if not params.get(name):
            return f"missing {name}"
    if params.get("code_challenge_method", "plain") not in ("S256", "plain"):
        return "code_challenge_method must be S256 or plain"
    if urlsplit(params["redirect_uri"]).scheme not in ("http", "https"):
        return "redirect_uri must be an http(s) URL"
    unknown = [s for s in params["scope"].split() if s not in KNOWN_SCOPES]
    if unknown:
        return f"unknown scope {unknown[0]}"
    return None


def _html(status: int, title: str, content: str) -> SimResponse:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{content}</body></html>"
    )
    return SimResponse(status, {"content-type": "text/html; charset=utf-8"}, page.encode("utf-8"))


def _authorize(sim: XSim, method: str, params: Mapping[str, str]) -> SimResponse:
    """X's consent screen, reduced to a form that names the seeded accounts."""
    error = _authorize_problem(params)
    if error is None and sim.known_clients() and params["client_id"] not in sim.known_clients():
        error = "unknown client_id"
    if error is not None:
        return _html(400, "Something went wrong", f"<h1>Something went wrong</h1><p>{html.escape(error)}</p>")
    if method == "POST":
        redirect = params["redirect_uri"]
        joiner = "&" if urlsplit(redirect).query else "?"
        if params.get("decision") == "deny":
            location = redirect + joiner + urlencode({"error": "access_denied", "state": params["state"]})
            return SimResponse(302, {"location": location, "content-length": "0"}, b"")
        user_id = params.get("user_id", "")
        if user_id not in sim.accounts:
            return _html(400, "Something went wrong", "<h1>Something went wrong</h1><p>unknown account</p>")
        code = sim.issue_code(
            user_id,
            params["client_id"],
            redirect,
            params["scope"].split(),
            params["code_challenge"],
            params.get("code_challenge_method", "plain"),
        )
        location = redirect + joiner + urlencode({"state": params["state"], "code": code})
        return SimResponse(302, {"location": location, "content-length": "0"}, b"")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in _AUTHORIZE_PARAMS
        if name in params
    )
    options = "".join(
        f'<option value="{html.escape(uid)}"{" selected" if i == 0 else ""}>'
        f"@{html.escape(username)} ({html.escape(name)})</option>"
        for i, uid in enumerate(sim.accounts)
        for username, name in [sim.accounts.identity(uid)]
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params["scope"].split())
    content = (
        f"<h1>{html.escape(params['client_id'])} wants to access your X account</h1>"
        f'<p>It will be able to:</p><ul class="scopes">{scopes}</ul>'
        '<form method="post" action="/i/oauth2/authorize">'
        f"{hidden}"
        '<label for="user_id">Account</label> '
        f'<select name="user_id" id="user_id">{options}</select> '
        '<button type="submit" name="decision" value="allow">Authorize app</button> '
        '<button type="submit" name="decision" value="deny">Cancel</button>'
        "</form>"
    )
    return _html(200, "Authorize app", content)
