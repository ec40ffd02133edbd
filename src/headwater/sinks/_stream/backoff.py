"""Giving up on a broker that stays unreachable: the shared backoff (sinks/_retry), raising
SinkUnavailable once `retry.for` has passed without progress."""

from __future__ import annotations

import asyncio
import time

from headwater.errors import SinkUnavailable
from headwater.sinks._retry import Backoff, Retry
from headwater.sinks._stream.acks import Acks


class BrokerBackoff(Backoff):
    """`Backoff` whose `check()` and `delay()` raise SinkUnavailable naming the broker; each
    wait is counted in the acknowledgements' `retries` (the run report)."""

    retry: Retry

    def __init__(self, sink: str, where: str, retry: Retry, acks: Acks | None = None):
        super().__init__(retry)
        self.sink, self.where, self.acks = sink, where, acks

    def _give_up(self, exc: BaseException | str) -> SinkUnavailable:
        return SinkUnavailable(
            self.sink,
            f"{self.where} unreachable for {self.retry.for_.total_seconds():g} s, "
            f"giving up: {describe(exc)}",
        )

    def check(self, exc: BaseException | str) -> float:
        """Start the clock on the first failure; raise once it has run for `retry.for`."""
        left = self.left()
        if left <= 0:
            raise self._give_up(exc) from (exc if isinstance(exc, BaseException) else None)
        return left

    def delay(self, exc: BaseException | str) -> float:
        """The next wait; counts a retry, or raises when the broker has been gone too long."""
        wait = self.next()
        if wait is None:
            raise self._give_up(exc) from (exc if isinstance(exc, BaseException) else None)
        if self.acks is not None:
            self.acks.retries += 1
        return wait

    def wait(self, exc: BaseException | str) -> None:
        time.sleep(self.delay(exc))

    async def async_wait(self, exc: BaseException | str) -> None:
        await asyncio.sleep(self.delay(exc))


def describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
