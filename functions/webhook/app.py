"""HttpApi: X's webhook for Activity API events (``GET`` the CRC challenge, ``POST`` signed events).

The work is ``followthrough.pipeline.activity_api.Webhook``: this answers X's
challenge, refuses an unsigned or forged POST before reading it (nothing
stored), and stores each follow event once under its subscriber.
"""

import base64
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough.bootstrap import Handler, Services, lambda_handler, log_through
from followthrough.follow_events import MalformedEvent
from followthrough.logs import quiet_sdk_loggers
from followthrough.pipeline.activity_api import BadSignature, Webhook

PATH = "/x/webhook"
logger = Logger(service="webhook")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies
app = APIGatewayHttpResolver()


def _answer(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.get(PATH)
def crc() -> Response[str] | dict[str, str]:
    token = app.current_event.get_query_string_value("crc_token")
    if not token:
        return _answer(400, '{"error": "crc_token is missing"}')
    webhook: Webhook = app.context["webhook"]
    return webhook.crc(token)


@app.post(PATH)
def event() -> Response[str] | dict[str, str]:
    raw = app.current_event.body or ""
    body = base64.b64decode(raw) if app.current_event.is_base64_encoded else raw.encode("utf-8")
    webhook: Webhook = app.context["webhook"]
    try:
        outcome = webhook.receive(body, app.current_event.headers.get("x-twitter-webhooks-signature"))
    except BadSignature:
        logger.warning("webhook POST refused: bad or missing signature")
        return _answer(401, '{"error": "the signature is missing or wrong"}')
    except MalformedEvent as exc:
        logger.error("webhook POST not understood", extra={"reason": str(exc)})
        return _answer(400, '{"error": "the event is not in the documented shape"}')
    return {"outcome": outcome}


def build(services: Services) -> Handler:
    log_through(logger)  # the package's log lines are this function's
    webhook = services.webhook

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        app.append_context(webhook=webhook)
        return app.resolve(event, context)

    return handler


handler = lambda_handler(build)
