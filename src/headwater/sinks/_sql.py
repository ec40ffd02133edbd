"""What every SQL sink shares: DDL from entity schemas, and change rows as parameter tuples.

Dialects differ only in type names, quoting and placeholders; they are data (`Dialect`), so a
new database is a new table of names, not a new code path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from headwater.world.schema import EntitySchema


@dataclass(frozen=True)
class Dialect:
    name: str
    quote: str
    placeholder: str
    types: dict[str, str]  # arrow type family → SQL type; "decimal" may use {p},{s}
    text_key: str  # type for string keys (indexes need bounded lengths in MySQL)

    def q(self, ident: str) -> str:
        return f"{self.quote}{ident}{self.quote}"

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


def create_table(d: Dialect, s: EntitySchema, schemas: dict[str, EntitySchema]) -> list[str]:
    """CREATE TABLE (with primary and foreign keys, NOT NULL on keys) and CREATE INDEX statements."""
    pk = set(s.primary_key)
    cols = []
    for f in s.row_type:
        null = " NOT NULL" if f.name in pk else ""
        cols.append(
            f"{d.q(f.name)} {d.sql_type(f.type, key=f.name in pk or _is_fk(s, f.name))}{null}"
        )
    cols.append(f"PRIMARY KEY ({', '.join(d.q(k) for k in s.primary_key)})")
    if s.write == "crud":  # an SCD2 history keeps versions whose parents may be gone
        for fk in s.foreign_keys:
            if fk.entity in schemas and schemas[fk.entity].write == "crud":
                cols.append(
                    f"FOREIGN KEY ({d.q(fk.field)}) REFERENCES {d.q(fk.entity)} ({d.q(fk.target_field)})"
                )
    stmts = [f"CREATE TABLE {d.q(s.name)} (\n  " + ",\n  ".join(cols) + "\n)"]
    indexed = [(fk.field,) for fk in s.foreign_keys] + list(s.indexes)
    for cols_ in dict.fromkeys(indexed):
        name = f"ix_{s.name}_{'_'.join(cols_)}"
        stmts.append(
            f"CREATE INDEX {d.q(name)} ON {d.q(s.name)} ({', '.join(d.q(c) for c in cols_)})"
        )
    return stmts


def _is_fk(s: EntitySchema, field: str) -> bool:
    return any(fk.field == field for fk in s.foreign_keys)


def insert_sql(d: Dialect, s: EntitySchema) -> str:
    names = [f.name for f in s.row_type]
    marks = ", ".join([d.placeholder] * len(names))
    return f"INSERT INTO {d.q(s.name)} ({', '.join(d.q(n) for n in names)}) VALUES ({marks})"


def update_sql(d: Dialect, s: EntitySchema) -> str:
    """UPDATE of every non-key column by primary key; parameters: values, then key columns."""
    pk = s.primary_key
    sets = ", ".join(f"{d.q(f.name)} = {d.placeholder}" for f in s.row_type if f.name not in pk)
    where = " AND ".join(f"{d.q(k)} = {d.placeholder}" for k in pk)
    return f"UPDATE {d.q(s.name)} SET {sets} WHERE {where}"


def delete_sql(d: Dialect, s: EntitySchema) -> str:
    where = " AND ".join(f"{d.q(k)} = {d.placeholder}" for k in s.primary_key)
    return f"DELETE FROM {d.q(s.name)} WHERE {where}"


def sql_values(col: pa.Array) -> list[object]:
    """A column as Python values a DB-API driver accepts (timestamps as ISO text with Z, nested as JSON)."""
    t = col.type
    if pa.types.is_timestamp(t):
        col = pc.binary_join_element_wise(pc.strftime(col, "%Y-%m-%dT%H:%M:%S"), "Z", "")
    elif pa.types.is_date(t) or pa.types.is_decimal(t):
        col = pc.cast(col, pa.string())
    elif pa.types.is_struct(t) or pa.types.is_list(t):
        return [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()]
    return col.to_pylist()


def row_params(rows: pa.StructArray, names: list[str]) -> list[tuple[object, ...]]:
    """Parameter tuples, one per row, of the named fields in order."""
    cols = [sql_values(rows.field(n)) for n in names]
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
        )


def change_params(stmts: Statements, table: pa.Table) -> list[tuple[str, tuple[object, ...]]]:
    """(statement, parameters) for every change row of one entity's change table, in order."""
    ops = table["op"].to_pylist()
    after = table["after"].combine_chunks()
    before = table["before"].combine_chunks()
    ins = row_params(after, stmts.insert_cols) if any(o in "rcu" for o in ops) else []
    upd = row_params(after, stmts.update_cols) if "u" in ops else []
    dele = row_params(before, stmts.key_cols) if "d" in ops else []
    out = []
    for i, op in enumerate(ops):
        if op in "rc":
            out.append((stmts.insert, ins[i]))
        elif op == "u":
            out.append((stmts.update, upd[i]))
        else:
            out.append((stmts.delete, dele[i]))
    return out
