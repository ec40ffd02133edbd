"""Redis as a key-value store: each live row of an entity is a key, as an application's cache
or session store keeps it (distinct from `redis_streams`, which appends a change log).

The key comes from a template (`{entity}:{key}` by default; `{key}` is the entity's key,
any other name a field). A row is a hash (`as: hash`: a field per column, values in the
formats' shared text, nulls left out) or a JSON string (`as: json`). A create or update
writes the full image (HSET, dropping fields that became null, or SET), a delete is DEL.
`ttl: 1h` expires keys that long after each write; `expire_at: <field>` expires a key at the
time that field holds (Redis's own clock: a time already past removes the key at once; a
null time keeps the key). Without either, a hash keeps whatever expiry its key already had.
`per_entity` overrides `key`, `as`, `ttl`, `expire_at` and `fields` for one entity.

Each world transaction is one MULTI/EXEC, so a reader never sees half of one; up to
`batch` transactions go in one pipeline round trip. Every EXEC also sets the sink's
bookkeeping key (`headwater:applied:<sink>`) to that transaction's number: the ledger counts
as published, and acknowledged one by one (`take_acks`: route the key, offset the world
transaction), the changes of transactions whose EXEC Redis answered. When the connection drops
the sink backs off (`retry:`), reconnects, reads the bookkeeping key and sends only the
transactions after it, so none is applied twice; a key behind what Redis answered (it
restarted without persisting them) fails the run naming the sink.

Keyspace notifications (`notify-keyspace-events KEA` on the server) are what an ingester of
such a store can subscribe to: `__keyspace@<db>__:<key>` carries the key and the op (hset,
set, del, expire, expired) but not the value, and Pub/Sub is fire-and-forget: a subscriber
that is away misses them, so an ingester re-reads the key and rescans after a gap.

```yaml
sinks:
  cache:
    kind: redis
    url: redis://127.0.0.1:6379/0
    entities: [customers, orders]
    key: 'shop:{entity}:{key}'
    per_entity:
      customers: {as: json, ttl: 1h, fields: [id, email, country]}
```
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater._plugins import suggest
from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import mask_url
from headwater.sinks._encode import Template
from headwater.sinks._project import project, template_problems, types_of
from headwater.sinks._retry import Backoff, Retry
from headwater.sinks._stream.acks import ACK_SCHEMA
from headwater.sinks._text import json_objects, merge_literals, to_text
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

Layout = Literal["hash", "json"]
Command = tuple[Any, ...]
Packed = tuple[bytes, int]  # commands in Redis's wire format, and how many
MULTI, EXEC = b"*1\r\n$5\r\nMULTI\r\n", b"*1\r\n$4\r\nEXEC\r\n"


def pack(*commands: Command) -> Packed:
    """Commands in RESP, Redis's wire format (faster than the client's per-command packing,
    which dominated the sink's time)."""
    out: list[bytes] = []
    for args in commands:
        out.append(b"*%d\r\n" % len(args))
        for arg in args:
            b = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out), len(commands)


def _template(text: str | None) -> str | None:
    if text is not None:
        Template.parse(text)  # raises ValueError with the problem
    return text


class EntityOptions(Spec):
    """How one entity's rows become keys; unset options take the sink's."""

    key: str | None = Field(None, description="key template, e.g. 'customer:{id}'")
    as_: Layout | None = Field(None, alias="as", description="hash or json")
    ttl: Duration | None = Field(None, description="expire each key this long after its write")
    expire_at: str | None = Field(None, description="a timestamp field: expire the key then")
    fields: list[str] | None = Field(
        None, min_length=1, description="the fields stored; default: all"
    )

    _key = field_validator("key")(_template)


