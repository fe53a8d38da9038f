"""Bodies of the queue messages between the functions, validated on both ends."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Json

WEEK_PATTERN = r"^\d{4}-W\d{2}$"
# The batch handlers (collect, digest) count the records that failed inside a batch, which Lambda
# does not count as errors; template.yaml alarms on it (dimension service=<function>).
RECORD_FAILURES_METRIC = "RecordsFailed"


class CollectRequest(BaseModel):
    """dispatch -> collect: read this subscriber's week."""

    subscriber_id: str = Field(min_length=1, max_length=64)
    week: str = Field(pattern=WEEK_PATTERN)
    # how many times the work was put back on the queue after X's rate limit
    requeues: int = Field(0, ge=0)


class DigestRequest(BaseModel):
    """collect -> digest: the report for this subscriber-week is stored; mail it."""

    subscriber_id: str = Field(min_length=1, max_length=64)
    week: str = Field(pattern=WEEK_PATTERN)


Body = TypeVar("Body", CollectRequest, DigestRequest)


class SqsRecord(BaseModel, Generic[Body]):
    """One record of an SQS event as Lambda delivers it, its body parsed as this project's message.

    The few fields the batch processor reads; Powertools' own ``SqsRecordModel``
    would do, but importing it loads every event model Powertools has (about
    70 ms of each cold start; docs/decisions.md).
    """

    model_config = ConfigDict(extra="ignore")
    messageId: str
    body: Json[Body]
