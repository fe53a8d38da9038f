"""Issue 18: only a message that cannot succeed reaches a dead-letter queue.

SQS counts every receive of a message against the queue's maxReceiveCount,
whatever the invocation came to. When a handler process dies (a crash, a
timeout, out of memory) every message of its batch comes back, including the
ones it had finished and the ones it never reached; none of their records
raised. The soak's unexplained DLQ arrival was that: a digest batch whose
invocation died maxReceiveCount times in a row (``docs/scaling.md``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import boto3
import pytest

from followthrough.bootstrap import Services
from followthrough.cursors import Spend
from followthrough.messages import CollectRequest, DigestRequest
from followthrough.pipeline.digest import DigestStep
from followthrough.report import WeeklyReport
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.lambda_runtime import InvocationDied, drain, load_function, queue_depth
from tests.support.aws import outbox
from tests.support.factories import MONDAY_8, subscriber

WEEK = "2026-W48"


def _outbox() -> Counter[str]:
    return Counter(address for m in outbox() for address in set(m.destinations))


def _prepare(services: Services, n: int) -> None:
    stored = services.repositories
    for i in range(1, n + 1):
        stored.subscribers.put_subscriber(subscriber(i), reference=MONDAY_8)
        stored.weeks.put_week(
            f"sub-{i}",
            WEEK,
            WeeklyReport(subscriber_id=f"sub-{i}", username=f"person{i}", week=WEEK, generated_at=MONDAY_8),
            Spend(),
        )


def _queue(aws: LocalAws, name: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=aws.queue_urls[name], MessageBody=body)


def _immediate_redelivery(aws: LocalAws, name: str) -> None:
    """A visibility timeout of 0: what failed is received again at once (no waiting in a test)."""
    boto3.client("sqs").set_queue_attributes(QueueUrl=aws.queue_urls[name], Attributes={"VisibilityTimeout": "0"})


def _dead_letters(aws: LocalAws, name: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(
        QueueUrl=aws.queue_urls[f"{name}-dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    return list(got)


def _drain_until_empty(aws: LocalAws, name: str, module: Any, rounds: int = 40) -> None:
    for _ in range(rounds):
        drain(name, aws.queue_urls[name], batch_size=10, module=module)
        if queue_depth(aws.queue_urls[name]) == 0:
            return
    raise AssertionError(f"{name} queue not empty after {rounds} rounds")


def test_a_batch_whose_process_dies_maxreceivecount_times_reaches_no_dlq(
    aws: LocalAws, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reproduction: before the fix all three requests were in the digest DLQ after five deaths."""
    _prepare(services, 3)
    _immediate_redelivery(aws, "digest")
    _queue(aws, "digest", [DigestRequest(subscriber_id=f"sub-{i}", week=WEEK).model_dump_json() for i in (1, 2, 3)])
    real_run = DigestStep.run
    deaths = {"left": 5}  # as many as the old maxReceiveCount

    def dies_after_the_first_record(step: DigestStep, request: DigestRequest, context: Any = None) -> Any:
        result = real_run(step, request, context)
        if deaths["left"]:
            deaths["left"] -= 1
            raise InvocationDied("the handler process died after this record")
        return result

    monkeypatch.setattr(DigestStep, "run", dies_after_the_first_record)
    _drain_until_empty(aws, "digest", load_function("digest"))

    assert deaths["left"] == 0
    assert _dead_letters(aws, "digest") == []
    assert _outbox() == Counter({f"person{i}@example.com": 1 for i in (1, 2, 3)})


def test_a_throttle_that_outlasts_botocores_retries_is_retried_later_not_dead_lettered(
    aws: LocalAws, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from followthrough.adapters import mailer as mailer_module

    monkeypatch.setenv("RETRY_BACKOFF_S", "600")  # long enough that the retry cannot come back during the test
    _prepare(services, 1)

    def throttled(self: Any, recipient: str, raw: bytes) -> str:
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendRawEmail"
        )

    monkeypatch.setattr(mailer_module.Mailer, "send", throttled)
    _queue(aws, "digest", [DigestRequest(subscriber_id="sub-1", week=WEEK).model_dump_json()])
    # the only record failing does not fail the invocation: it is reported, with its backoff
    stats = drain("digest", aws.queue_urls["digest"], module=load_function("digest"))
    assert (stats.delivered, stats.failed) == (0, 1)
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["digest"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    # still queued, held back by the backoff rather than the queue's visibility timeout
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}
    assert queue_depth(aws.queue_urls["digest-dlq"]) == 0 and _outbox() == Counter()


