"""An Avro schema (.avsc) as a source: each record is a table (named records nested in a
field become tables of their own, referenced from the field), its fields columns."""

from __future__ import annotations

from typing import Any

from headwater.errors import HeadwaterError
from headwater.init.model import Column, Kind, Schema, Table
from headwater.init.schemafile import file_table, table_name

_PRIMITIVES: dict[str, Kind] = {
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "string": "text",
    "bytes": "bytes",
}
_LOGICAL: dict[str, Kind] = {
    "timestamp-millis": "timestamp",
    "timestamp-micros": "timestamp",
    "local-timestamp-millis": "timestamp",
    "local-timestamp-micros": "timestamp",
    "date": "date",
    "time-millis": "time",
    "time-micros": "time",
    "uuid": "uuid",
    "decimal": "decimal",
}


def from_avro(doc: Any, label: str) -> Schema:
    tables: dict[str, Table] = {}
    for record in doc if isinstance(doc, list) else [doc]:
        if not (isinstance(record, dict) and record.get("type") == "record"):
            raise HeadwaterError(f"--from: {label} is not an Avro record schema")
        _record(record, tables)
    return Schema(tables, "avro", label)


def _record(record: dict[str, Any], tables: dict[str, Table]) -> str:
    name = table_name(str(record.get("name", "records")))
    columns, refs = [], {}
    for f in record.get("fields", []):
        col, nested = _field(f, tables)
        columns.append(col)
        if nested is not None:
            refs[col.name] = nested
    tables[name] = file_table(name, columns, refs)
    for column, target in refs.items():
        key = tables[target].primary_key
        if key:
            tables[name].columns[column].kind = tables[target].columns[key[0]].kind
    return name


def _field(f: dict[str, Any], tables: dict[str, Table]) -> tuple[Column, str | None]:
    t = f.get("type")
    nullable = False
    if isinstance(t, list):
        nullable = "null" in t
        t = next((x for x in t if x != "null"), "string")
    if isinstance(t, dict) and t.get("type") == "record":
        return Column(f"{f['name']}_id", "int", nullable=nullable), _record(t, tables)
    if isinstance(t, str) and table_name(t.rsplit(".", 1)[-1]) in tables:  # a record named again
        return Column(f"{f['name']}_id", "int", nullable=nullable), table_name(t.rsplit(".", 1)[-1])
    col = Column(f["name"], "json", nullable=nullable)
    if isinstance(t, str):
        col.kind = _PRIMITIVES.get(t, "text")
    elif isinstance(t, dict):
        logical = t.get("logicalType")
        col.kind = _LOGICAL.get(str(logical), _PRIMITIVES.get(str(t.get("type")), "json"))
        if t.get("type") == "enum":
            col.kind, col.choices = "text", list(t.get("symbols", []))
        if logical == "decimal":
            col.precision, col.scale = t.get("precision"), t.get("scale", 0)
    return col, None
