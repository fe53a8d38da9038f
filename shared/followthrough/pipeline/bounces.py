"""SES bounce and complaint notifications -> the address is never mailed again.

SES publishes the events of the configuration set the digest is sent with,
through EventBridge or SNS (the handler accepts both). A hard bounce or a
complaint puts the address on the suppression list (``SuppressionRepository.suppress``),
which every send checks; the digest's ``X-SES-MESSAGE-TAGS`` header names the
subscriber, so their profile is marked suppressed too and they drop out of
the weekly dispatch (no more X reads for a digest nobody can receive).

Soft (transient) bounces are left alone: SES reports them only after it has
given up retrying, and a full mailbox or a greylisting server usually
recovers by next week.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from followthrough.adapters.store import SubscriberRepository, SuppressionRepository

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

log = logging.getLogger(__name__)

# the SES message tag that names the subscriber a message went to
SUBSCRIBER_TAG = "subscriber"
# what SES accepts as a tag value (anything else would make it reject the message)
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def ses_tags_header(subscriber_id: str) -> dict[str, str]:
    """The header that tags a message with its subscriber (SES removes it before delivery)."""
    if not _TAG_VALUE.match(subscriber_id):
        return {}
    return {"X-SES-MESSAGE-TAGS": f"{SUBSCRIBER_TAG}={subscriber_id}"}


class _SesModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class SesRecipient(_SesModel):
    email_address: str = Field(alias="emailAddress", min_length=3, max_length=320)


class SesBounce(_SesModel):
    bounce_type: Literal["Permanent", "Transient", "Undetermined"] = Field(alias="bounceType")
    bounce_sub_type: str = Field("", alias="bounceSubType")
    bounced_recipients: list[SesRecipient] = Field(alias="bouncedRecipients", min_length=1)
    feedback_id: str = Field("", alias="feedbackId")


class SesComplaint(_SesModel):
    complained_recipients: list[SesRecipient] = Field(alias="complainedRecipients", min_length=1)
    # absent when the mailbox provider sent no feedback report; "not-spam" undoes nothing we did
    complaint_feedback_type: str | None = Field(None, alias="complaintFeedbackType")
    feedback_id: str = Field("", alias="feedbackId")


class SesMail(_SesModel):
    message_id: str = Field(alias="messageId")
    destination: list[str] = []
    tags: dict[str, list[str]] = {}


class SesNotification(_SesModel):
    """One SES event record: ``eventType`` with event publishing, ``notificationType`` with identity feedback."""

    event_type: str = Field(validation_alias=AliasChoices("eventType", "notificationType", "event_type"))
    mail: SesMail
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None


@dataclass
class FeedbackResult:
    suppressed: int = 0
    ignored: int = 0
    subscribers_stopped: list[str] = field(default_factory=list)


def addresses_to_suppress(notification: SesNotification) -> tuple[list[str], str]:
    """The addresses this notification rules out, and why; none for soft bounces and other events."""
    if notification.event_type == "Bounce" and notification.bounce is not None:
        bounce = notification.bounce
        if bounce.bounce_type != "Permanent":
            return [], ""
        return (
            [r.email_address for r in bounce.bounced_recipients],
            f"bounce: {bounce.bounce_type} {bounce.bounce_sub_type}".strip(),
        )
    if notification.event_type == "Complaint" and notification.complaint is not None:
        complaint = notification.complaint
        if complaint.complaint_feedback_type == "not-spam":
            return [], ""
        return (
            [r.email_address for r in complaint.complained_recipients],
            f"complaint: {complaint.complaint_feedback_type or 'unspecified'}",
        )
    return [], ""


@dataclass
class FeedbackRecorder:
    subscribers: SubscriberRepository
    suppression: SuppressionRepository

    def record(self, notifications: list[SesNotification]) -> FeedbackResult:
        """Suppress hard-bounced and complaining addresses; safe to receive the same event twice."""
        result = FeedbackResult()
        for notification in notifications:
            addresses, reason = addresses_to_suppress(notification)
            if not addresses:
                result.ignored += 1
                continue
            for address in addresses:
                self.suppression.suppress(address, reason)
                result.suppressed += 1
            ruled_out = {a.lower() for a in addresses}
            for subscriber_id in notification.mail.tags.get(SUBSCRIBER_TAG, []):
                subscriber = self.subscribers.get_subscriber(subscriber_id)
                # the address may have changed since this message went out
                if subscriber is None or subscriber.email.lower() not in ruled_out or subscriber.suppressed:
                    continue
                self.subscribers.update_subscriber(subscriber_id, current=subscriber, suppressed=True)
                result.subscribers_stopped.append(subscriber_id)
            log.info(
                "address suppressed",
                extra={
                    "reason": reason,
                    "message_id": notification.mail.message_id,
                    "subscribers": notification.mail.tags.get(SUBSCRIBER_TAG, []),
                },
            )
        return result


@dataclass
class BounceStep:
    """SES bounces and complaints: suppress the addresses, stop those subscribers' weekly runs."""

    recorder: FeedbackRecorder
    metrics: Metrics

    def run(self, notifications: list[SesNotification]) -> dict[str, Any]:
        result = self.recorder.record(notifications)
        self.metrics.add_metric(name="AddressesSuppressed", unit=MetricUnit.Count, value=result.suppressed)
        log.info(
            "ses feedback",
            extra={
                "suppressed": result.suppressed,
                "ignored": result.ignored,
                "subscribers_stopped": result.subscribers_stopped,
            },
        )
        return asdict(result)
