"""The observe server: `/metrics` (Prometheus text), and with the live view `/` (one static
page, no external assets) and `/api/state` (the JSON it polls). Every server headwater runs
authenticates and limits: each request needs the run's token (`Authorization: Bearer` or
`?token=`; 401 otherwise) and each client address gets a token bucket (429 with Retry-After).
Bound to 127.0.0.1 unless asked otherwise. The snapshot shown is already redacted
(headwater.secrets), and sink detail that may quote a URL is never part of it.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from headwater.observe.metrics import Exposition
from headwater.observe.probe import RunProbe
from headwater.secrets import redact_data, remember
from headwater.serve.errors import ServeError

TOKEN_ENV = "HEADWATER_OBSERVE_TOKEN"


class Bucket:
    """Per client: `burst` requests at once, refilled at `rate` per second (wall clock)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.level: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when admitted, else the seconds to wait."""
        with self._lock:
            now = self.clock()
            tokens, then = self.level.get(client, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self.level[client] = (tokens, now)
                return (1 - tokens) / self.rate
            self.level[client] = (tokens - 1, now)
            return 0.0


class ObserveServer:
    """Serves a probe on a background thread; `port` is known once constructed (0: free)."""

    def __init__(
        self,
        probe: RunProbe,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ui: bool = False,
        token: str | None = None,
        rate: float = 20.0,
        burst: int = 40,
    ):
        self.probe = probe
        self.ui = ui
        self.exposition = Exposition(probe)
        self.token = token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        remember(self.token)  # never in a message or report
        self.bucket = Bucket(rate, burst)
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise ServeError(f"metrics: cannot listen on {host}:{port}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="headwater-observe", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ObserveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ObserveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorized(self, header: str | None, query: dict[str, list[str]]) -> bool:
        given = ""
        if header and header.lower().startswith("bearer "):
            given = header[7:].strip()
        elif query.get("token"):
            given = query["token"][0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def state(self) -> bytes:
        return json.dumps(redact_data(self.probe.snapshot()), default=str).encode()


def _page() -> bytes:
    return files("headwater.observe").joinpath("page.html").read_bytes()


def _handler(server: ObserveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            wait = server.bucket.take(self.client_address[0])
            if wait:
                retry = {"Retry-After": str(max(1, math.ceil(wait)))}
                return self._send(429, b"too many requests\n", "text/plain", retry)
            if not server.authorized(self.headers.get("Authorization"), parse_qs(parts.query)):
                challenge = {"WWW-Authenticate": 'Bearer realm="headwater"'}
                return self._send(401, b"a token is required\n", "text/plain", challenge)
            if parts.path == "/metrics":
                body, kind = server.exposition.render()
                return self._send(200, body, kind)
            if server.ui and parts.path == "/":
                return self._send(200, _page(), "text/html; charset=utf-8")
            if server.ui and parts.path == "/api/state":
                return self._send(200, server.state(), "application/json")
            return self._send(404, b"not found\n", "text/plain")

        def _send(
            self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")  # the page's URL has the token
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a request line may carry the token."""

    return Handler
