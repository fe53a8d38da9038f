"""SQS: sends work items to a queue, ten per call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from pydantic import BaseModel


class QueueSendFailed(Exception):
    pass


@dataclass
class Queue:
    url: str

    @cached_property
    def client(self) -> Any:
        return boto3.client("sqs")

    def send_all(self, messages: Iterable[BaseModel], delay_seconds: int = 0) -> int:
        """Send every message with ``SendMessageBatch`` (10 a call); raise if any entry failed."""
        sent = 0
        items = list(messages)
        for chunk in (items[i : i + 10] for i in range(0, len(items), 10)):
            entries = [
                {"Id": str(n), "MessageBody": m.model_dump_json(), "DelaySeconds": delay_seconds}
                for n, m in enumerate(chunk)
            ]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                codes = sorted({f.get("Code", "?") for f in response["Failed"]})
                raise QueueSendFailed(f"{len(response['Failed'])} of {len(entries)} messages not queued: {codes}")
            sent += len(entries)
        return sent

    def send(self, message: BaseModel, delay_seconds: int = 0) -> None:
        self.client.send_message(
            QueueUrl=self.url, MessageBody=message.model_dump_json(), DelaySeconds=min(max(delay_seconds, 0), 900)
        )


@dataclass
class Redelivery:
    """A queue's side of a failed record (``pipeline.delivery``): a later retry, or its dead-letter queue."""

    queue_url: str
    dead_letter_url: str
    backoff_s: float = 30.0
    max_backoff_s: int = 900

    @cached_property
    def client(self) -> Any:
        return boto3.client("sqs")

    def delay_for(self, receive_count: int) -> int:
        from followthrough.pipeline.delivery import retry_delay_s

        return retry_delay_s(receive_count, self.backoff_s, self.max_backoff_s)

    def retry_later(self, receipt_handle: str, delay_s: int) -> None:
        """The failed message comes back after ``delay_s`` instead of the queue's visibility timeout."""
        if self.queue_url and receipt_handle:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_s
            )

    def dead_letter(self, body: str, reason: str, source_message_id: str, receipt_handle: str) -> bool:
        """Move a message that cannot succeed to the dead-letter queue, with why; False without one.

        The original is deleted at once, not when the batch reports: a process that dies later
        in the batch would otherwise bring it back, and it would be dead-lettered twice.
        """
        if not self.dead_letter_url:
            return False
        self.client.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason or "unknown"},
                "source_message_id": {"DataType": "String", "StringValue": source_message_id or "unknown"},
            },
        )
        if self.queue_url and receipt_handle:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle)
        return True
