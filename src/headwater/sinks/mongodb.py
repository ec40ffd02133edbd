"""MongoDB as an application's document store: a collection per entity, written with pymongo.

Each entity's rows become documents of its collection (`collection:`, a template over
`{entity}`), `_id` the entity's key (the key field stays in the document too; an
`insert_only` entity's `_id` is `{<key>: …, version: …}`). Changes are written as an
application writes them: a create is `InsertOne`, an update `ReplaceOne` (or `UpdateOne`
with `$set` of every field, `update: set`), a delete `DeleteOne`, in one ordered
`bulk_write` per world transaction and collection (`batch: step`: one per step and
collection, faster). Decimals are stored as Decimal128, times as BSON dates (UTC, truncated
to the millisecond: MongoDB's precision), dates as dates at midnight UTC. An ingester reads the collections, or their change streams
(`watch()`), which carry every insert, replace, update and delete with resume tokens.

`embed:` puts a child entity into its parent's documents instead of a collection of its own
(`{order_items: {into: orders, as: lines}}`: each order holds its items as an array): a
created child is `$push`ed, an updated one `$set` in place (positional `items.$`), a deleted
one `$pull`ed; the parent starts with an empty array and its updates are `$set` of its own
fields, never a replacement, so its children stay.

The report counts what the server acknowledged (`inserted`, `matched`, `modified`,
`deleted`, `upserted` from the bulk results). When the connection drops the sink backs off
(`retry:`) and sends the unacknowledged bulk again as upserts and deletes, which lands the
same final state; changes already applied before the drop land twice in the change stream
(`resent` counts them). Faults: a `duplicate` create is written as an upsert (the copy
replaces the original, as a retrying application's write does); late and reordered changes
land out of order, as they would from such an application. The collections are dropped at `open()` unless `if_exists: keep`.

Tested against SecantusDB (a MongoDB-wire server from PyPI, `secantusdb`), which stands in
for MongoDB in tests: it is a re-implementation, and the sink only uses what MongoDB has.

```yaml
sinks:
  docs:
    kind: mongodb
    url: mongodb://127.0.0.1:27017/?directConnection=true
    database: shop
    collection: "{entity}"
    update: replace
    embed: {order_items: {into: orders, as: lines}}
    entities: [customers, orders, order_items]
```
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pyarrow as pa
from pydantic import Field, field_validator

from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import mask_url, redact
from headwater.sinks._retry import Backoff, Retry
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

#: What the bulk results count, by the report's name for it.
COUNTS = {
    "inserted": "inserted_count",
    "matched": "matched_count",
    "modified": "modified_count",
    "deleted": "deleted_count",
    "upserted": "upserted_count",
}
#: The results that say a write changed a document.
CHANGED = ("inserted_count", "modified_count", "deleted_count", "upserted_count")


class Embed(Spec):
    """Where a child entity's documents go: an array field of its parent's document."""

    into: str = Field(description="the parent entity (the child references its key)")
    as_: str = Field(alias="as", description="the array field of the parent document")


class MongoConfig(SinkConfig):
    kind: Literal["mongodb"] = "mongodb"
    url: str = Field(
        "mongodb://127.0.0.1:27017/?directConnection=true",
        description="mongodb:// URL (credentials may be in it; never printed)",
    )
    database: str = Field("headwater", description="the database the collections live in")
    collection: str = Field("{entity}", description="collection name; a template over {entity}")
    update: Literal["replace", "set"] = Field(
        "replace", description="updates as ReplaceOne (whole document) or UpdateOne with $set"
    )
    batch: Literal["transaction", "step"] = Field(
        "transaction",
        description="one bulk_write per world transaction and collection (realistic) or per "
        "step and collection (faster)",
    )
    embed: dict[str, Embed] = Field(
        {},
        description="child entity → {into: parent, as: field}: children as an array in "
        "their parent's document instead of a collection of their own",
    )
    if_exists: Literal["replace", "keep"] = Field(
        "replace", description="drop the sink's collections at open, or keep their documents"
    )
    journal: bool = Field(
        True,
        description="ask for journaled acknowledgements (write concern j), so what the "
        "server acknowledged survives its crash",
    )
    connect_timeout: Duration = Field(timedelta(seconds=5), description="server selection timeout")
    retry: Retry = Field(default_factory=Retry, description="reconnecting to a server gone away")

    @field_validator("collection")
    @classmethod
    def _collection_template(cls, value: str) -> str:
        try:
            name = value.format(entity="e")
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            raise ValueError(
                f"'{value}' may name only {{entity}} (braces of a literal are doubled)"
            ) from None
        if not name or "$" in name or "\x00" in name or name.startswith("system."):
            raise ValueError(f"'{value}' is not a collection name MongoDB accepts")
        return value

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        bad = set('/\\. "$\x00') & set(value)
        if not value or bad:
            raise ValueError(f"'{value}' is not a database name MongoDB accepts")
        return value


def _converter(t: pa.DataType, decimal: Callable[[Decimal], Any]) -> Callable[[Any], Any] | None:
    """How one column's Python values become BSON values (`decimal` makes Decimal128);
    None: as they are."""
    if pa.types.is_decimal(t):
        return lambda v: None if v is None else decimal(v)
    if pa.types.is_date(t):
        return lambda v: None if v is None else _midnight(v)
    if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return lambda v: _nested(v, decimal)
    return None


def _midnight(d: dt.date) -> dt.datetime:
    """BSON has no date type: a date is stored as its midnight UTC."""
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def _nested(v: Any, decimal: Callable[[Decimal], Any]) -> Any:
    """Nested values (structs, lists) with their decimals and dates made BSON."""
    if isinstance(v, dict):
        return {k: _nested(x, decimal) for k, x in v.items()}
    if isinstance(v, list):
        return [_nested(x, decimal) for x in v]
    if isinstance(v, Decimal):
        return decimal(v)
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return _midnight(v)
    return v


def _duplicated(table: pa.Table) -> list[bool]:
    """Per change, whether the `duplicate` fault delivers it twice: its create is then an
    upsert, as an application retrying a write sends it, so the copy replaces the original."""
    if "fault" not in table.column_names:
        return [False] * table.num_rows
    return [f is not None and "duplicate" in f for f in table["fault"].to_pylist()]


class Documents:
    """One entity's change rows as pymongo write models."""

    def __init__(
        self, schema: EntitySchema, update: str, pymongo: Any, decimal: Callable[[Decimal], Any]
    ):
        self.schema, self.update, self.m = schema, update, pymongo
        self.convert = {
            f.name: c for f in schema.row_type if (c := _converter(f.type, decimal)) is not None
        }
        self.id_fields = schema.primary_key
        self.arrays: list[str] = []  # fields holding embedded children (`embed:`)

    def _doc(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, convert in self.convert.items():
            row[name] = convert(row[name])
        return {"_id": self._id(row), **row}

    def _id(self, row: dict[str, Any]) -> Any:
        if len(self.id_fields) == 1:
            return row[self.id_fields[0]]
        return {k: row[k] for k in self.id_fields}

    def models(self, table: pa.Table, idempotent: bool = False) -> list[Any]:
        """The write of every change row, in order; `idempotent`: creates and updates as
        upserts, so sending them again after a lost acknowledgement lands the same state."""
        m, ops = self.m, table["op"].to_pylist()
        after = table["after"].to_pylist()
        before = table["before"].to_pylist()
        again = _duplicated(table)
        out: list[Any] = []
        for op, a, b, copy in zip(ops, after, before, again, strict=True):
            if op == "d":
                out.append(m.DeleteOne({"_id": self._id(b)}))
                continue
            doc = self._doc(a)
            if self.arrays:  # never replaced: that would drop the embedded children
                out.append(self._keeping_arrays(op, doc, idempotent or copy))
            elif op in "rc" and not (idempotent or copy):
                out.append(m.InsertOne(doc))
            elif self.update == "set" and op == "u":
                out.append(m.UpdateOne({"_id": doc["_id"]}, {"$set": doc}, upsert=idempotent))
            else:
                out.append(m.ReplaceOne({"_id": doc["_id"]}, doc, upsert=idempotent))
        return out

    def _keeping_arrays(self, op: str, doc: dict[str, Any], upsert: bool) -> Any:
        """A parent's write that leaves its children's arrays as they are: an insert starts
        them empty, an update sets the parent's own fields."""
        empty: dict[str, list[Any]] = {name: [] for name in self.arrays}
        if op in "rc" and not upsert:
            return self.m.InsertOne({**doc, **empty})
        change: dict[str, Any] = {"$set": {k: v for k, v in doc.items() if k != "_id"}}
        if upsert:
            change["$setOnInsert"] = empty
        return self.m.UpdateOne({"_id": doc["_id"]}, change, upsert=upsert)


class Embedded(Documents):
    """A child entity's changes as updates of the array `field` in its parent's document:
    `$push` a created child, positional `$set` an updated one, `$pull` a deleted one."""

    def __init__(self, schema: EntitySchema, parent_field: str, field: str, *args: Any):
        super().__init__(schema, *args)
        self.parent_field, self.field = parent_field, field

    def models(self, table: pa.Table, idempotent: bool = False) -> list[Any]:
        m, key = self.m, self.schema.key
        out: list[Any] = []
        rows = zip(
            table["op"].to_pylist(),
            table["after"].to_pylist(),
            table["before"].to_pylist(),
            _duplicated(table),
            strict=True,
        )
        for op, a, b, copy in rows:
            row = a if op != "d" else b
            parent = {"_id": row[self.parent_field]}
            pull = m.UpdateOne(parent, {"$pull": {self.field: {key: row[key]}}})
            if op == "d":
                out.append(pull)
                continue
            doc = self._doc(a)
            del doc["_id"]
            if op in "rc":
                if idempotent or copy:  # sent again: the child once, not twice
                    out.append(pull)
                out.append(m.UpdateOne(parent, {"$push": {self.field: doc}}))
            else:
                match = {**parent, f"{self.field}.{key}": row[key]}
                out.append(m.UpdateOne(match, {"$set": {f"{self.field}.$": doc}}))
        return out


def parent_field(child: EntitySchema, parent: EntitySchema) -> str | None:
    """The child's field holding its parent's key, if it has one."""
    for fk in child.foreign_keys:
        if fk.entity == parent.name and fk.target_field == parent.key:
            return fk.field
    return None


def _embed_problems(
    config: MongoConfig, context: CheckContext
) -> list[tuple[tuple[str | int, ...], str]]:
    """Embedded children: entities of this sink, referencing a parent that is not itself
    embedded, into an array field the parent does not have."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    mine = context.entities(config)
    for child, e in config.embed.items():
        if child not in mine:
            problems.append((("embed", child), f"'{child}' is not an entity of this sink"))
            continue
        if e.into not in mine or e.into in config.embed:
            why = "is embedded itself" if e.into in config.embed else "is not an entity here"
            problems.append((("embed", child, "into"), f"'{e.into}' {why}"))
            continue
        parent = context.schemas[e.into]
        if parent_field(context.schemas[child], parent) is None:
            problems.append(
                (("embed", child, "into"), f"'{child}' has no ref to {e.into}.{parent.key}")
            )
        fields = {f.name for f in parent.row_type} | {"_id"}
        if e.as_ in fields or "." in e.as_ or e.as_.startswith("$"):
            problems.append(
                (("embed", child, "as"), f"'{e.as_}' is taken or not a field name in {e.into}")
            )
    return problems


def _reconnects(monitoring: Any, extra: dict[str, Any]) -> Any:
    """A pool listener counting `reconnects`: pymongo clears a server's connections when it
    finds it gone, and the next write waits (server selection) for it to come back."""

    class Pools(monitoring.ConnectionPoolListener):
        def pool_cleared(self, event: Any) -> None:
            extra["reconnects"] += 1

    for name in (
        "pool_created", "pool_ready", "pool_closed", "connection_created",
        "connection_ready", "connection_closed", "connection_check_out_started",
        "connection_check_out_failed", "connection_checked_out", "connection_checked_in",
    ):  # fmt: skip
        setattr(Pools, name, lambda self, event: None)
    return Pools()


class MongoSink(Sink):
    """Writes each entity's changes into its collection with ordered bulk writes."""

    kind = "mongodb"
    Config = MongoConfig
    capabilities = Capabilities(updates=True, deletes=True, at_least_once=True)
    config: MongoConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.client: Any = None  # set by open(), released by close()

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Two entities may not share a collection: their keys would collide."""
        assert isinstance(config, MongoConfig)
        problems = _embed_problems(config, context)
        seen: dict[str, str] = {}
        for entity in context.entities(config):
            if entity in config.embed:
                continue
            name = config.collection.format(entity=entity)
            if name in seen:
                problems.append(
                    (("collection",), f"'{seen[name]}' and '{entity}' both go to '{name}'")
                )
            seen[name] = entity
        return problems

    @property
    def where(self) -> str:
        return f"MongoDB at {mask_url(self.config.url)}"

    def _password(self) -> str | None:
        try:
            password = urlsplit(self.config.url).password
        except ValueError:
            return None
        return unquote(password) if password else None

    def open(self) -> None:
        pymongo = require("pymongo", "mongodb", f"sink '{self.name}' (kind: mongodb)")
        c = self.config
        self._errors = (pymongo.errors.ConnectionFailure,)
        self._pymongo = pymongo
        timeout_ms = int(c.connect_timeout.total_seconds() * 1000)
        extra = self.stats.extra  # before the client: its pool listener counts reconnects
        extra.update(dict.fromkeys([*COUNTS, "retries", "resent", "reconnects", "duplicates"], 0))
        try:
            self.client = pymongo.MongoClient(
                c.url,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                retryWrites=False,  # retries are ours: we know what a resend may double
                tz_aware=True,
                event_listeners=[_reconnects(pymongo.monitoring, self.stats.extra)],
            )
        except (pymongo.errors.ConfigurationError, ValueError) as exc:
            raise SinkError(
                self.name, f"invalid url {mask_url(c.url)}: {self._clean(exc)}"
            ) from None
        self.backoff = Backoff(c.retry)
        concern = pymongo.WriteConcern(w=1, j=True) if c.journal else pymongo.WriteConcern(w=1)
        self.db = self.client.get_database(c.database, write_concern=concern)
        owner = {e: c.embed[e].into if e in c.embed else e for e in self.entities}
        self.collections = {e: self.db[c.collection.format(entity=owner[e])] for e in owner}
        decimal = require("bson", "mongodb", f"sink '{self.name}'", "pymongo").Decimal128
        schemas = self.schemas()
        self.docs = {e: Documents(s, c.update, pymongo, decimal) for e, s in schemas.items()}
        for child, e in c.embed.items():
            field = parent_field(schemas[child], schemas[e.into])
            assert field is not None, "checked at validation"
            self.docs[child] = Embedded(schemas[child], field, e.as_, c.update, pymongo, decimal)
            self.docs[e.into].arrays.append(e.as_)
        self._retrying(self._prepare, "connecting")

    def _prepare(self) -> None:
        self.client.admin.command("ping")
        if self.config.if_exists == "replace":
            for coll in {c.name: c for c in self.collections.values()}.values():
                coll.drop()

    def _clean(self, exc: BaseException) -> str:
        return redact(str(exc), self._password())

    def _retrying(self, action: Callable[[], Any], doing: str) -> Any:
        """`action()`, retried with backoff while the server is unreachable."""
        self.backoff.reset()
        while True:
            try:
                return action()
            except self._errors as exc:
                wait = self.backoff.next()
                if wait is None:
                    raise SinkUnavailable(
                        self.name,
                        f"{self.where} unreachable while {doing}, gave up after "
                        f"{self.config.retry.for_}: {self._clean(exc)}",
                    ) from None
                self.stats.extra["retries"] += 1
                time.sleep(wait)

    def write(self, changes: Changes) -> None:
        for entity, table in self._bulks(changes):
            self._bulk(entity, table)
        self.stats.add(changes)

    def _bulks(self, changes: Changes) -> list[tuple[str, pa.Table]]:
        """(entity, change rows) of each bulk_write, in the world's order."""
        ranges = [r for txn in changes.transactions() for r in txn]
        if self.config.batch == "step":  # merge consecutive ranges of one entity
            merged: list[tuple[str, int, int]] = []
            for entity, start, stop in ranges:
                if merged and merged[-1][0] == entity and merged[-1][2] == start:
                    merged[-1] = (entity, merged[-1][1], stop)
                else:
                    merged.append((entity, start, stop))
            ranges = merged
        return [(e, changes.tables[e].slice(a, b - a)) for e, a, b in ranges]

    def _bulk(self, entity: str, table: pa.Table) -> None:
        """One ordered bulk_write, with each `duplicate` copy sent on its own so its result
        says whether the store absorbed it (nothing changed: counted in `duplicates`)."""
        copies = [i for i, copy in enumerate(_duplicated(table)) if copy]
        start = 0
        for i in copies:
            if i > start:
                self._send(entity, table.slice(start, i - start))
            result = self._send(entity, table.slice(i, 1))
            if not any(getattr(result, attr) for attr in CHANGED):
                self.stats.extra["duplicates"] += 1
            start = i + 1
        if start < table.num_rows:
            self._send(entity, table.slice(start))

    def _send(self, entity: str, table: pa.Table) -> Any:
        coll, docs = self.collections[entity], self.docs[entity]
        attempt = {"again": False}

        def send() -> Any:
            again = attempt["again"]
            attempt["again"] = True
            if again:
                self.stats.extra["resent"] += table.num_rows
            return coll.bulk_write(docs.models(table, idempotent=again), ordered=True)

        try:
            result = self._retrying(send, f"writing to '{coll.name}'")
        except self._pymongo.errors.BulkWriteError as exc:
            details = exc.details or {}
            first = (details.get("writeErrors") or [{}])[0]
            raise SinkError(
                self.name,
                f"{self.where} refused a write to '{coll.name}' (op {first.get('index')} of "
                f"{table.num_rows}): {self._clean(first.get('errmsg', exc))}",
            ) from None
        except self._pymongo.errors.PyMongoError as exc:
            raise SinkError(
                self.name, f"{self.where} failed writing to '{coll.name}': {self._clean(exc)}"
            ) from None
        for name, attr in COUNTS.items():
            self.stats.extra[name] += getattr(result, attr)
        return result

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
