"""A private asyncio loop for asyncio clients (nats-py, aio-pika)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class AsyncLoop:
    """An asyncio event loop on a private thread; the synchronous runner submits coroutines.

    The runner is synchronous; clients such as nats-py need a loop that keeps running
    between calls (heartbeats, reconnects, acknowledgements arriving), so it lives here.
    """

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"headwater-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (its exception is re-raised)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
        if self.loop.is_closed():
            return
        if cleanup is not None and self._thread.is_alive():
            # Closing after a failure: the first error is the one to report.
            with contextlib.suppress(Exception):
                self.run(cleanup(), timeout=10)  # type: ignore[arg-type]
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()
