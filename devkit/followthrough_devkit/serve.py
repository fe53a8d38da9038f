"""``make serve``: the sign-up API on http://127.0.0.1:8000, run the way API Gateway runs it.

A small standard-library HTTP server turns each request into an HttpApi
payload 2.0 event and calls ``functions/signup/app.handler`` in-process, then
turns the handler's result back into an HTTP response. moto's server stands
in for AWS (DynamoDB, SES) and the X stand-in, seeded with a few synthetic
accounts, for X's authorization page and token endpoint. Confirmation emails
land in moto's SES outbox, shown as text at ``/_local/outbox``.

The access log prints the method, the path and the status only: query strings
carry OAuth codes and signed tokens.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from followthrough.bootstrap import Services, from_environment
from followthrough.config import settings_from
from followthrough_devkit.aws import LocalAws, start_local_aws
from followthrough_devkit.lambda_runtime import invoke, load_function
from followthrough_devkit.xsim import XSim, XSimServer, generate_account

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; the function refuses far less
# HttpApi passes these bodies as text; every other body arrives base64-encoded (forms included)
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
OUTBOX_PATH = "/_local/outbox"  # answered by this server, never by the function
# sends this week's digest (an empty report) to a confirmed subscriber, so its settings, view-in-the-browser and
# download-my-data links can be tried: answered by this server, never by the function
DIGEST_PATH = "/_local/digest"
SEED = 21
ACCOUNTS = 3

log = logging.getLogger(__name__)


def http_event(
    method: str,
    target: str,
    headers: Mapping[str, str] | list[tuple[str, str]],
    body: bytes = b"",
    *,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HttpApi (payload format 2.0) event for one HTTP request."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        lower = name.lower()
        if lower == "cookie":  # HttpApi moves cookies out of the headers
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    parts = urlsplit(target)
    content_type = merged.get("content-type", "").lower()
    try:
        text = body.decode("utf-8")
        as_text = content_type.startswith(TEXT_TYPES) or "+json" in content_type
    except UnicodeDecodeError:
        as_text = False
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": merged.get("host", "127.0.0.1"),
            "domainPrefix": merged.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": method.upper(),
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body) and not as_text,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        query = parse_qs(parts.query, keep_blank_values=True)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if body:
        event["body"] = text if as_text else base64.b64encode(body).decode("ascii")
    return event


def http_response(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an HttpApi payload 2.0 response."""
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items() if k.lower() != "content-length"]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return int(result.get("statusCode", 200)), headers, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "followthrough-serve/1"
    sys_version = ""
    function: ModuleType
    lock: threading.Lock
    aws: LocalAws
    services: Services

    def _answer(self) -> None:
        if self.command == "GET" and urlsplit(self.path).path == OUTBOX_PATH:
            body = outbox_text(self.aws).encode()
            self._send(200, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")], body)
            return
        if self.command == "GET" and urlsplit(self.path).path == DIGEST_PATH:
            address = parse_qs(urlsplit(self.path).query).get("email", [""])[0]
            with self.lock:
                answer = send_local_digest(self.services, address)
            self._send(
                200, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")], answer.encode()
            )
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._send(413, [("Content-Type", "text/plain; charset=utf-8")], b"Request body too large\n")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = http_event(self.command, self.path, list(self.headers.items()), body, source_ip=self.client_address[0])
        # one invocation at a time, as one Lambda instance: the resolver keeps the current event in itself
        with self.lock:
            result = invoke("signup", event, self.function, self.services)
        self._send(*http_response(result))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _answer

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sys.stderr.write(f"{self.command} {urlsplit(self.path).path} {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        return  # the default line quotes the request line, query string included


def send_local_digest(services: Services, address: str) -> str:
    """This week's digest (from an empty report) to the subscriber with ``address``, through the real sender."""
    from followthrough.cursors import Spend
    from followthrough.messages import DigestRequest
    from followthrough.report import WeeklyReport
    from followthrough.subscriber import iso_week

    stored = services.repositories
    owner = stored.signups.owner("EMAIL", address) if address else None
    sub = stored.subscribers.get_subscriber(owner) if owner else None
    if sub is None or not sub.receives_digest:
        return f"No confirmed subscriber with that address. Use {DIGEST_PATH}?email=<a confirmed address>.\n"
    week = iso_week(services.now())
    stored.weeks.put_week(
        sub.subscriber_id,
        week,
        WeeklyReport(
            subscriber_id=sub.subscriber_id, username=sub.username or "", week=week, generated_at=services.now()
        ),
        Spend(),
    )
    result = services.digest_sender.send(DigestRequest(subscriber_id=sub.subscriber_id, week=week))
    return f"Digest for {week}: {result.outcome} {result.reason}. Its links are in {OUTBOX_PATH}.\n"


def outbox_text(aws: LocalAws) -> str:
    """moto's SES outbox as plain text, newest first: where ``make serve`` users find their confirmation link."""
    sent = aws.sent_emails()
    if not sent:
        return "No emails sent yet.\n"
    parts = []
    for raw in reversed(sent):
        message = email.message_from_string(raw.get("raw_data", ""), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        parts.append(f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}")
    return ("\n" + "-" * 72 + "\n").join(parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


@dataclass
class SignupServer:
    """The running local sign-up: its URL, moto, the X stand-in, and what to undo on ``stop``."""

    url: str
    aws: LocalAws
    sim: XSim
    x_server: XSimServer
    httpd: _Server
    thread: threading.Thread
    services: Services
    owns_aws: bool = True
    _saved_environ: dict[str, str | None] = field(default_factory=dict, repr=False)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self.x_server.stop()
        if self.owns_aws:
            self.aws.stop()  # and forgets moto's accounts in this process
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_server(
    port: int = 0,
    *,
    seed: int = SEED,
    accounts: int = ACCOUNTS,
    aws: LocalAws | None = None,
    environ: Mapping[str, str] | None = None,
) -> SignupServer:
    """Start moto (unless ``aws`` is given), the X stand-in and the sign-up API on 127.0.0.1:``port``
    (0 picks a free port); points this process at them until ``stop``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    owns_aws = aws is None
    aws = aws or start_local_aws()
    now = datetime.now(UTC).replace(microsecond=0)
    sim = XSim(anchor=now, realtime=True)
    for n in range(accounts):
        sim.add_account(generate_account(seed + n, "small", anchor=now))
    x_server = XSimServer(sim).start()
    httpd = _Server(("127.0.0.1", port), _Handler)
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    settings_env = {
        **aws.environ(),
        "X_API_BASE_URL": x_server.base_url,
        "PUBLIC_BASE_URL": url,
        "POWERTOOLS_METRICS_DISABLED": "true",
        **(environ or {}),
    }
    saved = {name: os.environ.get(name) for name in settings_env}
    os.environ.update(settings_env)
    services = from_environment()
    sim.register_client(services.settings.require("x_client_id"), services.settings.x_client_secret or None)
    handler = type(
        "SignupHandler",
        (_Handler,),
        {"function": load_function("signup"), "lock": threading.Lock(), "aws": aws, "services": services},
    )
    httpd.RequestHandlerClass = handler
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="serve", daemon=True)
    thread.start()
    return SignupServer(
        url=url,
        aws=aws,
        sim=sim,
        x_server=x_server,
        httpd=httpd,
        thread=thread,
        services=services,
        owns_aws=owns_aws,
        _saved_environ=saved,
    )


def main(port: int | None = None) -> int:
    port = settings_from(os.environ).serve_port if port is None else port
    print("Starting moto (local AWS) and the local X stand-in...", flush=True)
    try:
        server = start_server(port, environ={"POWERTOOLS_LOG_LEVEL": "WARNING"})
    except OSError as exc:
        print(
            f"followthrough-dev serve: error: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc})",
            file=sys.stderr,
        )
        return 2
    accounts = ", ".join(f"@{a.username}" for a in server.sim.accounts.values())
    print(f"Sign-up form: {server.url}/", flush=True)
    print(f"  OpenAPI document: {server.url}/openapi.json", flush=True)
    print(f"  X stand-in at {server.x_server.base_url} (accounts: {accounts})", flush=True)
    print(f"  emails sent (confirmation links): {server.url}{OUTBOX_PATH}", flush=True)
    print(
        f"  send a confirmed subscriber a digest (settings, view, export links): "
        f"{server.url}{DIGEST_PATH}?email=<address>",
        flush=True,
    )
    print("Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
