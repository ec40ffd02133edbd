"""An OpenAPI document as a source: every object schema of components/schemas (or Swagger's
definitions) is a table; a `$ref` property to another is a reference."""

from __future__ import annotations

from typing import Any

from headwater.errors import HeadwaterError
from headwater.init.jsonschema import is_object, objects_to_tables
from headwater.init.model import Schema
from headwater.init.schemafile import table_name


def from_openapi(doc: dict[str, Any], label: str) -> Schema:
    if "swagger" in doc:
        schemas, prefix = doc.get("definitions") or {}, "#/definitions/"
    else:
        schemas, prefix = (
            (doc.get("components") or {}).get("schemas") or {},
            "#/components/schemas/",
        )
    defs = {prefix + k: v for k, v in schemas.items()}
    objects = {table_name(k): v for k, v in schemas.items() if is_object(v)}
    if not objects:
        raise HeadwaterError(f"--from: {label} has no object schemas under {prefix[2:-1]}")
    return Schema(objects_to_tables(objects, defs), "openapi", label)
