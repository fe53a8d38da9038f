"""Local AWS: moto's server on a loopback port, with the resources template.yaml declares.

``TABLE``, ``QUEUES`` mirror template.yaml (tests/test_template.py keeps them
in step), so the demo and the integration tests run against the same shapes
as a deployment. The product has no defaults for its deploy-critical settings:
``LocalAws.environ`` supplies local ones (and the KMS key moto holds).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"

TABLE: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "due",
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
TTL_ATTRIBUTE = "ttl"
# queue name -> (visibility timeout s, max receives before the DLQ)
# 6x the functions' timeouts, as AWS advises; receives enough that no run of crashed invocations
# (each counts against every message of its batch) exhausts them: issue 18, docs/decisions.md
QUEUES = {"collect": (3600, 20), "digest": (360, 20)}
# the deploy-critical settings a local run uses (a deployment's come from template.yaml)
LOCAL_SETTINGS = {
    "X_CLIENT_ID": "followthrough-local",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "SIGNING_KEY": "local-development-signing-key-change-me",
}


@dataclass
class LocalAws:
    """Resource names and the endpoint of a running moto server."""

    endpoint_url: str
    table_name: str = "followthrough"
    sender_email: str = "digest@followthrough.example"
    queue_urls: dict[str, str] = field(default_factory=dict)
    token_key_id: str = ""
    server: ThreadedMotoServer | subprocess.Popen[bytes] | None = None

    def environ(self) -> dict[str, str]:
        """Environment for the handlers and boto3 (boto3 honours AWS_ENDPOINT_URL itself)."""
        endpoint = {"AWS_ENDPOINT_URL": self.endpoint_url} if self.endpoint_url else {}
        return {
            **endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_NAME": self.table_name,
            "COLLECT_QUEUE_URL": self.queue_urls.get("collect", ""),
            "DIGEST_QUEUE_URL": self.queue_urls.get("digest", ""),
            "COLLECT_DLQ_URL": self.queue_urls.get("collect-dlq", ""),
            "DIGEST_DLQ_URL": self.queue_urls.get("digest-dlq", ""),
            "SENDER_EMAIL": self.sender_email,
            "TOKEN_KMS_KEY_ID": self.token_key_id,
            **LOCAL_SETTINGS,
        }

    def sent_emails(self) -> list[dict[str, Any]]:
        """Messages in moto's SES outbox, read over HTTP from the server's model dump."""
        # the dump holds every service's data: after a 1,000-subscriber soak it takes moto well over 10 s
        with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=180) as response:  # noqa: S310
            data = json.load(response)
        return list(data.get("ses", {}).get("RawMessage", []))

    def stop(self) -> None:
        if isinstance(self.server, subprocess.Popen):
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # moto exits on SIGTERM by raising SystemExit, which then waits for request
                # threads still holding keep-alive connections open
                self.server.kill()
                self.server.wait(timeout=10)
        elif self.server is not None:
            # moto keeps its accounts in this process after the server stops: forget them, so the next
            # local server (or an in-process mock) starts empty
            reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
            with urllib.request.urlopen(reset, timeout=10):  # noqa: S310
                pass
            self.server.stop()
        self.server = None


def start_moto() -> ThreadedMotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def create_table(dynamodb: Any, table_name: str) -> None:
    """The project's table, with its TTL attribute on, through ``dynamodb`` (a boto3 client)."""
    dynamodb.create_table(TableName=table_name, **TABLE)
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def create_resources(aws: LocalAws) -> LocalAws:
    """Create the table, the queues (each with a DLQ), the tokens' KMS key and the SES identity in the account
    at ``aws``."""
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
    endpoint = aws.endpoint_url or None  # None: in-process moto (mock_aws) intercepts the calls
    create_table(session.client("dynamodb", endpoint_url=endpoint), aws.table_name)
    sqs = session.client("sqs", endpoint_url=endpoint)
    for name, (visibility, max_receives) in QUEUES.items():
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        aws.queue_urls[name] = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
            },
        )["QueueUrl"]
        aws.queue_urls[f"{name}-dlq"] = dlq_url
    session.client("ses", endpoint_url=endpoint).verify_email_identity(EmailAddress=aws.sender_email)
    aws.token_key_id = session.client("kms", endpoint_url=endpoint).create_key(
        Description="followthrough X tokens (local)"
    )["KeyMetadata"]["Arn"]
    return aws


def start_moto_process() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in its own process: twice as fast under load as a thread competing for our GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # followthrough_devkit.moto_server: moto's server with queries that read one partition, not the whole table
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "followthrough_devkit.moto_server",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):  # noqa: S310
                return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise TimeoutError("moto_server did not start within 30 s")


def start_local_aws(*, separate_process: bool = False) -> LocalAws:
    """Start moto's server on a free loopback port (a thread, or its own process) and create the resources."""
    if separate_process:
        process, url = start_moto_process()
        return create_resources(LocalAws(endpoint_url=url, server=process))
    server = start_moto()
    host, port = server.get_host_and_port()
    aws = LocalAws(endpoint_url=f"http://{host}:{port}", server=server)
    return create_resources(aws)


def apply_environ(aws: LocalAws, extra: dict[str, str] | None = None) -> None:
    """Point this process (boto3, and services built from the environment after this) at the local AWS."""
    os.environ.update(aws.environ())
    os.environ.update(extra or {})
