"""What every SQL sink shares: DDL from entity schemas, and change rows as parameter tuples.

Dialects differ only in type names, quoting and placeholders; they are data (`Dialect`), so a
new database is a new table of names, not a new code path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.secrets import mask_url, remember
from headwater.sinks._text import to_text
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema, ForeignKey


@dataclass(frozen=True)
class Dialect:
    name: str
    quote: str
    placeholder: str
    types: dict[str, str]  # arrow type family → SQL type; "decimal" may use {p},{s}
    text_key: str  # type for string keys (indexes need bounded lengths in MySQL)
    timestamp_format: str = "%Y-%m-%dT%H:%M:%S"  # how sql_values renders timestamps…
    timestamp_suffix: str = "Z"  # …and what it appends (MySQL DATETIME takes no zone)
    max_ident: int | None = None  # the longest name the server keeps, in `ident_size` units
    ident_bytes: bool = False  # whether that limit counts UTF-8 bytes (else characters)

    def q(self, ident: str) -> str:
        """`ident` as a quoted identifier: the quote character inside it doubled, so any
        name is one identifier and never ends the quoting early."""
        return self.quote + ident.replace(self.quote, self.quote * 2) + self.quote

    def qp(self, ident: str) -> str:
        """`ident` quoted for a statement sent with parameters: with %s placeholders the
        driver reads every % as one, so a % in the name is written %%."""
        quoted = self.q(ident)
        return quoted.replace("%", "%%") if self.placeholder == "%s" else quoted

    def ident_size(self, ident: str) -> int:
        return len(ident.encode()) if self.ident_bytes else len(ident)

    def fits(self, ident: str) -> bool:
        return self.max_ident is None or self.ident_size(ident) <= self.max_ident

    def sql_type(self, t: pa.DataType, *, key: bool = False) -> str:
        if pa.types.is_decimal(t):
            return self.types["decimal"].format(p=t.precision, s=t.scale)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return self.text_key if key else self.types["string"]
        for family, test in _FAMILIES:
            if test(t):
                return self.types[family]
        return self.types["json"]


_FAMILIES: list[tuple[str, Callable[[pa.DataType], bool]]] = [
    ("bool", pa.types.is_boolean),
    ("int", pa.types.is_integer),
    ("float", pa.types.is_floating),
    ("timestamp", pa.types.is_timestamp),
    ("date", pa.types.is_date),
]

SQLITE = Dialect(
    "sqlite",
    '"',
    "?",
    {
        "bool": "BOOLEAN",
        "int": "INTEGER",
        "float": "REAL",
        "timestamp": "TIMESTAMP",
        "date": "DATE",
        "decimal": "DECIMAL({p},{s})",
        "string": "TEXT",
        "json": "JSON",
    },
    "TEXT",
)

POSTGRES = Dialect(
    "postgres",
    '"',
    "%s",
    {
        "bool": "BOOLEAN",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "timestamp": "TIMESTAMPTZ",
        "date": "DATE",
        "decimal": "NUMERIC({p},{s})",
        "string": "TEXT",
        "json": "JSONB",
    },
    "TEXT",
    max_ident=63,  # NAMEDATALEN - 1; longer names are silently cut
    ident_bytes=True,
)

MYSQL = Dialect(
    "mysql",
    "`",
    "%s",
    {
        "bool": "BOOLEAN",
        "int": "BIGINT",
        "float": "DOUBLE",
        "timestamp": "DATETIME(6)",  # UTC by convention: TIMESTAMP would stop in 2038
        "date": "DATE",
        "decimal": "DECIMAL({p},{s})",
        "string": "TEXT",
        "json": "JSON",
    },
    "VARCHAR(255)",  # keys and indexed columns: 255 utf8mb4 chars fit InnoDB's index limit
    "%Y-%m-%d %H:%M:%S",
    "",
    max_ident=64,
)


def create_table(d: Dialect, s: EntitySchema, schemas: dict[str, EntitySchema]) -> list[str]:
    """CREATE TABLE (with primary and foreign keys, NOT NULL on keys) and CREATE INDEX statements."""
    pk = set(s.primary_key)
    keyed = pk | {c for ix in s.indexes for c in ix}
    names = derived_names(d, schemas)
    cols = []
    for f in s.row_type:
        null = " NOT NULL" if f.name in pk else ""
        cols.append(
            f"{d.q(f.name)} {d.sql_type(f.type, key=f.name in keyed or _is_fk(s, f.name))}{null}"
        )
    cols.append(f"PRIMARY KEY ({', '.join(d.q(k) for k in s.primary_key)})")
    for fk in _declared_fks(s, schemas):
        cols.append(
            f"CONSTRAINT {d.q(names['fk', s.name, (fk.field,)])} FOREIGN KEY ({d.q(fk.field)})"
            f" REFERENCES {d.q(fk.entity)} ({d.q(fk.target_field)})"
        )
    stmts = [f"CREATE TABLE {d.q(s.name)} (\n  " + ",\n  ".join(cols) + "\n)"]
    for cols_ in _indexed(s):
        stmts.append(
            f"CREATE INDEX {d.q(names['ix', s.name, cols_])} ON {d.q(s.name)}"
            f" ({', '.join(d.q(c) for c in cols_)})"
        )
    return stmts


def _declared_fks(s: EntitySchema, schemas: dict[str, EntitySchema]) -> list[ForeignKey]:
    """The foreign keys the table declares: an SCD2 history keeps versions whose parents may
    be gone, so only crud tables pointing at crud tables of the same sink get one."""
    if s.write != "crud":
        return []
    return [
        fk for fk in s.foreign_keys if fk.entity in schemas and schemas[fk.entity].write == "crud"
    ]


def _indexed(s: EntitySchema) -> list[tuple[str, ...]]:
    """The column lists that get an index: every foreign key, then the declared indexes."""
    return list(dict.fromkeys([(fk.field,) for fk in s.foreign_keys] + list(s.indexes)))


def derived_names(
    d: Dialect, schemas: dict[str, EntitySchema]
) -> dict[tuple[str, str, tuple[str, ...]], str]:
    """The name of every index ("ix") and foreign key ("fk") of the tables, by (kind, table,
    columns): `ix_<table>_<columns>` when that names one thing and fits the dialect; else
    cut to fit and suffixed with a hash of what it names. The server would otherwise cut it
    (PostgreSQL), refuse it (MySQL) or find it taken by a table or another index."""
    plain: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for s in schemas.values():
        for fk in _declared_fks(s, schemas):
            plain["fk", s.name, (fk.field,)] = f"fk_{s.name}_{fk.field}"
        for cols in _indexed(s):
            plain["ix", s.name, cols] = f"ix_{s.name}_{'_'.join(cols)}"
    uses = Counter([*plain.values(), *schemas])
    out = {}
    for key, name in plain.items():
        if uses[name] > 1 or not d.fits(name):
            digest = hashlib.sha1(json.dumps(key).encode()).hexdigest()[:10]
            name = _cut(d, name, (d.max_ident or 64) - 11) + "_" + digest
        out[key] = name
    return out


def _cut(d: Dialect, name: str, size: int) -> str:
    """The longest start of `name` of at most `size` (in the dialect's units)."""
    if d.ident_bytes:
        return name.encode()[:size].decode(errors="ignore")
    return name[:size]


def _is_fk(s: EntitySchema, field: str) -> bool:
    return any(fk.field == field for fk in s.foreign_keys)


def insert_sql(d: Dialect, s: EntitySchema) -> str:
    names = [f.name for f in s.row_type]
    marks = ", ".join([d.placeholder] * len(names))
    return f"INSERT INTO {d.qp(s.name)} ({', '.join(d.qp(n) for n in names)}) VALUES ({marks})"


def update_sql(d: Dialect, s: EntitySchema) -> str:
    """UPDATE of every non-key column by primary key; parameters: values, then key columns."""
    pk = s.primary_key
    sets = ", ".join(f"{d.qp(f.name)} = {d.placeholder}" for f in s.row_type if f.name not in pk)
    where = " AND ".join(f"{d.qp(k)} = {d.placeholder}" for k in pk)
    return f"UPDATE {d.qp(s.name)} SET {sets} WHERE {where}"


def delete_sql(d: Dialect, s: EntitySchema) -> str:
    where = " AND ".join(f"{d.qp(k)} = {d.placeholder}" for k in s.primary_key)
    return f"DELETE FROM {d.qp(s.name)} WHERE {where}"


def sql_values(col: pa.Array, d: Dialect | None = None) -> list[object]:
    """A column as Python values a DB-API driver accepts (timestamps as ISO text with Z, nested as JSON)."""
    t = col.type
    if pa.types.is_timestamp(t):
        fmt, suffix = (d.timestamp_format, d.timestamp_suffix) if d else ("%Y-%m-%dT%H:%M:%S", "Z")
        col = pc.binary_join_element_wise(pc.strftime(col, fmt), suffix, "")
    elif pa.types.is_date(t) or pa.types.is_decimal(t):
        col = pc.cast(col, pa.string())
    elif pa.types.is_struct(t) or pa.types.is_list(t):
        col = to_text(col)  # nested values as JSON, encoded column-wise
    return col.to_pylist()


def row_params(
    rows: pa.StructArray, names: list[str], d: Dialect | None = None
) -> list[tuple[object, ...]]:
    """Parameter tuples, one per row, of the named fields in order."""
    cols = [sql_values(rows.field(n), d) for n in names]
    return list(zip(*cols, strict=True)) if cols else []


@dataclass
class Statements:
    """The three statements of one table and the column order of their parameters."""

    insert: str
    update: str
    delete: str
    insert_cols: list[str]
    update_cols: list[str]
    key_cols: list[str]
    dialect: Dialect | None = None

    @classmethod
    def of(cls, d: Dialect, s: EntitySchema) -> Statements:
        pk = list(s.primary_key)
        names = [f.name for f in s.row_type]
        return cls(
            insert_sql(d, s),
            update_sql(d, s),
            delete_sql(d, s),
            names,
            [n for n in names if n not in pk] + pk,
            pk,
            d,
        )


def change_params(stmts: Statements, table: pa.Table) -> list[tuple[str, tuple[object, ...]]]:
    """(statement, parameters) for every change row of one entity's change table, in order."""
    ops = table["op"].to_pylist()
    after = table["after"].combine_chunks()
    before = table["before"].combine_chunks()
    d = stmts.dialect
    ins = row_params(after, stmts.insert_cols, d) if any(o in "rc" for o in ops) else []
    upd = row_params(after, stmts.update_cols, d) if "u" in ops else []
    dele = row_params(before, stmts.key_cols, d) if "d" in ops else []
    out = []
    for i, op in enumerate(ops):
        if op in "rc":
            out.append((stmts.insert, ins[i]))
        elif op == "u":
            out.append((stmts.update, upd[i]))
        else:
            out.append((stmts.delete, dele[i]))
    return out


_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DbUrl:
    """A database URL split into connection arguments, with `${VAR}` taken from the environment.

    The password is only ever handed to the driver as an argument; `masked` is the URL to
    show in messages; `secrets.redact(text, url.password)` removes the password from any text
    (a driver's error).
    """

    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None = field(repr=False)
    database: str | None
    params: dict[str, str]
    masked: str

    @classmethod
    def parse(
        cls, url: str, *, password_env: str | None = None, environ: Mapping[str, str] | None = None
    ) -> DbUrl:
        """Split and expand `url`; ValueError names a missing variable (never its value)."""
        env = os.environ if environ is None else environ

        def expand(text: str | None, where: str) -> str | None:
            if text is None:
                return None

            def one(m: re.Match[str]) -> str:
                if m.group(1) not in env:
                    raise ValueError(
                        f"environment variable {m.group(1)} is not set (used in the URL's {where})"
                    )
                return env[m.group(1)]

            return _ENV_VAR.sub(one, unquote(text))

        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"invalid port in {mask_url(url)}") from None
        password = expand(parts.password, "password")
        if password_env is not None:
            if password_env not in env:
                raise ValueError(f"environment variable {password_env} (password_env) is not set")
            password = env[password_env]
            remember(password)
        database = parts.path.lstrip("/") or None
        return cls(
            parts.scheme,
            expand(parts.hostname, "host") or "localhost",
            port,
            expand(parts.username, "user"),
            password,
            expand(database, "database"),
            {k: expand(v, k) or "" for k, v in parse_qsl(parts.query)},
            mask_url(url),
        )


