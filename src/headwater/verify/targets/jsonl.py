"""A folder of JSON Lines files (or JSON arrays of objects), read by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.verify.targets.folder import FolderTarget, compressed, listed


class JsonlFolder(FolderTarget):
    kind = "jsonl"
    suffixes = compressed(".jsonl", ".ndjson", ".json")

    def read(self, con: Any, files: list[Path], view: str) -> str:
        return f"SELECT * FROM read_json({listed(files)}, format = 'auto', union_by_name = true)"
