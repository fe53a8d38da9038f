"""SES bounce and complaint events (EventBridge, or SNS) -> the address goes on the suppression list."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    SnsModel,
    SnsNotificationModel,
    SnsRecordModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from followthrough.bootstrap import Handler, Services, lambda_handler, log_through
from followthrough.logs import quiet_sdk_loggers
from followthrough.pipeline.bounces import SesNotification

logger = Logger(service="bounces")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)


class SesEventBridgeEvent(EventBridgeModel):
    """SES event destination -> EventBridge ("Email Bounced", "Email Complaint Received")."""

    detail: SesNotification


class SesSnsNotification(SnsNotificationModel):
    Message: Json[SesNotification]  # type: ignore[assignment]


class SesSnsRecord(SnsRecordModel):
    Sns: SesSnsNotification


class SesSnsEvent(SnsModel):
    """SES event destination (or identity feedback) -> SNS topic -> this function."""

    Records: list[SesSnsRecord]  # type: ignore[assignment]


def notifications(event: dict[str, Any]) -> list[SesNotification]:
    if "Records" in event:
        return [record.Sns.Message for record in SesSnsEvent.model_validate(event).Records]
    return [SesEventBridgeEvent.model_validate(event).detail]


def build(services: Services) -> Handler:
    log_through(logger)  # the package's log lines are this function's
    bounces = services.bounces

    @logger.inject_lambda_context
    @services.metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return bounces.run(notifications(event))

    return handler


handler = lambda_handler(build)
