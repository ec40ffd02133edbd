"""What the schema-file sources share: reading the document, and a table from its columns
with a key found by name (`id`, `<table>_id`) since schema files declare no primary key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from headwater.errors import HeadwaterError
from headwater.init.model import Column, ForeignKey, Table


def read_document(path: Path) -> Any:
    if not path.is_file():
        raise HeadwaterError(f"--from: no such file: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise HeadwaterError(f"--from: {path} is not valid {_format(path)}: {exc}") from None


def _format(path: Path) -> str:
    return "YAML" if path.suffix.lower() in (".yaml", ".yml") else "JSON"


def table_name(text: str) -> str:
    """A title or type name as an entity name: snake_case, only letters, digits and _."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^A-Za-z0-9_]+", "_", snake).strip("_").lower() or "records"


def file_table(name: str, columns: list[Column], refs: dict[str, str]) -> Table:
    """A table of these columns; `refs` maps a column to the table it refers to. The key is
    `id`, `<table>_id`, or a first column named like an id."""
    table = Table(name, {c.name: c for c in columns})
    stem = name[:-1] if name.endswith("s") else name
    first = columns[0].name if columns else ""
    first_id = [first] if first.lower().endswith("id") and first not in refs else []
    for candidate in ("id", f"{stem}_id", f"{name}_id", *first_id, "uuid", "key"):
        if candidate in table.columns:
            table.primary_key = [candidate]
            break
    table.foreign_keys = [ForeignKey([c], target, []) for c, target in refs.items()]
    return table
