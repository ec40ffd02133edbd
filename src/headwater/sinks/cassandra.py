"""The `cassandra` sink: the world's changes in Cassandra's bulk-load format, one drop per
interval.

No Cassandra server can run on this machine, so this sink writes what a bulk load of the
store takes, and is tested against the CQL grammar of the statements it writes, never
against a fake server:
    schema.cql               CREATE KEYSPACE and one CREATE TABLE per entity, with
                             PRIMARY KEY ((partition_key), clustering)
    <table>.insert.cql       the loader's statement: INSERT … USING TIMESTAMP :writetime
    <table>-NNNNN.csv        per interval, every insert and update as a row (header first),
                             the table's columns then `writetime`
    <table>-NNNNN.cql        per interval, every delete as a tombstone:
                             DELETE FROM … USING TIMESTAMP t WHERE <primary key> = …;
Load the CSV with DSBulk (`dsbulk load -url <table>-NNNNN.csv -header true -query "$(cat
<table>.insert.cql)"`) and run the tombstones with `cqlsh -f`, in any order: Cassandra keeps
for each cell the write with the highest timestamp (a tombstone wins a tie), so the store
ends as the world did. Plain `cqlsh COPY` cannot set a row's write time, hence DSBulk.

Write times are the change's event time in microseconds, made strictly increasing per table
as the drivers' monotonic timestamp generator does (+1µs on a tie), so a key's changes keep
the world's order. A change that moves a row to another primary key (an updated partition
or clustering column) deletes the old one first. Identifiers are always double-quoted (a
quote doubled): names are kept exactly, case and all. Types: strings text, integers bigint,
floats double, decimals decimal, times timestamp (milliseconds, as Cassandra stores them;
the write time keeps microseconds), dates date, booleans boolean, binary blob, nested
values text holding JSON. The CSV follows the loaders' defaults: `"` quotes, `\\` escapes,
an empty field is null.

```yaml
sinks:
  wide:
    kind: cassandra
    keyspace: shop
    partition_key: {orders: [customer_id]}
    clustering: {orders: [order_id]}
```
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from headwater.core.micros import US
from headwater.sinks.base import CheckContext, SinkConfig, SinkContext
from headwater.sinks.files.bulk import BulkConfig, BulkSink, LinesWriter
from headwater.sinks.files.formats import FormatWriter
from headwater.world.schema import EntitySchema

WRITETIME = "writetime"


class CassandraConfig(BulkConfig):
    kind: Literal["cassandra"] = "cassandra"
    path: str = Field(
        "cassandra", description="folder; relative paths are under the run's output folder"
    )
    keyspace: str = Field(
        "headwater", pattern=r"^\w{1,48}$", description="the keyspace of every table"
    )
    replication_factor: int = Field(1, ge=1, description="SimpleStrategy replication factor")
    partition_key: dict[str, list[str]] = Field(
        default_factory=dict, description="per entity, the partition key columns (default: key)"
    )
    clustering: dict[str, list[str]] = Field(
        default_factory=dict, description="per entity, the clustering columns (default: none)"
    )


class CsvRows(LinesWriter):
    extension = "csv"


class CqlStatements(LinesWriter):
    extension = "cql"


def quote(name: str) -> str:
    """A CQL quoted identifier: kept exactly (case, spaces), a double quote doubled."""
    return '"' + name.replace('"', '""') + '"'


def cql_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "blob"
    return "text"  # structs, lists: JSON text


def cql_literal(v: Any) -> str:
    """A value as a CQL constant."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float | Decimal):
        return str(v)
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return "'" + text_value(v).replace("'", "''") + "'"


