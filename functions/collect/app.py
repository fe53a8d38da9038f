"""SQS batch of collect requests -> read X, analyze, store, queue the digest (partial batch failures)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough import steps
from followthrough.messages import RECORD_FAILURES_METRIC, CollectRequest, SqsRecord

logger = Logger(service="collect")


CollectRecord = SqsRecord[CollectRequest]


processor = BatchProcessor(event_type=EventType.SQS, model=CollectRecord)


def record_handler(record: CollectRecord) -> None:
    steps.run_collect(record.body)


@logger.inject_lambda_context
@steps.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    # a record failing inside a batch is no Lambda error: counted, it reaches an alarm within minutes
    # (published only when there are failures: no data is no failure to the alarm)
    if response["batchItemFailures"]:
        steps.metrics.add_metric(name=RECORD_FAILURES_METRIC, unit=MetricUnit.Count,
                                 value=len(response["batchItemFailures"]))
    return response
