"""What a broker lost after acknowledging it: records a message sink leaves in the ledger.

A broker that restarts without the data it acknowledged (no persistence, memory storage)
takes back messages the ledger counted as acknowledged. The sink that notices says where,
one record per route (topic, stream…) and partition, as JSON in `committed`:

    {"route": R, "partition": P | null,    the acknowledged messages of this run on R (and
     "after": EVENT_ID | null,              partition P) are gone: those acknowledged after
     "known": true | false,                 EVENT_ID (the last one still there), or (null)
     "why": TEXT}                           all of them; known: false when the sink cannot
                                            tell which are gone: none is counted published

An `after` that is not among this run's acknowledgements on R means the route ends before
this run's first message: all of them are gone. Acknowledgements are in the order the
broker gave them (ledger/writer.py `_acks` parts), so "after" is a position per route.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def lost_mask(acks: pa.Table, records: list[dict[str, Any]]) -> np.ndarray:
    """Per acknowledgement (ACK_SCHEMA rows, in order): whether a lost record takes it back."""
    gone = np.zeros(acks.num_rows, bool)
    if not records or not acks.num_rows:
        return gone
    routes = acks["route"].to_numpy(zero_copy_only=False)
    partitions = pc.fill_null(acks["partition"], -1).to_numpy()
    for record in records:
        on = routes == record["route"]
        if record.get("partition") is not None:
            on &= partitions == record["partition"]
        if record.get("after") is not None:
            kept = np.flatnonzero(
                on & (acks["event_id"].to_numpy(zero_copy_only=False) == record["after"])
            )
            if len(kept):
                on[: kept[-1] + 1] = False
        gone |= on
    return gone
