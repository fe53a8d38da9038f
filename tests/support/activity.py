"""The X Activity API between the stand-in and the webhook function: deliveries through the real handler."""

from __future__ import annotations

from collections.abc import Mapping

from followthrough.bootstrap import Services
from followthrough_devkit.lambda_runtime import invoke, load_function
from followthrough_devkit.serve import http_event, http_response
from followthrough_devkit.xsim import XSim
from followthrough_devkit.xsim.activity import Deliver

CONSUMER_SECRET = "consumer-secret-of-the-test-app"
APP_BEARER = "app-only-bearer-of-the-test-app"
WEBHOOK_URL = "https://hooks.followthrough.example/x/webhook"


def webhook_deliverer(services: Services) -> Deliver:
    """X's requests to the webhook, answered by functions/webhook/app.py on ``services`` (an HttpApi event each)."""
    module = load_function("webhook")

    def deliver(method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        event = http_event(method, target, {"host": "hooks.followthrough.example", **headers}, body)
        status, _, raw = http_response(invoke("webhook", event, module, services))
        return status, raw

    return deliver


def receive_events(services: Services, sim: XSim, *, limit: int = 1500) -> str:
    """Point the stand-in's Activity API at the webhook function and register the webhook (X checks it with a
    CRC first); ``services`` then subscribe confirmed subscribers. Call before the services build a use case."""
    hub = sim.activity
    hub.consumer_secret, hub.app_bearer_token, hub.limit = CONSUMER_SECRET, APP_BEARER, limit
    services.settings = services.settings.model_copy(  # type: ignore[misc]
        update={"x_consumer_secret": CONSUMER_SECRET, "x_app_bearer_token": APP_BEARER}
    )
    hub.deliver = webhook_deliverer(services)
    status, registered = hub.register_webhook(WEBHOOK_URL)
    assert status == 200, registered
    webhook_id = str(registered["data"]["id"])
    services.settings = services.settings.model_copy(  # type: ignore[misc]
        update={"x_webhook_id": webhook_id, "activity_subscription_limit": limit, "activity_subscription_share": 1.0}
    )
    return webhook_id
