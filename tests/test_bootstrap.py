"""The composition root: strict settings, services built once, one clock, handlers built from services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from followthrough import bootstrap, config
from followthrough.bootstrap import Services
from followthrough_devkit.aws import LocalAws
from followthrough_devkit.lambda_runtime import LambdaContext, load_function, scheduled_event
from tests.support.factories import MONDAY_8, subscriber

# what a deployment must configure (template.yaml), with nothing to fall back on in the product
DEPLOY_CRITICAL = {
    "TABLE_NAME",
    "COLLECT_QUEUE_URL",
    "DIGEST_QUEUE_URL",
    "SENDER_EMAIL",
    "X_CLIENT_ID",
    "PUBLIC_BASE_URL",
    "SIGNING_KEY",
    "TOKEN_KMS_KEY_ID",
}


def _environment(aws: LocalAws, *without: str) -> dict[str, str]:
    return {k: v for k, v in aws.environ().items() if k not in without}


def test_deploy_critical_settings_have_no_default() -> None:
    names = config.env_names(config.Settings)
    empty = config.settings_from({})
    assert set(names) >= DEPLOY_CRITICAL
    assert {name for name in DEPLOY_CRITICAL if getattr(empty, names[name]) is not None} == set()


def test_each_field_is_read_from_the_variable_it_names() -> None:
    names = config.env_names(config.Settings)
    given = {
        "TABLE_NAME": "t",
        "COLLECT_QUEUE_URL": "https://q/collect",
        "DIGEST_QUEUE_URL": "https://q/digest",
        "SENDER_EMAIL": "a@b.example",
        "X_CLIENT_ID": "id",
        "PUBLIC_BASE_URL": "https://p.example",
        "SIGNING_KEY": "k" * 20,
        "TOKEN_KMS_KEY_ID": "key",
        "WEEKLY_BUDGET_USD": "2.5",
        "PORT": "9",
    }
    settings = config.settings_from(given)
    for name in DEPLOY_CRITICAL - {"PUBLIC_BASE_URL"}:
        assert getattr(settings, names[name]) == given[name], name
    assert settings.require("public_base_url") == "https://p.example"
    assert settings.collector.weekly_budget_usd == 2.5 and settings.serve_port == 9


@pytest.mark.parametrize("missing", sorted(DEPLOY_CRITICAL))
def test_a_function_missing_a_setting_it_needs_does_not_start_and_says_which(aws: LocalAws, missing: str) -> None:
    services = bootstrap.from_environment(_environment(aws, missing))
    needing = [
        name
        for name in ("dispatch", "collect", "digest", "bounces", "signup")
        if _fails(lambda name=name: load_function(name).build(services), missing)
    ]
    assert needing, f"no function needs {missing}"


def _fails(build: Any, variable: str) -> bool:
    try:
        build()
    except config.ConfigurationError as exc:
        assert variable in str(exc)
        return True
    return False


def test_without_a_kms_key_the_collector_and_the_sign_up_do_not_start(aws: LocalAws) -> None:
    services = bootstrap.from_environment(_environment(aws, "TOKEN_KMS_KEY_ID"))
    for name in ("collect", "signup"):
        with pytest.raises(config.ConfigurationError, match="TOKEN_KMS_KEY_ID is not set"):
            load_function(name).build(services)
    load_function("dispatch").build(services)  # it never handles tokens


def test_the_handler_builds_its_services_on_the_first_event_and_keeps_them(
    aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Services] = []
    real = bootstrap.from_environment

    def counting(*args: Any, **kwargs: Any) -> Services:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(bootstrap, "from_environment", counting)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    module = load_function("dispatch")
    assert built == []  # importing the handler builds nothing
    real().repositories.subscribers.put_subscriber(subscriber(1), reference=MONDAY_8)
    first = module.handler(scheduled_event(MONDAY_8), LambdaContext("followthrough-dispatch"))
    again = module.handler(scheduled_event(MONDAY_8), LambdaContext("followthrough-dispatch"))
    assert (first["queued"], again["queued"]) == (1, 0) and len(built) == 1


def test_one_clock_for_every_service(aws: LocalAws) -> None:
    fixed = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    services = bootstrap.from_environment(clock=lambda: fixed)
    assert services.now() == fixed
    assert all(repository.clock() == fixed for repository in vars(services.repositories).values())
    assert services.token_keeper.now() == services.collector.now() == fixed
    assert services.digest_sender.now() == services.signup.now() == fixed
    assert services.oauth().now() == fixed.timestamp()


def test_services_build_each_service_once(aws: LocalAws) -> None:
    services = bootstrap.from_environment()
    assert services.repositories is services.repositories and services.collect is services.collect
    assert services.collect.collector.weeks is services.repositories.weeks is services.digest_sender.weeks


@pytest.mark.log_routing
def test_package_log_lines_carry_the_functions_cold_start_and_correlation_id(aws: LocalAws) -> None:
    import io
    import json

    from followthrough_devkit.lambda_runtime import invoke
    from followthrough_devkit.serve import http_event

    module = load_function("signup")
    lines = io.StringIO()
    handler = module.logger.registered_handler
    previous = handler.setStream(lines)
    try:
        event = http_event("POST", "/signup", {"content-type": "application/x-www-form-urlencoded"}, b"email=a")
        invoke("signup", event, module, bootstrap.from_environment())
    finally:
        handler.setStream(previous)
    [refused] = [line for line in map(json.loads, lines.getvalue().splitlines()) if line["message"] == "form refused"]
    assert refused["name"] == "followthrough.signup.web" and refused["service"] == "signup"
    assert refused["correlation_id"] == event["requestContext"]["requestId"]
    assert isinstance(refused["cold_start"], bool) and refused["function_name"] == "followthrough-signup"
