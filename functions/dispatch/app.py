"""EventBridge hourly schedule -> one collect message per subscriber due this hour."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough.bootstrap import Handler, Services, lambda_handler, log_through
from followthrough.logs import quiet_sdk_loggers

logger = Logger(service="dispatch")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)


def build(services: Services) -> Handler:
    log_through(logger)  # the package's log lines are this function's
    dispatch = services.dispatch

    @logger.inject_lambda_context
    @services.metrics.log_metrics
    @event_parser(model=EventBridgeModel)
    def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
        return asdict(dispatch.run(event.time))

    return handler


handler = lambda_handler(build)
