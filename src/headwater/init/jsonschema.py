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
    defs = {
        **{f"#/definitions/{k}": v for k, v in (doc.get("definitions") or {}).items()},
        **{f"#/$defs/{k}": v for k, v in (doc.get("$defs") or {}).items()},
    }
    named = {table_name(r.rsplit("/", 1)[1]): v for r, v in defs.items() if is_object(v)}
    if is_object(doc):
        named = {table_name(str(doc.get("title") or label.rsplit(".", 1)[0])): doc, **named}
    if not named:
        raise HeadwaterError(f"--from: {label} describes no object with properties")
    return Schema(objects_to_tables(named, defs), "jsonschema", label)


def is_object(schema: Any) -> bool:
    return isinstance(schema, dict) and isinstance(schema.get("properties"), dict)


def objects_to_tables(objects: dict[str, dict[str, Any]], defs: dict[str, Any]) -> dict[str, Table]:
    """Tables from object schemas (name → schema). `defs` holds every definition by its
    `$ref`: a property referring to an object is a reference to its table, one referring to
    anything else (an enum, a formatted string) is that schema. Shared with OpenAPI, whose
    components/schemas are JSON Schema."""
    tables = {}
    for name, schema in objects.items():
        required = set(schema.get("required", []))
        columns, links = [], {}
        for prop, spec in schema["properties"].items():
            spec = spec if isinstance(spec, dict) else {}
            target = defs.get(spec.get("$ref", ""))
            if is_object(target):
                col_name = prop if prop.endswith("_id") else f"{prop}_id"
                links[col_name] = table_name(spec["$ref"].rsplit("/", 1)[1])
                columns.append(property_column(col_name, {}, prop in required))
                continue
            columns.append(property_column(prop, target or spec, prop in required))
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