def text_value(v: Any) -> str:
    """A value as COPY and CQL string constants read it (timestamps in milliseconds)."""
    if isinstance(v, dt.datetime):
        v = v.astimezone(dt.UTC)
        return v.strftime("%Y-%m-%d %H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, dict | list):
        return json.dumps(v, default=str, ensure_ascii=False, sort_keys=True)
    return str(v)


class CassandraSink(BulkSink):
    kind = "cassandra"
    Config = CassandraConfig
    roles: ClassVar[dict[str, str]] = {"rows": "csv", "tombstones": "cql"}
    writers: ClassVar[dict[str, type[FormatWriter]]] = {
        "rows": CsvRows,
        "tombstones": CqlStatements,
    }
    config: CassandraConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.clock: dict[str, int] = {}  # per table, the last write time given (µs)

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Key columns exist, and partition + clustering columns identify a row (they hold
        the entity's key), or rows would overwrite one another."""
        assert isinstance(config, CassandraConfig)
        out: list[tuple[tuple[str | int, ...], str]] = []
        entities = context.entities(config)
        for option in ("partition_key", "clustering"):
            for entity, names in getattr(config, option).items():
                if entity not in entities:
                    out.append(((option, entity), f"'{entity}' is no entity of this sink"))
                    continue
                fields = {f.name for f in context.schemas[entity].row_type}
                out += [
                    ((option, entity, i), f"'{n}' is no field of {entity}")
                    for i, n in enumerate(names)
                    if n not in fields
                ]
        for entity in entities:
            if not re.fullmatch(r"\w{1,48}", entity):
                out.append(((), f"'{entity}' is no Cassandra table name (letters, digits, _)"))
            schema = context.schemas[entity]
            if WRITETIME in {f.name for f in schema.row_type}:
                out.append(((), f"{entity} has a field '{WRITETIME}', the CSV's write time column"))
            keys = _primary_key(config, schema)
            missing = [k for k in schema.primary_key if k not in keys[0] + keys[1]]
            if missing:
                out.append(
                    (
                        ("partition_key", entity),
                        f"partition_key and clustering must hold {entity}'s key {missing}",
                    )
                )
            if not keys[0]:
                out.append((("partition_key", entity), "a partition key needs a column"))
        return out

    def prepare(self) -> dict[str, str]:
        ks = quote(self.config.keyspace)
        lines = [
            f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
            f"{{'class': 'SimpleStrategy', 'replication_factor': "
            f"{self.config.replication_factor}}};\n"
        ]
        out = {}
        for entity, schema in self.schemas().items():
            partition, clustering = _primary_key(self.config, schema)
            columns = ",\n".join(f"  {quote(f.name)} {cql_type(f.type)}" for f in schema.row_type)
            key = "(" + ", ".join(quote(c) for c in partition) + ")"
            key = ", ".join([key, *(quote(c) for c in clustering)])
            lines.append(
                f"CREATE TABLE IF NOT EXISTS {self.table(entity)} (\n{columns},\n"
                f"  PRIMARY KEY ({key})\n);\n"
            )
            names = [f.name for f in schema.row_type]
            out[f"{entity}.insert.cql"] = (
                f"INSERT INTO {self.table(entity)} ({', '.join(quote(n) for n in names)}) "
                f"VALUES ({', '.join(':' + quote(n) for n in names)}) "
                f"USING TIMESTAMP :{WRITETIME};\n"
            )
        out["schema.cql"] = "".join(lines)
        return out

    def table(self, entity: str) -> str:
        return f"{quote(self.config.keyspace)}.{quote(entity)}"

    def header(self, entity: str, role: str) -> str:
        if role != "rows":
            return ""
        return _csv([f.name for f in self.context.schemas[entity].row_type] + [WRITETIME])

    def encode(self, entity: str, changes: pa.Table) -> dict[str, list[str]]:
        schema = self.context.schemas[entity]
        partition, clustering = _primary_key(self.config, schema)
        keys = partition + clustering
        names = [f.name for f in schema.row_type]
        rows: list[str] = []
        tombstones: list[str] = []
        for op, at, before, after in zip(
            changes["op"].to_pylist(),
            changes["event_time"].to_pylist(),
            changes["before"].to_pylist(),
            changes["after"].to_pylist(),
            strict=True,
        ):
            moved = op == "u" and before is not None and any(before[k] != after[k] for k in keys)
            if op == "d" or moved:
                where = " AND ".join(f"{quote(k)} = {cql_literal(before[k])}" for k in keys)
                tombstones.append(
                    f"DELETE FROM {self.table(entity)} USING TIMESTAMP "
                    f"{self._tick(entity, at)} WHERE {where};\n"
                )
            if op != "d":
                values = ["" if after[n] is None else text_value(after[n]) for n in names]
                rows.append(_csv([*values, str(self._tick(entity, at))]))
        return {"rows": rows, "tombstones": tombstones}

    def _tick(self, entity: str, at: dt.datetime) -> int:
        """The next write time of the table: the event time in µs, strictly increasing."""
        us = int(at.timestamp()) * US + at.microsecond
        us = max(us, self.clock.get(entity, us - 1) + 1)
        self.clock[entity] = us
        return us


def _primary_key(config: CassandraConfig, schema: EntitySchema) -> tuple[list[str], list[str]]:
    """(partition key, clustering columns): by default the entity's own key alone."""
    partition = config.partition_key.get(schema.name, list(schema.primary_key))
    return partition, config.clustering.get(schema.name, [])


def _csv(values: list[str]) -> str:
    """A CSV line as cqlsh and DSBulk read by default: a quote or backslash escaped with a
    backslash (not doubled), fields with a comma or line break quoted."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", doublequote=False, escapechar="\\").writerow(values)
    return out.getvalue()
