"""Shared pieces of the sign-up tests (no tests here): a world with the X stand-in (on the in-memory twins, or
on in-process moto for a test that asks for ``aws``), and a visitor that drives the real handler with HttpApi
events built the way ``make serve`` builds them.

Test modules import the fixtures ``world_fixture`` and ``function_fixture``; pytest knows them as
``world`` and ``function``."""

from __future__ import annotations

import email
import email.policy
import html
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.cookies import SimpleCookie
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests

from followthrough.adapters.store import Repositories
from followthrough.bootstrap import Services, from_environment
from followthrough.config import Settings
from followthrough_devkit.lambda_runtime import invoke, load_function
from followthrough_devkit.serve import http_event, http_response
from followthrough_devkit.xsim import XSim, XSimServer, generate_account
from followthrough_devkit.xsim.account import SyntheticAccount
from tests.support.aws import outbox
from tests.support.clock import MovableClock
from tests.support.twins import Twins, twin_settings

PUBLIC = "http://127.0.0.1:8000"  # never contacted: the visitor hands callback URLs to the handler itself


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    body: str
    set_cookies: list[str]

    @property
    def text(self) -> str:
        """The main content as plain text (what a person reads)."""
        main = self.body.split("<main", 1)[-1].split("</main>", 1)[0]
        return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main.split(">", 1)[-1]))).strip()

    def field(self, name: str) -> str:
        found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', self.body)
        assert found, f"no hidden field {name} on the page"
        return html.unescape(found.group(1))


@dataclass
class Visitor:
    """A browser without JavaScript: keeps cookies, sends forms, follows nothing by itself."""

    function: ModuleType
    services: Services
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        target: str,
        *,
        form: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        send_cookies: bool = True,
        source_ip: str = "127.0.0.1",
    ) -> Page:
        sent = {"host": "127.0.0.1:8000", "user-agent": "tests", **(headers or {})}
        if form is not None:
            body = urlencode(form, doseq=True).encode()  # a list value: a field sent once per value
            sent.setdefault("content-type", "application/x-www-form-urlencoded")
        if send_cookies and self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        event = http_event(method, target, sent, body or b"", source_ip=source_ip)
        return self.invoke(event)

    def invoke(self, event: dict[str, Any]) -> Page:
        status, headers, raw = http_response(invoke("signup", event, self.function, self.services))
        set_cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        for value in set_cookies:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            self.cookies.update({k: m.value for k, m in jar.items()})
        return Page(status, {k.lower(): v for k, v in headers if k.lower() != "set-cookie"}, raw.decode(), set_cookies)

    def get(self, target: str, **kwargs: Any) -> Page:
        return self.request("GET", target, **kwargs)

    def post(self, target: str, **kwargs: Any) -> Page:
        return self.request("POST", target, **kwargs)

    def form_token(self) -> str:
        return self.get("/").field("csrf_token")

    def confirm(self, url: str) -> Page:
        """Open a confirmation link (which changes nothing) and press its page's button."""
        asked = self.get(path_of(url))
        if asked.status != 200:
            return asked
        assert 'action="/confirm"' in asked.body, asked.text
        return self.post("/confirm", form={"token": asked.field("token"), "csrf_token": asked.field("csrf_token")})

    def start(self, address: str, **choices: str) -> Page:
        form = {
            "email": address,
            "consent": "yes",
            "digest_day": "1",
            "digest_hour": "8",
            "time_zone": "UTC",
            "csrf_token": self.form_token(),
            **choices,
        }
        return self.post("/signup", form=form)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class World:
    twins: Twins | None  # None: on in-process moto
    sim: XSim
    x_server: XSimServer
    function: ModuleType
    accounts: list[SyntheticAccount]
    services: Services
    clock: MovableClock

    @property
    def repositories(self) -> Repositories:
        return self.services.repositories

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def visitor(self) -> Visitor:
        return Visitor(self.function, self.services)

    def outbox(self) -> list[Any]:
        """The emails sent, oldest first (each with ``id``, ``destinations`` and ``raw_data``)."""
        return list(self.twins.mailer.sent) if self.twins else outbox()

    def table_items(self) -> list[dict[str, Any]]:
        """Every item of the table, sorted: to show that a refused request changed nothing."""
        return self.twins.table_items() if self.twins else _moto_table_items()

    def profiles(self) -> list[dict[str, Any]]:
        return [i for i in self.table_items() if i["sk"] == "PROFILE"]

    def authorize(self, location: str, account: SyntheticAccount, decision: str = "allow") -> str:
        """Pass the stand-in's authorization page; returns the callback target (path and query)."""
        assert location.startswith(self.x_server.base_url + "/i/oauth2/authorize"), location
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        # this is the browser's side: its request lines (state, challenge) are not the function's logs
        quieted = {name: logging.getLogger(name) for name in ("urllib3.connectionpool", "responses")}
        levels = {name: logger.level for name, logger in quieted.items()}
        for logger in quieted.values():
            logger.setLevel(logging.WARNING)
        try:
            page = requests.get(location, timeout=10)
            assert page.status_code == 200 and "Authorize app" in page.text
            answer = requests.post(
                f"{self.x_server.base_url}/i/oauth2/authorize",
                timeout=10,
                allow_redirects=False,
                data={**params, "user_id": account.user_id, "decision": decision},
            )
        finally:
            for name, logger in quieted.items():
                logger.setLevel(levels[name])
        assert answer.status_code == 302, answer.text
        callback = answer.headers["location"]
        assert callback.startswith(f"{PUBLIC}/oauth/callback?"), callback
        return path_of(callback)

    def sign_up(
        self, visitor: Visitor, address: str, account: SyntheticAccount, *, source_ip: str = "127.0.0.1", **choices: str
    ) -> Page:
        started = visitor.start(address, **choices)
        assert started.status == 303, started.text
        return visitor.get(self.authorize(started.headers["location"], account), source_ip=source_ip)


@cache
def _accounts() -> tuple[SyntheticAccount, ...]:
    # generated once per run: the sign-up only reads who they are
    return tuple(generate_account(31 + n, "small") for n in range(3))


@pytest.fixture(scope="module", name="function")
def function_fixture() -> ModuleType:
    return load_function("signup")


@pytest.fixture(name="world")
def world_fixture(
    request: pytest.FixtureRequest, function: ModuleType, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """The sign-up on the in-memory twins; a test that also asks for ``aws`` (its subject is AWS itself:
    KMS, the table's items, the idempotency records) gets it on in-process moto."""
    twins: Twins | None = None
    if "aws" in request.fixturenames:
        request.getfixturevalue("aws")
    else:
        twin_settings(monkeypatch)
        twins = request.getfixturevalue("twins")
    sim = XSim(realtime=True)
    accounts = list(_accounts())
    for account in accounts:
        sim.add_account(account)
    x_server = XSimServer(sim).start()
    monkeypatch.setenv("X_API_BASE_URL", x_server.base_url)
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    services = from_environment(clock=clock)
    if twins is not None:
        twins.install(services)
    sim.register_client(services.settings.x_client_id, None)
    yield World(twins, sim, x_server, function, accounts, services, clock)
    x_server.stop()


def mail_text(raw: str) -> str:
    message = email.message_from_string(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def confirm_link(raw: str) -> str:
    found = re.search(r"(https?://\S+/confirm\?token=\S+)", mail_text(raw))
    assert found, "no confirmation link in the email"
    return found.group(1)


def _moto_table_items() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: (i["pk"], i["sk"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
