"""HttpApi: the sign-up form and the subscriber lifecycle (confirm, unsubscribe, delete).

Routes and pages live in ``followthrough.signup.web``; oversized, non-UTF-8 and
forged form posts are refused before Powertools parses them.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from followthrough.bootstrap import Handler, Services, lambda_handler, log_through
from followthrough.logs import quiet_sdk_loggers
from followthrough.signup import web

logger = Logger(service="signup")
quiet_sdk_loggers()  # botocore at DEBUG would log request bodies (tokens, emails)
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(web.router)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=web.openapi_document(app))


def build(services: Services) -> Handler:
    log_through(logger)  # the package's log lines are this function's
    signup, settings = services.signup, services.settings

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        app.append_context(signup=signup, settings=settings)
        return web.refuse_early(event, settings) or app.resolve(event, context)

    return handler


handler = lambda_handler(build)
