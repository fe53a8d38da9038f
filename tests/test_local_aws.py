"""The local moto server's partition-only table queries answer exactly as moto's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from moto import mock_aws
from moto.dynamodb.models.table import Table

from followthrough_devkit import moto_server


def _queries(table: Any) -> list[Callable[[], Any]]:
    def everything(**kwargs: Any) -> list[dict[str, Any]]:
        items, page = [], table.query(**kwargs)
        items += page["Items"]
        while "LastEvaluatedKey" in page:
            page = table.query(ExclusiveStartKey=page["LastEvaluatedKey"], **kwargs)
            items += page["Items"]
        return items

    return [
        lambda: table.query(KeyConditionExpression=Key("pk").eq("SUB#7"))["Items"],
        lambda: table.query(KeyConditionExpression=Key("pk").eq("SUB#7") & Key("sk").begins_with("FOLLOWEE#"))["Items"],
        lambda: table.query(
            KeyConditionExpression=Key("pk").eq("SUB#7") & Key("sk").between("FOLLOWEE#2", "WEEK#5"),
            ScanIndexForward=False,
        )["Items"],
        lambda: everything(KeyConditionExpression=Key("pk").eq("SUB#3"), Limit=4),
        lambda: everything(KeyConditionExpression=Key("pk").eq("SUB#3"), FilterExpression=Attr("n").gt(5), Limit=3),
        lambda: table.query(KeyConditionExpression=Key("pk").eq("SUB#missing"))["Items"],
        lambda: table.query(
            KeyConditionExpression=Key("pk").eq("SUB#2") & Key("sk").eq("PROFILE"), ConsistentRead=True
        )["Items"],
        lambda: everything(IndexName="due", KeyConditionExpression=Key("gsi1pk").eq("DUE#0#08"), Limit=5),
        lambda: sorted((i["pk"], i["sk"]) for i in table.scan()["Items"]),
    ]


def _answers() -> list[Any]:
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due",
                    "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                }
            ],
        )
        with table.batch_writer() as batch:
            for s in range(12):
                batch.put_item(
                    Item={
                        "pk": f"SUB#{s}",
                        "sk": "PROFILE",
                        "gsi1pk": f"DUE#0#0{8 + s % 2}",
                        "gsi1sk": f"SUB#{s}",
                        "n": s,
                    }
                )
                for k in range(9):
                    batch.put_item(Item={"pk": f"SUB#{s}", "sk": f"FOLLOWEE#{k}", "n": k})
                    batch.put_item(Item={"pk": f"SUB#{s}", "sk": f"WEEK#{k}", "n": k * s})
        return [query() for query in _queries(table)]


def test_partition_queries_answer_like_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # in-process moto, whatever ran before
    expected = _answers()
    monkeypatch.setattr(Table, "all_items", moto_server._all_items)
    monkeypatch.setattr(Table, "query", moto_server._query)
    reads: list[Any] = []
    real = moto_server._moto_all_items
    monkeypatch.setattr(moto_server, "_moto_all_items", lambda self: reads.append(self) or real(self))
    assert _answers() == expected
    assert expected[0] and expected[3] and not expected[5]  # the comparison compares something
    # only the scan and the index query's two pages went through moto's sort of the whole table
    assert len(reads) == 1 + 2
