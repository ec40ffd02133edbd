"""Folder targets read each file with its own spelling of NULL and the empty string."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from headwater.errors import VerifyError
from headwater.sinks.files.publish import Manifest, PublishedFile
from headwater.verify.targets import open_target

TABLE = pa.table({"id": [1, 2, 3], "s": [None, "", "Zürich"]})


def _publish(folder: Path, name: str, fmt: str, options: dict | None = None) -> None:
    compression = {".gz": "gzip", ".zst": "zstd"}.get(Path(name).suffix)
    f = PublishedFile(folder / name, fmt, TABLE.schema, options, compression=compression)
    f.write(TABLE)
    Manifest.read(folder).add(f.publish()).write()


def _rows(root: Path, table: str = "items") -> list[tuple]:
    con = duckdb.connect()
    assert open_target(str(root)).relation(con, table, "v")
    return con.execute("SELECT id::INT, s FROM v ORDER BY 1, 2 NULLS FIRST").fetchall()


def test_csv_files_with_different_null_spellings_in_one_entity(tmp_path: Path) -> None:
    _publish(tmp_path / "items" / "a", "items-1.csv", "csv")
    _publish(
        tmp_path / "items" / "b", "items-2.csv", "csv", {"null": "NULL", "encoding": "latin-1"}
    )
    _publish(tmp_path / "items" / "b", "items-3.tsv.zst", "tsv", {"null": "\\N"})
    assert _rows(tmp_path) == [
        (i, s) for i, s in [(1, None), (2, ""), (3, "Zürich")] for _ in range(3)
    ]


def test_a_csv_without_manifest_is_read_with_postgresql_copys_convention(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text('id,s\n1,\n2,""\n3,Zürich\n')
    assert _rows(tmp_path) == [(1, None), (2, ""), (3, "Zürich")]


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("xml", "items-1.xml"),
        ("xlsx", "items-1.xlsx"),
        ("avro", "items-1.avro"),
        ("json", "items-1.json"),
    ],
)
def test_other_formats_keep_null_and_empty_apart(tmp_path: Path, fmt: str, name: str) -> None:
    _publish(tmp_path / "items", name, fmt)
    target = open_target(str(tmp_path))
    assert target.describe().startswith({"json": "jsonl"}.get(fmt, fmt))
    assert _rows(tmp_path) == [(1, None), (2, ""), (3, "Zürich")]


def test_fixed_width_is_sliced_by_its_layout_and_needs_it(tmp_path: Path) -> None:
    _publish(tmp_path / "items", "items-1.txt.gz", "fixed_width", {"null": "-", "header": True})
    assert open_target(str(tmp_path)).describe().startswith("fixed_width")
    assert _rows(tmp_path) == [(1, None), (2, ""), (3, "Zürich")]
    (tmp_path / "items" / "items-1.layout.json").unlink()
    with pytest.raises(VerifyError, match=r"needs its layout items-1\.layout\.json"):
        _rows(tmp_path)
