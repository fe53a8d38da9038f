"""The X Activity API in the stand-in: webhooks, subscriptions and signed event deliveries.

As X documents it:

- ``POST /2/webhooks`` registers a URL after a challenge-response check: a
  ``GET ?crc_token=`` that must answer ``{"response_token": "sha256=" +
  base64(HMAC-SHA256(consumer secret, token))}`` (x-api/webhooks/quickstart.mdx).
- ``POST /2/activity/subscriptions`` creates one subscription: one event type
  for one ``filter.user_id`` (``oauth.revoke`` has no filter); an app holds at
  most 1,500 on a self-serve plan (x-api/activity/introduction.mdx). Past that
  the stand-in refuses with ``SubscriptionLimitExceeded``, the reason X gives
  for the same limit in the Account Activity API (account-activity/quickstart.mdx;
  the X Activity API pages name no error). ``DELETE /2/activity/subscriptions/:id``
  takes the app-only bearer token and answers ``meta.total_subscriptions``.
- Each event is a POST of the documented envelope (``data.event_uuid``,
  ``filter``, ``event_type``, ``payload``; activity/event-payloads.mdx) with an
  ``x-twitter-webhooks-signature`` header: the same HMAC of the raw body.
  Follow payloads carry ``source`` and ``target`` users and no time.
- X may deliver an event more than once ("deduplicate by event ID") and
  replays past events (webhooks/create-replay-job): ``duplicate_every`` sends
  every n-th event twice, ``hold`` keeps events back until ``release``, which
  sends them newest first (out of order), and ``replay`` sends them all again.

Deliveries go through ``deliver`` (a test or the dev kit wires it to the
webhook function), never over the network.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from followthrough.pipeline.activity_api import signature
from followthrough.xmodels import XUser

SUBSCRIPTION_LIMIT = 1500  # self-serve (x-api/activity/introduction.mdx)
UNFILTERED = frozenset({"oauth.revoke"})
EVENT_TYPES = frozenset({"follow.follow", "follow.unfollow", "oauth.revoke", "dm.received", "dm.sent", "like.create"})

# (method, path with query, headers, body) -> (status, body)
Deliver = Callable[[str, str, Mapping[str, str], bytes], tuple[int, bytes]]


@dataclass
class Webhook:
    id: str
    url: str
    valid: bool
    created_at: datetime


@dataclass
class Subscription:
    id: str
    event_type: str
    user_id: str | None
    webhook_id: str | None
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        stamp = self.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body: dict[str, Any] = {
            "subscription_id": self.id,
            "event_type": self.event_type,
            "filter": {"user_id": self.user_id} if self.user_id else {},
            "created_at": stamp,
            "updated_at": stamp,
        }
        if self.webhook_id:
            body["webhook_id"] = self.webhook_id
        return body


@dataclass
class Delivery:
    webhook_id: str
    body: bytes


@dataclass
class ActivityHub:
    """One app's Activity API: its webhooks, subscriptions and the events it delivers."""

    now: Callable[[], datetime]
    consumer_secret: str = ""
    app_bearer_token: str = ""
    limit: int = SUBSCRIPTION_LIMIT
    deliver: Deliver | None = None
    duplicate_every: int = 0  # 0: each event once; n: every n-th event is delivered twice
    hold: bool = False  # keep events back until ``release`` (which sends them out of order)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    delivered: list[Delivery] = field(default_factory=list)  # every POST made, in order (repeats included)
    held: list[Delivery] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1976325569252868096))
    _events: int = 0

    def _next_id(self) -> str:
        return str(next(self._ids))

    # ----- webhooks ----------------------------------------------------------

    def crc_passes(self, url: str) -> bool:
        if self.deliver is None:
            return False
        token = secrets.token_urlsafe(24)
        status, body = self.deliver("GET", f"{urlsplit(url).path}?crc_token={token}", {}, b"")
        try:
            answer = json.loads(body)
        except ValueError:
            return False
        expected = signature(self.consumer_secret, token.encode("utf-8"))
        return status == 200 and isinstance(answer, dict) and answer.get("response_token") == expected

    def register_webhook(self, url: str) -> tuple[int, dict[str, Any]]:
        if not url.startswith("https://") or urlsplit(url).port is not None:
            return 400, _failure("UrlValidationFailed", "the webhook URL must be https and name no port")
        if not self.crc_passes(url):
            return 400, _failure("CrcValidationFailed", "the URL did not answer the CRC check correctly")
        hook = Webhook(self._next_id(), url, True, self.now())
        self.webhooks[hook.id] = hook
        return 200, {"data": {"id": hook.id, "url": url, "valid": True, "created_at": _stamp(hook.created_at)}}

    # ----- subscriptions -----------------------------------------------------

    def create(self, body: Mapping[str, Any], token_user: str | None) -> tuple[int, dict[str, Any]]:
        """``token_user``: the user of a user-context token (None: the app-only bearer token)."""
        event_type, wanted = body.get("event_type"), body.get("filter") or {}
        user_id = wanted.get("user_id") if isinstance(wanted, dict) else None
        if event_type not in EVENT_TYPES:
            return 400, _failure("InvalidRequest", f"unknown event_type {event_type!r}")
        if (user_id is None) != (event_type in UNFILTERED):
            return 400, _failure("InvalidRequest", f"{event_type} takes {'no' if user_id else 'a user_id'} filter")
        if token_user is not None and user_id != token_user:
            return 403, _failure("NotAuthorized", "a user token subscribes only its own user")
        webhook_id = body.get("webhook_id")
        if webhook_id is not None and webhook_id not in self.webhooks:
            return 400, _failure("WebhookIdInvalid", "no such webhook")
        if len(self.subscriptions) >= self.limit:
            return 400, _failure("SubscriptionLimitExceeded", "the app has reached its subscription limit")
        made = Subscription(self._next_id(), event_type, user_id, webhook_id, self.now())
        self.subscriptions[made.id] = made
        return 200, {"data": made.wire(), "meta": {"total_subscriptions": len(self.subscriptions)}}

    def delete(self, subscription_id: str) -> tuple[int, dict[str, Any]]:
        if self.subscriptions.pop(subscription_id, None) is None:
            return 404, _failure("SubscriptionNotFound", "no such subscription")
        return 200, {"data": {"deleted": True}, "meta": {"total_subscriptions": len(self.subscriptions)}}

    def listed(self) -> tuple[int, dict[str, Any]]:
        subs = [s.wire() for s in self.subscriptions.values()]
        return 200, {"data": subs, "meta": {"total_subscriptions": len(subs)}}

    def of_user(self, user_id: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.user_id == user_id]

    # ----- events ------------------------------------------------------------

    def follow(self, source: XUser, target: XUser, *, unfollow: bool = False) -> int:
        """``source`` (un)followed ``target``: an event for each subscription of either; returns how many."""
        event_type = "follow.unfollow" if unfollow else "follow.follow"
        payload = {"source": {"data": _user(source)}, "target": {"data": _user(target)}}
        matching = [
            s for s in self.subscriptions.values() if s.event_type == event_type and s.user_id in (source.id, target.id)
        ]
        for sub in matching:
            self._emit(sub, payload)
        return len(matching)

    def revoke(self, user_id: str) -> int:
        payload = {"date_time": self.now().isoformat(), "user_id": user_id, "app_id": "29820954"}
        matching = [s for s in self.subscriptions.values() if s.event_type == "oauth.revoke"]
        for sub in matching:
            self._emit(sub, payload)
        return len(matching)

    def _emit(self, sub: Subscription, payload: dict[str, Any]) -> None:
        if sub.webhook_id is None:
            return  # delivered on the stream only, which the stand-in does not serve
        self._events += 1
        envelope = {
            "data": {
                "event_uuid": str(secrets.randbits(62)),
                "filter": {"user_id": sub.user_id} if sub.user_id else {},
                "event_type": sub.event_type,
                "payload": payload,
            }
        }
        delivery = Delivery(sub.webhook_id, json.dumps(envelope, separators=(",", ":")).encode("utf-8"))
        copies = 2 if self.duplicate_every and self._events % self.duplicate_every == 0 else 1
        for _ in range(copies):
            if self.hold:
                self.held.append(delivery)
            else:
                self._post(delivery)

    def release(self) -> None:
        """Send what was held back, newest first."""
        held, self.held = self.held, []
        for delivery in reversed(held):
            self._post(delivery)

    def replay(self) -> None:
        """A replay job: every event delivered so far, again (x-api/webhooks/create-replay-job-for-webhook)."""
        for delivery in list(self.delivered):
            self._post(delivery)

    def _post(self, delivery: Delivery) -> int:
        hook = self.webhooks.get(delivery.webhook_id)
        if hook is None or self.deliver is None:
            return 0
        self.delivered.append(delivery)
        headers = {
            "content-type": "application/json",
            "x-twitter-webhooks-signature": signature(self.consumer_secret, delivery.body),
        }
        return self.deliver("POST", urlsplit(hook.url).path, headers, delivery.body)[0]


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _user(user: XUser) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "name": user.name or user.username, "protected": False}


def _failure(reason: str, message: str) -> dict[str, Any]:
    return {"errors": [{"title": reason, "message": message, "reason": reason}]}
