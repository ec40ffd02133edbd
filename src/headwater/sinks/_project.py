"""Projections of the change stream into records that transports carry.

Every message, line or file row headwater delivers is one of these projections of a change
table (see world/changes.py):
    rows      the row after the change (deletes carry the row before), plus `_op`
    changes   flat change events: _seq, _txn, _op, _event_time, then the row's fields
    debezium  the Debezium envelope: before, after, source, op, ts_ms, transaction
A transport sink (files, kafka, nats…) receives `Records` and needs no knowledge of entities.

A sink's `fields:` then reshapes the records (`Shape`): which fields, renamed, templated,
in what order; `op: false` drops `_op`. Its `values` become the body (JSON object, Avro
record, file row), while keys and routes still read the record's own fields (`source`):

    fields: {Key: "Order # {order_id}", Price: price, At: "{created_at:%Y-%m-%d %H:%M:%S}"}

A value is a field name or a lone `{field}` (the column as it is: a number stays a
number), or a template (a string, formatted column-wise: sinks/_format.py). In JSON the
string is escaped by the JSON encoder like any other string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.core.spec import Spec
from headwater.errors import SinkError
from headwater.sinks._encode import Template
from headwater.sinks._format import format_column
from headwater.world.schema import EntitySchema

Projection = Literal["rows", "changes", "debezium"]
# Columns of the `changes` projection that are not fields of the entity.
CHANGE_COLUMNS = ("_seq", "_txn", "_op", "_event_time")
ENVELOPE = ("before", "after", "source", "op", "ts_ms", "transaction")
CHANGE_TYPES = {
    "_op": pa.string(),
    "_seq": pa.int64(),
    "_txn": pa.int64(),
    "_event_time": pa.timestamp("us", tz="UTC"),
    "op": pa.string(),
    "ts_ms": pa.int64(),
}


@dataclass(frozen=True)
class Records:
    """Records of one stream (an entity, or a CDC table) ready for a transport."""

    stream: str
    values: pa.Table  # one row per record
    key: pa.Array  # the record key (the entity key)
    event_time: pa.Array  # timestamp[us, UTC]
    seq: pa.Array  # int64, unique per change: the basis of event ids
    op: pa.Array  # r/c/u/d
    ingest_time: pa.Array | None = None  # when the source delivered it (set when faults move it)
    # the fault labels of a delivered change table ('malformed:truncate'…, null when clean);
    # None without faults. `malformed` reads the text-level kinds a text transport applies.
    fault: pa.Array | None = None
    # the records' own fields when a sink's `fields:` reshaped `values` (keys, routes read them)
    row: pa.Table | None = None
    # message keys as the source writes them (CDC: Debezium's key struct, JSON); a transport
    # sends them when its own `key` option is unset
    message_key: pa.Array | None = None
    # one route for all the records, instead of the transport's template (CDC's metadata)
    route: str | None = None

    @property
    def source(self) -> pa.Table:
        """The table whose fields keys, routes and templates name."""
        return self.values if self.row is None else self.row

    @property
    def malformed(self) -> pa.Array | None:
        """Per record the text-level malformed kind (truncate, type, encoding), else None."""
        if self.fault is None:
            return None
        from headwater.faults.malformed import kinds_of

        return kinds_of(pa.table({"fault": self.fault}))

    @property
    def delivery_time(self) -> pa.Array:
        """Ingestion time when the change went through faults, else its event time."""
        return self.event_time if self.ingest_time is None else self.ingest_time

    def __len__(self) -> int:
        return self.values.num_rows

    @property
    def event_ids(self) -> pa.Array:
        """Stable ids for de-duplication downstream: '<stream>-<seq>'."""
        return pc.binary_join_element_wise(f"{self.stream}-", pc.cast(self.seq, pa.string()), "")


def _image(table: pa.Table) -> pa.StructArray:
    """After image, or the before image for deletes."""
    after = table["after"].combine_chunks()
    before = table["before"].combine_chunks()
    is_delete = pc.equal(table["op"], "d").combine_chunks()
    if not pc.any(is_delete).as_py():
        return after
    return pc.if_else(is_delete, before, after)


def _flat(struct: pa.StructArray) -> list[tuple[str, pa.Array]]:
    return [(f.name, struct.field(i)) for i, f in enumerate(struct.type)]


def project(
    table: pa.Table, schema: EntitySchema, how: Projection, *, source: dict[str, str] | None = None
) -> Records:
    """One entity's change table as records of the chosen projection."""
    op = table["op"].combine_chunks()
    ingest = table["ingest_time"].combine_chunks() if "ingest_time" in table.column_names else None
    times = [("_ingest_time", ingest)] if ingest is not None else []
    if how == "rows":
        values = pa.table(dict([*_flat(_image(table)), ("_op", op), *times]))
    elif how == "changes":
        head = [
            ("_seq", table["seq"]),
            ("_txn", table["txn"]),
            ("_op", op),
            ("_event_time", table["event_time"]),
            *times,
        ]
        values = pa.table(dict([*head, *_flat(_image(table))]))
    else:
        values = debezium(table, schema, source or {})
    return Records(
        schema.name,
        values,
        table["key"].combine_chunks(),
        table["event_time"].combine_chunks(),
        table["seq"].combine_chunks(),
        op,
        ingest,
        table["fault"].combine_chunks() if "fault" in table.column_names else None,
    )