class RedisConfig(SinkConfig):
    kind: Literal["redis"] = "redis"
    url: str = Field("redis://localhost:6379/0", description="redis:// or rediss:// URL")
    key: str = Field(
        "{entity}:{key}", description="key template: {entity}, {key} (the entity's key), fields"
    )
    as_: Layout = Field("hash", alias="as", description="each row as a hash or a JSON string")
    ttl: Duration | None = Field(None, description="expire each key this long after its write")
    expire_at: str | None = Field(None, description="a timestamp field: expire the key then")
    fields: list[str] | None = Field(
        None, min_length=1, description="the fields stored; default: all"
    )
    per_entity: dict[str, EntityOptions] = Field(
        {}, description="entity → key, as, ttl, expire_at, fields for that entity"
    )
    batch: int = Field(500, ge=1, description="world transactions per pipeline round trip")
    connect_timeout: Duration = Field(
        timedelta(seconds=10), description="how long open() waits for Redis"
    )
    retry: Retry = Field(
        default_factory=Retry, description="Redis unreachable: how long to retry, how to wait"
    )

    _key = field_validator("key")(_template)

    def options(self, entity: str) -> EntityOptions:
        """The entity's options, with the sink's where the entity sets none."""
        own = self.per_entity.get(entity, EntityOptions())
        return EntityOptions(
            key=own.key or self.key,
            as_=own.as_ or self.as_,
            ttl=own.ttl if own.ttl is not None else self.ttl,
            expire_at=own.expire_at or self.expire_at,
            fields=own.fields if own.fields is not None else self.fields,
        )


class Block(NamedTuple):
    """One world transaction as sent: MULTI, its rows' commands, the bookkeeping SET, EXEC."""

    txn: int
    payload: bytes
    replies: int  # how many replies Redis gives for it (the EXEC's is the last)
    event_ids: list[str]  # its changes ('orders-12'), acknowledged by the EXEC's reply
    keys: list[str]  # the key each change wrote


@dataclass
class _Rows:
    """One entity's changes of a step as Redis commands, packed per row."""

    txn: np.ndarray
    commands: list[Packed]
    event_ids: list[str]
    keys: list[str]


