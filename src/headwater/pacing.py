"""Paced runs: a step's deliveries handed to the sinks in short windows of simulated time.

Speed must not change what is generated, so a paced run generates the very steps of a run
at full speed and only spreads their delivery over wall time: the step is cut into windows
of `factor × TICK_S` simulated seconds on a grid from the start of the world, each delivery
is cut at the same instants by delivery time, and the runner sleeps until a window's end
before handing its slices to the sinks. A transaction stays whole (its changes share one
time); a delivery whose times are not in order is handed over whole, in the last window.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.micros import US
from headwater.faults.pipeline import Delivery

TICK_S = 0.25  # wall seconds between deliveries of a paced run


def window_ends(origin_us: int, start_us: int, end_us: int, factor: float | None) -> list[int]:
    """Where the windows of [start, end) end: the grid points inside it, then `end`."""
    if factor is None or end_us <= start_us:
        return [end_us]
    width = max(int(factor * TICK_S * US), 1)
    first = origin_us + ((start_us - origin_us) // width + 1) * width
    return [*range(first, end_us, width), end_us]


def split(delivery: Delivery, ends: list[int]) -> list[Delivery | None]:
    """The delivery's part in each window ending at `ends` (as `window_ends` gives them);
    None for a window it has no time or rows in."""
    if len(ends) == 1:
        return [delivery]
    cuts = {}
    for entity, table in delivery.tables.items():
        times = _delivery_times(table)
        if times is None:
            return [*([None] * (len(ends) - 1)), delivery]
        cuts[entity] = [0, *np.searchsorted(times, ends[:-1]).tolist(), table.num_rows]
    out: list[Delivery | None] = []
    for index, (start, end) in enumerate(zip([delivery.start_us, *ends[:-1]], ends, strict=True)):
        start = min(max(start, delivery.start_us), delivery.end_us)
        end = min(max(end, delivery.start_us), delivery.end_us)
        rows = {e: (c[index], c[index + 1]) for e, c in cuts.items() if c[index + 1] > c[index]}
        if end <= start and not rows:
            out.append(None)
            continue
        tables = {
            e: t.slice(cuts[e][index], cuts[e][index + 1] - cuts[e][index])
            for e, t in delivery.tables.items()
        }
        events = {
            e: delivery.events[e].slice(lo, hi - lo)
            for e, (lo, hi) in rows.items()
            if e in delivery.events
        }
        out.append(
            Delivery(delivery.step, start, end, tables, delivery.versions, delivery.outage, events)
        )
    return out


def _delivery_times(table: pa.Table) -> np.ndarray | None:
    """When each change reaches the sink (ingest time with faults), or None if out of order."""
    column = "ingest_time" if "ingest_time" in table.column_names else "event_time"
    times = pc.cast(table[column], pa.int64()).to_numpy()
    if len(times) > 1 and (np.diff(times) < 0).any():
        return None
    return times
