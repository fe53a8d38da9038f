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

from followthrough.adapters.x_errors import (
    XActivityRefused,
    XAuthRevoked,
    XClientRefused,
    XCreditsExhausted,
    XMalformed,
    XRateLimited,
    XRefreshUnavailable,
    XUnavailable,
    XUsageCapped,
)
from followthrough.config import X_HOSTS
from followthrough.xmodels import DmEventPage, TweetPage, UserPage, XUserResponse

# the errors are the client's (adapters/x_errors.py keeps them apart from tweepy): exported from here too
__all__ = [
    "ACTIVITY_SUBSCRIPTIONS_URL",
    "CONNECTED_USER_FIELDS",
    "DM_FIELDS",
    "REFUSED_CLIENT_ERRORS",
    "REFUSED_GRANT_ERRORS",
    "REVOKE_URL",
    "SCOPES",
    "TOKEN_URL",
    "TWEET_FIELDS",
    "USAGE_CAPPED",
    "USER_FIELDS",
    "PageResult",
    "TokenSet",
    "XActivityApi",
    "XActivityRefused",
    "XAuthRevoked",
    "XClient",
    "XClientRefused",
    "XCreditsExhausted",
    "XMalformed",
    "XOAuth",
    "XRateLimited",
    "XRefreshUnavailable",
    "XUnavailable",
    "XUsageCapped",
    "point_session_at",
    "refuses_client",
    "refuses_grant",
]

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
# on the following list and lookups: "followed_by" says who follows back without reading the followers list
CONNECTED_USER_FIELDS = [*USER_FIELDS, "connection_status"]
DM_FIELDS = ["id", "event_type", "text", "created_at", "sender_id", "dm_conversation_id", "participant_ids"]


USAGE_CAPPED = "/problems/usage-capped"  # response-codes-and-errors.mdx, "Problem types"


def _too_many(endpoint: str, exc: tweepy.TooManyRequests) -> XUsageCapped | XRateLimited:
    """A 429 is X's monthly usage cap when its problem type says so; otherwise a rate limit."""
    try:
        body = exc.response.json() if exc.response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and str(body.get("type", "")).endswith(USAGE_CAPPED):
        return XUsageCapped(f"X answered 429 usage-capped on {endpoint}: the monthly Post cap is reached")
    return XRateLimited(endpoint, exc.reset_time if hasattr(exc, "reset_time") else None)


# What X's token endpoint answers for a used, expired or revoked refresh token (user-access-token.mdx,
# steps 5 and 6: 400 invalid_request "Value passed for the token was invalid."); some clients report
# the RFC 6749 name. Only these mean the subscriber must reconnect.
REFUSED_GRANT_ERRORS = frozenset({"invalid_request", "invalid_grant"})
# The app's own credentials refused (RFC 6749 section 5.2: invalid_client, answered 401 when the client
# authenticated with Basic auth, as a confidential client does: user-access-token.mdx). Every subscriber's
# refresh fails alike: an app problem, never a reason to log anyone out.
REFUSED_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("error")) if isinstance(body, dict) and body.get("error") else None


def refuses_client(response: requests.Response) -> bool:
    """True when the token endpoint refused the app's client credentials, not the subscriber's grant."""
    if response.status_code == 401:
        return True
    return response.status_code == 400 and _oauth_error(response) in REFUSED_CLIENT_ERRORS


