"""Files as readers read them: every format the files sink writes, read back by `verify`.

A short world (uuid keys, empty strings and NULLs side by side, decimals, µs timestamps,
unicode, line breaks, quotes and delimiters in text) is dropped as one snapshot per entity
in each format; `headwater verify` against the unchanged folder must pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.ledger.reader import LedgerReader
from headwater.resolve.load import loads
from headwater.runner import run
from headwater.verify import verify

WORLD = """
name: rt
seed: 13
clock: {start: 2026-01-01T00:00:00Z, duration: 4m, step: 30s}
entities:
  items:
    key: id
    initial: 60
    arrivals: 0.2/s
    fields:
      id: {uuid: {}}
      label: {choice: ["", "plain", "ünïcødé ✓ 漢字", "a,b \\"q\\" <x/> & ;", "tab\\there"], null_rate: 0.25}
      note: {choice: NOTES, null_rate: 0.25}
      price: {decimal: {min: 0, max: 99999, scale: 2}, null_rate: 0.1}
      weight: {uniform: {min: 0, max: 10}}
      active: {bool: {p: 0.5}, null_rate: 0.1}
      born: {date: {start: 1990-01-01, end: 2020-12-31}}
      seen: {timestamp: {start: 2025-01-01T00:00:00Z, end: 2025-12-31T00:00:00Z}}
    updates: {rate: 0.5/s, fields: [label, price, note]}
    deletes: {rate: 0.05/s}
sinks:
  out: {kind: files, format: FORMAT, mode: snapshot, every: 1h, path: out, options: OPTIONS}
"""

NOTES = '["", "two\\nlines", "crlf\\r\\nend", " padded "]'
# Per format: its options, and the notes it can hold exactly.
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("{}", NOTES),
    "tsv": ("{}", NOTES),
    "csv-null-token": ('{null: "\\\\N"}', NOTES),  # YAML's null key means the option
    "json": ("{}", NOTES),
    "jsonl": ("{}", NOTES),
    "parquet": ("{}", NOTES),
    "avro": ("{}", NOTES),
    "xml": ("{}", NOTES),
    "xml-attributes": ("{style: attributes}", NOTES),
    "xlsx": ("{}", NOTES),
    # a line holds no line break (written as a space) and padding is stripped: documented in
    # formats/fixed_width.py; an empty string needs a `null` other than ''
    "fixed_width": ('{"null": "\\\\N", header: true}', '["", " leading", "one line"]'),
}


def _run(tmp_path: Path, case: str) -> tuple[Path, Any]:
    fmt = case.split("-")[0] if case.startswith(("csv", "xml")) else case
    options, notes = FORMATS[case]
    text = WORLD.replace("FORMAT", fmt).replace("OPTIONS", options).replace("NOTES", notes)
    run(loads(text), out_dir=tmp_path)
    return tmp_path, verify(tmp_path / "ledger", tmp_path / "out", sink="out")


@pytest.mark.parametrize("case", sorted(FORMATS))
def test_an_unchanged_copy_of_the_files_sink_verifies(tmp_path: Path, case: str) -> None:
    out, report = _run(tmp_path, case)
    items = report.entities[0]
    assert report.ok, report.as_dict()
    assert items.expected > 50 and items.matched == items.expected
    assert items.not_compared == {}
    # what was compared holds what makes formats lossy
    rows = LedgerReader(out / "ledger").events("out", "items")["row"].combine_chunks()
    values = {f: rows.field(f).to_pylist() for f in ("label", "note", "seen", "price")}
    assert {"", None, "ünïcødé ✓ 漢字"} <= set(values["label"]) and {"", None} <= set(
        values["note"]
    )
    assert None in values["price"] and any(t.microsecond % 1000 for t in values["seen"])
    assert case == "fixed_width" or any("\r\n" in n for n in values["note"] if n)
    if case == "csv-null-token":  # the option reached the writer
        (data,) = (out / "out").rglob("*.csv")
        assert "\\N" in data.read_text()


def test_a_copy_that_lost_its_empty_strings_does_not_verify(tmp_path: Path) -> None:
    out, _ = _run(tmp_path, "csv")
    (data,) = (out / "out").rglob("*.csv")
    text = data.read_text()
    assert ',""' in text
    data.write_text(text.replace(',""', ","))  # what a writer blind to '' vs NULL lands
    report = verify(out / "ledger", out / "out", sink="out")
    items = report.entities[0]
    assert not report.ok and items.wrong and set(items.diffs) <= {"label", "note"}
