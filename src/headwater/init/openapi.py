"""An OpenAPI document as a source: every object schema of components/schemas (or Swagger's
definitions) is a table; a `$ref` property to another is a reference."""

from __future__ import annotations

from typing import Any

from headwater.errors import HeadwaterError
from headwater.init.jsonschema import objects_to_tables
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
    objects = {
        k: v
        for k, v in schemas.items()
        if isinstance(v, dict) and isinstance(v.get("properties"), dict)
    }
    if not objects:
        raise HeadwaterError(f"--from: {label} has no object schemas under {prefix[2:-1]}")
    refs = {prefix + k: table_name(k) for k in objects}
    return Schema(
        objects_to_tables({table_name(k): v for k, v in objects.items()}, refs), "openapi", label
    )
