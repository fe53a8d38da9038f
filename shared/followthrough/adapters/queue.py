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
        for chunk in (items[i:i + 10] for i in range(0, len(items), 10)):
            entries = [{"Id": str(n), "MessageBody": m.model_dump_json(), "DelaySeconds": delay_seconds}
                       for n, m in enumerate(chunk)]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                codes = sorted({f.get("Code", "?") for f in response["Failed"]})
                raise QueueSendFailed(f"{len(response['Failed'])} of {len(entries)} messages not queued: {codes}")
            sent += len(entries)
        return sent

    def send(self, message: BaseModel, delay_seconds: int = 0) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=message.model_dump_json(),
                                 DelaySeconds=min(max(delay_seconds, 0), 900))
