"""What a failed SQS record comes to: retried with backoff, or dead-lettered once with its reason.

A transient failure (a throttle, a timeout, X unavailable, an idempotency
record still in progress) is reported to Lambda as a batch item failure, and
its visibility timeout is set to an exponential backoff first, so SQS hands it
back later rather than at once. A message that cannot succeed however often it
is tried (an invalid body, a subscriber that does not exist) is sent to the
dead-letter queue by the handler itself, with the reason as a message
attribute, logged once, and deleted from its queue: it does not spend the
queue's receives, so maxReceiveCount can be set high enough that no run of
crashed invocations (which SQS counts against every message of the batch)
exhausts it. Issue 18, docs/decisions.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from pydantic import ValidationError

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """The message cannot succeed, however often it is retried; the reason goes with it to the DLQ."""


def is_permanent(exc: BaseException | None) -> bool:
    # a body that does not validate now never will
    return isinstance(exc, PermanentFailure | ValidationError)


def reason_for(exc: BaseException) -> str:
    """Why a message cannot succeed, without the values it carried (a body may hold anything)."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        return f"invalid message: {problems}"[:500]
    return str(exc)[:500]


def retry_delay_s(receive_count: int, base_s: float, cap_s: int) -> int:
    """Exponential backoff by receive: base, 2 base, 4 base, ... at most ``cap_s`` (whole seconds, as SQS takes)."""
    exponent = min(max(receive_count - 1, 0), 30)
    return int(min(base_s * 2**exponent, cap_s))


class Redelivery(Protocol):
    """The queue side of a failed record (adapters.queue.Redelivery)."""

    def delay_for(self, receive_count: int) -> int: ...

    def retry_later(self, receipt_handle: str, delay_s: int) -> None: ...

    def dead_letter(self, body: str, reason: str, source_message_id: str, receipt_handle: str) -> bool: ...


@dataclass
class _Message:
    message_id: str
    receipt_handle: str
    receive_count: int
    body: str  # as it was sent: what a redrive of the dead letter sends again

    @classmethod
    def of(cls, record: dict[str, Any]) -> _Message:
        """The SQS event's record, as Lambda delivered it."""
        attributes = record.get("attributes") or {}
        return cls(
            str(record.get("messageId", "")),
            str(record.get("receiptHandle", "")),
            int(attributes.get("ApproximateReceiveCount") or 1),
            str(record.get("body", "")),
        )


class RetryingBatchProcessor(BatchProcessor):
    """Powertools' SQS ``BatchProcessor`` (partial batch failures), deciding what each failure comes to.

    ``raise_on_entire_batch_failure=False``: a batch whose records all failed
    reports them all as failures instead of failing the invocation, so the
    function's Errors metric (the crash alarms) means a crash, and each record
    still gets its own backoff.
    """

    def __init__(self, model: Any, step: str, redelivery: Callable[[], Redelivery]) -> None:
        super().__init__(event_type=EventType.SQS, model=model, raise_on_entire_batch_failure=False)
        self.step = step
        self.redelivery = redelivery
        self._raw: dict[str, Any] = {}

    def _process_record(self, record: dict[str, Any]) -> Any:
        # the record as delivered (the failure handler gets it parsed, without its receipt handle)
        self._raw = record
        return super()._process_record(record)

    def failure_handler(self, record: Any, exception: Any) -> Any:
        exc = exception[1]
        message = _Message.of(self._raw)
        extra = {"step": self.step, "message_id": message.message_id, "receive_count": message.receive_count}
        if is_permanent(exc):
            reason = reason_for(exc)
            try:
                dead_lettered = self.redelivery().dead_letter(
                    message.body, reason, message.message_id, message.receipt_handle
                )
            except Exception as send_error:  # SQS unavailable: the record is retried instead
                log.warning(
                    "could not dead-letter the message; it is retried",
                    extra={**extra, "error_type": type(send_error).__name__},
                )
                dead_lettered = False
            if dead_lettered:
                log.error("message dead-lettered: it cannot succeed", extra={**extra, "reason": reason})
                return self.success_handler(record, result={"dead_lettered": reason})
            log.error("message cannot succeed; no dead-letter queue took it", extra={**extra, "reason": reason})
        else:
            redelivery = self.redelivery()
            delay = redelivery.delay_for(message.receive_count)
            try:
                redelivery.retry_later(message.receipt_handle, delay)
            except Exception as change_error:  # then the queue visibility timeout applies
                log.warning(
                    "could not set the retry's backoff", extra={**extra, "error_type": type(change_error).__name__}
                )
            log.warning(
                "transient failure; retried", extra={**extra, "retry_in_s": delay, "error_type": type(exc).__name__}
            )
        return super().failure_handler(record, exception)
