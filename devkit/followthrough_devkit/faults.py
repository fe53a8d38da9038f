"""Seeded AWS fault injection for soak runs: DynamoDB and SES calls fail at a configurable rate.

A ``before-send`` hook on boto3's default session answers some requests with
the throttling error the real service would send, before they reach moto's
server. Because it sits below botocore's retry handler, each injected error
goes through the same retries and backoff as a real one; only what is left
after them reaches the code. Clients created after ``install`` are affected
(services built after it create fresh ones).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

# service -> (content type, body) of the throttling error it answers with
ERRORS: dict[str, tuple[str, bytes]] = {
    "dynamodb": (
        "application/x-amz-json-1.0",
        json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "Injected by the soak run: throughput exceeded",
            }
        ).encode(),
    ),
    "ses": (
        "text/xml",
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        b"<Message>Injected by the soak run: maximum sending rate exceeded.</Message></Error>"
        b"<RequestId>soak</RequestId></ErrorResponse>",
    ),
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


@dataclass
class AwsFaults:
    rate: float
    seed: int = 0
    services: tuple[str, ...] = ("dynamodb", "ses")
    injected: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        unknown = set(self.services) - set(ERRORS)
        if unknown:
            raise ValueError(f"no fault defined for {sorted(unknown)}")
        self._rng = random.Random(self.seed)

    @staticmethod
    def _events() -> Any:
        # the session every boto3.client() and boto3.resource() call uses
        return boto3._get_default_session().events

    def _maybe_fail(self, request: Any = None, event_name: str = "", **_: Any) -> AWSResponse | None:
        service, operation = event_name.split(".", 2)[1:]
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            self.injected[f"{service}.{operation}"] += 1
        content_type, body = ERRORS[service]
        return AWSResponse(
            request.url if request is not None else "",
            400,
            {"content-type": content_type, "x-amzn-requestid": "soak"},
            _Body(body),
        )

    # botocore waits up to 20 s between throttled attempts; a soak run compresses
    # that time as it compresses SQS delays, keeping the number of attempts
    backoff_scale: float = 0.01
    _saved_backoff: dict[str, float] = field(default_factory=dict)

    def install(self) -> AwsFaults:
        for service in self.services:
            self._events().register(f"before-send.{service}", self._maybe_fail, unique_id=f"soak-fault-{service}")
        config = ExponentialBackoff._DEFAULT_BACKOFF_CONFIG
        self._saved_backoff = dict(config)
        config["throttling_base_scale"] = self._saved_backoff["throttling_base_scale"] * self.backoff_scale
        return self

    def uninstall(self) -> None:
        for service in self.services:
            self._events().unregister(f"before-send.{service}", unique_id=f"soak-fault-{service}")
        ExponentialBackoff._DEFAULT_BACKOFF_CONFIG.update(self._saved_backoff)

    @property
    def total(self) -> int:
        return sum(self.injected.values())