# -- applying one step's transactions on several connections -----------------------------------


@dataclass
class PlannedTxn:
    """One world transaction: its id, its row ranges, the connection and phase it runs in."""

    txn: int
    ranges: list[tuple[str, int, int]]
    lane: int = 0
    phase: int = 0
    ordinal: int = 0  # its number among the transactions sent on its lane (bookkeeping)
    event_time: int = 0  # µs: when it happened in the simulated world (bookkeeping, for CDC)


class TxnPlanner:
    """Routes a step's transactions to `lanes` connections without changing what they mean.

    Steps are barriers, and inside a step the world changes every row at most once, so the
    step's transactions only depend on each other through foreign keys: a transaction goes
    to the lane of its root key (an order and its items together), and deletes of rows that
    other rows point to run in a later phase than the deletes of the rows pointing to them.
    Phases run one after the other; the lanes of a phase run in parallel.
    """

    def __init__(self, schemas: dict[str, EntitySchema], lanes: int):
        self.lanes = lanes
        self.routes = {e: _root_field(s, schemas) for e, s in schemas.items()}
        self.phase_of = delete_phases(schemas)

    def plan(self, changes: Changes) -> list[list[PlannedTxn]]:
        """The step's transactions in commit order, grouped by phase (phases in order)."""
        tables = changes.tables
        txn_ids = {e: t["txn"].to_numpy() for e, t in tables.items()}
        times = {e: pc.cast(t["event_time"], pa.int64()).to_numpy() for e, t in tables.items()}
        lane_of = {e: self._lanes(self.routes[e](t)) for e, t in tables.items()}
        deletes = {
            e: pc.equal(t["op"], "d").to_numpy(zero_copy_only=False) for e, t in tables.items()
        }
        phases: dict[int, list[PlannedTxn]] = {}
        for ranges in changes.transactions():
            entity, start, _ = ranges[0]
            t = PlannedTxn(int(txn_ids[entity][start]), ranges, int(lane_of[entity][start]))
            t.event_time = int(times[entity][start])
            for e, a, b in ranges:
                if deletes[e][a:b].any():
                    t.phase = max(t.phase, self.phase_of[e])
            phases.setdefault(t.phase, []).append(t)
        return [phases[p] for p in sorted(phases)]

    def _lanes(self, keys: pa.Array) -> np.ndarray:
        """A stable lane per key (crc32 of its text), the same in every process."""
        if self.lanes == 1:
            return np.zeros(len(keys), dtype=np.int64)
        text = pc.cast(keys, pa.string()).to_pylist()
        return np.array([zlib.crc32(str(k).encode()) % self.lanes for k in text], dtype=np.int64)

    @staticmethod
    def by_lane(txns: list[PlannedTxn], sent: list[int]) -> dict[int, list[PlannedTxn]]:
        """The phase's transactions per lane, numbered on from `sent` (updated in place).

        The numbers grow along each lane's order of execution (the world's txn ids do not,
        once deletes move to later phases), so "the last one committed" is a single number.
        """
        out: dict[int, list[PlannedTxn]] = {}
        for t in txns:
            sent[t.lane] += 1
            t.ordinal = sent[t.lane]
            out.setdefault(t.lane, []).append(t)
        return out


