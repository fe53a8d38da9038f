"""SES: sends a finished MIME message. Building the message is the digest's job."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3


@dataclass
class Mailer:
    sender: str
    configuration_set: str = ""

    @cached_property
    def client(self) -> Any:
        return boto3.client("ses")

    def send(self, recipient: str, raw_message: bytes) -> str:
        """Send ``raw_message`` to ``recipient``; returns SES's message id."""
        kwargs: dict[str, Any] = {
            "Source": self.sender,
            "Destinations": [recipient],
            "RawMessage": {"Data": raw_message},
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        response = self.client.send_raw_email(**kwargs)
        return str(response["MessageId"])
