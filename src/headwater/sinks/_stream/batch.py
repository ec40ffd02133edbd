"""A chunk of encoded records, as the columns a broker's client takes, and their headers."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks import _encode as enc
from headwater.sinks._project import Records, column_of
from headwater.sinks._stream.config import SCHEMA_VERSION

Column: TypeAlias = pa.Array | list[Any]


def _arrow(col: Column, kind: pa.DataType) -> pa.Array:
    return col.cast(kind) if isinstance(col, pa.Array) else pa.array(col, kind)


def _binary_list(col: Column) -> list[Any]:
    if isinstance(col, list):
        return col
    if pa.types.is_string(col.type):
        col = col.cast(pa.binary())
    return col.to_numpy(zero_copy_only=False).tolist()


def _str_list(col: Column) -> list[Any]:
    return col if isinstance(col, list) else enc.as_str(col)


class Batch:
    """One chunk of encoded records.

    Columns are kept as Arrow arrays (or lists where an encoder made Python values) and
    become the Python values a client library takes on first use: `values`, `keys`, `routes`
    (one per message, or one string for all), `event_ids`, `event_times` and `ingest_times`
    (ISO 8601, for headers; empty when unused), `ops`, `timestamps` (ms since the epoch for
    the broker's message timestamp; empty with `timestamp: wall`). `columns()` hands the
    Arrow form to a producer in another process (kafka/_producer.py) without making Python
    objects here.
    """

    def __init__(
        self,
        stream: str,
        values: Column,
        keys: Column,
        routes: Column | str,
        event_ids: Column,
        event_times: Column,
        ops: Column,
        content_type: str,
        size: int,
        schema_version: str = SCHEMA_VERSION,
        ingest_times: Column | None = None,
        timestamps: Column | None = None,
    ):
        self.stream = stream
        self.content_type = content_type
        self.size = size  # payload bytes
        self.schema_version = schema_version
        self._n = len(values)
        self._columns: dict[str, Column | str] = {
            "values": values,
            "keys": keys,
            "routes": routes,
            "event_ids": event_ids,
            "event_times": event_times,
            "ops": ops,
            "ingest_times": ingest_times if ingest_times is not None else list[str](),
            "timestamps": timestamps if timestamps is not None else list[int](),
        }

    def __len__(self) -> int:
        return self._n

    @cached_property
    def values(self) -> list[bytes]:
        values = self._columns["values"]
        if isinstance(values, pa.Array) and values.null_count:
            values = pc.fill_null(values, "")  # a template over a null field renders nothing
        return _binary_list(values)

    @cached_property
    def keys(self) -> list[bytes | None]:
        return _binary_list(self._columns["keys"])

    @cached_property
    def routes(self) -> list[str] | str:
        routes = self._columns["routes"]
        return routes if isinstance(routes, str) else _str_list(routes)

    @cached_property
    def event_ids(self) -> list[str]:
        return _str_list(self._columns["event_ids"])

    @cached_property
    def event_times(self) -> list[str]:
        return _str_list(self._columns["event_times"])

    @cached_property
    def ingest_times(self) -> list[str]:
        return _str_list(self._columns["ingest_times"])

    @cached_property
    def timestamps(self) -> list[int]:
        col = self._columns["timestamps"]
        return col if isinstance(col, list) else col.to_numpy().tolist()  # type: ignore[union-attr]

    @cached_property
    def ops(self) -> list[str]:
        return _str_list(self._columns["ops"])

    def columns(self) -> dict[str, pa.Array | str]:
        """The columns as Arrow arrays (a constant route stays a string; unused ones are
        left out)."""
        columns = {name: self.column(name) for name in self._columns}
        return {name: col for name, col in columns.items() if col is not None}

    def column(self, name: str) -> pa.Array | str | None:
        """One column as an Arrow array (a constant route: its string; unused: None)."""
        col = self._columns[name]
        if isinstance(col, str):
            return col
        if not len(col):  # an empty column is an unused one (a batch is never empty)
            return None
        return pa.array(col, COLUMN_TYPES.get(name, pa.string())) if isinstance(col, list) else col

    @classmethod
    def from_columns(cls, stream: str, columns: dict[str, Any], **meta: Any) -> Batch:
        """The batch `columns()` described (in the producer's process)."""
        return cls(
            stream,
            columns["values"],
            columns["keys"],
            columns["routes"],
            columns["event_ids"],
            columns.get("event_times", []),
            columns["ops"],
            ingest_times=columns.get("ingest_times", []),
            timestamps=columns.get("timestamps", []),
            **meta,
        )

    def route_list(self) -> list[str]:
        return [self.routes] * len(self) if isinstance(self.routes, str) else self.routes

    def distinct_routes(self) -> list[str]:
        routes = self._columns["routes"]
        if isinstance(routes, str):
            return [routes]
        if isinstance(routes, list):
            return list(dict.fromkeys(routes))
        return pc.unique(routes).to_pylist()


#: Batch columns that are no strings.
COLUMN_TYPES = {"values": pa.binary(), "keys": pa.binary(), "timestamps": pa.int64()}


def slice_records(records: Records, start: int, stop: int) -> Records:
    n = stop - start
    ingest = records.ingest_time
    return Records(
        records.stream,
        records.values.slice(start, n),
        records.key.slice(start, n),
        records.event_time.slice(start, n),
        records.seq.slice(start, n),
        records.op.slice(start, n),
        ingest.slice(start, n) if ingest is not None else None,
        records.fault.slice(start, n) if records.fault is not None else None,
        records.row.slice(start, n) if records.row is not None else None,
        records.message_key.slice(start, n) if records.message_key is not None else None,
        records.route,
    )


def field_column(records: Records, name: str) -> pa.Array:
    """A field of the records (before `fields:` reshaped them): a column, or for Debezium
    envelopes the row's field."""
    return column_of(records.source, name)


def header_pairs(batch: Batch) -> Iterator[list[tuple[str, str]]]:
    """Per message: [(event_id, …), (event_time, …), (schema_version, …), (content-type, …)],
    then (ingest_time, …) when the records carry one (the sink has faults).

    One message at a time: a list of them all would be many live objects for the garbage
    collector to walk again and again (it halved Kafka's throughput)."""
    ct = ("content-type", batch.content_type)
    sv = ("schema_version", batch.schema_version)
    pairs = zip(batch.event_ids, batch.event_times, strict=True)
    if not batch.ingest_times:
        for event_id, event_time in pairs:
            yield [("event_id", event_id), ("event_time", event_time), sv, ct]
        return
    for (event_id, event_time), ingest in zip(pairs, batch.ingest_times, strict=True):
        yield [("event_id", event_id), ("event_time", event_time), sv, ct, ("ingest_time", ingest)]
