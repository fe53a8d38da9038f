"""Runs the real handlers in-process with real event shapes, as Lambda would.

``drain`` plays Lambda's SQS poller: receive a batch, hand it to the handler
as an SQS event, delete what succeeded, and leave the reported failures to
come back after their visibility timeout (and reach the DLQ after too many
receives), so local runs exercise the same semantics as a deployment.

Each handler module's ``build(services)`` makes its handler: given services
(e.g. on a simulation's clock) are handed to it, otherwise services are built
from this process's environment for the invocation.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from followthrough.bootstrap import Handler, Services, from_environment

# The dev kit runs the real handlers from the checkout it sits in (repo/devkit/followthrough_devkit/);
# FOLLOWTHROUGH_FUNCTIONS_DIR points elsewhere.
FUNCTIONS_DIR = Path(os.environ.get("FOLLOWTHROUGH_FUNCTIONS_DIR") or Path(__file__).resolve().parents[2] / "functions")


class InvocationDied(BaseException):
    """The Lambda process died mid-invocation (a BaseException, so no per-record handler catches it)."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 600_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


@cache
def warm_function(name: str) -> ModuleType:
    """The function's module, imported once, as a warm Lambda container keeps it."""
    return load_function(name)


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under a unique module name (a cold start)."""
    path = FUNCTIONS_DIR / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no handler at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(
    name: str,
    event: dict[str, Any],
    module: ModuleType | None = None,
    services: Services | None = None,
    timeout_ms: int = 600_000,
) -> Any:
    """Run the function's handler on ``event``, with ``services`` (or services from the environment).

    ``timeout_ms``: what the context says is left (Powertools idempotency lets an in-progress record
    expire with it); a run that compresses visibility timeouts compresses this too."""
    services = services or from_environment()
    handler: Handler = (module or warm_function(name)).build(services)
    try:
        return handler(event, LambdaContext(function_name=f"followthrough-{name}", timeout_ms=timeout_ms))
    finally:
        # With POWERTOOLS_METRICS_DISABLED (quiet local runs) Powertools keeps
        # the metrics instead of flushing them, then prints them every 100
        # values anyway; each invocation starts empty, as in Lambda.
        services.metrics.clear_metrics()


def scheduled_event(at: datetime) -> dict[str, Any]:
    """An EventBridge Scheduler event, as the hourly schedule sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/followthrough-hourly"],
        "detail": {},
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS event from messages as ``ReceiveMessage`` returned them."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {})
                or {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


@dataclass
class DrainStats:
    batches: int = 0
    delivered: int = 0
    failed: int = 0


# what one receive of a batch came to: the messages, the ids that will come back, what the invocation died of
Delivery = Callable[[list[dict[str, Any]], set[str], BaseException | None], None]


def drain(
    name: str,
    queue_url: str,
    *,
    batch_size: int = 10,
    max_batches: int = 1000,
    wait_s: int = 0,
    module: ModuleType | None = None,
    on_batch: Callable[[DrainStats], None] | None = None,
    services: Services | None = None,
    on_delivery: Delivery | None = None,
    timeout_ms: int = 600_000,
) -> DrainStats:
    """Feed the queue to the function until it is empty (or ``max_batches``), with ``services`` (or services
    from the environment, built once for the drain)."""
    services = services or from_environment()
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    module = module or warm_function(name)
    stats = DrainStats()
    while stats.batches < max_batches:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=batch_size, WaitTimeSeconds=wait_s, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            break
        stats.batches += 1
        died: BaseException | None = None
        try:
            response = invoke(name, sqs_event(received, arn), module, services, timeout_ms=timeout_ms) or {}
            failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except (Exception, InvocationDied) as exc:
            # the whole invocation failed (or its process died): every message comes back
            died = exc
            failed_ids = {m["MessageId"] for m in received}
        if on_delivery:
            on_delivery(received, failed_ids, died)
        done = [m for m in received if m["MessageId"] not in failed_ids]
        for n in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[n : n + 10])],
            )
        stats.delivered += len(done)
        stats.failed += len(failed_ids)
        if on_batch:
            on_batch(stats)
        if failed_ids and len(failed_ids) == len(received):
            break  # only failures left in flight: they return after their visibility timeout
    return stats


def queue_depth(queue_url: str) -> int:
    """Messages waiting, in flight or delayed: all that will still reach the function."""
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )
    return sum(int(v) for v in attrs["Attributes"].values())