class RedisKvSink(Sink):
    """Keeps each entity's live rows as Redis keys, a MULTI/EXEC per world transaction."""

    kind = "redis"
    Config = RedisConfig
    capabilities = Capabilities(
        updates=True, deletes=True, transactions=True, exactly_once=True, acks=True, store=True
    )
    config: RedisConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.client: Any = None  # set by open(), released by close()
        self._acks: list[pa.Table] = []  # what Redis applied, not yet taken by the ledger

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every field the templates, `fields` and `expire_at` name exists; `per_entity`
        names entities the sink receives."""
        assert isinstance(config, RedisConfig)
        entities = context.entities(config)
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name in config.per_entity:
            if name not in entities:
                problems.append(
                    (("per_entity", name), f"the sink receives no entity '{name}': {entities}")
                )
        for entity in entities:
            schema = context.schemas[entity]
            own = config.per_entity.get(entity)
            where = ("per_entity", entity) if own is not None else ()
            opts = config.options(entity)
            known = [f.name for f in schema.row_type]
            at = where if own is not None and own.key else ()
            assert opts.key is not None
            for message in template_problems(
                Template.parse(opts.key), entity, [*known, "key"], types_of(schema)
            ):
                problems.append(((*at, "key"), message))
            at = where if own is not None and own.fields is not None else ()
            for i, f in enumerate(opts.fields or []):
                if f not in known:
                    problems.append(((*at, "fields", i), _no_field(entity, f, known)))
            if opts.ttl is not None and opts.ttl.total_seconds() < 0.001:
                at = where if own is not None and own.ttl is not None else ()
                problems.append(((*at, "ttl"), "a ttl is at least 1ms (leave it out: no expiry)"))
            if opts.expire_at is not None and opts.ttl is not None:
                at = where if own is not None and own.expire_at else ()
                problems.append(((*at, "expire_at"), f"'{entity}' has a ttl: set one of the two"))
            if opts.expire_at is not None:
                at = where if own is not None and own.expire_at else ()
                t = types_of(schema).get(opts.expire_at)
                if t is None:
                    problems.append(((*at, "expire_at"), _no_field(entity, opts.expire_at, known)))
                elif not pa.types.is_timestamp(t):
                    problems.append(
                        (
                            (*at, "expire_at"),
                            f"field '{opts.expire_at}' of '{entity}' is {t}, not a timestamp",
                        )
                    )
        return problems

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"Redis at {mask_url(self.config.url)}"

    @property
    def bookkeeping(self) -> str:
        """The key holding the last world transaction Redis applied for this sink."""
        return f"headwater:applied:{self.name}"

    def open(self) -> None:
        redis = require("redis", "redis", f"sink '{self.name}' (kind: redis)")
        from redis.backoff import NoBackoff
        from redis.retry import Retry as ClientRetry

        c = self.config
        self._redis = redis
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        timeout = c.connect_timeout.total_seconds()
        try:
            # Retries are ours: redis-py's own would resend a pipeline whose EXECs applied.
            self.client = redis.Redis.from_url(
                c.url,
                socket_connect_timeout=timeout,
                socket_timeout=max(timeout, 30.0),
                retry=ClientRetry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        except ValueError as exc:
            raise SinkError(self.name, f"invalid url {mask_url(c.url)}: {exc}") from exc
        try:
            self.client.set(self.bookkeeping, -1)
        except self._errors as exc:
            raise SinkUnavailable(
                self.name, f"cannot reach {self.where}: {_describe(exc)}"
            ) from exc
        except redis.ResponseError as exc:
            raise SinkError(self.name, f"{self.where} refused: {exc}") from exc
        self.backoff = Backoff(c.retry)
        self.applied = -1  # the last world transaction whose EXEC Redis answered
        self.shown: dict[str, int] = {}
        self.templates = {
            e: Template.parse(self.config.options(e).key or "") for e in self.entities
        }
        self.stats.extra.update(retries=0, reconnects=0, transactions=0, acknowledged=0)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def published(self) -> dict[str, int]:
        return dict(self.shown)

    def flush(self) -> None:
        """Redis still holds every transaction it answered (a restart between two writes
        that lost them is found here, not by a failed pipeline)."""
        self.backoff.reset()
        while True:
            try:
                raw = self.client.get(self.bookkeeping)
            except self._errors as exc:
                self._wait(exc)
                continue
            self._check_kept(-1 if raw is None else int(raw))
            return

    # -- writing ---------------------------------------------------------------------------

    def write(self, changes: Changes) -> None:
        rows = {
            e: self._commands(e, t)
            for e, t in changes.tables.items()
            if t.num_rows and e in self.templates
        }
        try:
            blocks = list(self._blocks(changes, rows))
            for start in range(0, len(blocks), self.config.batch):
                self._send(blocks[start : start + self.config.batch])
        finally:  # what the answered transactions published
            for e, r in rows.items():
                self.shown[e] = self.shown.get(e, 0) + int(np.count_nonzero(r.txn <= self.applied))
        self.stats.add(changes)

    def _blocks(self, changes: Changes, rows: dict[str, _Rows]) -> Iterator[Block]:
        """Each world transaction's MULTI, commands, bookkeeping SET and EXEC, in commit
        order."""
        for txn in changes.transactions():
            entity, first, _ = txn[0]
            number = int(rows[entity].txn[first])
            parts, n = [MULTI], 3
            ids: list[str] = []
            keys: list[str] = []
            for e, start, stop in txn:
                r = rows[e]
                for payload, count in r.commands[start:stop]:
                    parts.append(payload)
                    n += count
                ids += r.event_ids[start:stop]
                keys += r.keys[start:stop]
            parts += (pack(("SET", self.bookkeeping, number))[0], EXEC)
            yield Block(number, b"".join(parts), n, ids, keys)

    def _commands(self, entity: str, table: pa.Table) -> _Rows:
        """Per row the commands that make its key hold the row (or remove it)."""
        schema: EntitySchema = self.context.schemas[entity]
        opts = self.config.options(entity)
        records = project(table, schema, "rows")
        values = records.values.drop_columns(["_op"])
        if opts.fields is not None:
            values = values.select(opts.fields)

        def column(name: str) -> pa.Array:
            if name == "key" and name not in records.values.column_names:
                return records.key
            return records.values[name].combine_chunks()

        n = len(records)
        rendered = self.templates[entity].render(entity, column, n)
        keys = [rendered] * n if isinstance(rendered, str) else rendered.to_pylist()
        ops = records.op.to_pylist()
        expire = self._expiry(opts, records.values, n)
        if opts.as_ == "json":
            bodies = json_objects(values).to_pylist()
            writes = [pack(("SET", k, b, *x)) for k, b, x in zip(keys, bodies, expire, strict=True)]
        else:
            writes = self._hashes(values, keys, expire, opts.expire_at is not None)
        commands = [
            pack(("DEL", k)) if op == "d" else w for k, op, w in zip(keys, ops, writes, strict=True)
        ]
        ids = [f"{entity}-{seq}" for seq in table["seq"].to_pylist()]
        return _Rows(table["txn"].to_numpy(), commands, ids, keys)

    @staticmethod
    def _expiry(opts: EntityOptions, values: pa.Table, n: int) -> list[tuple[Any, ...]]:
        """SET's expiry arguments per row (PX ms, PXAT epoch ms, or none)."""
        if opts.expire_at is not None:
            col = (
                values[opts.expire_at].combine_chunks().cast(pa.timestamp("ms", "UTC"), safe=False)
            )
            ms = pc.cast(col, pa.int64()).to_pylist()
            return [() if m is None else ("PXAT", m) for m in ms]
        if opts.ttl is not None:
            return [("PX", int(opts.ttl.total_seconds() * 1000))] * n
        return [()] * n

    @staticmethod
    def _hashes(
        values: pa.Table, keys: list[str], expire: list[tuple[Any, ...]], persist: bool
    ) -> list[Packed]:
        """HSET of the row's non-null fields, HDEL of its null ones, then its expiry (or,
        with `persist`, none: a field's expiry time may be null)."""
        names = values.column_names
        texts = [to_text(c).to_pylist() for c in values.columns]
        whole = _hset_rows(values, keys) if names and not persist else [None] * len(keys)
        out: list[Packed] = []
        for i, key in enumerate(keys):
            packed = whole[i]
            if packed is not None and not expire[i]:
                out.append((packed, 1))
                continue
            pairs: list[Any] = []
            nulls: list[str] = []
            for name, text in zip(names, texts, strict=True):
                v = text[i]
                if v is None:
                    nulls.append(name)
                else:
                    pairs += (name, v)
            cmds: list[Command] = []
            if pairs:
                cmds.append(("HSET", key, *pairs))
            if nulls:
                cmds.append(("HDEL", key, *nulls))
            if expire[i]:
                how, when = expire[i]
                cmds.append(("PEXPIREAT" if how == "PXAT" else "PEXPIRE", key, when))
            elif pairs and persist:
                cmds.append(("PERSIST", key))  # the previous write's expiry no longer holds
            out.append(pack(*cmds))
        return out

    def _send(self, blocks: list[Block]) -> None:
        """MULTI/EXEC per transaction, all in one round trip; after a failure, reconnect and
        send the transactions Redis did not apply."""
        self.backoff.reset()
        while blocks:
            try:
                payload = b"".join(b.payload for b in blocks)
                replies = self._exchange(payload, sum(b.replies for b in blocks))
            except self._errors as exc:
                blocks = self._resume(blocks, exc)
                continue
            self._answered(blocks, replies)
            return

    def _exchange(self, payload: bytes, n: int) -> list[Any]:
        """Send packed commands on one connection and read their `n` replies (an error
        reply in its place, as redis-py's pipelines keep them)."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([payload], check_health=False)
            replies: list[Any] = []
            for _ in range(n):
                try:
                    replies.append(conn.read_response(disable_decoding=True))
                except self._redis.ResponseError as exc:
                    replies.append(exc)
            return replies
        except BaseException:
            conn.disconnect()  # replies may be left unread: never reuse it
            raise
        finally:
            pool.release(conn)

    def _answered(self, blocks: list[Block], replies: list[Any]) -> None:
        """Check every EXEC's reply; the last transaction answered is `applied`."""
        at = 0
        for i, block in enumerate(blocks):
            at += block.replies
            txn, reply = block.txn, replies[at - 1]
            failed = (
                reply
                if isinstance(reply, Exception)
                else next((r for r in reply or [] if isinstance(r, Exception)), None)
            )
            if reply is None or failed is not None:
                self._applied(blocks[:i])
                raise SinkError(
                    self.name,
                    f"{self.where} refused world transaction {txn}: {failed or 'EXEC aborted'}",
                )
        self._applied(blocks)

    def _resume(self, blocks: list[Block], exc: BaseException) -> list[Block]:
        """Wait, reconnect, and drop the blocks Redis applied (its bookkeeping key says)."""
        self._wait(exc)
        try:
            raw = self.client.get(self.bookkeeping)
        except self._errors:
            return blocks
        self.stats.extra["reconnects"] += 1
        last = -1 if raw is None else int(raw)
        self._check_kept(last)
        self._applied([b for b in blocks if b.txn <= last])
        return [b for b in blocks if b.txn > last]

    def _applied(self, blocks: list[Block]) -> None:
        """Redis applied these transactions (an EXEC reply, or the bookkeeping key says so):
        their changes are acknowledged, once."""
        if not blocks:
            return
        self.applied = blocks[-1].txn
        self.stats.extra["transactions"] += len(blocks)
        ids = [i for b in blocks for i in b.event_ids]
        self.stats.extra["acknowledged"] += len(ids)
        n = len(ids)
        self._acks.append(
            pa.table(
                {
                    "event_id": pa.array(ids, pa.string()),
                    "route": pa.array([k for b in blocks for k in b.keys], pa.string()),
                    "partition": pa.nulls(n, pa.int32()),
                    "offset": pa.array([b.txn for b in blocks for _ in b.event_ids], pa.int64()),
                },
                schema=ACK_SCHEMA,
            )
        )

    def take_acks(self) -> pa.Table | None:
        """The changes of every transaction Redis applied since the last call (route: the
        key written; offset: the world transaction)."""
        acks, self._acks = self._acks, []
        return pa.concat_tables(acks) if acks else None

    def _wait(self, exc: BaseException) -> None:
        """Sleep before the next try (counted), or give up once `retry.for` has passed."""
        wait = self.backoff.next()
        self.stats.extra["retries"] = self.backoff.retries
        if wait is None:
            raise SinkUnavailable(
                self.name,
                f"{self.where} unreachable for {self.config.retry.for_.total_seconds():g} s, "
                f"giving up: {_describe(exc)}",
            ) from exc
        time.sleep(wait)

    def _check_kept(self, last: int) -> None:
        """`last` (the bookkeeping key) is not behind what Redis answered."""
        if last < self.applied:
            raise SinkError(
                self.name,
                f"{self.where} lost world transactions it had applied: it holds up to {last}, "
                f"it answered up to {self.applied}. It restarted without persisting them; make "
                "Redis durable (appendonly yes, appendfsync always) and run again",
            )


def _hset_rows(values: pa.Table, keys: list[str]) -> list[bytes | None]:
    """Each row's HSET in RESP, built a column at a time (packing row by row dominated the
    sink's time); None for rows with a null field."""
    key = pa.array(keys, pa.string())
    parts: list[pa.Array | str] = [f"*{2 + 2 * values.num_columns}\r\n$4\r\nHSET\r\n$"]
    parts += [pc.cast(pc.binary_length(key), pa.string()), "\r\n", key, "\r\n"]
    for name, column in zip(values.column_names, values.columns, strict=True):
        text = to_text(column)
        parts += [
            f"${len(name.encode())}\r\n{name}\r\n$",
            pc.cast(pc.binary_length(text), pa.string()),
        ]
        parts += ["\r\n", text, "\r\n"]
    rows = pc.binary_join_element_wise(*merge_literals(parts), "")
    return rows.cast(pa.binary()).to_pylist()


def _no_field(entity: str, name: str, known: list[str]) -> str:
    return f"entity '{entity}' has no field '{name}'{suggest(name, known)}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
