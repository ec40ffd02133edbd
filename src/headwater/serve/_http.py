"""Run an ASGI app with uvicorn on a background thread, bound before it starts (port 0 works)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from headwater.serve.errors import ServeError


class ThreadedServer:
    """uvicorn in a daemon thread; `port` is known once constructed, `stop()` waits for it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, what: str = "server"):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted ones inherit it
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise ServeError(f"{what}: cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            proxy_headers=False,  # the client's address is its peer's (a rate limit's key)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"headwater-{what}", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.sock.close()
