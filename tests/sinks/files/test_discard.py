"""A file given up unfinished (a failed write, Ctrl-C) leaves no writer behind that tries to
finish it later: pyarrow's ParquetWriter did so in __del__, at exit, with a traceback."""

from __future__ import annotations

import gc
import io
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from headwater.sinks.files.formats.parquet import ParquetWriter
from headwater.sinks.files.publish import PublishedFile

TABLE = pa.table({"id": list(range(100)), "name": ["x"] * 100})


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What destructors raised (Python prints it as "Exception ignored in ...")."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def test_an_aborted_parquet_file_is_not_finished_at_exit(tmp_path: Path, unraisable) -> None:
    f = PublishedFile(tmp_path / "orders.parquet", "parquet", TABLE.schema)
    f.write(TABLE)
    f.abort()
    del f
    gc.collect()
    assert [u.exc_value for u in unraisable] == []
    assert list(tmp_path.iterdir()) == []


def test_a_parquet_writer_on_a_broken_stream_is_let_go(unraisable) -> None:
    stream = io.BytesIO()
    writer = ParquetWriter(stream, TABLE.schema, {"row_group_size": 10})
    writer.write(TABLE)
    stream.close()  # the disk went away: the footer cannot be written
    writer.discard()
    del writer
    gc.collect()
    assert [u.exc_value for u in unraisable] == []
