"""NATS JetStream: acknowledged publishes on subjects built from fields (`orders.{country}`).

The sink creates the JetStream stream when missing (named by `stream`, default the sink's
name) with one subject pattern per entity (`orders.*` for `orders.{country}`), or adds
those patterns to an existing stream. Every message carries `Nats-Msg-Id` (the event id),
so within `duplicate_window` the server stores a message once however often it is sent;
other headers: event_time, schema_version, content-type, key. JetStream stamps each
message with the time the server stored it, which a publisher cannot set: `timestamp`
only takes `wall` here, the simulated event time travels in the event_time header.

Publishing is asynchronous with up to `max_in_flight` messages awaiting their
acknowledgement. A message not acknowledged within `ack_timeout` (the server restarted,
the connection dropped) is sent again with the same id; the server's de-duplication makes
that safe, and the duplicates it dropped are counted. The client reconnects by itself;
the sink gives up after `retry.for` without progress. A resent message may arrive
after later messages of the same subject (ordering holds while nothing fails).

nats-py is an asyncio client; the sink runs it on a private event loop thread, since the
runner is synchronous.

```yaml
sinks:
  bus:
    kind: nats
    url: nats://127.0.0.1:4222
    entities: [orders]
    subject: orders.{country}
    stream: ORDERS
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field

from headwater.core.units import Duration
from headwater.errors import SinkError, require
from headwater.secrets import mask_url, redact, without_credentials
from headwater.sinks._stream import (
    AsyncLoop,
    Batch,
    MessageTime,
    StreamConfig,
    StreamSink,
    describe,
    own_clock,
)
from headwater.sinks.base import SinkConfig, SinkContext

log = logging.getLogger(__name__)

# A message waiting to be (re)sent: subject, payload, headers.
Message = tuple[str, bytes, dict[str, str]]
REAP_EVERY = 500  # publishes between accounting for acknowledgements
SWEEP_EVERY = 0.25  # seconds between looks for overdue acknowledgements


class NatsConfig(StreamConfig):
    kind: Literal["nats"] = "nats"
    sets_time: ClassVar[bool] = False
    timestamp: MessageTime = own_clock("JetStream stamps a message when it stores it")
    url: str = Field("nats://localhost:4222", description="server URL(s), comma-separated")
    subject: str = Field(
        "{entity}", description="subject; a template over fields, e.g. 'orders.{country}'"
    )
    stream: str | None = Field(None, description="JetStream stream name; default: the sink's name")
    storage: Literal["file", "memory"] = Field("file", description="where the stream keeps data")
    replicas: int = Field(1, ge=1, description="replicas of a stream the sink creates")
    duplicate_window: Duration = Field(
        timedelta(minutes=2), description="how long the server remembers message ids"
    )
    max_age: Duration | None = Field(None, description="retention of a stream the sink creates")
    ack_timeout: Duration = Field(
        timedelta(seconds=5), description="send a message again when unacknowledged this long"
    )
    max_in_flight: int = Field(
        2000, ge=1, description="messages published but not yet acknowledged"
    )

    route_option: ClassVar[str] = "subject"


def _stream_name(name: str) -> str:
    """JetStream names may not hold '.', '*', '>', whitespace or path separators."""
    return "".join("_" if c in ".*>/\\ \t" else c for c in name).upper()


class NatsSink(StreamSink):
    """Publishes one JetStream message per record (nats-py, on a private asyncio loop)."""

    kind = "nats"
    Config = NatsConfig
    capabilities = replace(StreamSink.capabilities, deduplication=True)
    config: NatsConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self._loop: AsyncLoop | None = None  # set by connect(), released by disconnect()
        self.nc: Any = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def loop(self) -> AsyncLoop:
        assert self._loop is not None, "open() first"
        return self._loop

    # -- connection ------------------------------------------------------------------------

    def location(self) -> str:
        return f"NATS at {', '.join(mask_url(s.strip()) for s in self.config.url.split(','))}"

    def connect(self) -> None:
        self._nats = require("nats", "nats", f"sink '{self.name}' (kind: nats)")
        c = self.config
        self.servers, self._login = _servers(c.url)
        self.stream_name = c.stream or _stream_name(self.name)
        self._last_error: str | None = None
        # Futures of acknowledgements, in the order the messages were sent.
        self._inflight: deque[tuple[asyncio.Future[Any], Message, float]] = deque()
        self._now = 0.0  # the loop's clock, kept by _sweep (cheaper than a call per message)
        self._retry: deque[Message] = deque()
        self._failure: BaseException | str | None = None
        self._loop = AsyncLoop(self.name)
        timeout = c.connect_timeout.total_seconds()
        try:
            self.loop.run(asyncio.wait_for(self._connect(), timeout), timeout + 5)
        except (TimeoutError, OSError, self._nats.errors.Error) as exc:
            self.loop.close(self._close)
            raise self.unavailable(self._last_error or exc) from exc
        except BaseException:
            self.loop.close(self._close)
            raise

    async def _connect(self) -> None:
        c = self.config

        async def on_error(exc: Exception) -> None:
            self._last_error = describe(exc)
            log.debug("%s: %s", self.where, redact(str(exc)))

        self.nc = await self._nats.connect(
            servers=self.servers,
            name=f"headwater-{self.name}",
            connect_timeout=c.connect_timeout.total_seconds(),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=c.retry.initial.total_seconds(),
            error_cb=on_error,
            **self._login,
        )
        self.js = self.nc.jetstream(publish_async_max_pending=c.max_in_flight)
        await self._ensure_stream()
        self._now = asyncio.get_running_loop().time()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _ensure_stream(self) -> None:
        c = self.config
        errors = self._nats.js.errors
        wanted = list(dict.fromkeys(self.route.wildcard("*", e) for e in self.entities))
        try:
            info = await self.js.stream_info(self.stream_name)
        except errors.NotFoundError:
            info = None
        try:
            if info is None:
                await self.js.add_stream(
                    name=self.stream_name,
                    subjects=wanted,
                    storage=c.storage,
                    num_replicas=c.replicas,
                    duplicate_window=c.duplicate_window.total_seconds(),
                    max_age=c.max_age.total_seconds() if c.max_age else None,
                )
                return
            have = list(info.config.subjects or [])
            missing = [s for s in wanted if s not in have]
            if missing:
                await self.js.update_stream(info.config.evolve(subjects=have + missing))
        except errors.APIError as exc:
            raise SinkError(
                self.name,
                f"cannot set up JetStream stream '{self.stream_name}' with subjects "
                f"{', '.join(wanted)} on {self.where}: {exc.description or exc}",
            ) from exc

    def disconnect(self) -> None:
        if self._loop is not None:
            self._loop.close(self._close)

    async def _close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 5)

    # -- sending ---------------------------------------------------------------------------

    def send(self, batch: Batch) -> None:
        self.loop.run(self._publish_batch(self._messages(batch)))

    def _messages(self, batch: Batch) -> list[Message]:
        routes = batch.route_list()
        ids = batch.event_ids
        if not self.config.headers:
            return [
                (s, v, {"Nats-Msg-Id": i})
                for s, v, i in zip(routes, batch.values, ids, strict=True)
            ]
        ct, keys, times, ingest = (
            batch.content_type,
            batch.keys,
            batch.event_times,
            batch.ingest_times,
        )
        return [
            (routes[n], batch.values[n], {"Nats-Msg-Id": ids[n], "event_time": times[n],
             "schema_version": batch.schema_version, "content-type": ct,
             "key": (keys[n] or b"").decode(), **({"ingest_time": ingest[n]} if ingest else {})})
            for n in range(len(batch))
        ]  # fmt: skip

    async def _publish_batch(self, messages: list[Message]) -> None:
        publish = self.js.publish_async
        inflight = self._inflight
        errors = (self._nats.errors.Error, OSError)
        for n, message in enumerate(messages, 1):
            if self._retry:
                await self._resend_failed()
            try:
                future = await publish(message[0], message[1], headers=message[2])
            except errors:
                await self._publish(message)
            else:
                inflight.append((future, message, self._now))
            if not n % REAP_EVERY:
                self._reap()
        self._reap()
        self._raise_failure()

    async def _publish(self, message: Message) -> None:
        """Publish, waiting out a disconnect (a full reconnect buffer, a closed client)."""
        while True:
            try:
                future = await self.js.publish_async(message[0], message[1], headers=message[2])
            except (self._nats.errors.Error, OSError) as exc:
                await self.backoff.async_wait(exc)
                continue
            self._inflight.append((future, message, self._now))
            return

    def _reap(self) -> None:
        """Account for the acknowledgements that arrived, oldest first (they come in order)."""
        inflight, acks = self._inflight, self.acks
        progressed = False
        while inflight and inflight[0][0].done():
            future, message, _ = inflight.popleft()
            if future.cancelled():  # not acknowledged in time (see _sweep)
                self._retry.append(message)
                continue
            exc = future.exception()
            if exc is not None:
                if isinstance(exc, self._nats.js.errors.BadRequestError):
                    self._failure = exc  # the message itself was refused: no use sending again
                else:  # no responders while JetStream restarts, a server error: send again
                    self._last_error = describe(exc)
                    self._retry.append(message)
                continue
            progressed = True
            reply = future.result()
            if reply.duplicate:
                acks.duplicates += 1
            acks.ack(message[0], message[2]["Nats-Msg-Id"], reply.seq)
        if progressed:
            self.backoff.reset()

    async def _sweep(self) -> None:
        """Keeps the clock; gives up on acknowledgements older than ack_timeout (sent again)."""
        timeout = self.config.ack_timeout.total_seconds()
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            self._now = now = loop.time()
            self._reap()
            for future, _, sent in self._inflight:
                if now - sent <= timeout:
                    break  # the rest were sent later
                future.cancel()

    async def _resend_failed(self) -> None:
        if not self._retry:
            return
        await self.backoff.async_wait(self._last_error or "messages not acknowledged")
        while self._retry:
            message = self._retry.popleft()
            self.acks.resent += 1
            await self._publish(message)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise SinkError(self.name, f"{self.where} refused a message: {describe(self._failure)}")

    def drain(self) -> None:
        self.loop.run(self._drain())

    async def _drain(self) -> None:
        self.backoff.reset()
        last = self.acks.acknowledged
        while self._inflight or self._retry:
            self._raise_failure()
            await self._resend_failed()
            await asyncio.sleep(0.01)
            self._reap()
            if self.acks.acknowledged != last:
                last = self.acks.acknowledged
                self.backoff.reset()
            else:
                self.backoff.check(self._last_error or "waiting for acknowledgements")
        self._raise_failure()


def _servers(url: str) -> tuple[list[str], dict[str, str]]:
    """The server URLs without credentials, and the credentials as connect() options,
    decoded: nats-py would send a percent-encoded password (`${VAR}` in a URL) as it is."""
    servers, login = [], {}
    for server in (s.strip() for s in url.split(",")):
        if not server:
            continue
        parts = urlsplit(server)
        if parts.username is not None:
            user = unquote(parts.username)
            if parts.password is None:
                login = {"token": user}
            else:
                login = {"user": user, "password": unquote(parts.password)}
            server = without_credentials(server)
        servers.append(server)
    return servers, login
