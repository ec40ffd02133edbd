"""A folder of CSV/TSV files, read by DuckDB as text, NULL and '' as each file spells them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.verify import files as files_io
from headwater.verify.targets._base import literal
from headwater.verify.targets.folder import FolderTarget, compressed, listed


class CsvFolder(FolderTarget):
    kind = "csv"
    suffixes = compressed(".csv", ".tsv")

    def read(self, con: Any, files: list[Path], view: str) -> str:
        # text as written, NULL and '' as the files spell them (verify/files.py)
        return " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_csv({listed(group)}, union_by_name = true, header = true, "
            "all_varchar = true, "
            f"allow_quoted_nulls = false, nullstr = {literal(null)}, encoding = {literal(enc)})"
            for null, enc, group in files_io.csv_groups(files)
        )
