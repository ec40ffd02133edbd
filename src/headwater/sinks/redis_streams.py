"""Redis Streams: one XADD per record, pipelined, into a stream per entity (or per field).

Each entry holds `key` and `value` (the encoded record) and, with headers on, `event_id`,
`event_time`, `schema_version` and `content-type`; Redis assigns the entry id. An id's
first part is milliseconds and could carry the event time (`XADD key <ms>-*`), but ids must
grow within a stream while simulated time goes back (late events, a run into a stream an
earlier run filled); so ids are Redis's clock, `timestamp` only takes `wall`, and the event
time is the `event_time` field. `maxlen`
trims each stream as it grows (`approximate: true` is Redis's cheap `MAXLEN ~`). Consumer
groups named in `groups` are created on every stream (reading from its start), so a
consumer can `XREADGROUP` and `XACK` right away.

Up to `max_in_flight` commands go in one pipeline round trip. When the connection drops,
the sink backs off and reconnects, then reads the stream's tail to find which entries of
the failed pipeline Redis already stored (by `event_id`) and sends only the rest: no
duplicates even across a restart. The sink keeps the last entry id Redis confirmed per
stream; after a reconnect and at the end of the run it reads each stream's tail, and a
stream that ends before that id (a restart lost entries Redis had acknowledged: no
persistence, or snapshots and `appendfsync everysec` behind the kill) fails the run.

```yaml
sinks:
  events:
    kind: redis_streams
    url: redis://127.0.0.1:6379/0
    entities: [orders]
    stream: shop:{entity}
    maxlen: 100000
    groups: [loader]
```
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from headwater.errors import SinkError, require
from headwater.secrets import mask_url
from headwater.sinks._stream import (
    Batch,
    MessageTime,
    StreamConfig,
    StreamSink,
    describe,
    own_clock,
)
from headwater.sinks.base import SinkConfig, SinkContext


class RedisStreamsConfig(StreamConfig):
    kind: Literal["redis_streams"] = "redis_streams"
    sets_time: ClassVar[bool] = False
    timestamp: MessageTime = own_clock("Redis assigns entry ids from its clock")
    url: str = Field("redis://localhost:6379/0", description="redis:// or rediss:// URL")
    stream: str = Field(
        "{entity}", description="stream key; a template over fields, e.g. 'readings:{site}'"
    )
    maxlen: int | None = Field(None, ge=1, description="trim each stream to about this length")
    approximate: bool = Field(True, description="MAXLEN ~ (cheap, approximate) or exact")
    groups: list[str] = Field([], description="consumer groups to create on each stream")
    max_in_flight: int = Field(1000, ge=1, description="XADD commands per pipeline round trip")

    route_option: ClassVar[str] = "stream"


class RedisStreamsSink(StreamSink):
    """Appends one stream entry per record with redis-py pipelines."""

    kind = "redis_streams"
    Config = RedisStreamsConfig
    config: RedisStreamsConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.client: Any = None  # set by connect(), released by disconnect()

    def location(self) -> str:
        return f"Redis at {mask_url(self.config.url)}"

    def connect(self) -> None:
        redis = require("redis", "redis", f"sink '{self.name}' (kind: redis_streams)")
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        c = self.config
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._redis = redis
        timeout = c.connect_timeout.total_seconds()
        try:
            # Retries are ours: redis-py's own would resend a whole pipeline after a
            # failure and duplicate the entries Redis had already stored.
            self.client = redis.Redis.from_url(
                c.url,
                socket_connect_timeout=timeout,
                socket_timeout=max(timeout, 30.0),
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        except ValueError as exc:
            raise SinkError(
                self.name,
                f"invalid url {mask_url(c.url)}: {exc}",  # SinkError redacts
            ) from exc
        try:
            self.client.ping()
        except self._errors as exc:
            raise self.unavailable(exc) from exc
        self._trim: tuple[Any, ...] = ()
        if c.maxlen is not None:
            self._trim = ("MAXLEN", "~" if c.approximate else "=", c.maxlen)
        self._streams: set[str] = set()
        self._last: dict[str, bytes] = {}  # per stream, the last entry id Redis confirmed

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.close()

    def _create_groups(self, streams: list[str]) -> None:
        for stream in streams:
            if stream in self._streams:
                continue
            for group in self.config.groups:
                try:
                    self.client.xgroup_create(stream, group, id="0", mkstream=True)
                except self._redis.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise SinkError(
                            self.name, f"cannot create group '{group}' on '{stream}': {exc}"
                        ) from exc
            self._streams.add(stream)

    def send(self, batch: Batch) -> None:
        routes = batch.route_list()
        size = self.config.max_in_flight
        for start in range(0, len(batch), size):
            self._send_chunk(batch, routes, start, min(start + size, len(batch)))

    def _queue(self, pipe: Any, batch: Batch, routes: list[str], start: int, stop: int) -> None:
        """XADD commands for messages [start, stop) into the pipeline."""
        add = pipe.execute_command
        before = (*self._trim, "*")  # MAXLEN ~ n, then the id Redis assigns
        v, k = batch.values, batch.keys
        if not self.config.headers:
            for i in range(start, stop):
                add("XADD", routes[i], *before, "key", k[i] or b"", "value", v[i])
            return
        meta = ("schema_version", batch.schema_version, "content-type", batch.content_type)
        ids, times, ingest = batch.event_ids, batch.event_times, batch.ingest_times
        for i in range(start, stop):
            late = ("ingest_time", ingest[i]) if ingest else ()
            add("XADD", routes[i], *before, "key", k[i] or b"", "value", v[i],
                "event_id", ids[i], "event_time", times[i], *meta, *late)  # fmt: skip

    def _send_chunk(self, batch: Batch, routes: list[str], start: int, stop: int) -> None:
        self.backoff.reset()
        failed = False
        while start < stop:
            try:
                if failed:
                    self._check_kept()
                    start = self._skip_stored(batch, routes, start, stop)
                    failed = False
                    if start == stop:
                        break
                self._create_groups(list(dict.fromkeys(routes[start:stop])))
                pipe = self.client.pipeline(transaction=False)
                self._queue(pipe, batch, routes, start, stop)
                ids = pipe.execute()
            except self._errors as exc:
                self.backoff.wait(exc)
                self._streams.clear()  # a restarted server may have lost its groups
                failed = True
                continue
            except self._redis.ResponseError as exc:
                raise SinkError(self.name, f"{self.where} refused XADD: {describe(exc)}") from exc
            self.acks.ack_batch(routes[start:stop], batch.event_ids[start:stop])
            self._last.update(zip(routes[start:stop], ids, strict=True))  # ids grow per stream
            return

    def _skip_stored(self, batch: Batch, routes: list[str], start: int, stop: int) -> int:
        """After a failed pipeline: the first message Redis did not store (found by event_id).

        A pipeline is applied in order, so what was stored is a prefix of it. Without headers
        there is no event_id to look for: everything is sent again and counted as resent.
        """
        if not self.config.headers:
            self.acks.resent += stop - start
            return start
        stored: dict[bytes, bytes] = {}  # event_id -> entry id
        for stream in dict.fromkeys(routes[start:stop]):
            for entry, fields in self.client.xrevrange(stream, count=stop - start):
                stored[fields.get(b"event_id", b"")] = entry
        first = start
        while first < stop and batch.event_ids[first].encode() in stored:
            first += 1
        if first > start:
            self.acks.ack_batch(routes[start:first], batch.event_ids[start:first])
            ids = [stored[batch.event_ids[i].encode()] for i in range(start, first)]
            self._last.update(zip(routes[start:first], ids, strict=True))
        return first

    def _check_kept(self) -> None:
        """Every stream still ends at or after the last entry Redis confirmed on it."""
        pipe = self.client.pipeline(transaction=False)
        streams = list(self._last)
        for stream in streams:
            pipe.xrevrange(stream, count=1)
        lost = [
            (stream, tail[0] if tail else None)
            for stream, tail in zip(streams, pipe.execute(), strict=True)
            if tail == [] or _entry(tail[0][0]) < _entry(self._last[stream])
        ]
        for stream, end in lost:
            self._lose(stream, end)
        if lost:
            shown = ", ".join(
                f"'{s}' ends at {end[0].decode() if end else 'nothing'} "
                f"instead of {self._last[s].decode()}"
                for s, end in lost[:5]
            )
            more = f" and {len(lost) - 5} more" if len(lost) > 5 else ""
            raise SinkError(
                self.name,
                f"{self.where} lost entries it had acknowledged on {len(lost)} stream(s): "
                f"{shown}{more}. It restarted without persisting them, so the streams miss "
                "messages this run published; make Redis durable (appendonly yes, "
                "appendfsync always) and run again",
            )

    def _lose(self, stream: str, end: tuple[bytes, dict[bytes, bytes]] | None) -> None:
        """For the ledger: what of this run `stream` no longer holds. Entries are kept in the
        order Redis acknowledged them, so what is gone follows the last one still there, its
        `end` entry, by event_id (no entry: all are gone); without headers it cannot be told
        where the stream ends among this run's entries."""
        why = f"{self.where}: the stream ends before the entry it acknowledged last"
        if end is None:
            self.lose(stream, why)
            return
        last = end[1].get(b"event_id")
        if last is None:
            self.lose(stream, why, known=False)
        else:
            self.lose(stream, why, after=last.decode())

    def drain(self) -> None:
        """Every pipeline is acknowledged before send() returns: check nothing was lost since."""
        self.backoff.reset()
        while True:
            try:
                self._check_kept()
                return
            except self._errors as exc:
                self.backoff.wait(exc)


def _entry(entry_id: bytes) -> tuple[int, int]:
    """A stream entry id (b"<ms>-<seq>") in the order Redis gives them."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)
