"""HTTP API: the sign-up form and the subscriber lifecycle (stub route until the sign-up issue)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="signup")
app = APIGatewayHttpResolver(enable_validation=True)


@app.get("/")
def form() -> Response[str]:
    return Response(status_code=200, content_type=content_types.TEXT_HTML,
                    body="<!doctype html><title>Followthrough</title><h1>Sign-up opens soon</h1>")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
