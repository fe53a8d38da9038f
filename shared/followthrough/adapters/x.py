"""X API adapter: tweepy's ``Client`` and ``OAuth2UserHandler``, pointed at X or at the local stand-in.

Returns validated wire models (``followthrough.xmodels``); knows nothing about
subscribers, budgets or storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

from followthrough.config import X_HOSTS
from followthrough.xmodels import DmEventPage, TweetPage, UserPage, XUserResponse

# tweepy logs full request headers (the bearer token) at DEBUG, requests-oauthlib
# logs token bodies: keep both quiet whatever the root level is.
for _name in ("tweepy", "requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

TOKEN_URL = "https://api.twitter.com/2/oauth2/token"  # noqa: S105 (a URL, not a secret)
REVOKE_URL = "https://api.twitter.com/2/oauth2/revoke"
SCOPES = ["tweet.read", "users.read", "follows.read", "like.read", "dm.read", "offline.access"]

TWEET_FIELDS = [
    "created_at",
    "author_id",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "entities",
]
# most_recent_tweet_id dates a followee's last post (a snowflake) at no extra cost: X prices the user, not fields
USER_FIELDS = ["created_at", "public_metrics", "most_recent_tweet_id"]
DM_FIELDS = ["id", "event_type", "text", "created_at", "sender_id", "dm_conversation_id", "participant_ids"]


class XRateLimited(Exception):
    def __init__(self, endpoint: str, reset_at: int | None) -> None:
        super().__init__(f"X rate limit on {endpoint}; resets at {reset_at}")
        self.endpoint = endpoint
        self.reset_at = reset_at


class XAuthRevoked(Exception):
    """The subscriber's token was revoked or can no longer be refreshed."""


class XCreditsExhausted(Exception):
    """402 from X: the app's pay-per-use credits are used up."""


class XUnavailable(Exception):
    """X kept answering 5xx after bounded retries."""


class XMalformed(Exception):
    """X answered something that does not parse as the documented shape."""


class _RewriteHost(HTTPAdapter):
    """Sends requests for X's hard-coded hosts to ``base_url`` instead (the local stand-in)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for host in X_HOSTS:
            if url.startswith(host):
                request.url = self.base_url + url[len(host) :]
                break
        return super().send(request, *args, **kwargs)


def point_session_at(session: requests.Session, base_url: str) -> None:
    """Mount the host rewrite on ``session`` unless ``base_url`` is X itself."""
    if base_url.rstrip("/") in X_HOSTS:
        return
    adapter = _RewriteHost(base_url)
    for host in X_HOSTS:
        session.mount(host, adapter)


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float
    scope: str = ""

    @classmethod
    def from_oauth(cls, token: dict[str, Any], now: float) -> TokenSet:
        """From X's token response; expiry counts from ``now`` (the caller's clock, not oauthlib's)."""
        scope = token.get("scope", "")
        return cls(
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            expires_at=now + float(token.get("expires_in") or 0),
            scope=" ".join(scope) if isinstance(scope, list) else str(scope),
        )

    def __repr__(self) -> str:  # never print tokens by accident
        return f"TokenSet(expires_at={self.expires_at})"


@dataclass
class XOAuth:
    """OAuth 2.0 with PKCE for the sign-up and for refreshing tokens."""

    client_id: str
    client_secret: str
    base_url: str = "https://api.twitter.com"
    redirect_uri: str = ""
    now: Callable[[], float] = time.time

    def handler(self) -> tweepy.OAuth2UserHandler:
        handler = tweepy.OAuth2UserHandler(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scope=SCOPES,
            client_secret=self.client_secret or None,
        )
        point_session_at(handler, self.base_url)
        return handler

    def authorization_url(self) -> tuple[str, str, str]:
        """(url, state, PKCE code verifier); the caller stores state and verifier."""
        handler = self.handler()
        url = handler.get_authorization_url()
        state = handler._state
        verifier = handler._client.code_verifier
        if self.base_url.rstrip("/") not in X_HOSTS:
            url = url.replace("https://twitter.com", self.base_url.rstrip("/"), 1)
        return url, str(state), str(verifier)

    def exchange_code(self, authorization_response: str, code_verifier: str, state: str) -> TokenSet:
        handler = self.handler()
        handler._state = state
        handler._client.code_verifier = code_verifier
        try:
            token = handler.fetch_token(authorization_response)
        except Exception as exc:  # oauthlib raises many types; the message never holds the token
            raise XAuthRevoked(f"X refused the authorization code: {type(exc).__name__}") from None
        return TokenSet.from_oauth(token, self.now())

    def revoke(self, token: str, hint: str) -> bool:
        """Ask X to forget a token (the grant goes with the refresh token); False if X did not confirm."""
        handler = self.handler()
        auth = HTTPBasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        try:
            response = handler.post(
                REVOKE_URL,
                data={"token": token, "token_type_hint": hint, "client_id": self.client_id},
                auth=auth,
                timeout=10,
            )
        except requests.RequestException:
            return False
        return bool(response.status_code == 200)

    def refresh(self, refresh_token: str) -> TokenSet:
        handler = self.handler()
        auth = HTTPBasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        try:
            token = handler.refresh_token(TOKEN_URL, refresh_token=refresh_token, auth=auth, client_id=self.client_id)
        except Exception as exc:
            raise XAuthRevoked(f"X refused the refresh token: {type(exc).__name__}") from None
        return TokenSet.from_oauth(token, self.now())


@dataclass
class PageResult:
    """One page plus what the meter needs."""

    page: Any
    resources: int


