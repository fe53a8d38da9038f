"""The steps on in-memory twins: repositories (``adapters/store/memory.py``), queues and the mailer.

For pipeline tests that need no AWS at all: ``use_twins`` points ``steps`` at
them, so nothing reaches boto3 (there is no moto behind them to answer).
When the composition root takes its services as arguments, this becomes the
services object built with twins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from pydantic import BaseModel

from followthrough import steps
from followthrough.adapters.store import Repositories
from followthrough.adapters.store.memory import memory_repositories


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


def use_twins(monkeypatch: pytest.MonkeyPatch) -> Twins:
    """Point ``steps`` at twins for the rest of the test (``steps.reset()`` keeps them)."""
    twins = Twins(memory_repositories(steps.now), {"collect": QueueTwin(), "digest": QueueTwin()},
                  MailerTwin(sender="digest@followthrough.example"))
    monkeypatch.setattr(steps, "repositories", cache(lambda: twins.repositories))
    monkeypatch.setattr(steps, "collect_queue", cache(lambda: twins.queues["collect"]))
    monkeypatch.setattr(steps, "digest_queue", cache(lambda: twins.queues["digest"]))
    monkeypatch.setattr(steps, "mailer", cache(lambda: twins.mailer))
    steps.reset()
    return twins
