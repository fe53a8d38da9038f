"""Mail one subscriber's weekly digest, exactly once per subscriber-week."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from followthrough.adapters.mailer import Mailer
from followthrough.adapters.store import Store
from followthrough.digest import DigestLinks, render_digest
from followthrough.email import build_message
from followthrough.links import link, make_token
from followthrough.messages import DigestRequest

Outcome = Literal["sent", "skipped"]


@dataclass
class DigestResult:
    outcome: Outcome
    subscriber_id: str
    week: str
    reason: str = ""
    message_id: str = ""


@dataclass
class DigestSender:
    """Renders, stores, then sends. Exactly-once is the caller's idempotency wrapper plus the stored state."""

    store: Store
    mailer: Mailer
    public_base_url: str
    signing_key: str
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def send(self, request: DigestRequest) -> DigestResult:
        sid, week = request.subscriber_id, request.week
        subscriber = self.store.get_subscriber(sid)
        if subscriber is None:
            return DigestResult("skipped", sid, week, "subscriber no longer exists")
        if self.store.is_suppressed(subscriber.email):
            return self._skip(sid, week, "the address bounced or complained and is suppressed")
        if not subscriber.receives_digest:
            return self._skip(sid, week, f"not receiving digests (status {subscriber.status}, "
                                         f"email confirmed: {subscriber.email_confirmed})")
        stored = self.store.get_week(sid, week)
        if stored is None:
            return self._skip(sid, week, "no report was stored for this week")
        report, spend = stored
        previous = self.store.recent_reports(sid, before_week=week)
        links = DigestLinks(
            unsubscribe=link(self.public_base_url, "unsubscribe", self.signing_key, sid),
            delete=link(self.public_base_url, "delete", self.signing_key, sid),
        )
        rendered = render_digest(report, previous, links, unavailable_reasons=spend.skipped)
        one_click = f"{self.public_base_url.rstrip('/')}/unsubscribe?token=" + make_token(
            self.signing_key, "unsubscribe", sid)
        raw = build_message(
            sender=self.mailer.sender, recipient=subscriber.email, subject=rendered.subject,
            text=rendered.text, html=rendered.html, images=rendered.images, now=self.now(),
            headers={"List-Unsubscribe": f"<{one_click}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        self.store.put_digest(sid, week, raw)
        message_id = self.mailer.send(subscriber.email, raw)
        self.store.mark_week(sid, week, "sent", message_id)
        return DigestResult("sent", sid, week, message_id=message_id)

    def _skip(self, sid: str, week: str, reason: str) -> DigestResult:
        self.store.mark_week(sid, week, "no_digest", reason)
        return DigestResult("skipped", sid, week, reason)
