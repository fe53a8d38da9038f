"""SQS batch of collect requests -> read X, analyze, store, queue the digest (partial batch failures)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough import steps
from followthrough.messages import CollectRequest, SqsRecord
from followthrough.pipeline.delivery import RetryingBatchProcessor

logger = Logger(service="collect")


CollectRecord = SqsRecord[CollectRequest]


# a transient failure comes back with backoff; one that cannot succeed goes to the DLQ with its reason
processor = RetryingBatchProcessor(model=CollectRecord, step="collect", redelivery=lambda: steps.redelivery("collect"))


def record_handler(record: CollectRecord) -> None:
    steps.run_collect(record.body)


@logger.inject_lambda_context
@steps.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
