"""SQS batch of digest requests -> render and send each digest exactly once per subscriber-week."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough import steps
from followthrough.logs import quiet_sdk_loggers
from followthrough.messages import DigestRequest, SqsRecord

logger = Logger(service="digest")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)


DigestRecord = SqsRecord[DigestRequest]


processor = BatchProcessor(event_type=EventType.SQS, model=DigestRecord)


@logger.inject_lambda_context
@steps.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=lambda record: steps.run_digest(record.body, context), processor=processor,
        context=context)
