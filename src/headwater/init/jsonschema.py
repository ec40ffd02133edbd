"""A JSON Schema as a source: the root object and every object under `$defs`/`definitions`
become tables; a property that `$ref`s another object becomes a reference to it."""

from __future__ import annotations

from typing import Any

from headwater.errors import HeadwaterError
from headwater.init.model import Column, Kind, Schema, Table
from headwater.init.schemafile import file_table, table_name

_FORMATS: dict[str, Kind] = {
    "date-time": "timestamp",
    "date": "date",
    "time": "time",
    "uuid": "uuid",
}
_TYPES: dict[str, Kind] = {"integer": "int", "number": "float", "boolean": "bool", "string": "text"}


def from_json_schema(doc: dict[str, Any], label: str) -> Schema:
    defs = {**doc.get("definitions", {}), **doc.get("$defs", {})}
    objects = {f"#/$defs/{k}": v for k, v in defs.items()} | {
        f"#/definitions/{k}": v for k, v in defs.items()
    }
    named = {table_name(k): v for k, v in defs.items() if _is_object(v)}
    if _is_object(doc):
        named = {table_name(str(doc.get("title") or label.rsplit(".", 1)[0])): doc, **named}
    refs = {ref: table_name(ref.rsplit("/", 1)[1]) for ref, v in objects.items() if _is_object(v)}
    tables = objects_to_tables(named, refs)
    if not tables:
        raise HeadwaterError(f"--from: {label} describes no object with properties")
    return Schema(tables, "jsonschema", label)


def _is_object(schema: Any) -> bool:
    return isinstance(schema, dict) and isinstance(schema.get("properties"), dict)


def objects_to_tables(objects: dict[str, dict[str, Any]], refs: dict[str, str]) -> dict[str, Table]:
    """Tables from object schemas (name → schema); `refs` maps a `$ref` to its table.
    Shared with OpenAPI, whose components/schemas are JSON Schema objects."""
    tables = {}
    for name, schema in objects.items():
        required = set(schema.get("required", []))
        columns, links = [], {}
        for prop, spec in schema["properties"].items():
            spec = spec if isinstance(spec, dict) else {}
            target = refs.get(spec.get("$ref", ""))
            col_name = prop if target is None or prop.endswith("_id") else f"{prop}_id"
            columns.append(property_column(col_name, spec, prop in required))
            if target is not None:
                links[col_name] = target
        tables[name] = file_table(name, columns, links)
    for table in tables.values():  # a reference takes the type of the key it points at
        for fk in table.foreign_keys:
            parent = tables[fk.table]
            if parent.primary_key:
                table.columns[fk.columns[0]].kind = parent.columns[parent.primary_key[0]].kind
    return tables


def property_column(name: str, spec: dict[str, Any], required: bool) -> Column:
    types = spec.get("type", "string")
    types = [types] if isinstance(types, str) else list(types)
    nullable = not required or "null" in types or bool(spec.get("nullable"))
    main = next((t for t in types if t != "null"), "string")
    fmt = spec.get("format")
    kind: Kind = _FORMATS.get(fmt, _TYPES.get(main, "json")) if fmt else _TYPES.get(main, "json")
    if kind == "float" and spec.get("multipleOf") in (0.01, 0.1, 0.001):
        kind = "decimal"
    col = Column(name, kind, nullable=nullable, fmt=fmt)
    if kind == "decimal":
        col.scale = len(str(spec["multipleOf"]).split(".")[1])
    if isinstance(spec.get("enum"), list):
        col.choices = [v for v in spec["enum"] if v is not None]
    col.minimum = spec.get("minimum", spec.get("exclusiveMinimum"))
    col.maximum = spec.get("maximum", spec.get("exclusiveMaximum"))
    col.length = spec.get("maxLength")
    return col
