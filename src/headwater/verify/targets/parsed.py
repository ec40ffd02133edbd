"""Folders of the formats DuckDB cannot read: parsed in Python (verify/files.py) into Arrow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.verify import files as files_io
from headwater.verify.targets.folder import FolderTarget, compressed


class ParsedFolder(FolderTarget):
    def read(self, con: Any, files: list[Path], view: str) -> str:
        con.register(f"{view}_arrow", files_io.read_files(self.kind, files))
        return f"SELECT * FROM {view}_arrow"


class XmlFolder(ParsedFolder):
    kind = "xml"
    suffixes = compressed(".xml")


class XlsxFolder(ParsedFolder):
    kind = "xlsx"
    suffixes = (".xlsx",)


class AvroFolder(ParsedFolder):
    kind = "avro"
    suffixes = (".avro",)


class FixedWidthFolder(ParsedFolder):
    kind = "fixed_width"
    suffixes = compressed(".txt")
