"""The steps on in-memory twins: repositories (``adapters/store/memory.py``), queues, the mailer and the
digest's idempotency records.

For pipeline and sign-up tests that need no AWS at all: ``Twins.install`` puts them into a
services object before it builds anything, so nothing reaches boto3 (there is
no moto behind them to answer; ``TWIN_ENVIRON`` points a stray call at a closed
loopback port, never at AWS).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from pydantic import BaseModel

from followthrough.adapters.store import Repositories
from followthrough.adapters.store.memory import MemoryTable, memory_repositories
from followthrough.adapters.tokens import LocalCipher
from followthrough.bootstrap import Services
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.lambda_runtime import DrainStats, invoke, sqs_event

# Settings for services on the twins: the local resource names (nothing behind them), an endpoint nothing
# listens on, so a call that missed its twin fails at once on loopback, and X's 5xx retried without waiting
# (the tests count the retries; none times them).
TWIN_ENVIRON = {**LocalAws(endpoint_url="http://127.0.0.1:9").environ(), "X_RETRY_BACKOFF_S": "0"}


def twin_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's settings for services on the twins (``TWIN_ENVIRON``), undone after the test."""
    for name, value in TWIN_ENVIRON.items():
        monkeypatch.setenv(name, value)


@dataclass
class QueueTwin:
    """What was queued, as SQS would hold it: the body and the delay."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    def send(self, message: BaseModel, delay_seconds: int = 0) -> None:
        self.messages.append({"Body": message.model_dump_json(), "DelaySeconds": min(max(delay_seconds, 0), 900)})

    def send_all(self, messages: Iterable[BaseModel], delay_seconds: int = 0) -> int:
        items = list(messages)
        for message in items:
            self.send(message, delay_seconds)
        return len(items)


@dataclass(frozen=True)
class SentEmail:
    """A sent message, with the attributes moto's SES outbox gives the tests."""

    id: str
    destinations: list[str]
    raw_data: str


@dataclass
class MailerTwin:
    sender: str
    sent: list[SentEmail] = field(default_factory=list)

    def send(self, recipient: str, raw_message: bytes) -> str:
        message_id = f"twin-{len(self.sent) + 1}"
        self.sent.append(SentEmail(message_id, [recipient], raw_message.decode()))
        return message_id


class IdempotencyTwin(BasePersistenceLayer):
    """Powertools' idempotency records in memory, kept by the conditions of its DynamoDB layer
    (``persistence/dynamodb.py``): a new record only where none is, the one there has expired, or its
    invocation's in-progress time ran out. The tests of exactly-once itself run on moto."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now().timestamp()
        old = self.records.get(data_record.idempotency_key)
        if old is not None and not (
            (old.expiry_timestamp or 0) < now
            or (
                old.status == STATUS_CONSTANTS["INPROGRESS"]
                and old.in_progress_expiry_timestamp is not None
                and old.in_progress_expiry_timestamp < now * 1000
            )
        ):
            raise IdempotencyItemAlreadyExistsError(old_data_record=old)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


@dataclass
class Twins:
    repositories: Repositories
    queues: dict[str, QueueTwin]
    mailer: MailerTwin
    idempotency: IdempotencyTwin = field(default_factory=IdempotencyTwin)

    def queued(self, name: str) -> list[dict[str, Any]]:
        """Take what was queued on ``name`` (as receiving and deleting SQS messages would)."""
        taken, self.queues[name].messages = self.queues[name].messages, []
        return taken

    def install(self, services: Services) -> Services:
        """``services`` on these twins from now on: the adapters are set before any is built from settings."""
        services.repositories = self.repositories  # type: ignore[misc]
        services.collect_queue = self.queues["collect"]  # type: ignore[assignment,misc]
        services.digest_queue = self.queues["digest"]  # type: ignore[assignment,misc]
        self.mailer.sender = services.settings.sender_email or self.mailer.sender  # as the Mailer gets it
        services.mailer = self.mailer  # type: ignore[assignment,misc]
        services.cipher = LocalCipher("twin-token-key-for-tests")  # type: ignore[misc]
        services.digest.persistence = self.idempotency  # type: ignore[assignment,misc]
        return services

    def deliver(self, name: str, services: Services, batch_size: int = 10) -> DrainStats:
        """Hand what is queued on ``name`` to its function in SQS events of ``batch_size``, as Lambda's poller
        would (the tests of redelivery, backoff and the DLQ run on moto: ``drain``)."""
        stats = DrainStats()
        messages = self.queued(name)
        for start in range(0, len(messages), batch_size):
            batch = [
                {
                    "MessageId": str(uuid.uuid4()),
                    "ReceiptHandle": str(uuid.uuid4()),
                    "Body": m["Body"],
                    "MD5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's checksum)
                }
                for m in messages[start : start + batch_size]
            ]
            response = invoke(name, sqs_event(batch, f"arn:aws:sqs:us-east-1:123456789012:{name}"), services=services)
            failed = len((response or {}).get("batchItemFailures", []))
            stats.batches += 1
            stats.delivered += len(batch) - failed
            stats.failed += failed
        return stats

    def table_items(self) -> list[dict[str, Any]]:
        """Every item of the twins' table, sorted, in the table's attribute names (the subscriber's fields on
        their profile, ``gsi1pk`` for the due slot): to show that a refused request changed nothing."""
        table: MemoryTable = self.repositories.subscribers.table  # type: ignore[attr-defined]
        items = []
        for (pk, sk), item in sorted(table.items.items()):
            stored = {"pk": pk, "sk": sk, **copy.deepcopy(item)}
            if "subscriber" in stored:
                stored.update(json.loads(stored.pop("subscriber").model_dump_json()))
            if "due" in stored:
                stored["gsi1pk"] = stored.pop("due")
            items.append(stored)
        return items


def make_twins(clock: Callable[[], datetime]) -> Twins:
    return Twins(
        memory_repositories(clock),
        {"collect": QueueTwin(), "digest": QueueTwin()},
        MailerTwin(sender="digest@followthrough.example"),
    )
