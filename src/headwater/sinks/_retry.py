"""Retrying what is unreachable: one `retry:` vocabulary and one backoff for every sink.

Every sink that talks to a server (brokers, databases, the webhook) and the database captures
take the same options; only their defaults differ:

    retry:
      for: 2m          give up (fail the run) after this long without success
      initial: 100ms   the first wait between tries; each wait doubles…
      max: 5s          …up to this
      attempts: 8      (webhook) tries per request, the first included

The old spellings (`timeout`/`backoff`/`max_backoff`, `reconnect_for`) are refused with a
message naming the new key (README: Renamed keys).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator

from headwater.core.spec import Spec
from headwater.core.units import Duration


def renamed(data: Any, names: dict[str, str]) -> Any:
    """Refuse the old spelling of a renamed key, naming the new one (a before-validator)."""
    if isinstance(data, dict):
        for old, new in names.items():
            if old in data:
                raise ValueError(f"'{old}' was renamed: use {new}")
    return data


class Waits(Spec):
    """The waits between tries (what every `retry:` has)."""

    initial: Duration = Field(timedelta(milliseconds=100), description="first wait between tries")
    max: Duration = Field(timedelta(seconds=5), description="longest wait between tries")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return renamed(
            data,
            {"timeout": "retry.for", "backoff": "retry.initial", "max_backoff": "retry.max"},
        )


class Retry(Waits):
    """How long to keep trying a server that is unreachable (the message brokers' defaults)."""

    for_: Duration = Field(
        timedelta(minutes=2),
        alias="for",
        description="give up (fail the run) after this long without success",
    )


class SqlRetry(Retry):
    """Reconnecting to a database that went away (the SQL sinks and their captures)."""

    for_: Duration = Field(
        timedelta(seconds=60),
        alias="for",
        description="how long to keep reconnecting when the server is gone",
    )
    initial: Duration = Field(timedelta(milliseconds=50), description="first wait between tries")
    max: Duration = Field(timedelta(seconds=2), description="longest wait between tries")


class RequestRetry(Waits):
    """Retrying one request (the webhook): a number of tries, and no deadline unless `for`."""

    attempts: int = Field(8, ge=1, description="tries per request, the first included")
    for_: Duration | None = Field(
        None, alias="for", description="give up on a request after this long (default: no limit)"
    )
    initial: Duration = Field(timedelta(milliseconds=200), description="first wait between tries")
    max: Duration = Field(timedelta(seconds=10), description="longest wait between tries")


class Backoff:
    """Waits `initial`, doubling up to `max`, until `for` has passed since the first failure
    (or `attempts` tries were made). With `jitter` (a seeded draw in [0, 1), so a run's
    waits repeat) each wait is drawn from between half of it and all of it. `retries` counts
    every wait given, for the run report."""

    def __init__(self, retry: Retry | RequestRetry, jitter: Callable[[], float] | None = None):
        self.retry = retry
        self.jitter = jitter
        self.attempts = retry.attempts if isinstance(retry, RequestRetry) else None
        self.retries = 0
        self.reset()

    def reset(self) -> None:
        """Success: the next failure starts a new deadline and the waits start over."""
        self._deadline: float | None = None
        self._next = min(self.retry.initial, self.retry.max).total_seconds()
        self._tries = 1

    def left(self) -> float:
        """Seconds until giving up (the clock starts at the first failure); ≤ 0: time is up."""
        now = time.monotonic()
        if self.retry.for_ is None:
            return float("inf")
        if self._deadline is None:
            self._deadline = now + self.retry.for_.total_seconds()
        return self._deadline - now

    def next(self) -> float | None:
        """The wait before the next try (counted as a retry); None: give up."""
        left = self.left()
        if left <= 0 or (self.attempts is not None and self._tries >= self.attempts):
            return None
        self._tries += 1
        self.retries += 1
        wait = self._next
        if self.jitter is not None:
            wait *= 0.5 + 0.5 * self.jitter()
        self._next = min(self._next * 2, self.retry.max.total_seconds())
        return min(wait, left)

    def sleep(self) -> bool:
        """Sleep before the next try; False once it is time to give up."""
        wait = self.next()
        if wait is None:
            return False
        time.sleep(wait)
        return True
