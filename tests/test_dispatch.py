"""dispatch: finds this hour's subscribers through the due index, queues each once, never scans."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3

from followthrough.local.aws import LocalAws
from followthrough.local.lambda_runtime import invoke, scheduled_event
from followthrough.messages import CollectRequest
from followthrough.steps import store
from tests.conftest import CallRecorder
from tests.factories import MONDAY_8, subscriber


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


def test_queues_due_subscribers_only_and_never_scans(aws: LocalAws, aws_calls: CallRecorder) -> None:
    s = store()
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


def test_second_run_in_the_same_week_queues_nobody(aws: LocalAws) -> None:
    s = store()
    s.put_subscriber(subscriber(1), reference=MONDAY_8)
    first = invoke("dispatch", scheduled_event(MONDAY_8))
    again = invoke("dispatch", scheduled_event(MONDAY_8 + timedelta(minutes=5)))
    assert first["queued"] == 1 and again["queued"] == 0
    assert len(_queued(aws)) == 1
    # next week the subscriber is due again, in the slot computed for that week
    next_week = invoke("dispatch", scheduled_event(MONDAY_8 + timedelta(days=7)))
    assert next_week["queued"] == 1 and next_week["week"] == "2026-W49"


def test_daylight_saving_moves_the_utc_slot() -> None:
    sub = subscriber(1, time_zone="Europe/Berlin", digest_hour=8)
    summer, winter = MONDAY_8.replace(month=7, day=6), MONDAY_8
    assert sub.due_slot(summer) == "DUE#0#06" and sub.due_slot(winter) == "DUE#0#07"


def test_sample_event_parses_through_the_handler_model(aws: LocalAws) -> None:
    with open("events/dispatch.json") as f:
        event = json.load(f)
    result = invoke("dispatch", event)
    assert result["slot"] == "DUE#0#08" and result["queued"] == 0
