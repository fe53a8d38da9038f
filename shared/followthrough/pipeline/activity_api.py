"""X Activity API events for what polling cannot see: the subscriptions that follow a subscriber's lifecycle
(``Subscriptions``) and the webhook that receives the events (``Webhook``).

A subscription is one event type for one user, and a self-serve app may hold
1,500 (x-api/activity/introduction.mdx). Each subscriber takes two
(``follow.follow``, ``follow.unfollow``), the app one (``oauth.revoke``, which
X delivers unfiltered); past the configured share of the allowance a
subscriber is polled only, which changes nothing they see but precision.

The webhook answers X's challenge-response check and takes only POSTs whose
``x-twitter-webhooks-signature`` is the HMAC-SHA256 of the raw body with the
app's consumer secret (x-api/webhooks/quickstart.mdx); each event is stored
once by its ``event_uuid``, under the subscriber its ``filter.user_id`` names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from followthrough.adapters.store import (
    ActivityRepository,
    SignupRepository,
    StoredSubscriptions,
    SubscriberRepository,
)
from followthrough.adapters.x_errors import XActivityRefused, XAuthRevoked, XMalformed, XUnavailable
from followthrough.follow_events import (
    REVOKE,
    SUBSCRIBER_EVENT_TYPES,
    FollowEvent,
    MalformedEvent,
    Revocation,
    parse_delivery,
)
from followthrough.subscriber import Subscriber

if TYPE_CHECKING:
    from followthrough.adapters.x import XActivityApi  # the client (tweepy's requests) only where it is built

log = logging.getLogger(__name__)

# events outlive X's replay window (24 hours) and the week until the next collection reads them
EVENT_TTL = timedelta(days=14)
APP_SUBSCRIPTIONS = 1  # oauth.revoke, once for the app


def signature(consumer_secret: str, message: bytes) -> str:
    """``sha256=`` + base64(HMAC-SHA256(consumer secret, message)): X's CRC answer and its POST signature."""
    digest = hmac.new(consumer_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


@dataclass
class Subscriptions:
    """Subscribe a confirmed subscriber to their follow events, within the app's allowance; unsubscribe when
    they leave. Every failure at X falls back to polling: it never blocks a confirmation or a deletion."""

    activity: ActivityRepository
    x: XActivityApi
    access_token: Callable[[str], str]  # the subscriber's (refreshed when due): private events need their consent
    limit: int  # the subscriptions this deployment may hold (its share of X's allowance)

    def subscribe(self, subscriber: Subscriber) -> bool:
        """Hold ``follow.follow`` and ``follow.unfollow`` for the subscriber's X account; True when held.

        Idempotent: a subscriber already subscribed for this account is left alone; one subscribed for
        another account (they switched) is moved."""
        sid, user_id = subscriber.subscriber_id, subscriber.x_user_id
        if user_id is None or not subscriber.receives_digest:
            return False
        held = self.activity.get_subscriptions(sid)
        if held is not None and held.x_user_id == user_id:
            return True
        if held is not None:
            self.unsubscribe(sid)
        if not self._app_subscribed():
            return False
        wanted = len(SUBSCRIBER_EVENT_TYPES)
        if not self.activity.reserve_subscriptions(wanted, limit=self.limit):
            log.info("activity allowance used up: polled only", extra={"subscriber_id": sid})
            return False
        ids: dict[str, str] = {}
        try:
            token = self.access_token(sid)
            for event_type in SUBSCRIBER_EVENT_TYPES:
                ids[event_type] = self.x.create(event_type, user_id, token)
        except (XActivityRefused, XAuthRevoked, XUnavailable, XMalformed) as exc:
            log.warning(
                "activity subscription failed: polled only",
                extra={"subscriber_id": sid, "error": type(exc).__name__},
            )
            self._delete_at_x(sid, ids)
            self.activity.release_subscriptions(wanted)
            return False
        self.activity.put_subscriptions(sid, StoredSubscriptions(user_id, ids))
        log.info("activity subscriptions created", extra={"subscriber_id": sid})
        return True

    def _app_subscribed(self) -> bool:
        """The app's own ``oauth.revoke`` subscription, made by the first subscribe that needs it."""
        if self.activity.get_subscriptions(None) is not None:
            return True
        if not self.activity.reserve_subscriptions(APP_SUBSCRIPTIONS, limit=self.limit):
            return False
        try:
            subscription_id = self.x.create(REVOKE, None)
        except (XActivityRefused, XAuthRevoked, XUnavailable, XMalformed) as exc:
            log.warning("the app's oauth.revoke subscription failed", extra={"error": type(exc).__name__})
            self.activity.release_subscriptions(APP_SUBSCRIPTIONS)
            return False
        self.activity.put_subscriptions(None, StoredSubscriptions(None, {REVOKE: subscription_id}))
        return True

    def unsubscribe(self, subscriber_id: str) -> None:
        """Delete the subscriber's subscriptions at X and give their places back. Idempotent; what X could not
        delete now stays recorded, so the next unsubscribe (or delete) tries again."""
        held = self.activity.get_subscriptions(subscriber_id)
        if held is None:
            return
        left = self._delete_at_x(subscriber_id, held.ids)
        self.activity.release_subscriptions(len(held.ids) - len(left))
        if left:
            self.activity.put_subscriptions(subscriber_id, StoredSubscriptions(held.x_user_id, left))
        else:
            self.activity.delete_subscriptions(subscriber_id)
            log.info("activity subscriptions deleted", extra={"subscriber_id": subscriber_id})

    def _delete_at_x(self, subscriber_id: str, ids: dict[str, str]) -> dict[str, str]:
        """Delete these at X; returns those X did not delete."""
        left: dict[str, str] = {}
        for event_type, subscription_id in ids.items():
            try:
                self.x.delete(subscription_id)
            except (XActivityRefused, XAuthRevoked, XUnavailable) as exc:
                left[event_type] = subscription_id
                log.warning(
                    "activity subscription not deleted",
                    extra={"subscriber_id": subscriber_id, "subscription_id": subscription_id, "error": str(exc)},
                )
        return left


class BadSignature(Exception):
    """A POST that X did not sign (or whose body changed on the way)."""


Outcome = Literal["stored", "repeat", "revoked", "ignored", "not_ours"]


@dataclass
class Webhook:
    """X's webhook: the CRC answer, and each signed event stored once under its subscriber."""

    consumer_secret: str
    signups: SignupRepository  # who owns an X account
    subscribers: SubscriberRepository
    activity: ActivityRepository
    mark_revoked: Callable[[Subscriber], None]  # as the collector does when X refuses a token (collect.needs_reauth)
    unsubscribe: Callable[[str], None]
    now: Callable[[], datetime]

    def crc(self, crc_token: str) -> dict[str, str]:
        return {"response_token": signature(self.consumer_secret, crc_token.encode("utf-8"))}

    def receive(self, body: bytes, signed: str | None) -> Outcome:
        """Verify, parse and store one POST. ``BadSignature`` before anything is read; ``MalformedEvent``
        (nothing stored) for a signed body that is not the documented shape."""
        if not signed or not hmac.compare_digest(signature(self.consumer_secret, body), signed):
            raise BadSignature("the x-twitter-webhooks-signature header is missing or wrong")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise MalformedEvent("the body is not JSON") from None
        received_at = self.now()
        event = parse_delivery(parsed, received_at)
        if event is None:
            return "ignored"
        if isinstance(event, Revocation):
            return self._revoked(event)
        subscriber_id = self._owner(parsed["data"].get("filter"), event)
        if subscriber_id is None:
            return "not_ours"  # a subscription left behind, or an account that was deleted since
        expires_at = int((received_at + EVENT_TTL).timestamp())
        stored = self.activity.put_event(subscriber_id, event, expires_at=expires_at)
        log.info(
            "activity event",
            extra={"subscriber_id": subscriber_id, "event_type": event.event_type, "repeat": not stored},
        )
        return "stored" if stored else "repeat"

    def _owner(self, matched: object, event: FollowEvent) -> str | None:
        """The subscriber whose subscription matched (``filter.user_id``); without a filter, whichever of the
        event's two users is a subscriber."""
        user_id = matched.get("user_id") if isinstance(matched, dict) else None
        candidates = [user_id] if isinstance(user_id, str) and user_id else [event.source_id, event.target_id]
        return next((sid for sid in map(self._subscriber_of, candidates) if sid is not None), None)

    def _subscriber_of(self, x_user_id: str) -> str | None:
        return self.signups.owner("XUSER", x_user_id)

    def _revoked(self, event: Revocation) -> Outcome:
        subscriber_id = self._subscriber_of(event.user_id)
        subscriber = self.subscribers.get_subscriber(subscriber_id) if subscriber_id else None
        if subscriber is None:
            return "not_ours"
        if subscriber.status in ("active", "pending"):
            self.mark_revoked(subscriber)
        self.unsubscribe(subscriber.subscriber_id)  # X sends no more of their events; a new sign-in subscribes
        return "revoked"
