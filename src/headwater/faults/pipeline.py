"""Apply one sink's faults to the world's steps: what the sink receives, and when.

    pipeline = FaultPipeline(sink_name, config, context)
    for changes in world.steps():
        for delivery in pipeline.deliver(changes):   # usually one; more when drift splits
            sink.write(delivery)                     # a Changes, plus ingest_time/fault columns
            ledger.record(sink_name, delivery)       # delivery.events: the ledger's view
    for delivery in pipeline.drain():                # what was still late when the world ended
        ...

A sink without faults gets the world's tables untouched (no extra columns). With faults,
its tables also have `ingest_time` (when the source delivered the change) and `fault`
('late', 'duplicate', 'late,outage', 'malformed:truncate'…, null when clean), and carry the
schema version as metadata `headwater.schema_version`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.spec import TIMESTAMP
from headwater.faults.base import Fault, FaultContext, Part, enter, image, labels
from headwater.faults.config import FaultsConfig
from headwater.world.changes import Changes

VERSION_KEY = b"headwater.schema_version"


@dataclass(frozen=True)
class Delivery(Changes):
    """A slice of delivery time as one sink receives it (a Changes with extras).

    versions: entity → schema version of its table; outage: the source is down for the whole
    slice; events: entity → the ledger's view of what was delivered (see ledger_view).
    """

    versions: dict[str, int] = field(default_factory=dict)
    outage: bool = False
    events: dict[str, pa.Table] = field(default_factory=dict, repr=False, compare=False)


def ledger_view(
    table: pa.Table,
    *,
    event_time: pa.Array | None = None,
    ingest: pa.Array | None = None,
    fault: pa.Array | None = None,
    copy: pa.Array | None = None,
    version: int = 1,
    row: pa.Array | None = None,
) -> pa.Table:
    """What the ledger keeps of delivered changes: ids, times, fault, and the row image."""
    n = table.num_rows
    et = table["event_time"] if event_time is None else event_time
    return pa.table(
        {
            "seq": table["seq"],
            "txn": table["txn"],
            "op": table["op"],
            "key": table["key"],
            "event_time": et,
            "ingest_time": et if ingest is None else ingest,
            "fault": pa.nulls(n, pa.string()) if fault is None else fault,
            "copy": pa.array(np.zeros(n, dtype=np.int8)) if copy is None else copy,
            "version": pa.array(np.full(n, version, dtype=np.int32)),
            "row": image(table) if row is None else row,
        }
    )


class FaultPipeline:
    """One sink's faults, their delivery buffer, and what they did."""

    def __init__(self, sink: str, config: FaultsConfig | None, ctx: FaultContext):
        from headwater.faults import FAULTS

        self.sink, self.ctx = sink, ctx
        self.config = config
        faults: list[Fault] = []
        for name in config.declared() if config is not None else []:
            faults.append(FAULTS.get(name)(getattr(config, name), ctx))
        self.arrive = sorted((f for f in faults if f.stage == "arrive"), key=lambda f: f.order)
        self.emit = sorted((f for f in faults if f.stage == "emit"), key=lambda f: f.order)
        self.faults = faults
        self.pending: dict[str, list[pa.Table]] = {}
        self.cuts = sorted({b for f in faults for b in f.boundaries()})
        self.delivered = 0
        self.last_step = 0

    @property
    def clean(self) -> bool:
        return not self.faults

    def version(self, entity: str, at_us: int) -> int:
        """The schema version a fault that versions the schema gives, else the first."""
        return next((v for f in self.faults if (v := f.version(entity, at_us)) is not None), 1)

    # -- stepping -----------------------------------------------------------------------------
    def deliver(self, changes: Changes) -> list[Delivery]:
        """The slices of [start, end) the sink receives for this step of the world."""
        self.last_step = changes.step
        if self.clean:
            tables = {e: t for e, t in changes.tables.items() if t.num_rows}
            self.delivered += sum(t.num_rows for t in tables.values())
            return [
                Delivery(
                    changes.step,
                    changes.start_us,
                    changes.end_us,
                    changes.tables,
                    events={e: ledger_view(t) for e, t in tables.items()},
                )
            ]
        for entity, table in changes.tables.items():
            if table.num_rows == 0:
                continue
            frame = enter(table)
            for fault in self.arrive:
                frame = fault.arrive(entity, frame, changes.step)
            self.pending.setdefault(entity, []).append(_in_order(frame))
        start, end = changes.start_us, changes.end_us
        due = self._take(end, inclusive=start == end)
        return self._slices(changes.step, start, end, due)

    def drain(self) -> list[Delivery]:
        """Everything still waiting (late beyond the end of the run), at its own times."""
        if self.clean or not any(t.num_rows for ts in self.pending.values() for t in ts):
            return []
        due = self._take(None, inclusive=True)
        last = max(int(pc.max(t["_ingest"]).as_py()) for t in due.values() if t.num_rows)
        return self._slices(self.last_step + 1, self.ctx.end_us, last + 1, due)

    def waiting(self) -> int:
        """Changes held in the delivery buffer now."""
        return sum(t.num_rows for ts in self.pending.values() for t in ts)

    def _take(self, end: int | None, *, inclusive: bool) -> dict[str, pa.Table]:
        """Rows due by `end` (all when None), in delivery order; the rest stays buffered.

        The buffer is a list of chunks, each sorted by delivery: what is due is a prefix of
        every chunk (a zero-copy slice), so a step costs what it delivers, not what waits.
        """
        out = {}
        for entity, chunks in self.pending.items():
            due, rest = [], []
            for chunk in chunks:
                if end is None:
                    k = chunk.num_rows
                else:
                    ingest = chunk["_ingest"].to_numpy()
                    k = int(np.searchsorted(ingest, end, side="right" if inclusive else "left"))
                if k:
                    due.append(chunk.slice(0, k))
                if k < chunk.num_rows:
                    rest.append(chunk.slice(k))
            self.pending[entity] = rest
            if due:
                out[entity] = due[0] if len(due) == 1 else _in_order(pa.concat_tables(due))
        return out

    def _slices(self, step: int, start: int, end: int, due: dict[str, pa.Table]) -> list[Delivery]:
        cuts = [c for c in self.cuts if start < c < end]
        bounds = [start, *cuts, end]
        out = []
        for index in range(len(bounds) - 1):
            ps, pe = bounds[index], bounds[index + 1]
            last = index == len(bounds) - 2
            part = Part(step, index, ps, pe)
            tables, events, versions = {}, {}, {}
            for entity, frame in due.items():
                ingest = frame["_ingest"].to_numpy()
                lo = int(np.searchsorted(ingest, ps, side="left")) if index else 0
                hi = len(ingest) if last else int(np.searchsorted(ingest, pe, side="left"))
                if hi <= lo:
                    continue
                sub = frame.slice(lo, hi - lo)
                version = self.version(entity, ps)
                tables[entity], events[entity] = self._emit(entity, sub, part, version)
                versions[entity] = version
                self.delivered += hi - lo
            down = any(f.down(ps, pe) for f in self.faults)
            out.append(Delivery(step, ps, pe, tables, versions, down, events))
        return out

    def _emit(
        self, entity: str, frame: pa.Table, part: Part, version: int
    ) -> tuple[pa.Table, pa.Table]:
        row = image(frame)
        for fault in self.emit:
            frame = fault.emit(entity, frame, part)
        ingest = pc.cast(frame["_ingest"], pa.int64()).cast(TIMESTAMP)
        fault = labels(frame["_flags"].to_numpy(), frame["_kind"].combine_chunks())
        delivered = pa.table(
            {
                "seq": frame["seq"],
                "txn": frame["txn"],
                "op": frame["op"],
                "event_time": frame["event_time"],
                "key": frame["key"],
                "before": frame["before"],
                "after": frame["after"],
                "ingest_time": ingest,
                "fault": fault,
            }
        ).replace_schema_metadata({VERSION_KEY: str(version).encode()})
        events = ledger_view(
            frame,
            event_time=pc.cast(frame["_time"], pa.int64()).cast(TIMESTAMP),
            ingest=ingest,
            fault=fault,
            copy=frame["_copy"],
            version=version,
            row=row,
        )
        return delivered, events

    # -- reporting ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What each fault did, for the run report."""
        out: dict[str, Any] = {f.name: f.summary() for f in self.faults}
        if self.faults:
            out["delivered"] = self.delivered
        return out


def _in_order(frame: pa.Table) -> pa.Table:
    """Rows sorted by delivery time, then seq, originals before their copies."""
    order = np.lexsort(
        (frame["_copy"].to_numpy(), frame["seq"].to_numpy(), frame["_ingest"].to_numpy())
    )
    if (order == np.arange(len(order))).all():
        return frame
    return frame.take(pa.array(order))
