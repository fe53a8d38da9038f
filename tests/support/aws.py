"""In-process moto as the tests set it up and look into it: its credentials, the SES outbox and a recorder of
boto3's API calls."""

from __future__ import annotations

from typing import Any

import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from followthrough_devkit.aws import REGION


def for_in_process_moto(patch: pytest.MonkeyPatch) -> None:
    """boto3 in this process talks to in-process moto (``mock_aws``): its region, fake credentials, no
    endpoint of a moto server."""
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        patch.setenv(name, value)


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