@dataclass
class XClient:
    """Reads one subscriber's activity with their OAuth 2.0 user token."""

    access_token: str = field(repr=False)
    base_url: str = "https://api.twitter.com"
    max_retries: int = 2
    # backoff between retries of a 5xx: short, bounded (max_retries), well inside a Lambda timeout
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    _client: tweepy.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = tweepy.Client(bearer_token=self.access_token, return_type=dict)
        point_session_at(self._client.session, self.base_url)

    def _call(self, endpoint: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                result: dict[str, Any] = method(*args, **kwargs)
                return result
            except tweepy.TooManyRequests as exc:
                raise XRateLimited(endpoint, exc.reset_time if hasattr(exc, "reset_time") else None) from None
            except tweepy.Unauthorized:
                raise XAuthRevoked(f"X answered 401 on {endpoint}") from None
            except tweepy.TwitterServerError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise XUnavailable(f"X answered {exc.response.status_code} on {endpoint} {attempt} times") from None
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            except tweepy.HTTPException as exc:
                if exc.response is not None and exc.response.status_code == 402:
                    raise XCreditsExhausted(f"X answered 402 on {endpoint}: credits exhausted") from None
                raise
            except requests.exceptions.JSONDecodeError:
                # usually a connection cut mid-body: worth the same bounded retries as a 5xx
                attempt += 1
                if attempt > self.max_retries:
                    raise XMalformed(f"X answered a body that is not JSON on {endpoint}, {attempt} times") from None
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            except requests.exceptions.ConnectionError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise XUnavailable(f"could not reach X for {endpoint}: {type(exc).__name__}") from None
                self.sleep(self.backoff_s * 2 ** (attempt - 1))

    @staticmethod
    def _parse(model: Any, body: dict[str, Any], endpoint: str) -> Any:
        try:
            return model.model_validate(body)
        except ValueError as exc:
            raise XMalformed(f"unexpected payload from {endpoint}: {str(exc)[:300]}") from None

    def me(self) -> XUserResponse:
        body = self._call("users_me", self._client.get_me, user_auth=False, user_fields=USER_FIELDS)
        result: XUserResponse = self._parse(XUserResponse, body, "users_me")
        return result

    def posts(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        start_time: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> PageResult:
        body = self._call(
            "tweets",
            self._client.get_users_tweets,
            user_id,
            since_id=since_id,
            start_time=start_time,
            pagination_token=pagination_token,
            max_results=max_results,
            tweet_fields=TWEET_FIELDS,
        )
        page: TweetPage = self._parse(TweetPage, body, "tweets")
        return PageResult(page, len(page.data) + len(page.includes.tweets))

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        start_time: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> PageResult:
        body = self._call(
            "mentions",
            self._client.get_users_mentions,
            user_id,
            since_id=since_id,
            start_time=start_time,
            pagination_token=pagination_token,
            max_results=max_results,
            tweet_fields=TWEET_FIELDS,
        )
        page: TweetPage = self._parse(TweetPage, body, "mentions")
        return PageResult(page, len(page.data))

    def liked_posts(self, user_id: str, *, pagination_token: str | None = None, max_results: int = 100) -> PageResult:
        body = self._call(
            "liked_tweets",
            self._client.get_liked_tweets,
            user_id,
            pagination_token=pagination_token,
            max_results=max(5, max_results),
            # entities: the hashtags of liked posts find weekly chats; fields cost nothing, X prices the post
            tweet_fields=["created_at", "author_id", "entities"],
        )
        page: TweetPage = self._parse(TweetPage, body, "liked_tweets")
        return PageResult(page, len(page.data))

    def following(self, user_id: str, *, pagination_token: str | None = None, max_results: int = 1000) -> PageResult:
        body = self._call(
            "following",
            self._client.get_users_following,
            user_id,
            pagination_token=pagination_token,
            max_results=max_results,
            user_fields=USER_FIELDS,
        )
        page: UserPage = self._parse(UserPage, body, "following")
        return PageResult(page, len(page.data))

    def followers(self, user_id: str, *, pagination_token: str | None = None, max_results: int = 1000) -> PageResult:
        body = self._call(
            "followers",
            self._client.get_users_followers,
            user_id,
            pagination_token=pagination_token,
            max_results=max_results,
            user_fields=USER_FIELDS,
        )
        page: UserPage = self._parse(UserPage, body, "followers")
        return PageResult(page, len(page.data))

    def dm_events(self, *, pagination_token: str | None = None, max_results: int = 100) -> PageResult:
        body = self._call(
            "dm_events",
            self._client.get_direct_message_events,
            user_auth=False,
            pagination_token=pagination_token,
            max_results=max_results,
            dm_event_fields=DM_FIELDS,
            event_types="MessageCreate",
        )
        page: DmEventPage = self._parse(DmEventPage, body, "dm_events")
        return PageResult(page, len(page.data))

    def search_recent(
        self, query: str, *, pagination_token: str | None = None, max_results: int = 100, **since: str | None
    ) -> PageResult:
        """X's recent search (the last seven days) from ``since_id`` or ``start_time``; no expansions: each
        author would be a user read."""
        body = self._call(
            "search_recent",
            self._client.search_recent_tweets,
            query,
            user_auth=False,
            next_token=pagination_token,
            max_results=max(10, max_results),
            tweet_fields=TWEET_FIELDS,
            **since,
        )
        page: TweetPage = self._parse(TweetPage, body, "search_recent")
        return PageResult(page, len(page.data))

    def users(self, ids: list[str]) -> PageResult:
        body = self._call(
            "users_lookup", self._client.get_users, ids=ids[:100], user_fields=USER_FIELDS, user_auth=False
        )
        page: UserPage = self._parse(UserPage, body, "users_lookup")
        return PageResult(page, len(page.data))
