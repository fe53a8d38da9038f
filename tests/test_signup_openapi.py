"""schemathesis against ``make serve``'s server and its ``/openapi.json``: no generated request gets a 5xx.

Positive and negative cases over every operation. Half the generated sign-up,
confirm and delete forms carry a valid anti-forgery token and cookie, and some links a
validly signed token, so generated values also reach the routes and the store
instead of stopping at the first check.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from followthrough.links import confirmation_digest, make_token
from followthrough.signup import csrf
from followthrough_devkit.serve import SignupServer, start_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[SignupServer]:
    running = start_server(0, environ={"POWERTOOLS_LOG_LEVEL": "WARNING"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema(server: SignupServer) -> Any:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(server: SignupServer, api_schema: Any, mode: GenerationMode) -> None:
    # hypothesis through schemathesis' strategies: its pytest plugin does not run under pytest 9 yet
    chooser = random.Random(8058)
    session = requests.Session()

    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(max_examples=120, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        if (
            case.method == "POST"
            and case.path in {"/signup", "/confirm", "/delete", "/settings", "/export"}
            and isinstance(case.body, dict)
            and chooser.random() < 0.5
        ):
            nonce, _ = csrf.browser_nonce(None)
            case.body["csrf_token"] = csrf.form_token(server.services.settings.signing_key, nonce)
            case.cookies = {**(case.cookies or {}), "ft_csrf": nonce}
        purpose = case.path.strip("/")
        if purpose in {"confirm", "unsubscribe", "delete", "settings", "export", "view"} and chooser.random() < 0.3:
            confirms = confirmation_digest("a@example.com", "1") if purpose == "confirm" else None
            week = "2026-W48" if purpose == "view" else None
            token = make_token(
                server.services.settings.signing_key,
                purpose,
                f"sub-{chooser.randrange(3)}",
                confirms=confirms,
                week=week,
            )
            if isinstance(case.query, dict) and "token" in case.query:
                case.query["token"] = token
            if isinstance(case.body, dict) and "token" in case.body:
                case.body["token"] = token
        session.cookies.clear()  # each case brings its own cookies, not those of earlier answers
        case.call_and_validate(base_url=server.url, session=session, checks=[not_a_server_error])

    call()
    session.close()


def test_the_document_is_served_and_every_operation_is_generated(server: SignupServer, api_schema: Any) -> None:
    operations = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert operations == {
        ("GET", "/"),
        ("HEAD", "/"),
        ("POST", "/signup"),
        ("GET", "/oauth/callback"),
        ("GET", "/confirm"),
        ("POST", "/confirm"),
        ("GET", "/unsubscribe"),
        ("POST", "/unsubscribe"),
        ("GET", "/delete"),
        ("POST", "/delete"),
        ("GET", "/settings"),
        ("POST", "/settings"),
        ("GET", "/view"),
        ("GET", "/export"),
        ("POST", "/export"),
    }
