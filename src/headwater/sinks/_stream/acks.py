"""What the broker acknowledged: live counts in `stats.extra`, per message for the ledger."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._stream.batch import Column, _arrow


class Acks:
    """What the broker acknowledged, kept live in `stats.extra` so progress can show it, and
    per message (event id, route, partition, offset) for the ledger (`take()`).

    acknowledged  messages the broker confirmed
    routes        acknowledged messages per topic/subject/stream key (top 20; `distinct_routes`
                  counts them all) so hot keys show
    retries       failed attempts to reach the broker
    resent        messages sent again after a failure (possible duplicates where the broker
                  cannot de-duplicate)
    duplicates    messages the broker reported as duplicates and dropped (de-duplicated)
    """

    TOP = 20

    def __init__(self, extra: dict[str, Any]):
        self.extra = extra
        self.acknowledged = 0
        self.retries = 0
        self.resent = 0
        self.duplicates = 0
        self.routes: Counter[str] = Counter()
        self._log: list[pa.Table] = []
        self._ids: list[str] = []  # one by one acknowledgements, not yet in _log
        self._routes: list[str] = []
        self._offsets: list[int | None] = []
        self._lock = threading.Lock()  # brokers' client threads acknowledge, the runner takes
        self.publish()

    def ack(self, route: str, event_id: str, offset: int | None = None) -> None:
        """One message confirmed; `offset` is where the broker put it (stream sequence…)."""
        with self._lock:
            self.acknowledged += 1
            self.routes[route] += 1
            self._ids.append(event_id)
            self._routes.append(route)
            self._offsets.append(offset)

    def ack_batch(
        self,
        routes: Column | str,
        event_ids: Column,
        partitions: Column | None = None,
        offsets: Column | None = None,
    ) -> None:
        """Messages confirmed together (a pipeline, a Kafka batch); lists or Arrow arrays."""
        n = len(event_ids)
        table = pa.table(
            {
                "event_id": _arrow(event_ids, pa.string()),
                "route": pa.repeat(pa.scalar(routes), n)
                if isinstance(routes, str)
                else _arrow(routes, pa.string()),
                "partition": _arrow(partitions, pa.int32())
                if partitions is not None
                else pa.nulls(n, pa.int32()),
                "offset": _arrow(offsets, pa.int64())
                if offsets is not None
                else pa.nulls(n, pa.int64()),
            },
            schema=ACK_SCHEMA,
        )
        self.count(routes, n)
        with self._lock:
            self._keep()
            self._log.append(table)

    def count(self, routes: Column | str, n: int) -> None:
        """Count messages confirmed (their log rows are the caller's)."""
        if isinstance(routes, pa.Array):
            counts = pc.value_counts(routes).to_pylist()
            per_route = Counter({c["values"]: c["counts"] for c in counts})
        with self._lock:
            self.acknowledged += n
            if isinstance(routes, str):
                self.routes[routes] += n
            elif isinstance(routes, pa.Array):
                self.routes.update(per_route)
            else:
                self.routes.update(routes)

    def _keep(self) -> None:
        """The one by one acknowledgements so far into the log (order kept)."""
        if not self._ids:
            return
        n = len(self._ids)
        self._log.append(
            pa.table(
                {
                    "event_id": pa.array(self._ids, pa.string()),
                    "route": pa.array(self._routes, pa.string()),
                    "partition": pa.nulls(n, ACK_SCHEMA.field("partition").type),
                    "offset": pa.array(self._offsets, pa.int64()),
                },
                schema=ACK_SCHEMA,
            )
        )
        self._ids, self._routes, self._offsets = [], [], []

    def take(self) -> pa.Table | None:
        """The acknowledgements since the last call (see ACK_SCHEMA), or None."""
        with self._lock:
            self._keep()
            log, self._log = self._log, []
        return pa.concat_tables(log) if log else None

    def publish(self) -> None:
        self.extra["acknowledged"] = self.acknowledged
        self.extra["retries"] = self.retries
        self.extra["resent"] = self.resent
        self.extra["duplicates"] = self.duplicates
        self.extra["routes"] = dict(self.routes.most_common(self.TOP))
        self.extra["distinct_routes"] = len(self.routes)


#: One acknowledged message: its event id, where it went, and where the broker put it
#: (Kafka partition and offset, JetStream stream sequence; null where a broker has none).
#: A Kafka tombstone is acknowledged under its delete's event id (which its headers carry):
#: with `tombstones: true` a delete's id has two rows, the delete's and the tombstone's.
ACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("route", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
    ]
)
