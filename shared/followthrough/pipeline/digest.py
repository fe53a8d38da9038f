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
from followthrough.links import link
from followthrough.messages import DigestRequest
from followthrough.pipeline.bounces import ses_tags_header

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
    """Renders, stores, then sends.

    Exactly once per subscriber-week: the caller's idempotency wrapper, plus
    the week's stored status, so even a run after the idempotency record has
    expired (or a manual re-queue) never mails the same week twice.
    """

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
        stored_week = self.store.stored_week(sid, week)
        if stored_week is not None and stored_week.status == "sent":
            return DigestResult("sent", sid, week, "already sent", message_id=stored_week.reason)
        if self.store.is_suppressed(subscriber.email):
            return self._skip(sid, week, "the address bounced or complained and is suppressed")
        if not subscriber.receives_digest:
            return self._skip(sid, week, f"not receiving digests (status {subscriber.status}, "
                                         f"email confirmed: {subscriber.email_confirmed})")
        stored = stored_week.report() if stored_week else None
        if stored is None:
            return self._skip(sid, week, "no report was stored for this week")
        report, spend = stored
        previous = self.store.recent_reports(sid, before_week=week)
        links = DigestLinks(
            unsubscribe=link(self.public_base_url, "unsubscribe", self.signing_key, sid),
            delete=link(self.public_base_url, "delete", self.signing_key, sid),
            settings=link(self.public_base_url, "settings", self.signing_key, sid),
            view=link(self.public_base_url, "view", self.signing_key, sid, week=week),
            export=link(self.public_base_url, "export", self.signing_key, sid),
        )
        # what the collector could not read, and what it could not tell (e.g. who unfollowed)
        rendered = render_digest(report, previous, links, unavailable_reasons=spend.skipped + spend.notes,
                                 hidden_sections=subscriber.hidden_sections)
        raw = build_message(
            sender=self.mailer.sender, recipient=subscriber.email, subject=rendered.subject,
            text=rendered.text, html=rendered.html, images=rendered.images, now=self.now(),
            # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the same signed link
            headers={"List-Unsubscribe": f"<{links.unsubscribe}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                     **ses_tags_header(sid)},
        )
        self.store.put_digest(sid, week, raw)
        message_id = self.mailer.send(subscriber.email, raw)
        self.store.mark_week(sid, week, "sent", message_id)
        return DigestResult("sent", sid, week, message_id=message_id)

    def _skip(self, sid: str, week: str, reason: str) -> DigestResult:
        self.store.mark_week(sid, week, "no_digest", reason)
        return DigestResult("skipped", sid, week, reason)
