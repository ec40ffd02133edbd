"""RabbitMQ: persistent messages through an exchange, with publisher confirms in batches.

The sink declares a durable exchange (`exchange_type`: direct, topic or fanout) and sends
each record with a routing key built from fields (`orders.{country}`). With `queue`, it
also declares that durable queue and binds it: to every routing key pattern of a topic
exchange (`orders.*`), to each routing key as it first appears on a direct exchange, or
to the fanout exchange; messages no queue is bound for are dropped by RabbitMQ, as in any
real setup. A queue is a message queue: a consumed and acknowledged message is gone.

Messages are persistent (delivery mode 2) with `message_id` = the event id, the content
type, and headers event_time, schema_version and key. The AMQP `timestamp` property
(whole seconds) is the event time, or with `timestamp: ingestion | wall` when the source
delivered it (simulated) or when the sink sent it (the machine's clock). Confirms are asynchronous: up to
`max_in_flight` messages await their confirm, which RabbitMQ sends in batches (`multiple`).
When the connection drops, the sink reconnects with backoff and sends every unconfirmed
message again; RabbitMQ cannot de-duplicate, so those are counted as `resent` (possible
duplicates; consumers de-duplicate by message_id).

pika is used in its asyncio flavour on a private event loop thread.

```yaml
sinks:
  orders_mq:
    kind: rabbitmq
    url: amqp://guest:guest@127.0.0.1:5672/%2F
    entities: [orders]
    exchange: shop
    exchange_type: topic
    routing_key: orders.{country}
    queue: orders
```
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from headwater.errors import SinkError, require
from headwater.secrets import mask_url
from headwater.sinks._stream import (
    AsyncLoop,
    Batch,
    StreamConfig,
    StreamSink,
    describe,
)
from headwater.sinks.base import SinkConfig, SinkContext

# A message: routing key, body, properties.
Message = tuple[str, bytes, Any]
YIELD_EVERY = 500  # publishes between letting the loop read confirms


class RabbitMQConfig(StreamConfig):
    kind: Literal["rabbitmq"] = "rabbitmq"
    url: str = Field("amqp://guest:guest@localhost:5672/%2F", description="amqp:// or amqps:// URL")
    exchange: str = Field(
        "headwater", description="exchange to publish to; '' is the default exchange"
    )
    exchange_type: Literal["direct", "topic", "fanout"] = "topic"
    routing_key: str = Field(
        "{entity}", description="routing key; a template over fields, e.g. 'orders.{country}'"
    )
    queue: str | None = Field(None, description="a durable queue to declare and bind")
    persistent: bool = Field(True, description="delivery mode 2: messages survive a restart")
    max_in_flight: int = Field(5000, ge=1, description="messages published but not yet confirmed")

    route_option: ClassVar[str] = "routing_key"

    @model_validator(mode="after")
    def _default_exchange(self) -> RabbitMQConfig:
        if self.exchange == "" and self.queue is not None:
            raise ValueError(
                "the default exchange ('') routes by queue name: set routing_key to the queue "
                "and leave queue out, or name an exchange"
            )
        return self


class _Closed(Exception):
    """The connection or channel closed under us."""


class RabbitMQSink(StreamSink):
    """Publishes one persistent message per record with pika (asyncio), confirms in batches."""

    kind = "rabbitmq"
    Config = RabbitMQConfig
    config: RabbitMQConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self._loop: AsyncLoop | None = None  # set by connect(), released by disconnect()
        self.conn: Any = None
        self._waiting: list[asyncio.Future[Any]] = []  # what a lost connection fails
        self._progress: asyncio.Event | None = None  # made on the loop, when first waited for

    @property
    def loop(self) -> AsyncLoop:
        assert self._loop is not None, "open() first"
        return self._loop

    # -- connection ------------------------------------------------------------------------

    def location(self) -> str:
        return f"RabbitMQ at {mask_url(self.config.url)}"

    def connect(self) -> None:
        self._pika = require("pika", "rabbitmq", f"sink '{self.name}' (kind: rabbitmq)")
        require("pika.adapters.asyncio_connection", "rabbitmq", f"sink '{self.name}'")
        c = self.config
        try:
            self.params = self._pika.URLParameters(c.url)
        except Exception as exc:
            raise SinkError(
                self.name,
                f"invalid url {mask_url(c.url)}: {exc}",  # SinkError redacts
            ) from exc
        timeout = c.connect_timeout.total_seconds()
        self.params.socket_timeout = timeout
        self.params.connection_attempts = 1
        self.params.blocked_connection_timeout = c.retry.for_.total_seconds()
        self.conn = None
        self.channel: Any = None
        self._connected = False
        self._closing = False
        self._last_error: str | None = None
        self._unconfirmed: OrderedDict[int, Message] = OrderedDict()
        self._retry: deque[Message] = deque()
        self._bound: set[str] = set()
        self._loop = AsyncLoop(self.name)
        try:
            self.loop.run(asyncio.wait_for(self._open(), timeout + 5))
        except SinkError:
            self.loop.close(self._close)
            raise
        except Exception as exc:
            self.loop.close(self._close)
            raise self.unavailable(self._last_error or exc) from exc

    async def _open(self) -> None:
        from pika.adapters.asyncio_connection import AsyncioConnection

        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()

        def on_open(conn: Any) -> None:
            if not opened.done():
                opened.set_result(conn)

        def on_open_error(conn: Any, exc: Any) -> None:
            if not opened.done():
                opened.set_exception(exc if isinstance(exc, BaseException) else _Closed(str(exc)))

        self.conn = AsyncioConnection(
            self.params, on_open, on_open_error, self._on_connection_closed, custom_ioloop=loop
        )
        await opened
        channel_opened: asyncio.Future[Any] = loop.create_future()
        self._waiting = [opened, channel_opened]
        self.conn.channel(on_open_callback=channel_opened.set_result)
        self.channel = await channel_opened
        self.channel.add_on_close_callback(self._on_channel_closed)
        await self._rpc(lambda cb: self.channel.confirm_delivery(self._on_confirm, callback=cb))
        self._next_tag = 1
        c = self.config
        if c.exchange:
            await self._rpc(
                lambda cb: self.channel.exchange_declare(
                    c.exchange, c.exchange_type, durable=True, callback=cb
                ),
                f"declare exchange '{c.exchange}' ({c.exchange_type})",
            )
        if c.queue:
            await self._rpc(
                lambda cb: self.channel.queue_declare(c.queue, durable=True, callback=cb),
                f"declare queue '{c.queue}'",
            )
            self._bound = set()
            if c.exchange_type == "fanout":
                await self._bind("")
            elif c.exchange_type == "topic":
                for e in self.entities:
                    await self._bind(self.route.wildcard("*", e))
            elif self.route.constant:
                for e in self.entities:
                    await self._bind(self.route.wildcard("", e))
        self._connected = True

    async def _rpc(self, call: Any, what: str = "") -> Any:
        """Run a pika call taking a completion callback; fail if the channel closes instead."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting = [done]
        call(lambda frame: _resolve(done, frame))
        try:
            return await done
        except _Closed as exc:
            if what:
                raise SinkError(self.name, f"cannot {what} on {self.where}: {exc}") from None
            raise

    async def _bind(self, key: str) -> None:
        c = self.config
        if key in self._bound:
            return
        await self._rpc(
            lambda cb: self.channel.queue_bind(c.queue, c.exchange, routing_key=key, callback=cb),
            f"bind queue '{c.queue}' to '{c.exchange}' with '{key}'",
        )
        self._bound.add(key)

    def _lost(self, reason: Any) -> None:
        self._connected = False
        self._last_error = str(reason)
        for future in self._waiting:
            if not future.done():
                future.set_exception(_Closed(str(reason)))
        # Unconfirmed messages go again, first, in their order.
        if self._unconfirmed:
            self.acks.resent += len(self._unconfirmed)
            self._retry.extendleft(reversed(self._unconfirmed.values()))
            self._unconfirmed.clear()
        self._progress_event().set()

    def _on_connection_closed(self, conn: Any, reason: Any) -> None:
        if not self._closing:
            self._lost(reason)

    def _on_channel_closed(self, channel: Any, reason: Any) -> None:
        if self._closing:
            return
        self._lost(reason)
        if self.conn is not None and self.conn.is_open:
            self.conn.close()

    def _progress_event(self) -> asyncio.Event:
        event = self._progress
        if event is None:
            event = self._progress = asyncio.Event()
        return event

    async def _reconnect(self) -> None:
        while not self._connected:
            await self.backoff.async_wait(self._last_error or "connection closed")
            with contextlib.suppress(Exception):
                if self.conn is not None and not self.conn.is_closed:
                    self.conn.close()
            try:
                await asyncio.wait_for(self._open(), self.config.connect_timeout.total_seconds())
            except SinkError:
                raise
            except Exception as exc:
                self._last_error = describe(exc)

    def disconnect(self) -> None:
        if self._loop is not None:
            self._loop.close(self._close)

    async def _close(self) -> None:
        self._closing = True
        conn = self.conn
        if conn is not None and not (conn.is_closed or conn.is_closing):
            closed = asyncio.get_running_loop().create_future()
            conn.add_on_close_callback(lambda *_: _resolve(closed, None))
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closed, 5)

    # -- sending ---------------------------------------------------------------------------

    def send(self, batch: Batch) -> None:
        self.loop.run(self._publish_batch(self._messages(batch)))

    def _messages(self, batch: Batch) -> list[Message]:
        props = self._pika.BasicProperties
        mode = 2 if self.config.persistent else 1
        ct = batch.content_type
        routes = batch.route_list()
        ids, keys = batch.event_ids, batch.keys
        stamps = _seconds(batch)
        if not self.config.headers:
            return [
                (routes[i], batch.values[i], props(
                    delivery_mode=mode, message_id=ids[i], timestamp=stamps[i]))
                for i in range(len(batch))
            ]  # fmt: skip
        times, ingest = batch.event_times, batch.ingest_times
        return [
            (routes[i], batch.values[i], props(
                content_type=ct, delivery_mode=mode, message_id=ids[i], timestamp=stamps[i],
                headers={"event_time": times[i], "schema_version": batch.schema_version,
                         "key": (keys[i] or b"").decode(),
                         **({"ingest_time": ingest[i]} if ingest else {})}))
            for i in range(len(batch))
        ]  # fmt: skip

    async def _publish_batch(self, messages: list[Message]) -> None:
        c = self.config
        dynamic = c.queue is not None and c.exchange_type == "direct" and not self.route.constant
        limit = c.max_in_flight
        pending = deque(messages)
        sent = 0
        while pending or self._retry:
            if not self._connected:
                await self._reconnect()
            if len(self._unconfirmed) >= limit:
                await self._wait_for_confirms(limit - 1)
                continue
            queue = self._retry if self._retry else pending
            message = queue[0]
            try:
                if dynamic and message[0] not in self._bound:
                    await self._bind(message[0])
                self.channel.basic_publish(c.exchange, message[0], message[1], message[2])
            except (_Closed, self._pika.exceptions.AMQPError) as exc:
                self._lost(exc)
                continue
            queue.popleft()
            self._unconfirmed[self._next_tag] = message
            self._next_tag += 1
            sent += 1
            if sent % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # read the confirms that arrived meanwhile

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = method.delivery_tag
        if method.multiple:
            done = []
            while self._unconfirmed:
                first = next(iter(self._unconfirmed))
                if first > tag:
                    break
                done.append(self._unconfirmed.popitem(last=False)[1])
        else:
            one = self._unconfirmed.pop(tag, None)
            done = [one] if one is not None else []
        if isinstance(method, self._pika.spec.Basic.Nack):
            self.acks.resent += len(done)
            self._retry.extend(done)
        else:
            self.backoff.reset()
            for message in done:
                self.acks.ack(message[0], message[2].message_id)
        self._progress_event().set()

    async def _wait_for_confirms(self, most: int) -> None:
        """Wait until at most `most` messages are unconfirmed (or the connection is lost)."""
        event = self._progress_event()
        while self._connected and len(self._unconfirmed) > most:
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), 1.0)
            except TimeoutError:
                self.backoff.check(self._last_error or "waiting for publisher confirms")

    def drain(self) -> None:
        self.loop.run(self._drain())

    async def _drain(self) -> None:
        while self._unconfirmed or self._retry or not self._connected:
            if self._retry or not self._connected:
                await self._publish_batch([])
            await self._wait_for_confirms(0)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _seconds(batch: Batch) -> list[int]:
    """Per message the AMQP timestamp (whole seconds): the batch's, or now for wall time."""
    millis = batch.column("timestamps")
    if millis is None:
        return [int(time.time())] * len(batch)
    return np.floor_divide(millis.to_numpy(), 1000).tolist()  # type: ignore[union-attr]
