"""In-process moto as the tests look into it: the SES outbox and a recorder of boto3's API calls."""

from __future__ import annotations

from typing import Any

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID


def outbox(region: str = "us-east-1") -> list[Any]:
    """Messages in in-process moto's SES outbox."""
    return list(get_backend("ses")[DEFAULT_ACCOUNT_ID][region].sent_messages)


class CallRecorder:
    """Records every AWS API operation boto3 makes, via botocore's event system."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, event_name: str, **_: object) -> None:
        # event_name: "before-call.<service>.<Operation>"
        self.operations.append(event_name.split(".", 2)[2])
