"""Atomic publication: complete files under final names, or nothing; manifests and markers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from lxml import etree

from headwater.errors import MissingExtra, SinkError
from headwater.sinks.files.publish import (
    MANIFEST,
    SUCCESS,
    AtomicFile,
    FileInfo,
    Manifest,
    PublishedFile,
    clean_stale_temp,
    temp_path,
)

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", "b, c", None]})


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_atomic_file_appears_complete_with_size_and_checksum(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    f = AtomicFile(target)
    with f as stream:
        stream.write(b"hello ")
        stream.write(memoryview(b"world"))
        assert not target.exists()
        assert temp_path(target).exists()
        assert stream.tell() == 11
    assert target.read_bytes() == b"hello world"
    assert (f.bytes, f.sha256) == (11, sha(target))
    assert files_in(target.parent) == ["out.csv"]


def test_an_exception_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), AtomicFile(target) as stream:
        stream.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"previous"
    assert files_in(tmp_path) == ["out.csv"]


def test_gzip_is_deterministic_and_checksummed_compressed(tmp_path: Path) -> None:
    infos = []
    for name in ("a.csv.gz", "b.csv.gz"):
        f = AtomicFile(tmp_path / name, compression="gzip")
        with f as stream:
            stream.write(b"x,y\n" * 1000)
            assert stream.tell() == 4000
        infos.append((f.bytes, f.sha256))
        assert gzip.decompress((tmp_path / name).read_bytes()) == b"x,y\n" * 1000
        assert f.sha256 == sha(tmp_path / name)
        assert f.bytes == (tmp_path / name).stat().st_size < 4000
    assert infos[0] == infos[1]


def test_zstd_compression(tmp_path: Path) -> None:
    target = tmp_path / "a.jsonl.zst"
    f = AtomicFile(target, compression="zstd")
    with f as stream:
        stream.write(b'{"a":1}\n' * 1000)
    data = target.read_bytes()
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read() == (
        b'{"a":1}\n' * 1000
    )
    assert (f.bytes, f.sha256) == (len(data), sha(target))


def test_missing_zstandard_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(MissingExtra, match=r'zstandard.*pip install "headwater\[files\]"'):
        AtomicFile(tmp_path / "a.zst", compression="zstd").open()
    assert files_in(tmp_path) == []


def test_unknown_compression_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="unknown compression 'lz4'"):
        AtomicFile(tmp_path / "a", compression="lz4").open()  # type: ignore[arg-type]


def test_published_csv_with_gzip(tmp_path: Path) -> None:
    f = PublishedFile(tmp_path / "orders.csv.gz", "csv", TABLE.schema, compression="gzip")
    f.write(TABLE.slice(0, 2))
    f.write(TABLE.slice(2))
    info = f.publish()
    spelled = {"null": "", "empty_string": '""', "encoding": "utf-8"}
    assert info == FileInfo(tmp_path / "orders.csv.gz", 3, info.bytes, info.sha256, (), spelled)
    assert gzip.decompress(info.path.read_bytes()) == b'id,name\n1,a\n2,"b, c"\n3,\n'
    assert info.sha256 == sha(info.path)
    assert files_in(tmp_path) == ["orders.csv.gz"]


def test_published_xml_and_avro_write_their_schemas_beside(tmp_path: Path) -> None:
    xml = PublishedFile(tmp_path / "o.xml.gz", "xml", TABLE.schema, compression="gzip")
    xml.write(TABLE)
    info = xml.publish()
    assert [s.path for s in info.sidecars] == [tmp_path / "o.xsd"]
    schema = etree.XMLSchema(etree.parse(str(tmp_path / "o.xsd")))
    schema.assertValid(etree.fromstring(gzip.decompress(info.path.read_bytes())))

    avro = PublishedFile(tmp_path / "o.avro", "avro", TABLE.schema)
    avro.write(TABLE)
    info = avro.publish()
    assert [s.path for s in info.sidecars] == [tmp_path / "o.avsc"]
    assert json.loads((tmp_path / "o.avsc").read_text())["type"] == "record"


def test_parquet_and_xlsx_work_on_the_non_seekable_stream(tmp_path: Path) -> None:
    pq_file = PublishedFile(tmp_path / "o.parquet.zst", "parquet", TABLE.schema, compression="zstd")
    pq_file.write(TABLE)
    info = pq_file.publish()
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(info.path.read_bytes())).read()
    assert pq.read_table(io.BytesIO(raw)).equals(TABLE)

    xlsx = PublishedFile(tmp_path / "o.xlsx", "xlsx", TABLE.schema)
    xlsx.write(TABLE)
    info = xlsx.publish()
    rows = list(openpyxl.load_workbook(info.path).active.iter_rows(values_only=True))
    assert rows == [("id", "name"), (1, "a"), (2, "b, c"), (3, None)]


def test_a_failing_write_discards_the_file(tmp_path: Path) -> None:
    f = PublishedFile(tmp_path / "o.csv", "csv", TABLE.schema, {"quoting": "none"})
    with pytest.raises(SinkError, match="quoting: none"):
        f.write(TABLE)
    assert files_in(tmp_path) == []


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    f = PublishedFile(tmp_path / "o.jsonl", "jsonl", TABLE.schema)
    f.write(TABLE)
    f.abort()
    f.abort()
    assert files_in(tmp_path) == []


def test_bad_options_leave_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="delimiter"):
        PublishedFile(tmp_path / "o.csv", "csv", TABLE.schema, {"delimiter": "ab"})
    assert files_in(tmp_path) == []


def test_manifest_lists_files_and_marks_success(tmp_path: Path) -> None:
    folder = tmp_path / "dt=2026-01-01"
    manifest = Manifest(folder)
    infos = []
    for i in range(2):
        f = PublishedFile(folder / f"part-{i}.jsonl", "jsonl", TABLE.schema)
        f.write(TABLE.slice(i))
        infos.append(f.publish())
        manifest.add(infos[-1])
    assert manifest.write(interval={"start": "2026-01-01T00:00:00Z"}) == folder / MANIFEST
    doc = json.loads((folder / MANIFEST).read_text())
    assert doc == {
        "interval": {"start": "2026-01-01T00:00:00Z"},
        "rows": 5,
        "bytes": sum(i.bytes for i in infos),
        "files": [
            {
                "file": f"part-{i}.jsonl",
                "rows": info.rows,
                "bytes": info.bytes,
                "sha256": sha(info.path),
            }
            for i, info in enumerate(infos)
        ],
    }
    assert (folder / SUCCESS).read_bytes() == b""
    assert manifest.write() is None  # nothing new: not rewritten
    assert files_in(folder) == [SUCCESS, MANIFEST, "part-0.jsonl", "part-1.jsonl"]

    again = Manifest.read(folder)
    assert again.files == doc["files"]
    again.add(infos[0])  # re-publishing the same file replaces its entry
    again.write()
    assert len(json.loads((folder / MANIFEST).read_text())["files"]) == 2


def test_manifest_names_files_in_subfolders_relative_and_lists_sidecars(tmp_path: Path) -> None:
    f = PublishedFile(tmp_path / "orders" / "o.xml", "xml", TABLE.schema)
    f.write(TABLE)
    Manifest(tmp_path).add(f.publish()).write()
    (entry,) = json.loads((tmp_path / MANIFEST).read_text())["files"]
    assert entry["file"] == "orders/o.xml"
    assert [s["file"] for s in entry["sidecars"]] == ["orders/o.xsd"]


@pytest.mark.parametrize(
    ("fmt", "name", "suffix"),
    [
        ("xml", "o.xml", ".xsd"),
        ("avro", "o.avro", ".avsc"),
        ("fixed_width", "o.txt", ".layout.json"),
    ],
)
def test_manifest_hashes_sidecars_like_data_files(
    tmp_path: Path, fmt: str, name: str, suffix: str
) -> None:
    f = PublishedFile(tmp_path / name, fmt, TABLE.schema)
    f.write(TABLE)
    Manifest(tmp_path).add(f.publish()).write()
    (entry,) = json.loads((tmp_path / MANIFEST).read_text())["files"]
    sidecar = tmp_path / f"o{suffix}"
    assert entry["sidecars"] == [
        {"file": sidecar.name, "bytes": sidecar.stat().st_size, "sha256": sha(sidecar)}
    ]


def test_clean_stale_temp_removes_only_dead_writers_files(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    (tmp_path / "a").mkdir()
    stale = tmp_path / "a" / f".x.csv.tmp-{dead_pid}"
    mine = tmp_path / f".y.csv.tmp-{os.getpid()}"
    other = tmp_path / ".z.csv.tmp-1"  # pid 1 is alive (and not ours)
    unrelated = tmp_path / ".hidden"
    for p in (stale, mine, other, unrelated):
        p.write_bytes(b"x")
    assert clean_stale_temp(tmp_path) == [stale]
    assert mine.exists() and other.exists() and unrelated.exists()
    assert clean_stale_temp(tmp_path / "missing") == []


WRITER = textwrap.dedent(
    """
    import sys, pyarrow as pa
    from headwater.sinks.files.publish import PublishedFile
    table = pa.table({"id": list(range(1000)), "name": ["x" * 50] * 1000})
    f = PublishedFile(sys.argv[1], "csv", table.schema, compression=sys.argv[2] or None)
    f.write(table)
    print("writing", flush=True)
    while True:
        f.write(table)
    """
)


@pytest.mark.parametrize("compression", ["", "gzip"])
def test_a_killed_writer_leaves_only_a_temporary_file(tmp_path: Path, compression: str) -> None:
    target = tmp_path / "out" / "orders.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), compression],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 30
        temp = target.with_name(f".orders.csv.tmp-{proc.pid}")
        while not (temp.exists() and temp.stat().st_size > 100_000):
            assert time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert not target.exists()
    assert files_in(target.parent) == [temp.name]
    assert clean_stale_temp(tmp_path) == [temp]
    assert files_in(target.parent) == []