def test_the_backoff_doubles_by_receive_up_to_its_cap() -> None:
    from followthrough.pipeline.delivery import retry_delay_s

    assert [retry_delay_s(n, 30, 900) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay_s(10_000, 30, 900) == 900


def test_a_send_whose_process_died_in_progress_is_retried_until_its_record_expires(
    aws: LocalAws, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Already in progress is transient: the dead invocation's idempotency record expires with its
    Lambda context, and the retry after that sends once."""
    from followthrough.adapters import mailer as mailer_module

    monkeypatch.setenv("RETRY_BACKOFF_S", "0")  # retries come back at once
    _prepare(services, 1)
    _immediate_redelivery(aws, "digest")
    real_send = mailer_module.Mailer.send
    dies = {"left": 1}

    def dies_while_sending(self: Any, recipient: str, raw: bytes) -> str:
        if dies["left"]:
            dies["left"] -= 1
            raise InvocationDied("the process died inside the send")
        return real_send(self, recipient, raw)

    monkeypatch.setattr(mailer_module.Mailer, "send", dies_while_sending)
    _queue(aws, "digest", [DigestRequest(subscriber_id="sub-1", week=WEEK).model_dump_json()])
    module = load_function("digest")
    for _ in range(8):  # the dead invocation's record is in progress: every retry fails, none reaches the DLQ
        drain("digest", aws.queue_urls["digest"], module=module)
    record_key = {
        "pk": "IDEMPOTENCY#digest",
        "sk": next(
            item["sk"]
            for item in boto3.resource("dynamodb").Table("followthrough").scan()["Items"]
            if item["pk"] == "IDEMPOTENCY#digest"
        ),
    }
    table = boto3.resource("dynamodb").Table("followthrough")
    assert table.get_item(Key=record_key)["Item"]["status"] == "INPROGRESS"
    assert queue_depth(aws.queue_urls["digest"]) == 1 and queue_depth(aws.queue_urls["digest-dlq"]) == 0
    # the dead invocation's time is up (its context said how long it had)
    table.update_item(
        Key=record_key, UpdateExpression="SET in_progress_expiration = :past", ExpressionAttributeValues={":past": 1}
    )
    _drain_until_empty(aws, "digest", module)
    assert _outbox() == Counter({"person1@example.com": 1}) and queue_depth(aws.queue_urls["digest-dlq"]) == 0


@pytest.mark.parametrize("step", ["collect", "digest"])
def test_a_message_that_cannot_succeed_reaches_the_dlq_at_once_with_its_reason_logged_once(
    aws: LocalAws, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    model = {"collect": CollectRequest, "digest": DigestRequest}[step]
    _queue(aws, step, [model(subscriber_id="sub-gone", week=WEEK).model_dump_json()])
    with caplog.at_level(logging.INFO, logger="followthrough.pipeline.delivery"):
        stats = drain(step, aws.queue_urls[step], module=load_function(step))
    assert (stats.delivered, stats.failed) == (1, 0) and queue_depth(aws.queue_urls[step]) == 0
    dead = _dead_letters(aws, step)
    assert [json.loads(m["Body"])["subscriber_id"] for m in dead] == ["sub-gone"]
    reason = dead[0]["MessageAttributes"]["reason"]["StringValue"]
    assert reason == f"{step} for sub-gone {WEEK}: no such subscriber"
    logged = [r for r in caplog.records if getattr(r, "reason", None) == reason]
    assert len(logged) == 1 and logged[0].levelname == "ERROR"


def test_a_dead_letter_is_not_sent_twice_when_its_process_dies_later_in_the_batch(
    aws: LocalAws, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prepare(services, 1)
    _immediate_redelivery(aws, "digest")
    _queue(
        aws,
        "digest",
        [
            DigestRequest(subscriber_id="sub-gone", week=WEEK).model_dump_json(),
            DigestRequest(subscriber_id="sub-1", week=WEEK).model_dump_json(),
        ],
    )
    real_run = DigestStep.run
    deaths = {"left": 1}

    def dies_after_the_good_one(step: DigestStep, request: DigestRequest, context: Any = None) -> Any:
        result = real_run(step, request, context)  # raises for sub-gone: dead-lettered, then the batch goes on
        if deaths["left"]:
            deaths["left"] -= 1
            raise InvocationDied("the handler process died after this record")
        return result

    monkeypatch.setattr(DigestStep, "run", dies_after_the_good_one)
    _drain_until_empty(aws, "digest", load_function("digest"))
    assert deaths["left"] == 0
    assert [json.loads(m["Body"])["subscriber_id"] for m in _dead_letters(aws, "digest")] == ["sub-gone"]
    assert _outbox() == Counter({"person1@example.com": 1})
