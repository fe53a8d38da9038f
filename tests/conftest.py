"""Shared fixtures: the in-memory twins for unit tests, in-process moto for the unit tests whose subject is AWS
itself (they ask for ``aws``), the real moto server for integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from followthrough.bootstrap import Services, from_environment
from followthrough_devkit.aws import LocalAws, create_resources
from tests.support.aws import CallRecorder
from tests.support.clock import MovableClock
from tests.support.twins import Twins, make_twins, twin_settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the tests in reverse order (with -p no:randomly): shows what depends on the order",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse"):
        items.reverse()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """In-process moto with the project's table, queues and SES identity; settings point at them."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        local = create_resources(LocalAws(endpoint_url=""))
        for name, value in local.environ().items():
            monkeypatch.setenv(name, value)
        yield local


@pytest.fixture(scope="session", autouse=True)
def aws_models_parsed_once() -> Iterator[None]:
    """botocore parses a service's model files once per session and shares them among that session's clients;
    moto's mock gives every test a new default session (and the cold starts the tests play build new ones), so
    each parsed them again: over a third of the AWS tests' time. The parsed files are shared by the whole
    process instead, as one session shares them."""
    from botocore.loaders import JSONFileLoader

    parsed: dict[str, Any] = {}
    original = JSONFileLoader.load_file

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = original(self, file_path)
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JSONFileLoader, "load_file", load_file)
        yield


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def twins(clock: MovableClock) -> Twins:
    return make_twins(clock)


@pytest.fixture
def services(request: pytest.FixtureRequest, clock: MovableClock, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The services the handlers get, on ``clock``: on the in-memory ``twins``, or, for a test that asks for
    ``aws`` (SQS, DynamoDB's calls, idempotency or IAM are its subject), built from the environment ``aws`` set."""
    if "aws" in request.fixturenames:
        request.getfixturevalue("aws")
        return from_environment(clock=clock)
    twin_settings(monkeypatch)
    twins: Twins = request.getfixturevalue("twins")
    return twins.install(from_environment(clock=clock))


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallRecorder]:
    """Every boto3 client created while the fixture is active reports its calls."""
    import boto3.session

    recorder = CallRecorder()
    original = boto3.session.Session.client

    def client(self: boto3.session.Session, *args: object, **kwargs: object) -> object:
        made = original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.meta.events.register("before-call.*.*", recorder)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    yield recorder


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian chromium through Playwright (never a downloaded browser).

    Missing chromium skips locally; with CI=true it fails the run instead.
    """
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{chromium} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{chromium} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(autouse=True)
def package_logs_reach_caplog(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The package's log lines stay with the root logger pytest captures, and no test's handler build leaves
    them routed elsewhere for the next test. In Lambda ``bootstrap.log_through`` hands them to the function's
    Powertools logger; the tests marked ``log_routing`` check exactly that."""
    import logging

    from aws_lambda_powertools.logging import utils

    if request.node.get_closest_marker("log_routing") is None:
        monkeypatch.setattr(utils, "copy_config_to_registered_loggers", lambda **_: None)
    yield
    for name in [n for n in logging.root.manager.loggerDict if n == "followthrough" or n.startswith("followthrough.")]:
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
