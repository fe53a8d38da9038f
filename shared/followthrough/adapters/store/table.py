"""The one DynamoDB table, as the repositories share it: keys, packed blobs, conditional writes, paging.

Only ``dynamo.py`` talks to DynamoDB through this; the in-memory twins
(``memory.py``) use the same key functions so both lay out data alike.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from botocore.config import Config

# Throttling is retried here, with backoff, rather than by redelivering the
# whole message: a collect that has read from X must not have to read it again.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})

GRAPH_CHUNK = 12_000  # follow edges per item, well under DynamoDB's 400 KB item limit once gzipped

UniqueKind = Literal["XUSER", "EMAIL"]

# what a changed X account keeps of the subscriber's partition (``forget_history``)
KEPT_ON_NEW_ACCOUNT = frozenset({"PROFILE", "TOKEN", "PENDING"})


def sub_key(subscriber_id: str) -> str:
    return f"SUB#{subscriber_id}"


def unique_key(kind: UniqueKind, value: str) -> str:
    # addresses compare case-insensitively, as the suppression list does
    return f"{kind}#{value.lower() if kind == 'EMAIL' else value}"


def suppressed_key(email: str) -> str:
    return f"SUPPRESSED#{email.lower()}"


def week_key(week: str) -> str:
    return f"WEEK#{week}"


POST_READS_KEPT_S = 100 * 86400  # a cycle's counter is kept two cycles after it ends, to be read


def post_reads_key(cycle: str) -> tuple[str, str]:
    """The app-wide Post-read counter of the billing cycle that began on ``cycle``."""
    return "XAPP", f"POSTREADS#{cycle}"


def graph_prefix(which: str) -> str:
    return f"GRAPH#{which}#"


def pack(value: Any) -> bytes:
    return gzip.compress(json.dumps(value, separators=(",", ":"), default=str).encode(), compresslevel=6)


def raw_bytes(blob: Any) -> bytes:
    """A binary attribute as bytes (boto3 returns ``Binary``)."""
    return bytes(blob.value if hasattr(blob, "value") else blob)


def unpack(blob: Any) -> Any:
    return json.loads(gzip.decompress(raw_bytes(blob)))


class ConcurrentUpdate(Exception):
    """A conditional write lost to another writer; re-read and decide again."""


@dataclass(frozen=True)
class Refused:
    """A conditional write whose condition did not hold; ``old``: the item then, when it was asked for."""

    old: dict[str, Any]


@dataclass
class Table:
    name: str

    @cached_property
    def resource(self) -> Any:
        import boto3

        return boto3.resource("dynamodb", config=RETRIES).Table(self.name)

    def write_if(self, operation: Literal["put_item", "update_item", "delete_item"], **kwargs: Any) -> Refused | None:
        """A conditional write: None when it went through, ``Refused`` when someone else got there first.

        Any other error is real and raised."""
        from botocore.exceptions import ClientError

        try:
            getattr(self.resource, operation)(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = exc.response.get("Item", {})
            return Refused({k: next(iter(v.values())) for k, v in old.items()})
        return None

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.resource.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=consistent).get(
            "Item"
        )
        return item

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a query finds, page after page."""
        while True:
            page = self.resource.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def partition(
        self, pk: str, prefix: str = "", *, keys_only: bool = False, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """The items of one partition (whose ``sk`` starts with ``prefix``), consistently read."""
        from boto3.dynamodb.conditions import Key

        condition = Key("pk").eq(pk)
        if prefix:
            condition &= Key("sk").begins_with(prefix)
        if keys_only:
            kwargs["ProjectionExpression"] = "pk, sk"
        return self.query(KeyConditionExpression=condition, ConsistentRead=True, **kwargs)

    def write_all(self, puts: list[dict[str, Any]], deletes: list[dict[str, Any]] | None = None) -> None:
        """Unconditional puts and deletes in BatchWriteItem calls of 25 (unprocessed items retried)."""
        if not puts and not deletes:
            return
        with self.resource.batch_writer() as batch:
            for item in puts:
                batch.put_item(Item=item)
            for key in deletes or []:
                batch.delete_item(Key=key)
