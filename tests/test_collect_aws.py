"""collect where AWS itself is the subject: SQS requeue delays and the DLQ, and the calls DynamoDB sees
(in-process moto and the X stand-in on loopback). The rest of collect runs on the twins: tests/test_collect.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from followthrough.messages import CollectRequest
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.demo import DemoWorld, start_world
from tests.support.aws import CallRecorder

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

DYNAMODB_CALLS = {"GetItem", "Query", "Scan", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}


@pytest.fixture
def world(aws: LocalAws) -> Iterator[DemoWorld]:
    w = start_world(seed=11, now=NOW, profile="small", aws=aws)
    yield w
    w.close()


def _request(world: DemoWorld, week: str = "2026-W48") -> CollectRequest:
    return CollectRequest(subscriber_id=world.subscriber.subscriber_id, week=week)


def _messages(aws: LocalAws, queue: str) -> list[dict]:
    got = boto3.client("sqs").receive_message(
        QueueUrl=aws.queue_urls[queue], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return got.get("Messages", [])


def test_a_collect_loads_in_one_query_and_saves_in_batches(world: DemoWorld) -> None:
    world.services.collect.run(_request(world, "2026-W48"))
    world.sim.advance_week(seed=5)
    aws_calls = CallRecorder()
    table = world.services.repositories.weeks.table.resource  # type: ignore[attr-defined]
    table.meta.client.meta.events.register("before-call.*.*", aws_calls)
    result = world.services.collect.run(_request(world, "2026-W49"))
    assert result.status == "collected", result.reason
    dynamodb = [op for op in aws_calls.operations if op in DYNAMODB_CALLS]
    # reads: the subscriber's partition in one query, this week's run flag, the cycle's Post reads;
    # nothing item by item. writes: the token refresh a week later (lease, rotated pair), the state and the
    # week's record in batches of 25 (a week's ledger rows and followees' last posts can fill more than one),
    # the Post reads reserved before reading and settled after
    batches = dynamodb.count("BatchWriteItem")
    assert 1 <= batches <= 3, dynamodb
    assert sorted(op for op in dynamodb if op != "BatchWriteItem") == [
        "GetItem",
        "GetItem",
        "PutItem",
        "Query",
        "UpdateItem",
        "UpdateItem",
        "UpdateItem",
    ]


def test_rate_limit_mid_pagination_requeues_and_resumes_without_rereading(world: DemoWorld) -> None:
    world.sim.faults.inject("liked_tweets", 429, after=1, reset_in=120)
    first = world.services.collect.run(_request(world))
    assert first.status == "rate_limited" and 100 <= first.retry_in_s <= 120
    # back on the queue, invisible until X's window resets (no sleeping inside Lambda)
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=world.aws.queue_urls["collect"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1" and _messages(world.aws, "collect") == []
    requeued = next(
        CollectRequest.model_validate_json(m.body)
        for q in get_backend("sqs")[DEFAULT_ACCOUNT_ID]["us-east-1"].queues.values()
        for m in q._messages
    )
    assert requeued.requeues == 1 and requeued.subscriber_id == world.subscriber.subscriber_id
    assert _messages(world.aws, "digest") == []
    status = world.services.repositories.weeks.week_status(world.subscriber.subscriber_id, "2026-W48")
    assert status is not None and status[0] == "rate_limited"

    second = world.services.collect.run(requeued)
    assert second.status == "collected", second.reason
    for endpoint in ("tweets", "mentions", "liked_tweets", "following", "followers", "dm_events"):
        assert world.sim.meter.duplicates(endpoint) == 0, endpoint
    account = world.sim.accounts[world.subscriber.x_user_id]
    total_likes = world.sim.meter.snapshot()["liked_tweets"]["resources"]
    # every like of the passive window, and at most a page more (likes have no start_time on X)
    window = world.services.settings.collector.first_run_lookback_days
    recent = sum(1 for t in account.likes if t.created_at and t.created_at >= world.now - timedelta(days=window))
    assert recent <= total_likes <= recent + 100


def test_poison_message_goes_to_the_dlq_without_blocking_the_batch(world: DemoWorld) -> None:
    from followthrough_devkit.lambda_runtime import drain, queue_depth

    sqs = boto3.client("sqs")
    url = world.aws.queue_urls["collect"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})  # failures come back at once
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=_request(world).model_dump_json())
    first = drain("collect", url, max_batches=1, services=world.services)
    # at once, with its reason: the poison is not retried (it could never succeed) and blocks nothing
    assert first.delivered == 2 and first.failed == 0
    assert len(_messages(world.aws, "digest")) == 1  # the good one went through
    assert queue_depth(world.aws.queue_urls["collect-dlq"]) == 1 and queue_depth(url) == 0
    dead = sqs.receive_message(QueueUrl=world.aws.queue_urls["collect-dlq"], MessageAttributeNames=["All"])
    assert dead["Messages"][0]["Body"] == "{not json"
    assert dead["Messages"][0]["MessageAttributes"]["reason"]["StringValue"].startswith("invalid message: body: ")
