"""The steps on in-memory twins: repositories (``adapters/store/memory.py``), queues and the mailer.

For pipeline tests that need no AWS at all: ``Twins.install`` puts them into a
services object before it builds anything, so nothing reaches boto3 (there is
no moto behind them to answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from followthrough.adapters.store import Repositories
from followthrough.adapters.store.memory import memory_repositories
from followthrough.adapters.tokens import LocalCipher
from followthrough.bootstrap import Services


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


@dataclass
class Twins:
    repositories: Repositories
    queues: dict[str, QueueTwin]
    mailer: MailerTwin

    def queued(self, name: str) -> list[dict[str, Any]]:
        """Take what was queued on ``name`` (as receiving and deleting SQS messages would)."""
        taken, self.queues[name].messages = self.queues[name].messages, []
        return taken

    def install(self, services: Services) -> Services:
        """``services`` on these twins from now on: the adapters are set before any is built from settings."""
        services.repositories = self.repositories  # type: ignore[misc]
        services.collect_queue = self.queues["collect"]  # type: ignore[assignment,misc]
        services.digest_queue = self.queues["digest"]  # type: ignore[assignment,misc]
        services.mailer = self.mailer  # type: ignore[assignment,misc]
        services.cipher = LocalCipher("twin-token-key-for-tests")  # type: ignore[misc]
        return services


def make_twins(clock: Callable[[], datetime]) -> Twins:
    return Twins(
        memory_repositories(clock),
        {"collect": QueueTwin(), "digest": QueueTwin()},
        MailerTwin(sender="digest@followthrough.example"),
    )
