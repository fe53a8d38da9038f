"""The soak run, small: 24 subscribers, two weeks, high fault rates; every invariant must hold.

moto's server and the X stand-in over HTTP; faults on X (429, 503, slow and
truncated responses), on DynamoDB and SES (throttling, through botocore's
retries), and handler processes dying after part of a batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from followthrough_devkit.soak import SoakConfig, run_soak

pytestmark = [pytest.mark.integration, pytest.mark.soak]


@pytest.fixture(scope="module")
def summary() -> Iterator[dict[str, Any]]:
    config = SoakConfig(
        subscribers=24,
        seed=7,
        weeks=2,
        profiles={"small": 1.0},
        unconfirmed_share=0.1,
        unsubscribed_share=0.1,
        x_fault_rate=0.2,
        x_slow_s=0.005,
        x_truncate_rate=0.05,
        aws_fault_rate=0.2,
        crash_rate=0.1,
        crash_in_send_rate=0.05,
        progress_every_s=3600,
    )
    saved = dict(os.environ)
    try:
        yield run_soak(config, say=lambda _line: None)
    finally:  # the run points the environment at its own moto and X stand-in, both gone now
        os.environ.clear()
        os.environ.update(saved)


def test_faults_really_happened(summary: dict[str, Any]) -> None:
    assert summary["faults"]["handler_crashes"] > 0
    assert sum(summary["faults"]["aws_injected"].values()) > 50
    assert any(k.startswith("ses.") for k in summary["faults"]["aws_injected"])


@pytest.mark.parametrize("week", [0, 1])
def test_every_healthy_subscriber_gets_exactly_one_digest(summary: dict[str, Any], week: int) -> None:
    result = summary["weeks"][week]
    assert result["duplicates"] == {}
    # the bouncing address is suppressed after week one: it is due in week one only
    assert result["digests_sent"] == result["due"] - week


@pytest.mark.parametrize("week", [0, 1])
def test_nobody_misses_a_digest_without_a_recorded_reason(summary: dict[str, Any], week: int) -> None:
    result = summary["weeks"][week]
    assert result["missing_without_reason"] == []
    assert result["unreceiving_mailed"] == []
    reasons = " | ".join(result["missing"].values())
    assert "unsubscribed" in reasons and "never confirmed" in reasons
    if week == 1:
        assert "suppressed" in reasons and "needs_reauth" in reasons


@pytest.mark.parametrize("week", [0, 1])
def test_no_x_resource_is_read_twice_and_only_poison_is_left_in_a_dlq(summary: dict[str, Any], week: int) -> None:
    result = summary["weeks"][week]
    assert result["x_resources_read_twice"] == 0
    assert result["dead_letters_without_reason"] == {"collect": 0, "digest": 0}
    # the planted poison (an invalid body and a missing subscriber per queue) stays, week after week
    assert result["dead_letters"] == {"collect": 2 * (week + 1), "digest": 2 * (week + 1)}


@pytest.mark.parametrize("week", [0, 1])
def test_no_transient_fault_sends_a_message_to_a_dlq_and_each_poison_arrives_with_its_reason(
    summary: dict[str, Any], week: int
) -> None:
    arrivals = summary["weeks"][week]["dlq_arrivals"]
    assert arrivals["transient"] == 0, arrivals["by_cause"]
    assert (arrivals["poison"], arrivals["poison_without_reason"]) == (4, 0)
    causes = " | ".join(arrivals["by_cause"])
    assert "collect: invalid message: body.subscriber_id" in causes and "digest: invalid message" in causes
    assert "collect for sub-missing-collect" in causes and "digest for sub-missing-digest" in causes


def test_the_revoked_subscriber_gets_one_reconnect_email(summary: dict[str, Any]) -> None:
    assert [w["reconnect_emails_to_revoked"] for w in summary["weeks"]] == [1, 1]
