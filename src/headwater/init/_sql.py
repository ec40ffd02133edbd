"""What the three database sources share: SQL type names → column kinds, CHECK clauses →
allowed values and ranges, and reading a bounded random sample into Arrow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from headwater.init.model import Column, Kind, Table

#: headwater's own bookkeeping tables in a database it wrote (not part of the user's schema)
OWN_TABLES = re.compile(r"^headwater_")

_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_KINDS: list[tuple[str, Kind]] = [
    ("interval", "text"),
    ("point", "text"),
    ("tinyint(1)", "bool"),
    ("bool", "bool"),
    ("bit", "bool"),
    ("int", "int"),
    ("serial", "int"),
    ("numeric", "decimal"),
    ("decimal", "decimal"),
    ("money", "decimal"),
    ("number", "decimal"),
    ("real", "float"),
    ("float", "float"),
    ("double", "float"),
    ("timestamp", "timestamp"),
    ("datetime", "timestamp"),
    ("date", "date"),
    ("time", "time"),
    ("uuid", "uuid"),
    ("json", "json"),
    ("blob", "bytes"),
    ("bytea", "bytes"),
    ("binary", "bytes"),
]


def column(name: str, type_name: str, *, nullable: bool) -> Column:
    """A column from a SQL type name as any of the three databases spells it."""
    t = type_name.lower().strip()
    kind: Kind = next((k for word, k in _KINDS if word in t), "text")
    if t.startswith(("enum(", "set(")):  # its values may spell a type's name
        kind = "text"
    elif t.endswith("]"):  # a PostgreSQL array
        kind = "json"
    col = Column(name, kind, nullable=nullable)
    args = _ARGS.search(t)
    if args and kind == "decimal":
        col.precision = int(args.group(1))
        col.scale = int(args.group(2) or 0)
    elif args and kind == "text":
        col.length = int(args.group(1))
    if t.startswith(("enum(", "set(")):
        col.choices = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", type_name)]
    return col


_CAST = re.compile(r"::[a-z_ ]+(?:\[\])?", re.I)
_NAME = r"[`\"\[]?(\w+)[`\"\]]?"
_NUM = r"\(*\s*(-?\d+(?:\.\d+)?)\s*\)*"
_IN = re.compile(_NAME + r"\s*\)*\s+IN\s*\(([^()]*)\)", re.I)
_ANY = re.compile(_NAME + r"\s*\)*\s*=\s*ANY\s*\(+\s*ARRAY\s*\[([^\]]*)\]", re.I)
_BETWEEN = re.compile(_NAME + r"\s*\)*\s+BETWEEN\s+" + _NUM + r"\s+AND\s+" + _NUM, re.I)
_COMPARE = re.compile(_NAME + r"\s*\)*\s*(>=|>|<=|<)\s*" + _NUM)
_LITERAL = re.compile(r"'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)")


def _literals(text: str) -> list[str | int | float]:
    out: list[str | int | float] = []
    for s, n in _LITERAL.findall(text):
        if not n:
            out.append(s.replace("''", "'"))
        else:
            out.append(float(n) if "." in n else int(n))
    return out


def apply_check(table: Table, clause: str) -> None:
    """Carry what a CHECK clause says about single columns (allowed values, bounds) onto them;
    anything more involved is left to the user."""
    text = _CAST.sub("", clause)
    cols = {c.lower(): c for c in table.columns}
    for pattern in (_IN, _ANY):
        for name, values in pattern.findall(text):
            if name.lower() in cols:
                table.columns[cols[name.lower()]].choices = _literals(values)
    for name, lo, hi in _BETWEEN.findall(text):
        if name.lower() in cols:
            col = table.columns[cols[name.lower()]]
            col.minimum, col.maximum = float(lo), float(hi)
    for name, op, value in _COMPARE.findall(text):
        if name.lower() in cols:
            col = table.columns[cols[name.lower()]]
            if op.startswith(">"):
                col.minimum = float(value)
            else:
                col.maximum = float(value)


def check_clauses(ddl: str) -> list[str]:
    """The bodies of every CHECK (…) in a CREATE TABLE statement (SQLite keeps only the text)."""
    found = []
    for m in re.finditer(r"\bCHECK\s*\(", ddl, re.I):
        depth, i = 1, m.end()
        while i < len(ddl) and depth:
            depth += {"(": 1, ")": -1}.get(ddl[i], 0)
            i += 1
        found.append(ddl[m.end() : i - 1])
    return found


def to_arrow(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Driver rows as Arrow columns; a column of mixed Python types (SQLite) becomes text."""
    columns = []
    for values in zip(*rows, strict=True) if rows else [()] * len(names):
        try:
            columns.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            columns.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.Table.from_arrays(columns, names=list(names))
