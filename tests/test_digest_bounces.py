"""SES bounces and complaints through functions/bounces: suppressed, dropped from the dispatch, never mailed again
(on the in-memory twins)."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from followthrough.bootstrap import Services
from followthrough.cursors import Spend
from followthrough.messages import DigestRequest
from followthrough.pipeline.bounces import SesNotification, addresses_to_suppress
from followthrough_devkit.lambda_runtime import invoke, load_function, scheduled_event
from tests.support.digest import typical_report
from tests.support.factories import MONDAY_8, subscriber
from tests.support.twins import Twins

WEEK, NEXT_WEEK = "2026-W48", "2026-W49"


def _event(name: str) -> dict[str, Any]:
    with open(f"events/{name}.json") as f:
        return dict(json.load(f))


def _digest(twins: Twins, services: Services, week: str) -> None:
    report = typical_report().model_copy(update={"week": week})
    services.repositories.weeks.put_week("sub-1", week, report, Spend())
    services.digest_queue.send(DigestRequest(subscriber_id="sub-1", week=week))
    assert twins.deliver("digest", services).failed == 0


def test_a_hard_bounce_suppresses_the_address_and_the_next_digest_is_not_sent(twins: Twins, services: Services) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    _digest(twins, services, WEEK)
    [sent] = twins.mailer.sent
    # the digest names its subscriber in an SES message tag, which SES copies into the bounce event
    message = email.message_from_string(sent.raw_data, policy=email.policy.default)
    assert message["X-SES-MESSAGE-TAGS"] == "subscriber=sub-1"
    bounce = _event("bounce")
    assert bounce["detail"]["mail"]["tags"]["subscriber"] == ["sub-1"]

    result = invoke("bounces", bounce, services=services)

    assert result == {"suppressed": 1, "ignored": 0, "subscribers_stopped": ["sub-1"]}
    assert services.repositories.suppression.is_suppressed("Person1@Example.com")
    profile = services.repositories.subscribers.get_subscriber("sub-1")
    assert profile is not None and profile.suppressed and not profile.receives_digest
    # no longer due: the dispatcher queues no X reads for a digest nobody can receive
    dispatched = invoke("dispatch", scheduled_event(MONDAY_8), services=services)
    assert dispatched["queued"] == 0

    # a digest already on its way for the next week is not sent either
    _digest(twins, services, NEXT_WEEK)
    assert len(twins.mailer.sent) == 1
    status = services.repositories.weeks.week_status("sub-1", NEXT_WEEK)
    assert status is not None and status[0] == "no_digest" and "suppressed" in status[1]


def test_a_complaint_through_sns_suppresses_the_address(twins: Twins, services: Services) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    complaint = _event("complaint")
    result = invoke("bounces", complaint, services=services)
    assert result["suppressed"] == 1 and result["subscribers_stopped"] == ["sub-1"]
    assert services.repositories.suppression.is_suppressed("person1@example.com")
    _digest(twins, services, WEEK)
    assert twins.mailer.sent == []
    # the same notification delivered again changes nothing and does not fail
    assert invoke("bounces", complaint, services=services) == {"suppressed": 1, "ignored": 0, "subscribers_stopped": []}


def test_the_address_is_suppressed_even_when_the_message_named_no_subscriber(twins: Twins, services: Services) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    bounce = _event("bounce")
    del bounce["detail"]["mail"]["tags"]["subscriber"]  # e.g. a confirmation email from the sign-up form
    assert invoke("bounces", bounce, services=services)["subscribers_stopped"] == []
    _digest(twins, services, WEEK)
    assert twins.mailer.sent == []


def test_a_tag_naming_someone_whose_address_changed_leaves_them_subscribed(twins: Twins, services: Services) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1, email="new-address@example.com"), reference=MONDAY_8)
    invoke("bounces", _event("bounce"), services=services)
    profile = services.repositories.subscribers.get_subscriber("sub-1")
    assert profile is not None and not profile.suppressed
    _digest(twins, services, WEEK)
    assert len(twins.mailer.sent) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"bounceType": "Transient", "bounceSubType": "MailboxFull"},
        {"bounceType": "Undetermined", "bounceSubType": "Undetermined"},
    ],
)
def test_soft_bounces_do_not_suppress(twins: Twins, change: dict[str, str], services: Services) -> None:
    services.repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    bounce = _event("bounce")
    bounce["detail"]["bounce"].update(change)
    assert invoke("bounces", bounce, services=services) == {"suppressed": 0, "ignored": 1, "subscribers_stopped": []}
    assert not services.repositories.suppression.is_suppressed("person1@example.com")
    _digest(twins, services, WEEK)
    assert len(twins.mailer.sent) == 1


def test_not_spam_feedback_and_other_events_are_ignored() -> None:
    complaint = json.loads(_event("complaint")["Records"][0]["Sns"]["Message"])
    complaint["complaint"]["complaintFeedbackType"] = "not-spam"
    assert addresses_to_suppress(SesNotification.model_validate(complaint)) == ([], "")
    delivery = {"eventType": "Delivery", "mail": complaint["mail"], "delivery": {"recipients": ["a@b.c"]}}
    assert addresses_to_suppress(SesNotification.model_validate(delivery)) == ([], "")
    # identity feedback notifications (no configuration set) name the type differently
    identity = {**{k: v for k, v in complaint.items() if k != "eventType"}, "notificationType": "Complaint"}
    identity["complaint"]["complaintFeedbackType"] = "abuse"
    assert addresses_to_suppress(SesNotification.model_validate(identity)) == (
        ["person1@example.com"],
        "complaint: abuse",
    )


def test_sample_events_parse_through_the_handlers_models() -> None:
    module = load_function("bounces")
    [bounce] = module.notifications(_event("bounce"))
    assert bounce.event_type == "Bounce" and bounce.bounce is not None
    assert bounce.bounce.bounced_recipients[0].email_address == "person1@example.com"
    [complaint] = module.notifications(_event("complaint"))
    assert complaint.event_type == "Complaint" and complaint.mail.tags["subscriber"] == ["sub-1"]


def test_a_malformed_notification_fails_loudly(services: Services) -> None:
    broken = copy.deepcopy(_event("bounce"))
    del broken["detail"]["bounce"]["bouncedRecipients"]
    with pytest.raises(ValidationError):
        invoke("bounces", broken, services=services)
