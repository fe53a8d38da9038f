"""SQS batch of digest requests -> render and send each digest exactly once per subscriber-week."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough import steps
from followthrough.messages import DigestRequest, SqsRecord
from followthrough.pipeline.delivery import RetryingBatchProcessor

logger = Logger(service="digest")


DigestRecord = SqsRecord[DigestRequest]


# a transient failure comes back with backoff; one that cannot succeed goes to the DLQ with its reason
processor = RetryingBatchProcessor(model=DigestRecord, step="digest", redelivery=lambda: steps.redelivery("digest"))


@logger.inject_lambda_context
@steps.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=lambda record: steps.run_digest(record.body, context), processor=processor,
        context=context)
