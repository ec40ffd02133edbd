"""Append-only, crash-safe ledger writing (see ledger/__init__.py for the layout)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from headwater.faults.malformed import _mix
from headwater.faults.pipeline import Delivery
from headwater.secrets import redact_data
from headwater.world.rates import US

FORMAT = "headwater-ledger/1"
INTERVALS = "_intervals"
ACKS = "_acks"
COMMITTED = "committed"  # the number of the last part whose every file is written


def checksum(seqs: np.ndarray | pa.Array) -> int:
    """Order-independent checksum of a set of events: sum of splitmix64(seq) mod 2^64."""
    arr = seqs.to_numpy() if isinstance(seqs, pa.Array | pa.ChunkedArray) else np.asarray(seqs)
    if len(arr) == 0:
        return 0
    with np.errstate(over="ignore"):
        return int(_mix(0, arr.astype(np.int64)).sum(dtype=np.uint64))


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, UTC).isoformat().replace("+00:00", "Z")


def write_json(path: Path, data: Any) -> None:
    """Atomically replace a JSON file (redacted: no secret a config or summary quoted)."""
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(redact_data(data), indent=2, default=str)
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


class LedgerWriter:
    """Buffers what sinks accepted and appends it as Parquet parts every few steps."""

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        *,
        flush_rows: int = 250_000,
        flush_steps: int = 8,
        interval_us: int = 3600 * US,
    ):
        self.root = Path(root)
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.manifest = {
            "format": FORMAT,
            **manifest,
            "interval_s": interval_us // US,
            "complete": False,
        }
        write_json(self.root / "manifest.json", self.manifest)
        self.flush_rows, self.flush_steps = flush_rows, flush_steps
        self.interval_us = interval_us
        self.buffer: dict[tuple[str, str], list[pa.Table]] = {}
        self.intervals: dict[str, list[pa.Table]] = {}
        self.acks: dict[str, list[pa.Table]] = {}
        self.rows = 0
        self.ack_rows = 0
        self.part = 0
        self.steps = 0
        self.totals: dict[str, dict[str, int]] = {}
        self.acknowledged: dict[str, int] = {}

    @classmethod
    def for_run(
        cls,
        root: Path,
        *,
        scenario: str,
        seed: int,
        start_us: int,
        end_us: int,
        sinks: dict[str, Any],
        **options: Any,
    ) -> LedgerWriter:
        """A ledger for a run; `sinks` maps name → Sink (its kind, entities, schemas, faults)."""
        info = {}
        for name, sink in sinks.items():
            faults = sink.config.faults
            info[name] = {
                "kind": sink.kind,
                "entities": {
                    e: {
                        "key": s.key,
                        "primary_key": list(s.primary_key),
                        "write": s.write,
                        "fields": {f.name: str(f.type) for f in s.row_type},
                    }
                    for e, s in sink.schemas().items()
                },
                "faults": faults.model_dump(mode="json", exclude_defaults=True) if faults else {},
            }
        manifest = {
            "scenario": scenario,
            "seed": seed,
            "start": _iso(start_us),
            "end": _iso(end_us),
            "sinks": info,
        }
        return cls(root, manifest, **options)

    # -- recording ----------------------------------------------------------------------------
    def record(self, sink: str, delivery: Delivery) -> None:
        """What `sink` accepted from one delivery (call after its write() returned)."""
        totals = self.totals.setdefault(sink, {})
        for entity, events in delivery.events.items():
            if events.num_rows == 0:
                continue
            self.buffer.setdefault((sink, entity), []).append(events)
            self.intervals.setdefault(sink, []).append(self._intervals(entity, events))
            self.rows += events.num_rows
            totals[entity] = totals.get(entity, 0) + events.num_rows

    def _intervals(self, entity: str, events: pa.Table) -> pa.Table:
        ingest = pc.cast(events["ingest_time"], pa.int64()).to_numpy()
        bucket = ingest // self.interval_us
        op = pc.index_in(events["op"], value_set=OPS).fill_null(len(OPS)).to_numpy()
        copy = events["copy"].to_numpy()
        faulted = events["fault"].is_valid().to_numpy(zero_copy_only=False)
        seq = events["seq"].to_numpy()
        group = (bucket - bucket.min()) * (len(OPS) + 1) + op
        uniq, inverse = np.unique(group, return_inverse=True)
        inverse = inverse.ravel()
        n = len(uniq)
        first = np.zeros(n, dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]
        originals = copy == 0
        sums = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.add.at(sums, inverse[originals], _mix(0, seq[originals]))
        table = pa.table(
            {
                "entity": pa.array([entity] * n, pa.string()),
                "interval_start": pa.array(bucket[first] * self.interval_us).cast(INTERVAL_TS),
                "op": pc.take(events["op"], pa.array(first)),
                "events": pa.array(np.bincount(inverse, minlength=n).astype(np.int64)),
                "duplicates": pa.array(
                    np.bincount(inverse, weights=~originals, minlength=n).astype(np.int64)
                ),
                "faulted": pa.array(
                    np.bincount(inverse, weights=faulted, minlength=n).astype(np.int64)
                ),
                "checksum": pa.array(sums, pa.uint64()),
            }
        )
        return table

    def record_acks(self, sink: str, acks: pa.Table | None) -> None:
        """What the broker behind `sink` acknowledged, per message (sinks/_stream.py
        ACK_SCHEMA: event_id, route, partition, offset); written with the next flush.

        Acknowledgements arrive when the broker sends them, so which part holds one
        depends on timing; the events' parts do not (they never wait for acks)."""
        if acks is None or acks.num_rows == 0:
            return
        self.acks.setdefault(sink, []).append(acks)
        self.ack_rows += acks.num_rows
        self.acknowledged[sink] = self.acknowledged.get(sink, 0) + acks.num_rows

    def tick(self) -> None:
        """End of a step: flush every `flush_steps` steps or `flush_rows` rows.

        Counting steps and rows, not wall time, keeps the ledger's bytes the same for the
        same scenario and seed.
        """
        self.steps += 1
        if self.rows >= self.flush_rows or (self.rows and self.steps >= self.flush_steps):
            self.flush()

    def flush(self) -> None:
        """Append everything buffered as new parts (each written whole, then renamed)."""
        self.steps = 0
        if not self.rows and not self.ack_rows:
            return
        self.part += 1
        name = f"part-{self.part:06d}.parquet"
        for (sink, entity), tables in self.buffer.items():
            if tables:
                _write(self.root / sink / entity / name, pa.concat_tables(tables))
        for sink, tables in self.intervals.items():
            if tables:
                _write(self.root / sink / INTERVALS / name, pa.concat_tables(tables))
        for sink, tables in self.acks.items():
            if tables:
                _write(self.root / sink / ACKS / name, pa.concat_tables(tables))
        # the flush counts once every file of it is in place: readers ignore later parts
        tmp = self.root / f".{COMMITTED}.tmp"
        tmp.write_text(f"{self.part}\n", encoding="utf-8")
        os.replace(tmp, self.root / COMMITTED)
        self.buffer.clear()
        self.intervals.clear()
        self.acks.clear()
        self.rows = 0
        self.ack_rows = 0

    def close(self, *, complete: bool, summary: dict[str, Any] | None = None) -> None:
        """Flush and mark the ledger complete (a run that failed leaves complete: false)."""
        self.flush()
        self.manifest["complete"] = complete
        self.manifest["totals"] = self.totals
        if self.acknowledged:
            self.manifest["acknowledged"] = self.acknowledged
        if summary:
            self.manifest["summary"] = summary
        write_json(self.root / "manifest.json", self.manifest)


INTERVAL_TS = pa.timestamp("us", tz="UTC")
OPS = pa.array(["r", "c", "u", "d"])


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=1)
        os.replace(tmp, path)
    except BaseException:  # pyarrow removes its file on its own errors only (not Ctrl-C)
        tmp.unlink(missing_ok=True)
        raise
