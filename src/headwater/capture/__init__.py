"""Change data capture from the database's own log (the `cdc` sink's real mode).

    open_capture(source_config, schemas, name=..., checkpoint=path, resume=False) -> Capture

`source_config` is the postgres or mysql sink's config the `cdc` sink names in `from:`;
`schemas` are the entities to capture (their tables must exist). The protocol:

    cap = open_capture(cfg, schemas, name="changes", checkpoint=out / "changes.checkpoint.json")
    for batch in cap.snapshot():        # op r, consistent with where the stream starts;
        deliver(batch); cap.ack(batch.position)      # nothing when resuming
    while running:
        batch = cap.poll(timeout=0.5)   # whole committed transactions, in commit order
        deliver(batch); cap.ack(batch.position)
    for batch in cap.catch_up():        # everything committed before this call
        deliver(batch); cap.ack(batch.position)
    cap.close()                         # or cap.drop() first: remove the slot/checkpoint

`batch.tables` maps entity → a change table in the world's layout (world/changes.py: seq,
txn, op, event_time, key, before, after), so `project(table, schema, "debezium",
source=cap.source)` encodes it; `batch.changes()` wraps it as a `Changes`. Delivery is
at-least-once: `ack()` saves the checkpoint and then lets the database discard the log up to
the position; a batch delivered but not acknowledged before a crash is delivered again by the
next capture opened with `resume=True`, with the same `seq` numbers (so event ids repeat and
deduplicate). Without `resume` a capture starts over: new slot or binlog position, new
snapshot. A capture that cannot prove it read everything (a slot or binlog lost, a gap in
the source sink's bookkeeping chain, see `committed_by`) raises SinkError; it never returns
less quietly.

Which Capture reads a sink's log is the sink class's to say: a sink declaring the capability
`log_capture` names its plug-in in `capture` ('module:Class'); `capture_class(kind, name)`
resolves it, so this package knows no sink kinds.

PostgreSQL: logical decoding with wal2json through a replication slot (capture/postgres.py
says why). MariaDB/MySQL: the row-based binlog read with mysql-replication, checkpointed by
binlog file and position, GTIDs recorded (capture/mysql.py). Errors are the sink family's:
`SinkUnavailable` when the server cannot be used as configured (wal_level, privileges,
binlog format), each saying what to change.
"""

from headwater.capture._open import capture_class, open_capture
from headwater.capture.base import Capture, CaptureBatch, CaptureStats
from headwater.capture.checkpoint import Checkpoint

__all__ = [
    "Capture",
    "CaptureBatch",
    "CaptureStats",
    "Checkpoint",
    "capture_class",
    "open_capture",
]
