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

from headwater.core.micros import US
from headwater.core.random import mix
from headwater.faults.pipeline import Delivery
from headwater.ledger.proof import covered, portable
from headwater.secrets import redact_data

FORMAT = "headwater-ledger/3"  # 3: `lost` records, sinks `acked`
READABLE = ("headwater-ledger/2", FORMAT)  # 2 has neither: nothing lost, read as before
INTERVALS = "_intervals"
ACKS = "_acks"
COMMITTED = "committed"  # JSON: the last part whose files are all written; what is published


def checksum(seqs: np.ndarray | pa.Array) -> int:
    """Order-independent checksum of a set of events: sum of splitmix64(seq) mod 2^64."""
    arr = seqs.to_numpy() if isinstance(seqs, pa.Array | pa.ChunkedArray) else np.asarray(seqs)
    if len(arr) == 0:
        return 0
    with np.errstate(over="ignore"):
        return int(mix(0, arr.astype(np.int64)).sum(dtype=np.uint64))


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, UTC).isoformat().replace("+00:00", "Z")


def write_json(path: Path, data: Any) -> None:
    """Atomically replace a JSON file (redacted: no secret a config or summary quoted)."""
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(redact_data(data), indent=2, default=str)
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


class LedgerWriter:
    """Buffers what sinks are handed and appends it as Parquet parts when flushed (the
    runner flushes before handing it to the sinks), with what each sink published so far
    and proofs for what it is publishing."""

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        *,
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
        self.interval_us = interval_us
        self.buffer: dict[tuple[str, str], list[pa.Table]] = {}
        self.intervals: dict[str, list[pa.Table]] = {}
        self.acks: dict[str, list[pa.Table]] = {}
        self.rows = 0
        self.ack_rows = 0
        self.part = 0
        self.totals: dict[str, dict[str, int]] = {}
        self.marks: dict[str, dict[str, int]] = {}  # rows published, per sink and entity
        self.proofs: dict[str, list[dict[str, Any]]] = {}
        self.lost: dict[str, list[dict[str, Any]]] = {}  # ledger/lost.py records, per sink
        self.changed = False  # marks, proofs or lost changed since the last flush
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
                # published: what the broker acknowledged (ledger/reader.py), not all handed
                "acked": sink.publishes_acked,
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
        """What `sink` is handed in one delivery (call before its write()): pending until
        `published`, or a proof given to `announce`, says it is visible."""
        totals = self.totals.setdefault(sink, {})
        for entity, events in delivery.events.items():
            if events.num_rows == 0:
                continue
            self.buffer.setdefault((sink, entity), []).append(events)
            self.intervals.setdefault(sink, []).append(self._intervals(entity, events))
            self.rows += events.num_rows
            totals[entity] = totals.get(entity, 0) + events.num_rows

    def announce(self, sink: str, proof: dict[str, Any]) -> None:
        """`sink` is about to publish: what it was handed so far is written now, with
        `proof`, how a reader tells after a crash what got published (ledger/proof.py)."""
        proof = portable(proof, self.root.parent)
        if proof not in self.proofs.setdefault(sink, []):
            self.proofs[sink].append(proof)
            self.changed = True
        if self.changed or self.rows:
            self.flush()

    def published(self, sink: str, rows: dict[str, int]) -> None:
        """What `sink` has made visible so far: rows per entity in the order it was handed
        them. Written with the next flush."""
        handed = self.totals.get(sink, {})
        mark = {e: n for e, n in rows.items() if n}
        proofs = self.proofs.get(sink, [])
        left = [p for p in proofs if not covered(p, mark, handed)]
        if mark != self.marks.get(sink, {}) or len(left) < len(proofs):
            self.marks[sink], self.proofs[sink] = mark, left
            self.changed = True

    def record_lost(self, sink: str, records: list[dict[str, Any]] | None) -> None:
        """What the broker behind `sink` lost after acknowledging it (ledger/lost.py);
        written with the next flush, so a reader no longer counts it published."""
        if records:
            self.lost.setdefault(sink, []).extend(records)
            self.changed = True

    def unpublished(self) -> dict[str, dict[str, int]]:
        """Rows per sink and entity handed but not (yet) reported published."""
        out = {}
        for sink, handed in self.totals.items():
            marks = self.marks.get(sink, {})
            left = {e: n - marks.get(e, 0) for e, n in handed.items() if n > marks.get(e, 0)}
            if left:
                out[sink] = left
        return out

    def _intervals(self, entity: str, events: pa.Table) -> pa.Table:
        return interval_counts(entity, events, self.interval_us)

    def record_acks(self, sink: str, acks: pa.Table | None) -> None:
        """What the broker behind `sink` acknowledged, per message (sinks/_stream/acks.py
        ACK_SCHEMA: event_id, route, partition, offset); written with the next flush.

        Acknowledgements arrive when the broker sends them, so which part holds one
        depends on timing; the events' parts do not (they never wait for acks)."""
        if acks is None or acks.num_rows == 0:
            return
        self.acks.setdefault(sink, []).append(acks)
        self.ack_rows += acks.num_rows
        self.acknowledged[sink] = self.acknowledged.get(sink, 0) + acks.num_rows

    def flush(self) -> None:
        """Append everything buffered as new parts (each written whole, then renamed), then
        commit them with what is published in one atomic rename of `committed`."""
        if not self.rows and not self.ack_rows and not self.changed:
            return
        if self.rows or self.ack_rows:
            self._parts()
        # the flush counts once every file of it is in place: readers ignore later parts
        marker = {
            "part": self.part,
            "published": {s: m for s, m in self.marks.items() if m},
            "proofs": {s: p for s, p in self.proofs.items() if p},
            "lost": self.lost,
        }
        write_json(self.root / COMMITTED, marker)
        self.changed = False

    def _parts(self) -> None:
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
        self.buffer.clear()
        self.intervals.clear()
        self.acks.clear()
        self.rows = 0
        self.ack_rows = 0

    def close(self, *, complete: bool, summary: dict[str, Any] | None = None) -> None:
        """Flush and mark the ledger complete (a run that failed leaves complete: false).

        `totals` is what each sink was handed; where that is more than it published,
        `unpublished` says how much (a reader settles the proofs left, ledger/proof.py); for
        an `acked` sink after a failure it is what its broker did not acknowledge or lost,
        as the reader counts it."""
        self.flush()
        self.manifest["complete"] = complete
        self.manifest["totals"] = self.totals
        unpublished = self.unpublished()
        if unpublished:
            self.manifest["unpublished"] = unpublished
        if self.acknowledged:
            self.manifest["acknowledged"] = self.acknowledged
        if self.lost:
            self.manifest["lost"] = self.lost
        if summary:
            self.manifest["summary"] = summary
        write_json(self.root / "manifest.json", self.manifest)
        acked = [s for s, info in self.manifest["sinks"].items() if info.get("acked")]
        if acked and (self.lost or not complete):
            from headwater.ledger.reader import LedgerReader  # it reads this module's layout

            reader = LedgerReader(self.root)
            left = {s: n for s, n in unpublished.items() if s not in acked}
            left.update({s: n for s in acked if (n := reader.unpublished(s))})
            self.manifest.pop("unpublished", None)
            if left:
                self.manifest["unpublished"] = left
            write_json(self.root / "manifest.json", self.manifest)


INTERVAL_TS = pa.timestamp("us", tz="UTC")
OPS = pa.array(["r", "c", "u", "d"])


def interval_counts(entity: str, events: pa.Table, interval_us: int) -> pa.Table:
    """Per ingest-time interval and op of `events`: events, duplicates, faulted, checksum."""
    ingest = pc.cast(events["ingest_time"], pa.int64()).to_numpy()
    bucket = ingest // interval_us
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
        np.add.at(sums, inverse[originals], mix(0, seq[originals]))
    return pa.table(
        {
            "entity": pa.array([entity] * n, pa.string()),
            "interval_start": pa.array(bucket[first] * interval_us).cast(INTERVAL_TS),
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


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=1)
        os.replace(tmp, path)
    except BaseException:  # pyarrow removes its file on its own errors only (not Ctrl-C)
        tmp.unlink(missing_ok=True)
        raise