def _ms(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.cast(pc.divide(pc.cast(times, pa.int64()), 1000), pa.int64())


def _rank(group: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Each event's 1-based position among the distinct `seq` of its group (a duplicated
    event keeps its number, as a re-delivered Debezium event does)."""
    order = np.lexsort((seq, group))
    g, s = group[order], seq[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    distinct = np.cumsum(new_group | np.r_[True, s[1:] != s[:-1]])
    first = distinct[np.maximum.accumulate(np.where(new_group, np.arange(len(g)), 0))]
    rank = np.empty(len(g), np.int64)
    rank[order] = distinct - first + 1
    return rank


def _txn_key(table: pa.Table) -> pa.Array:
    """Debezium's `transaction.id`: the capture's when it set one, else the `txn` number."""
    if "txn_id" in table.column_names:
        return pc.fill_null(table["txn_id"].combine_chunks(), "")
    return pc.cast(table["txn"].combine_chunks(), pa.string())


def _groups(tables: list[pa.Table]) -> np.ndarray:
    """A number per event telling its transaction apart (the ids' codes, or `txn`)."""
    if all("txn_id" not in t.column_names for t in tables):
        return np.concatenate([t["txn"].to_numpy() for t in tables])
    keys = pc.dictionary_encode(pa.chunked_array([_txn_key(t) for t in tables]))
    return keys.combine_chunks().indices.to_numpy()


def transaction_order(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """Debezium's `transaction.total_order` (the event's position among all events of its
    transaction, 1..n) and `data_collection_order` (among the transaction's events of the
    same table) as columns. `tables` must hold whole transactions: a capture batch does, and
    a step of the world does until faults move events (late, reorder): those are numbered
    among what arrives with them. `project` falls back to ranking within one table."""
    parts = [(e, t) for e, t in tables.items() if t.num_rows]
    if not parts:
        return dict(tables)
    group = _groups([t for _, t in parts])
    seq = np.concatenate([t["seq"].to_numpy() for _, t in parts])
    total = _rank(group, seq)
    out, at = dict(tables), 0
    for entity, t in parts:
        n = t.num_rows
        own = _rank(group[at : at + n], seq[at : at + n])
        out[entity] = t.append_column("total_order", pa.array(total[at : at + n])).append_column(
            "collection_order", pa.array(own)
        )
        at += n
    return out


COMMON_SOURCE = ("version", "connector", "name", "ts_ms", "snapshot", "db")


def debezium(table: pa.Table, schema: EntitySchema, source: dict[str, str]) -> pa.Table:
    """The Debezium change-event envelope as Arrow columns (JSON encoders nest it as-is).

    As in Debezium, `source.ts_ms` is when the change happened in the database (the commit
    time its log holds; simulated CDC: the event time) and the top-level `ts_ms` when the
    connector emitted it (ingestion time, when known). `source` has the common fields, then
    the connector's own, in Debezium's order: a capture supplies them as a `source` column
    (capture/base.py). Simulated CDC (SQLite has no log to read) keeps the common fields and
    adds PostgreSQL's `table`, `txId` (the world's transaction number) and `lsn`: headwater's
    change number, the position in the simulated log (it grows in commit order, unique per
    change), so a consumer orders both by `lsn`. Snapshot events (op r) carry no
    `transaction`, as in Debezium. One field is headwater's own: `headwater.event_time_ms`,
    when the change happened in the simulated world (captured CDC: what the source sink
    wrote in its bookkeeping row with the transaction; null for the snapshot), since a real
    database stamps its own clock's commit time into `source.ts_ms`.
    """
    n = table.num_rows
    names = table.column_names
    op = table["op"].combine_chunks()
    ts_ms = _ms(table["event_time"]).combine_chunks()
    emitted = _ms(table["ingest_time"]) if "ingest_time" in names else ts_ms
    snapshot = (
        table["snapshot"].combine_chunks()
        if "snapshot" in names
        else pc.if_else(pc.equal(op, "r"), "true", "false")
    )
    common = [
        pa.repeat(pa.scalar(source.get("version", "headwater-0.1")), n),
        pa.repeat(pa.scalar(source.get("connector", "headwater")), n),
        pa.repeat(pa.scalar(source.get("name", "headwater")), n),
        ts_ms,
        snapshot,
        pa.repeat(pa.scalar(source.get("db", "app")), n),
    ]
    if "source" in names:
        own = table["source"].combine_chunks()
        fields = [own.field(i) for i in range(own.type.num_fields)]
        labels = [f.name for f in own.type]
    else:
        fields = [
            pa.repeat(pa.scalar(schema.name), n),
            table["txn"].combine_chunks(),
            table["seq"].combine_chunks(),
        ]
        labels = ["table", "txId", "lsn"]
    src = pa.StructArray.from_arrays([*common, *fields], names=[*COMMON_SOURCE, *labels])
    if "total_order" in names:
        total = table["total_order"].combine_chunks()
        own_order = table["collection_order"].combine_chunks()
    else:
        total = own_order = pa.array(_rank(_groups([table]), table["seq"].to_numpy()))
    transaction = pa.StructArray.from_arrays(
        [_txn_key(table), total, own_order],
        names=["id", "total_order", "data_collection_order"],
        mask=pc.equal(op, "r"),
    )
    simulated = _ms(table["simulated_time"] if "simulated_time" in names else table["event_time"])
    return pa.table(
        {
            "before": table["before"],
            "after": table["after"],
            "source": src,
            "op": op,
            "ts_ms": emitted,
            "transaction": transaction,
            "headwater": pa.StructArray.from_arrays(
                [simulated.combine_chunks()], names=["event_time_ms"]
            ),
        }
    )


def known_fields(schema: EntitySchema, payload: str) -> list[str]:
    """The field names a sink's templates may use for an entity (its version fields
    included when it is insert_only)."""
    names = [f.name for f in schema.row_type]
    if payload == "rows":
        names.append("_op")
    elif payload == "changes":
        names += list(CHANGE_COLUMNS)
    else:  # debezium: the envelope's keys, and the row's fields through it
        names += list(ENVELOPE)
    return names


def column_of(values: pa.Table, name: str) -> pa.Array:
    """A field of records: a column, or for Debezium envelopes the row's field."""
    if name in values.column_names:
        return values[name].combine_chunks()
    if "after" in values.column_names and "before" in values.column_names:
        after = values["after"].combine_chunks()
        if name in [f.name for f in after.type]:
            before = values["before"].combine_chunks()
            return pc.coalesce(after.field(name), before.field(name))
    raise KeyError(name)


class ShapeOptions(Spec):
    """The per-sink projection options (files and message sinks)."""

    fields: dict[str, str] | None = Field(
        None,
        description="output name → field name or template, in order, e.g. "
        "{Key: 'Order # {order_id}', At: '{created_at:%Y-%m-%d}'}; default: every field",
    )
    op: bool = Field(True, description="false: leave out the `_op` column")

    @field_validator("fields")
    @classmethod
    def _field_templates(cls, fields: dict[str, str] | None) -> dict[str, str] | None:
        if fields is not None and not fields:
            raise ValueError("fields needs at least one output field (or leave it out)")
        for name, text in (fields or {}).items():
            try:
                _template(text)
            except ValueError as exc:
                raise ValueError(f"fields.{name}: {exc}") from None
        return fields

    def check_fields(
        self, schemas: Mapping[str, EntitySchema], entities: list[str], payload: str
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every field the mapping names exists in every entity, and takes its format spec."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for out, text in (self.fields or {}).items():
            template = _template(text)
            for entity in entities:
                known = known_fields(schemas[entity], payload)
                for message in template_problems(
                    template, entity, known, types_of(schemas[entity])
                ):
                    problems.append((("fields", out), message))
        return problems


def types_of(schema: EntitySchema) -> dict[str, pa.DataType]:
    """The Arrow type of every field of an entity, by name."""
    return {f.name: f.type for f in schema.row_type}


def template_problems(
    template: Template, entity: str, known: list[str], types: dict[str, pa.DataType]
) -> list[str]:
    """What is wrong with `template` for an entity: unknown fields (with a did-you-mean), and
    format specs the field's type cannot take (`{name:.2f}` on text), checked on a sample."""
    from headwater._plugins import suggest

    out = []
    for _, name, spec in template.parts:
        if name is None or name == "entity":
            continue
        if name not in known:
            out.append(f"entity '{entity}' has no field '{name}'{suggest(name, known)}")
            continue
        sample = _sample(types.get(name, CHANGE_TYPES.get(name)))
        if spec and sample is not None:
            try:
                format_column(sample, spec)
            except ValueError as exc:
                out.append(f"field '{name}' of entity '{entity}': {exc}")
    return out


def _sample(t: pa.DataType | None) -> pa.Array | None:
    """One value of type `t` (a format spec is tried on it), None for types without one."""
    if t is None:
        return None
    if pa.types.is_dictionary(t):
        return _sample(t.value_type)
    if pa.types.is_decimal(t):
        return pa.array([Decimal(0)], t)
    try:
        return pa.array([0], pa.int32()).cast(t)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None


def _template(text: str) -> Template:
    """A mapping value: a bare field name is `{name}`."""
    return Template.parse("{" + text + "}" if text.isidentifier() else text)


@dataclass(frozen=True)
class Shape:
    """A sink's `fields:`/`op:` applied to records (see the module's docstring)."""

    sink: str
    fields: tuple[tuple[str, Template], ...] | None
    op: bool

    @classmethod
    def of(cls, sink: str, options: ShapeOptions) -> Shape:
        fields = options.fields
        mapping = None if fields is None else tuple((k, _template(v)) for k, v in fields.items())
        return cls(sink, mapping, options.op)

    def table(self, values: pa.Table, stream: str) -> pa.Table:
        """The reshaped columns of `values` (the records of `stream`)."""
        if self.fields is None:
            return values if self.op or "_op" not in values.column_names else values.drop(["_op"])
        n = values.num_rows
        columns: dict[str, pa.Array] = {}
        for out, template in self.fields:
            try:
                single = template.single
                if single is not None:
                    columns[out] = column_of(values, single)
                    continue
                rendered = template.render(stream, lambda f: column_of(values, f), n)
            except KeyError as exc:
                raise SinkError(
                    self.sink, f"fields.{out}: records of '{stream}' have no field '{exc.args[0]}'"
                ) from None
            except ValueError as exc:
                raise SinkError(self.sink, f"fields.{out}: {exc}") from None
            columns[out] = (
                pa.repeat(pa.scalar(rendered), n) if isinstance(rendered, str) else rendered
            )
        return pa.table(columns) if columns else values.select([])

    def records(self, records: Records) -> Records:
        if self.fields is None and (self.op or "_op" not in records.values.column_names):
            return records
        return replace(
            records, values=self.table(records.values, records.stream), row=records.source
        )


TRANSACTION_STREAM = "transaction"


def transaction_events(tables: dict[str, pa.Table]) -> Records | None:
    """Debezium's transaction metadata (`provide.transaction.metadata`): per transaction of
    `tables` (whole transactions, as `transaction_order` takes them; snapshot rows belong to
    none) a BEGIN and an END event, in commit order: status, id (the events'
    `transaction.id`), ts_ms (its first event's time; END: its last's), and on END
    event_count and data_collections [{data_collection, event_count}] (a re-delivered event
    counts once, as it is the same event)."""
    parts = []
    for entity, t in tables.items():
        t = t.filter(pc.not_equal(t["op"], "r")) if t.num_rows else t
        if t.num_rows:
            parts.append(
                pa.table(
                    {
                        "id": _txn_key(t),
                        "data_collection": pa.repeat(pa.scalar(entity), t.num_rows),
                        "ts": pc.cast(t["event_time"].combine_chunks(), pa.int64()),
                        "seq": t["seq"].combine_chunks(),
                    }
                )
            )
    if not parts:
        return None
    events = pa.concat_tables(parts).sort_by(
        [("id", "ascending"), ("data_collection", "ascending")]
    )
    per_table = events.group_by(["id", "data_collection"], use_threads=False).aggregate(
        [("seq", "count_distinct"), ("ts", "min"), ("ts", "max"), ("seq", "min")]
    )
    txns = per_table.group_by("id", use_threads=False).aggregate(
        [
            ("seq_count_distinct", "sum"),
            ("ts_min", "min"),
            ("ts_max", "max"),
            ("seq_min", "min"),
            ("data_collection", "list"),
            ("seq_count_distinct", "list"),
        ]
    )
    txns = txns.sort_by("seq_min_min")
    n = txns.num_rows
    names = txns["data_collection_list"].combine_chunks()
    counts = txns["seq_count_distinct_list"].combine_chunks()
    collections = pa.ListArray.from_arrays(
        names.offsets,
        pa.StructArray.from_arrays(
            [names.flatten(), counts.flatten()], names=["data_collection", "event_count"]
        ),
    )
    ends = txns["seq_count_distinct_sum"].combine_chunks()
    both = np.arange(2 * n).reshape(2, n).T.ravel()  # BEGIN 0, END 0, BEGIN 1…
    ids = txns["id"].combine_chunks()
    ts = pa.concat_arrays([c.combine_chunks() for c in (txns["ts_min_min"], txns["ts_max_max"])])
    values = pa.table(
        {
            "status": pa.array(["BEGIN"] * n + ["END"] * n),
            "id": pa.concat_arrays([ids, ids]),
            "ts_ms": pc.divide(ts, 1000),
            "event_count": pa.concat_arrays([pa.nulls(n, pa.int64()), ends.cast(pa.int64())]),
            "data_collections": pa.concat_arrays([pa.nulls(n, collections.type), collections]),
        }
    ).take(both)
    first = txns["seq_min_min"].combine_chunks().to_numpy()
    seq = np.concatenate([first * 2, first * 2 + 1])[both]
    times = ts.take(both).cast(pa.timestamp("us", "UTC"))
    return Records(
        TRANSACTION_STREAM,
        values,
        values["id"].combine_chunks(),
        times,
        pa.array(seq),
        pa.repeat(pa.scalar("c"), 2 * n),
    )
