"""Reading a ledger back: its manifest, and per sink and entity what was published.

Parts hold everything a sink was handed, in order; what it published is a prefix of
that: the counts committed with the parts, extended by the proofs a run killed or failed
mid-publication left behind (settled against the files and databases, ledger/proof.py).
For an `acked` message sink after a failure, or once its broker lost messages, the
rows of that prefix its broker acknowledged and did not lose (ledger/lost.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from headwater._plugins import suggest
from headwater.core.micros import US
from headwater.errors import VerifyError
from headwater.ledger.lost import lost_mask
from headwater.ledger.proof import settle
from headwater.ledger.writer import (
    ACKS,
    COMMITTED,
    INTERVALS,
    READABLE,
    interval_counts,
)


@dataclass(frozen=True)
class EntityInfo:
    name: str
    key: str
    primary_key: tuple[str, ...]
    write: str
    fields: dict[str, str]


@dataclass(frozen=True)
class SinkInfo:
    name: str
    kind: str
    entities: dict[str, EntityInfo]
    faults: dict[str, Any] = field(default_factory=dict)
    acked: bool = False  # published: what its broker acknowledged (Sink.publishes_acked)


class LedgerReader:
    """A ledger folder (or its manifest.json); raises VerifyError when it is not one."""

    def __init__(self, path: str | Path):
        root = Path(path)
        if root.is_file() and root.name == "manifest.json":
            root = root.parent
        manifest = root / "manifest.json"
        if not manifest.exists():
            hint = " (a run writes it to <out>/ledger)" if root.exists() else ""
            raise VerifyError(f"--ledger: no ledger at {root}: manifest.json not found{hint}")
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VerifyError(f"--ledger: cannot read {manifest}: {exc}") from None
        if data.get("format") not in READABLE:
            found = data.get("format")
            what = f"format {found!r}, this version reads {', '.join(READABLE)}"
            raise VerifyError(
                f"--ledger: {manifest} is not a headwater ledger this version reads ({what})"
            )
        self.root = root
        self.manifest = data
        marker = root / COMMITTED
        try:
            commit = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
        except (OSError, ValueError) as exc:
            raise VerifyError(f"--ledger: cannot read {marker}: {exc}") from None
        self.committed: int = commit.get("part", 0)
        self._marks: dict[str, dict[str, int]] = commit.get("published", {})
        self._proofs: dict[str, list[dict[str, Any]]] = commit.get("proofs", {})
        self._lost: dict[str, list[dict[str, Any]]] = commit.get("lost", {})
        self._kept: dict[str, pa.Array | None] = {}
        self._prefixes: dict[str, dict[str, int]] = {}
        self._published: dict[str, dict[str, int]] = {}
        self.complete = bool(data.get("complete"))
        self.sinks = {
            name: SinkInfo(
                name,
                s["kind"],
                {
                    e: EntityInfo(e, v["key"], tuple(v["primary_key"]), v["write"], v["fields"])
                    for e, v in s["entities"].items()
                },
                s.get("faults") or {},
                # format 2 has no flag: a sink that logged acknowledgements is one
                s.get("acked", (root / name / ACKS).is_dir()),
            )
            for name, s in data["sinks"].items()
        }

    def sink(self, name: str | None) -> SinkInfo:
        """The named sink, or the only one; a clear error otherwise."""
        if name is None:
            if len(self.sinks) == 1:
                return next(iter(self.sinks.values()))
            raise VerifyError(
                f"--sink: the ledger has several sinks, choose one: {', '.join(sorted(self.sinks))}"
            )
        if name not in self.sinks:
            raise VerifyError(f"--sink: unknown sink '{name}'{suggest(name, self.sinks)}")
        return self.sinks[name]

    def parts(self, sink: str, entity: str) -> list[Path]:
        """The committed parts, in write order (the files of a crashed flush are skipped)."""
        return [
            p
            for p in sorted((self.root / sink / entity).glob("part-*.parquet"))
            if int(p.stem.removeprefix("part-")) <= self.committed
        ]

    def handed(self, sink: str, entity: str, columns: list[str] | None = None) -> pa.Table | None:
        """Everything the sink was handed of an entity, published or not (None: nothing)."""
        parts = self.parts(sink, entity)
        if not parts:
            return None
        try:
            return pa.concat_tables([pq.read_table(p, columns=columns) for p in parts])
        except (OSError, pa.ArrowException) as exc:
            raise VerifyError(f"--ledger: cannot read {parts[0].parent}: {exc}") from None

    def published(self, sink: str) -> dict[str, int]:
        """Rows per entity the sink published: the committed counts, extended by what the
        proofs left by a killed or failed run show; of an acked sink's, those its broker
        acknowledged and kept (`events()`)."""
        if sink not in self._published:
            rows = dict(self._prefix(sink))
            if self._confirmed(sink) is not None:
                rows = {}
                for entity in self.sinks[sink].entities:
                    handed = self.handed(sink, entity, ["seq"])
                    if handed is not None and (n := self._keep(sink, entity, handed).num_rows):
                        rows[entity] = n
            self._published[sink] = rows
        return self._published[sink]

    def _prefix(self, sink: str) -> dict[str, int]:
        """Rows per entity: the committed counts, extended by the proofs left."""
        if sink not in self._prefixes:
            rows = dict(self._marks.get(sink, {}))
            for proof in self._proofs.get(sink, []):
                for entity, n in settle(proof, self.root.parent, self._txns(sink)).items():
                    rows[entity] = max(rows.get(entity, 0), n)
            self._prefixes[sink] = rows
        return self._prefixes[sink]

    def lost(self, sink: str) -> list[dict[str, Any]]:
        """What the broker behind the sink lost after acknowledging it (ledger/lost.py)."""
        return self._lost.get(sink, [])

    def _confirmed(self, sink: str) -> pa.Array | None:
        """The event ids an acked sink's broker acknowledged and kept, when they say what
        was published (a failed run, or one whose broker lost messages); None otherwise."""
        if sink not in self._kept:
            kept = None
            lost = self.lost(sink)
            if self.sinks[sink].acked and (lost or not self.complete):
                acks = self.acks(sink)
                if acks is None:
                    kept = pa.array([], pa.string())
                else:
                    gone = pa.array(lost_mask(acks, lost))
                    kept = pc.unique(acks["event_id"].filter(pc.invert(gone)).combine_chunks())
            self._kept[sink] = kept
        return self._kept[sink]

    def _keep(self, sink: str, entity: str, handed: pa.Table) -> pa.Table:
        """The rows of the published prefix of `handed` that count as published."""
        published = handed.slice(0, self._prefix(sink).get(entity, 0))
        kept = self._confirmed(sink)
        if kept is None:
            return published
        ids = pc.binary_join_element_wise(f"{entity}-", pc.cast(published["seq"], pa.string()), "")
        return published.filter(pc.is_in(ids, value_set=kept))

    def _txns(self, sink: str) -> Any:
        def txns(entity: str) -> np.ndarray | None:
            t = self.handed(sink, entity, ["txn"])
            return None if t is None else t["txn"].to_numpy()

        return txns

    def events(self, sink: str, entity: str) -> pa.Table | None:
        """What the sink published of an entity, or None when nothing."""
        handed = self.handed(sink, entity)
        if handed is None or not self.published(sink).get(entity, 0):
            return None
        return self._keep(sink, entity, handed)

    def unpublished(self, sink: str) -> dict[str, int]:
        """Rows per entity the sink was handed but did not publish (a killed or failed run)."""
        out = {}
        for entity in self.sinks[sink].entities:
            handed = self.handed(sink, entity, ["seq"])
            left = (0 if handed is None else handed.num_rows) - self.published(sink).get(entity, 0)
            if left:
                out[entity] = left
        return out

    def intervals(self, sink: str) -> pa.Table | None:
        """Per interval, entity and op: events, duplicates, faulted, checksum (published)."""
        if self.unpublished(sink):  # counted again from what was published
            interval_us = int(self.manifest["interval_s"]) * US
            tables = [
                interval_counts(e, ev, interval_us)
                for e in self.sinks[sink].entities
                if (ev := self.events(sink, e)) is not None
            ]
            return pa.concat_tables(tables) if tables else None
        parts = self.parts(sink, INTERVALS)
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts])

    def acks(self, sink: str) -> pa.Table | None:
        """What the broker behind a message sink acknowledged, per message: event_id, route,
        partition and offset (null where the broker has none); None without acks."""
        parts = self.parts(sink, ACKS)
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts])
