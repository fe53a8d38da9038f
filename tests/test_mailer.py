"""The SES adapter tells a permanent refusal (SendRejected: logged, counted) from a transient one (SendUnavailable)."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from followthrough.adapters.mailer import SEND_REJECTED_METRIC, Mailer, SendRejected, SendUnavailable


@pytest.fixture
def mailer() -> Mailer:
    m = Mailer(sender="digest@followthrough.example", configuration_set="cs")
    m.client = boto3.client("ses", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return m


@pytest.fixture
def metrics_added(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    added: list[tuple[str, float]] = []
    monkeypatch.setattr(
        Metrics, "add_metric", lambda self, name, unit, value, resolution=60: added.append((name, value))
    )
    return added


def _fail_with(mailer: Mailer, code: str, message: str, status: int = 400) -> Stubber:
    stubber = Stubber(mailer.client)
    stubber.add_client_error(
        "send_raw_email", service_error_code=code, service_message=message, http_status_code=status
    )
    stubber.activate()
    return stubber


def test_a_send_returns_the_message_id(mailer: Mailer) -> None:
    stubber = Stubber(mailer.client)
    stubber.add_response(
        "send_raw_email",
        {"MessageId": "m-1"},
        {
            "Source": "digest@followthrough.example",
            "Destinations": ["a@example.com"],
            "RawMessage": {"Data": b"raw"},
            "ConfigurationSetName": "cs",
        },
    )
    with stubber:
        assert mailer.send("a@example.com", b"raw") == "m-1"


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        (
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in region "
            "US-EAST-1: person@example.com",
            "sandbox",
        ),
        (
            "AccessDenied",
            "User arn:aws:sts::1:assumed-role/r is not authorized to perform `ses:SendRawEmail' on "
            "resource `arn:aws:ses:us-east-1:1:identity/person@example.com'",
            "SesSandbox",
        ),
        ("AccountSendingPausedException", "Account sending paused", "paused"),
    ],
)
def test_a_refusal_no_retry_fixes_is_one_error_line_a_metric_and_send_rejected(
    mailer: Mailer,
    metrics_added: list[tuple[str, float]],
    caplog: pytest.LogCaptureFixture,
    code: str,
    message: str,
    hint: str,
) -> None:
    _fail_with(mailer, code, message)
    with caplog.at_level(logging.INFO), pytest.raises(SendRejected) as raised:
        mailer.send("person@example.com", b"raw")
    assert raised.value.code == code and hint in raised.value.hint
    [line] = [r for r in caplog.records if r.name == "followthrough.adapters.mailer"]
    assert line.levelname == "ERROR" and code in line.getMessage() and hint in line.getMessage()
    # the recipient's address stays out of the logs and the exception
    assert "person@example.com" not in line.getMessage() and "person@example.com" not in str(raised.value)
    assert metrics_added == [(SEND_REJECTED_METRIC, 1)]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("Throttling", "Maximum sending rate exceeded."),
        ("Throttling", "Daily message quota exceeded."),
        ("ServiceUnavailable", "Service Unavailable"),
    ],
)
def test_a_throttle_or_outage_is_send_unavailable_and_not_counted(
    mailer: Mailer, metrics_added: list[tuple[str, float]], code: str, message: str
) -> None:
    _fail_with(mailer, code, message, status=400 if code == "Throttling" else 503)
    with pytest.raises(SendUnavailable):
        mailer.send("person@example.com", b"raw")
    assert metrics_added == []


def test_an_unreachable_endpoint_is_send_unavailable(mailer: Mailer, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(**kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    monkeypatch.setattr(mailer.client, "send_raw_email", unreachable)
    with pytest.raises(SendUnavailable):
        mailer.send("person@example.com", b"raw")


def test_an_error_it_does_not_know_is_raised_as_it_came(mailer: Mailer) -> None:
    _fail_with(mailer, "InvalidParameterValue", "Missing final '@domain'")
    with pytest.raises(ClientError):
        mailer.send("not-an-address", b"raw")