def refuses_grant(response: requests.Response) -> bool:
    """True when the token endpoint refused the subscriber's grant: not a hiccup, not the app's credentials."""
    return response.status_code == 400 and _oauth_error(response) in REFUSED_GRANT_ERRORS


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
    # a token endpoint slower than this is treated as down for now (the refresh is retried later)
    timeout_s: float = 10.0

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
        """The rotated pair; ``XAuthRevoked`` only when X refuses the grant, ``XRefreshUnavailable`` otherwise."""
        handler = self.handler()
        auth = HTTPBasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        answers: list[requests.Response] = []

        def keep(response: requests.Response) -> requests.Response:
            answers.append(response)
            return response

        # oauthlib raises the same errors for a refusal and for a proxy's HTML page: the status tells them apart
        handler.register_compliance_hook("refresh_token_response", keep)
        try:
            token = handler.refresh_token(
                TOKEN_URL, refresh_token=refresh_token, auth=auth, client_id=self.client_id, timeout=self.timeout_s
            )
        except requests.RequestException as exc:  # a timeout, a refused or cut connection
            raise XRefreshUnavailable(f"X's token endpoint did not answer: {type(exc).__name__}") from None
        except Exception as exc:  # oauthlib's parse errors; their messages never hold the token
            if answers and refuses_client(answers[-1]):
                raise XClientRefused(
                    f"X's token endpoint refused the app's client credentials ({answers[-1].status_code}): "
                    "check the client id and the client secret (SSM /followthrough/x-client-secret)"
                ) from None
            if answers and refuses_grant(answers[-1]):
                raise XAuthRevoked(f"X refused the refresh token ({answers[-1].status_code})") from None
            status = answers[-1].status_code if answers else "no answer"
            raise XRefreshUnavailable(f"X's token endpoint answered {status}: {type(exc).__name__}") from None
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
                raise _too_many(endpoint, exc) from None
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
        page = self._timeline(
            "tweets", self._client.get_users_tweets, user_id, since_id, start_time, pagination_token, max_results
        )
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
        page = self._timeline(
            "mentions", self._client.get_users_mentions, user_id, since_id, start_time, pagination_token, max_results
        )
        return PageResult(page, len(page.data))

    def _timeline(
        self,
        endpoint: str,
        method: Callable[..., Any],
        user_id: str,
        since_id: str | None,
        start_time: str | None,
        pagination_token: str | None,
        max_results: int,
    ) -> TweetPage:
        """One page of a user's posts or mentions (the same parameters on X)."""
        body = self._call(
            endpoint,
            method,
            user_id,
            since_id=since_id,
            start_time=start_time,
            pagination_token=pagination_token,
            max_results=max_results,
            tweet_fields=TWEET_FIELDS,
        )
        page: TweetPage = self._parse(TweetPage, body, endpoint)
        return page

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
        return self._follows(
            "following", self._client.get_users_following, user_id, pagination_token, max_results, CONNECTED_USER_FIELDS
        )

    def followers(self, user_id: str, *, pagination_token: str | None = None, max_results: int = 1000) -> PageResult:
        return self._follows(
            "followers", self._client.get_users_followers, user_id, pagination_token, max_results, USER_FIELDS
        )

    def _follows(
        self,
        endpoint: str,
        method: Callable[..., Any],
        user_id: str,
        pagination_token: str | None,
        max_results: int,
        user_fields: list[str],
    ) -> PageResult:
        """One page of a follow list (the same parameters on X; the following list also says who follows back)."""
        body = self._call(
            endpoint,
            method,
            user_id,
            pagination_token=pagination_token,
            max_results=max_results,
            user_fields=user_fields,
        )
        page: UserPage = self._parse(UserPage, body, endpoint)
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
        """Up to 100 accounts by id, with how each is connected to the subscriber; suspended or deleted ones
        are left out of ``data`` (named in ``errors``)."""
        body = self._call(
            "users_lookup", self._client.get_users, ids=ids[:100], user_fields=CONNECTED_USER_FIELDS, user_auth=False
        )
        page: UserPage = self._parse(UserPage, body, "users_lookup")
        return PageResult(page, len(page.data))


# -- the X Activity API (tweepy 4.17 has no client for it) -------------------------------------

ACTIVITY_SUBSCRIPTIONS_URL = "https://api.twitter.com/2/activity/subscriptions"


@dataclass
class XActivityApi:
    """Create and delete X Activity API subscriptions (x-api/activity/quickstart.mdx, openapi.json).

    Creating one for a user takes their OAuth 2.0 token (private events need the user's consent; ``tweet.read``
    covers follow events); the app's own ``oauth.revoke`` and every delete take the app-only bearer token.
    Events go to ``webhook_id``. Failures: 401 ``XAuthRevoked``, 429/5xx/timeouts ``XUnavailable`` (transient),
    any other refusal ``XActivityRefused``.
    """

    app_bearer_token: str
    webhook_id: str
    base_url: str = "https://api.twitter.com"
    # a confirmation makes up to three of these inside the sign-up function's 15 s: a slow X means polling
    timeout_s: float = 3.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        point_session_at(self.session, self.base_url)

    def _send(self, method: str, url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            answer = self.session.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            raise XUnavailable(f"X Activity API {method}: {type(exc).__name__}") from None
        if answer.status_code == 401:
            raise XAuthRevoked("X refused the token for an Activity API subscription")
        if answer.status_code == 429 or answer.status_code >= 500:
            raise XUnavailable(f"X Activity API {method} answered {answer.status_code}")
        try:
            parsed = answer.json()
        except ValueError:
            parsed = {}
        parsed = parsed if isinstance(parsed, dict) else {}
        if answer.status_code == 404 and method == "DELETE":
            return {"data": {"deleted": True}}  # already gone: what a delete wants
        if answer.status_code >= 400 or (parsed.get("errors") and not parsed.get("data")):
            detail = (parsed.get("errors") or [{}])[0]
            raise XActivityRefused(
                f"X Activity API {method} answered {answer.status_code}: {detail.get('title') or detail.get('message')}"
            )
        return parsed

    def create(self, event_type: str, user_id: str | None, user_token: str | None = None) -> str:
        """Subscribe to ``event_type`` for ``user_id`` (None: unfiltered, the app's); returns its id."""
        body: dict[str, Any] = {"event_type": event_type, "filter": {"user_id": user_id} if user_id else {}}
        body["webhook_id"] = self.webhook_id
        parsed = self._send("POST", ACTIVITY_SUBSCRIPTIONS_URL, user_token or self.app_bearer_token, body)
        data = parsed.get("data")
        # the quickstart shows the subscription as ``data`` (or a one-item list), openapi.json as
        # ``data.subscription``: all three are read
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, dict) and isinstance(data.get("subscription"), dict):
            data = data["subscription"]
        subscription_id = data.get("subscription_id") if isinstance(data, dict) else None
        if not isinstance(subscription_id, str) or not subscription_id:
            raise XMalformed("X created an Activity API subscription without saying its id")
        return subscription_id

    def delete(self, subscription_id: str) -> None:
        """Delete one subscription; one X no longer has counts as deleted."""
        self._send("DELETE", f"{ACTIVITY_SUBSCRIPTIONS_URL}/{subscription_id}", self.app_bearer_token)
