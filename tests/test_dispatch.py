"""dispatch: finds this hour's subscribers through the due index, queues each once, never scans.

On the in-memory twins; the calls SQS and DynamoDB see, and DynamoDB's refused conditional write, on in-process
moto (those tests ask for ``aws``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from followthrough.bootstrap import Services
from followthrough.messages import CollectRequest
from followthrough.subscriber import Subscriber
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.lambda_runtime import invoke, scheduled_event
from tests.support.aws import CallRecorder
from tests.support.factories import MONDAY_8, subscriber
from tests.support.twins import Twins


def _queued(aws: LocalAws) -> list[CollectRequest]:
    sqs = boto3.client("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=aws.queue_urls["collect"], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += [CollectRequest.model_validate_json(m["Body"]) for m in got]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        sqs.delete_message_batch(QueueUrl=aws.queue_urls["collect"], Entries=entries)


def test_queues_due_subscribers_only_and_never_scans(
    aws: LocalAws, aws_calls: CallRecorder, services: Services
) -> None:
    s = services.repositories.subscribers
    for n in range(1, 24):  # 23 due: more than two SendMessageBatch calls
        s.put_subscriber(subscriber(n), reference=MONDAY_8)
    s.put_subscriber(subscriber(30, digest_day=2), reference=MONDAY_8)  # Wednesday
    s.put_subscriber(subscriber(31, email_confirmed=False), reference=MONDAY_8)
    s.put_subscriber(subscriber(32, status="unsubscribed"), reference=MONDAY_8)
    s.put_subscriber(subscriber(33, time_zone="America/New_York", digest_hour=3), reference=MONDAY_8)  # 08 UTC
    aws_calls.operations.clear()

    result = invoke("dispatch", scheduled_event(MONDAY_8))

    assert result["due"] == 24 and result["queued"] == 24 and result["week"] == "2026-W48"
    queued = _queued(aws)
    assert sorted(r.subscriber_id for r in queued) == sorted([f"sub-{n}" for n in range(1, 24)] + ["sub-33"])
    assert "Scan" not in aws_calls.operations
    assert aws_calls.operations.count("SendMessageBatch") == 3
    assert "Query" in aws_calls.operations


def test_second_run_in_the_same_week_queues_nobody(twins: Twins, services: Services) -> None:
    s = services.repositories.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    first = invoke("dispatch", scheduled_event(MONDAY_8), services=services)
    again = invoke("dispatch", scheduled_event(MONDAY_8 + timedelta(minutes=5)), services=services)
    assert first["queued"] == 1 and again["queued"] == 0
    assert len(twins.queued("collect")) == 1
    # next week the subscriber is due again, in the slot computed for that week
    next_week = invoke("dispatch", scheduled_event(MONDAY_8 + timedelta(days=7)), services=services)
    assert next_week["queued"] == 1 and next_week["week"] == "2026-W49"


def test_daylight_saving_moves_the_utc_slot() -> None:
    sub = subscriber(1, time_zone="Europe/Berlin", digest_hour=8)
    summer, winter = MONDAY_8.replace(month=7, day=6), MONDAY_8
    assert sub.due_slot(summer) == "DUE#0#06" and sub.due_slot(winter) == "DUE#0#07"


def test_sample_event_parses_through_the_handler_model(services: Services) -> None:
    with open("events/dispatch.json") as f:
        event = json.load(f)
    result = invoke("dispatch", event, services=services)
    assert result["slot"] == "DUE#0#08" and result["queued"] == 0


def test_a_field_update_keeps_an_edit_made_meanwhile_and_the_due_index_in_step(services: Services) -> None:
    s = services.repositories.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    stale = s.get_subscriber("sub-1")
    # the sign-up changes the address while the collector holds its older copy
    s.put_subscriber(subscriber(1, email="new@example.com"), reference=MONDAY_8)
    assert stale is not None and stale.email != "new@example.com"
    s.update_subscriber("sub-1", first_collected_at=MONDAY_8)
    updated = s.get_subscriber("sub-1")
    assert updated is not None and updated.email == "new@example.com" and updated.first_collected_at == MONDAY_8
    assert [x.subscriber_id for x in s.due_subscribers("DUE#0#08")] == ["sub-1"]

    s.update_subscriber("sub-1", suppressed=True)  # a bounce: out of the due index
    assert list(s.due_subscribers("DUE#0#08")) == []
    s.update_subscriber("sub-1", suppressed=False)
    assert s.get_subscriber("sub-1").receives_digest  # type: ignore[union-attr]
    assert len(list(s.due_subscribers(subscriber(1).due_slot(datetime.now(UTC))))) == 1


def test_a_field_update_reads_again_when_the_digest_decision_changed_meanwhile(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch, services: Services
) -> None:
    s = services.repositories.subscribers
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    real_get = s.get_subscriber
    reads: list[str] = []

    def get_then_unsubscribe(subscriber_id: str) -> Subscriber | None:
        found = real_get(subscriber_id)
        if not reads:  # between this read and the write, the subscriber unsubscribes
            s.put_subscriber(subscriber(1, status="unsubscribed"), reference=MONDAY_8)
        reads.append(subscriber_id)
        return found

    monkeypatch.setattr(s, "get_subscriber", get_then_unsubscribe)
    s.update_subscriber("sub-1", first_collected_at=MONDAY_8)
    assert len(reads) == 2  # the first write was refused
    after = real_get("sub-1")
    assert after is not None and after.status == "unsubscribed" and after.first_collected_at == MONDAY_8
    assert list(s.due_subscribers("DUE#0#08")) == []
