"""A folder of Parquet files, read by DuckDB (typed: Parquet declares its column types)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.verify.targets.folder import FolderTarget, listed


class ParquetFolder(FolderTarget):
    kind = "parquet"
    typed = True
    suffixes = (".parquet", ".pq")

    def read(self, con: Any, files: list[Path], view: str) -> str:
        return f"SELECT * FROM read_parquet({listed(files)}, union_by_name = true)"
