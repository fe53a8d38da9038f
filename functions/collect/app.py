"""SQS batch of collect requests -> read X, analyze, store, queue the digest (partial batch failures)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough import steps
from followthrough.logs import quiet_sdk_loggers
from followthrough.messages import CollectRequest, SqsRecord

logger = Logger(service="collect")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)


CollectRecord = SqsRecord[CollectRequest]


processor = BatchProcessor(event_type=EventType.SQS, model=CollectRecord)


def record_handler(record: CollectRecord) -> None:
    steps.run_collect(record.body)


@logger.inject_lambda_context
@steps.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
