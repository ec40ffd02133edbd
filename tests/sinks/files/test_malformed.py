"""The files sink writes the malformed fault's text-level kinds into line-oriented files."""

from __future__ import annotations

import csv
import io
import json

import pytest

from headwater.resolve.load import loads
from headwater.runner import run

WORLD = """
name: m
seed: 11
clock: {start: 2026-01-01T00:00:00Z, duration: 10m, step: 1m}
entities:
  clicks:
    key: click_id
    arrivals: 20/s
    fields:
      click_id: {seq: {}}
      page: {choice: [home, cart, "a, b", 'say "hi"']}
      amount: {uniform: {min: 1, max: 100}}
      at: {event_time: {}}
sinks:
"""


def sink(name: str, fmt: str, faults: str) -> str:
    return (
        f"  {name}: {{kind: files, entities: [clicks], format: {fmt}, every: 5m, "
        f"mode: events, payload: changes, path: {name}, faults: {faults}}}\n"
    )


def lines(root, ext):
    parts = sorted(p for p in root.rglob(f"*.{ext}") if not p.name.startswith("_"))
    assert parts
    return parts, [line for p in parts for line in p.read_bytes().splitlines(keepends=True)]


def manifest_rows(root) -> int:
    return sum(json.loads(m.read_text())["rows"] for m in root.rglob("_manifest.json"))


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory):
    folder = tmp_path_factory.mktemp("malformed")
    sc = loads(
        WORLD
        + sink("bad", "jsonl", "{malformed: {rate: 0.05, kinds: [truncate]}}")
        + sink("zero", "jsonl", "{malformed: {rate: 0, kinds: [truncate]}}")
        + "  clean: {kind: files, entities: [clicks], format: jsonl, every: 5m, "
        "mode: events, payload: changes, path: clean}\n"
    )
    report = run(sc, out_dir=folder)
    return folder, report.as_dict()["sinks"]


def test_jsonl_truncate_breaks_about_the_rate_and_keeps_the_rest(jsonl):
    folder, sinks = jsonl
    _, bad = lines(folder / "bad", "jsonl")
    _, zero = lines(folder / "zero", "jsonl")
    _, clean = lines(folder / "clean", "jsonl")
    assert len(bad) == len(zero) == len(clean) > 10_000
    broken = 0
    for b, z, c in zip(bad, zero, clean, strict=True):
        assert b.endswith(b"\n")
        try:
            got = json.loads(b)
        except ValueError:
            broken += 1
            assert z.startswith(b[:-1])  # a prefix of the record it stands for
            continue
        assert b == z  # unmarked lines: byte-identical
        got.pop("_ingest_time")  # the only column faults add
        assert got == json.loads(c)  # and the unfaulted run's record for the same seq
    assert broken / len(bad) == pytest.approx(0.05, abs=0.01)
    assert broken == sinks["bad"]["faults"]["malformed"]["events"]
    assert manifest_rows(folder / "bad") == len(bad)


def test_csv_type_writes_na_cells_and_same_seed_same_bytes(tmp_path):
    spec = WORLD + sink("bad", "csv", "{malformed: {rate: 0.05, kinds: [type]}}")
    spec += sink("t", "tsv", "{malformed: {rate: 0.05, kinds: [encoding, truncate]}}")
    spec += sink("z", "csv", "{malformed: {rate: 0, kinds: [type]}}")
    spec += sink("pq", "parquet", "{malformed: {rate: 0.05, kinds: [type]}}")
    a = run(loads(spec), out_dir=tmp_path / "a").as_dict()["sinks"]
    run(loads(spec), out_dir=tmp_path / "b")

    _, rows = lines(tmp_path / "a" / "bad", "csv")
    header = rows[0]
    data = [r for r in rows if r != header]
    cells = [next(csv.reader(io.StringIO(r.decode()))) for r in data]
    na = sum("N/A" in row for row in cells)
    assert all(len(row) == len(cells[0]) for row in cells)  # type keeps every cell
    assert na / len(data) == pytest.approx(0.05, abs=0.01)
    assert na == a["bad"]["faults"]["malformed"]["events"]
    assert manifest_rows(tmp_path / "a" / "bad") == len(data)
    _, zero = lines(tmp_path / "a" / "z", "csv")
    same = sum(b == z for b, z in zip(rows, zero, strict=True))
    assert same == len(rows) - na  # unmarked rows: byte-identical

    tparts, tsv = lines(tmp_path / "a" / "t", "tsv")
    assert manifest_rows(tmp_path / "a" / "t") == len(tsv) - len(tparts)  # minus headers
    not_utf8 = 0
    for r in tsv:
        try:
            r.decode()
        except UnicodeDecodeError:
            not_utf8 += 1
    assert 0 < not_utf8 < 0.05 * len(tsv)

    for name, ext in (("bad", "csv"), ("t", "tsv"), ("pq", "parquet")):
        first = [p.read_bytes() for p in lines(tmp_path / "a" / name, ext)[0]]
        again = [p.read_bytes() for p in lines(tmp_path / "b" / name, ext)[0]]
        assert first == again
