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

PostgreSQL: logical decoding with wal2json through a replication slot (capture/postgres.py
says why). MariaDB/MySQL: the row-based binlog read with mysql-replication, checkpointed by
binlog file and position, GTIDs recorded (capture/mysql.py). Errors are the sink family's:
`SinkUnavailable` when the server cannot be used as configured (wal_level, privileges,
binlog format), each saying what to change.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.capture.base import Capture, CaptureBatch, CaptureStats
from headwater.capture.checkpoint import Checkpoint
from headwater.errors import SinkError
from headwater.world.schema import EntitySchema

LOG_CAPTURE_KINDS = frozenset({"postgres", "mysql"})


def open_capture(
    source: Any,
    schemas: dict[str, EntitySchema],
    *,
    name: str,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    slot: str | None = None,
    server_id: int | None = None,
    batch_size: int = 10_000,
    reconnect_for: timedelta | None = None,
    committed_by: str | None = None,
) -> Capture:
    """Connect to the source sink's database, check it can be captured, and start (or resume).

    `slot` (PostgreSQL) defaults to `headwater_<name>`; `server_id` (MySQL) to one derived
    from the name. `committed_by` names the postgres/mysql sink writing the tables: its
    bookkeeping rows, read from the log too, prove that no transaction was skipped and
    `catch_up()` got all it committed (base.CommitChain). Raises SinkUnavailable/SinkError
    naming `name`.
    """
    kind = getattr(source, "kind", None)
    store = Checkpoint(checkpoint)
    if kind == "postgres":
        from headwater.capture.postgres import PostgresCapture

        return PostgresCapture(
            source,
            schemas,
            name=name,
            checkpoint=store,
            slot=slot,
            resume=resume,
            batch_size=batch_size,
            reconnect_for=reconnect_for,
            committed_by=committed_by,
        ).open()
    if kind == "mysql":
        from headwater.capture.mysql import MysqlCapture

        return MysqlCapture(
            source,
            schemas,
            name=name,
            checkpoint=store,
            resume=resume,
            server_id=server_id,
            batch_size=batch_size,
            reconnect_for=reconnect_for,
            committed_by=committed_by,
        ).open()
    raise SinkError(name, f"a {kind} sink has no change log to capture (postgres or mysql do)")


__all__ = [
    "LOG_CAPTURE_KINDS",
    "Capture",
    "CaptureBatch",
    "CaptureStats",
    "Checkpoint",
    "open_capture",
]
