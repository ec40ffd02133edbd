"""Reading a ledger back: its manifest, and per sink and entity what was published.

Parts hold everything a sink was handed, in order; what it published is a prefix of
that: the counts committed with the parts, extended by the proofs a run killed or failed
mid-publication left behind (settled against the files and databases, ledger/proof.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from headwater._plugins import suggest
from headwater.core.micros import US
from headwater.errors import VerifyError
from headwater.ledger.proof import settle
from headwater.ledger.writer import ACKS, COMMITTED, FORMAT, INTERVALS, interval_counts


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
        if data.get("format") != FORMAT:
            raise VerifyError(f"--ledger: {manifest} is not a headwater ledger ({FORMAT})")
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
        proofs left by a killed or failed run show."""
        if sink not in self._published:
            rows = dict(self._marks.get(sink, {}))
            for proof in self._proofs.get(sink, []):
                for entity, n in settle(proof, self.root.parent, self._txns(sink)).items():
                    rows[entity] = max(rows.get(entity, 0), n)
            self._published[sink] = rows
        return self._published[sink]

    def _txns(self, sink: str) -> Any:
        def txns(entity: str) -> np.ndarray | None:
            t = self.handed(sink, entity, ["txn"])
            return None if t is None else t["txn"].to_numpy()

        return txns

    def events(self, sink: str, entity: str) -> pa.Table | None:
        """What the sink published of an entity, or None when nothing."""
        handed = self.handed(sink, entity)
        n = self.published(sink).get(entity, 0)
        if handed is None or n == 0:
            return None
        return handed.slice(0, n)

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
