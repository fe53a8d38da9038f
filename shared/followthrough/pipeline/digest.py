"""What happens to a digest message: render and mail one subscriber's weekly digest, exactly once per
subscriber-week (``DigestSender`` behind Powertools idempotency: ``DigestStep``, at the end)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, cast

from aws_lambda_powertools.metrics import MetricUnit

from followthrough.adapters.mailer import Mailer
from followthrough.adapters.store import SuppressionRepository, WeekRepository
from followthrough.digest import DigestLinks, render_digest
from followthrough.email import build_message
from followthrough.links import link
from followthrough.messages import DigestRequest
from followthrough.pipeline.bounces import ses_tags_header
from followthrough.pipeline.delivery import PermanentFailure

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

log = logging.getLogger(__name__)

Outcome = Literal["sent", "skipped"]
IDEMPOTENCY_DAYS = 35
# The idempotency records' key prefix: fixed (not Powertools' default, the function's name), so that the sign-up
# function can find and delete a subscriber's records when they delete everything.
DIGEST_IDEMPOTENCY_PREFIX = "followthrough-digest"


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

    weeks: WeekRepository
    suppression: SuppressionRepository
    mailer: Mailer
    public_base_url: str
    signing_key: str
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def send(self, request: DigestRequest) -> DigestResult:
        sid, week = request.subscriber_id, request.week
        loaded = self.weeks.for_digest(sid, week)
        subscriber, stored_week = loaded.subscriber, loaded.week
        if subscriber is None:
            # no retry can mail it: the message goes to the DLQ with this reason (pipeline.delivery)
            raise PermanentFailure(f"digest for {sid} {week}: no such subscriber")
        if stored_week is not None and stored_week.status == "sent":
            return DigestResult("sent", sid, week, "already sent", message_id=stored_week.reason)
        if self.suppression.is_suppressed(subscriber.email):
            return self._skip(sid, week, "the address bounced or complained and is suppressed")
        if not subscriber.receives_digest:
            return self._skip(
                sid,
                week,
                f"not receiving digests (status {subscriber.status}, email confirmed: {subscriber.email_confirmed})",
            )
        stored = stored_week.report() if stored_week else None
        if stored is None:
            return self._skip(sid, week, "no report was stored for this week")
        report, spend = stored
        previous = loaded.previous_reports
        links = DigestLinks(
            unsubscribe=link(self.public_base_url, "unsubscribe", self.signing_key, sid),
            delete=link(self.public_base_url, "delete", self.signing_key, sid),
            settings=link(self.public_base_url, "settings", self.signing_key, sid),
            view=link(self.public_base_url, "view", self.signing_key, sid, week=week),
            export=link(self.public_base_url, "export", self.signing_key, sid),
        )
        # what the collector could not read, and what it could not tell (e.g. who unfollowed)
        rendered = render_digest(
            report,
            previous,
            links,
            unavailable_reasons=spend.skipped + spend.notes,
            hidden_sections=subscriber.hidden_sections,
        )
        raw = build_message(
            sender=self.mailer.sender,
            recipient=subscriber.email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            images=rendered.images,
            now=self.now(),
            # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the same signed link
            headers={
                "List-Unsubscribe": f"<{links.unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                **ses_tags_header(sid),
            },
        )
        self.weeks.put_digest(sid, week, raw)
        message_id = self.mailer.send(subscriber.email, raw)
        self.weeks.mark_week(sid, week, "sent", message_id)
        return DigestResult("sent", sid, week, message_id=message_id)

    def _skip(self, sid: str, week: str, reason: str) -> DigestResult:
        self.weeks.mark_week(sid, week, "no_digest", reason)
        return DigestResult("skipped", sid, week, reason)


@dataclass
class DigestStep:
    """One digest message: ``DigestSender.send`` exactly once per subscriber-week, counted and logged."""

    sender: DigestSender
    table_name: str
    metrics: Metrics

    @cached_property
    def idempotency_config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(
            event_key_jmespath="[subscriber_id, week]",
            expires_after_seconds=IDEMPOTENCY_DAYS * 86400,
            raise_on_no_idempotency_key=True,
        )

    @cached_property
    def persistence(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        from followthrough.adapters.store.table import RETRIES

        return DynamoDBPersistenceLayer(
            table_name=self.table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value="IDEMPOTENCY#digest",
            expiry_attr="ttl",
            boto_config=RETRIES,
        )

    @cached_property
    def send_once(self) -> Callable[..., dict[str, Any]]:
        """``DigestSender.send`` behind Powertools idempotency, keyed by subscriber and ISO week.

        A redelivered message, a retried Lambda or a second scheduled run finds the
        completed record and returns its stored result instead of mailing again;
        a send that raised leaves no record, so its retry still sends once.
        """
        from aws_lambda_powertools.utilities.idempotency import idempotent_function

        @idempotent_function(
            data_keyword_argument="request",
            persistence_store=self.persistence,  # type: ignore[untyped-decorator]
            config=self.idempotency_config,
            key_prefix=DIGEST_IDEMPOTENCY_PREFIX,
        )
        def send(request: DigestRequest) -> dict[str, Any]:
            return asdict(self.sender.send(request))

        return cast(Callable[..., dict[str, Any]], send)

    def forget_sent_digests(self, subscriber_id: str, weeks: list[str]) -> None:
        """Delete the idempotency records of these weeks' digests (their results name the subscriber): part of
        "delete everything". Powertools computes the keys, as it does when it writes them."""
        persistence = self.persistence
        persistence.configure(self.idempotency_config, key_prefix=DIGEST_IDEMPOTENCY_PREFIX)
        for week in weeks:
            request = DigestRequest(subscriber_id=subscriber_id, week=week).model_dump()
            persistence.delete_record(request, exception=LookupError("the subscriber deleted everything"))

    def run(self, request: DigestRequest, context: Any = None) -> dict[str, Any]:
        if context is not None:
            # an in-progress record then expires with the invocation, so a crashed
            # send is retried instead of being blocked for weeks
            self.idempotency_config.register_lambda_context(context)
        result: dict[str, Any] = self.send_once(request=request)
        self.metrics.add_metric(name=f"Digest_{result['outcome']}", unit=MetricUnit.Count, value=1)
        log.info(
            "digest",
            extra={
                "subscriber_id": request.subscriber_id,
                "week": request.week,
                "outcome": result["outcome"],
                "reason": result["reason"],
            },
        )
        return result
