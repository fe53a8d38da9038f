"""SES: sends a finished MIME message. Building the message is the digest's job.

A send SES refuses for a reason a retry will not fix (the account is in the
sandbox and the recipient is not verified, the sender identity is not
verified or the role may not use it, sending is paused) is logged once per
send as one line that says what to do, counted as ``SEND_REJECTED_METRIC``
(template.yaml alarms on it) and raised as ``SendRejected``; a throttle or an
outage is raised as ``SendUnavailable``: the message is retried later.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

log = logging.getLogger(__name__)
# Powertools' Metrics share one metric set: this lands with the handler's other metrics (service dimension)
_metrics = Metrics(namespace="Followthrough")

# template.yaml alarms on this metric for every function that sends (dimension service=<function>)
SEND_REJECTED_METRIC = "EmailSendRejected"

# SES's error codes for SendRawEmail that no retry fixes, and what the operator should look at
_REJECTED = {
    "MessageRejected": "in the SES sandbox only verified recipients can be mailed (README: Deploy, SES); "
    "otherwise the sender identity is not verified in this region",
    "AccessDenied": "the function's role may not send as this identity: SenderEmail and SenderIdentity "
    "must name the verified identity (or set SesSandbox=true while in the sandbox)",
    "AccessDeniedException": "the function's role may not send as this identity: SenderEmail and SenderIdentity "
    "must name the verified identity (or set SesSandbox=true while in the sandbox)",
    "MailFromDomainNotVerifiedException": "the identity's custom MAIL FROM domain is not verified",
    "ConfigurationSetDoesNotExist": "the stack's SES configuration set is missing in this region",
    "ConfigurationSetSendingPausedException": "sending is paused for the configuration set (reputation)",
    "AccountSendingPausedException": "SES paused sending for the account (bounce or complaint rate)",
}
# SES's messages can quote the recipient; logs never hold addresses
_ADDRESS = re.compile(r"[^\s@:,;<>]+@[^\s@:,;<>]+")
_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
    "RequestTimeout",
    "TooManyRequestsException",
}


class SendRejected(Exception):
    """SES refused the message and will refuse it again until someone changes the setup (permanent)."""

    def __init__(self, code: str, detail: str, hint: str) -> None:
        super().__init__(f"SES refused to send ({code}: {detail}); {hint}")
        self.code, self.detail, self.hint = code, detail, hint


class SendUnavailable(Exception):
    """SES could not take the message now (throttled, quota, outage): a later retry may send it (transient)."""


@dataclass
class Mailer:
    sender: str
    configuration_set: str = ""

    @cached_property
    def client(self) -> Any:
        return boto3.client("ses")

    def send(self, recipient: str, raw_message: bytes) -> str:
        """Send ``raw_message`` to ``recipient``; returns SES's message id.

        Raises ``SendRejected`` (permanent) or ``SendUnavailable`` (transient).
        """
        kwargs: dict[str, Any] = {
            "Source": self.sender,
            "Destinations": [recipient],
            "RawMessage": {"Data": raw_message},
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_raw_email(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, detail = str(error.get("Code", "")), _ADDRESS.sub("<address>", str(error.get("Message", "")))
            if code in _REJECTED:
                log.error(
                    "email send rejected by SES: %s: %s; %s",
                    code,
                    detail,
                    _REJECTED[code],
                    extra={"ses_error": code, "sender": self.sender},
                )
                _metrics.add_metric(name=SEND_REJECTED_METRIC, unit=MetricUnit.Count, value=1)
                raise SendRejected(code, detail, _REJECTED[code]) from exc
            if code in _TRANSIENT:
                raise SendUnavailable(f"SES is not taking messages now ({code}: {detail})") from exc
            raise
        except (BotocoreConnectionError, HTTPClientError) as exc:
            raise SendUnavailable(f"SES could not be reached: {exc}") from exc
        return str(response["MessageId"])
