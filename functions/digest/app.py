"""SQS batch of digest requests -> render and send each digest exactly once per subscriber-week."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough.bootstrap import Handler, Services, lambda_handler, log_through
from followthrough.logs import quiet_sdk_loggers
from followthrough.messages import DigestRequest, SqsRecord
from followthrough.pipeline.delivery import RetryingBatchProcessor

logger = Logger(service="digest")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)


DigestRecord = SqsRecord[DigestRequest]


def build(services: Services) -> Handler:
    log_through(logger)  # the package's log lines are this function's
    # a transient failure comes back with backoff; one that cannot succeed goes to the DLQ with its reason
    processor = RetryingBatchProcessor(
        model=DigestRecord, step="digest", redelivery=lambda: services.redelivery("digest")
    )
    digest = services.digest

    @logger.inject_lambda_context
    @services.metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return services.count_failed_records(
            process_partial_response(
                event=event,
                record_handler=lambda record: digest.run(record.body, context),
                processor=processor,
                context=context,
            )
        )

    return handler


handler = lambda_handler(build)
