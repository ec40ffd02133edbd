"""--target specs: each registered kind recognizes its own locations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from headwater.errors import VerifyError
from headwater.verify.targets import TARGETS, open_target


def test_urls_name_their_kind() -> None:
    assert open_target("postgresql://u@127.0.0.1/db").kind == "postgres"
    assert open_target("postgres://u@127.0.0.1/db").kind == "postgres"
    kafka = open_target("kafka://127.0.0.1:9092/a,b")
    assert kafka.kind == "kafka" and kafka.describe() == "kafka 127.0.0.1:9092 (a, b)"


def test_database_files_are_recognized_by_bytes_or_suffix(tmp_path: Path) -> None:
    db = tmp_path / "landing.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x INT)")
    assert open_target(str(db)).kind == "sqlite"
    named = tmp_path / "empty.duckdb"
    named.write_bytes(b"")
    assert open_target(str(named)).kind == "duckdb"
    other = tmp_path / "notes.bin"
    other.write_bytes(b"hello")
    with pytest.raises(VerifyError, match=r"not a database file \(duckdb, sqlite\)"):
        open_target(str(other))


def test_every_kind_is_reachable_as_kind_colon_path(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").write_bytes(b"")
    for name in TARGETS.names():
        if TARGETS.get(name).urls:
            continue
        path = tmp_path / "db.sqlite" if name == "sqlite" else tmp_path
        assert open_target(f"{name}:{path}").kind == name


def test_a_folder_is_read_as_the_format_of_most_of_its_files(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv.gz", "c.parquet", "d.xsd"):
        (tmp_path / name).write_bytes(b"")
    assert open_target(str(tmp_path)).kind == "csv"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VerifyError, match=r"no data files \(avro, csv, fixed_width, jsonl"):
        open_target(str(empty))


def test_unknown_targets_list_the_kinds(tmp_path: Path) -> None:
    with pytest.raises(VerifyError, match=r"does not exist .*kinds: avro, csv, duckdb") as err:
        open_target(str(tmp_path / "missing.duckdb"))
    assert "did you mean" not in str(err.value)
    with pytest.raises(VerifyError, match="unknown target kind 'parqet' — did you mean 'parquet'"):
        open_target(f"parqet:{tmp_path}")
    with pytest.raises(VerifyError, match=r"unknown target kind 'mysql' \(expected one of: avro,"):
        open_target("mysql://127.0.0.1/shop")