def _root_field(
    s: EntitySchema, schemas: dict[str, EntitySchema]
) -> Callable[[pa.Table], pa.Array]:
    """Per change row, the key a transaction is routed by: the parent's key for children."""
    parent_fk = next((fk for fk in s.foreign_keys if fk.entity == s.parent), None)
    name = parent_fk.field if parent_fk is not None and s.parent in schemas else s.key

    def keys(t: pa.Table) -> pa.Array:
        after, before = t["after"].combine_chunks(), t["before"].combine_chunks()
        return pc.coalesce(after.field(name), before.field(name))

    return keys


def delete_phases(schemas: dict[str, EntitySchema]) -> dict[str, int]:
    """Phase of a delete per entity: after the deletes of every entity that references it."""
    referrers: dict[str, set[str]] = {e: set() for e in schemas}
    for e, s in schemas.items():
        for fk in s.foreign_keys:
            if fk.entity in referrers and fk.entity != e:
                referrers[fk.entity].add(e)
    phase: dict[str, int] = {}

    def visit(e: str, path: frozenset[str]) -> int:
        if e in phase:
            return phase[e]
        deeper = [visit(r, path | {e}) + 1 for r in referrers[e] if r not in path]
        phase[e] = max(deeper, default=0)
        return phase[e]

    for e in schemas:
        visit(e, frozenset())
    return phase
