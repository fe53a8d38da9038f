"""The simulation on a loopback socket.

Built on the standard library's ``ThreadingHTTPServer`` rather than a web
framework: the stand-in must serve byte-exact X shapes, cut bodies short and
stall on purpose for fault tests, and start inside a test in milliseconds with
no extra dependency. Each connection gets a thread; ``XSim`` serializes state
changes behind its lock. HTTP/1.1 keep-alive is on, so a ``requests`` session
reuses its connection as it would against X.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from followthrough_devkit.xsim.api import SimResponse, problem
from followthrough_devkit.xsim.sim import XSim

__all__ = ["XSim", "XSimServer"]

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes; without TCP_NODELAY a keep-alive client waits
    # out a delayed ACK (~40 ms) on every response
    disable_nagle_algorithm = True
    server_version = "xsim/1"
    sys_version = ""
    sim: XSim  # set on the subclass each server makes

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = self.sim.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception:
            # a bug in the stand-in must look like X having a bad moment, not like a dropped connection
            log.exception("xsim failed on %s %s", self.command, self.path.split("?", 1)[0])
            response = SimResponse(500, {"content-type": "application/json"}, json.dumps(problem(500)).encode())
        if response.delay_s:
            time.sleep(response.delay_s)
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = _answer
    do_POST = _answer
    do_DELETE = _answer  # the Activity API's subscriptions

    def log_message(self, format: str, *args: object) -> None:
        # Request lines can carry authorization codes; the stand-in logs nothing.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # the default backlog of 5 makes bursts of parallel clients wait out a SYN retry (1 s)
    request_queue_size = 128


class XSimServer:
    """Serve ``sim`` on ``host:port`` (port 0 picks a free one) from a background thread."""

    def __init__(self, sim: XSim, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> XSimServer:
        if self._server is not None:
            return self
        handler = type("XSimHandler", (_Handler,), {"sim": self.sim})
        self._server = _Server((self.host, self.port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="xsim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> XSimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
