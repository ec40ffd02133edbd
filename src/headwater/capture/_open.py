"""Open a capture of the postgres or mysql sink's database log (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.capture.base import Capture
from headwater.capture.checkpoint import Checkpoint
from headwater.errors import SinkError
from headwater.sinks._retry import SqlRetry
from headwater.world.schema import EntitySchema


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
    retry: SqlRetry | None = None,
    committed_by: str | None = None,
) -> Capture:
    """Connect to the source sink's database, check it can be captured, and start (or resume).

    `slot` (PostgreSQL) defaults to `headwater_<name>`; `server_id` (MySQL) to one derived
    from the name; `retry` to the source sink's. `committed_by` names the postgres/mysql sink writing the tables: its
    bookkeeping rows, read from the log too, prove that no transaction was skipped and
    `catch_up()` got all it committed (base.CommitChain). Raises SinkUnavailable/SinkError
    naming `name`.
    """
    kind = getattr(source, "kind", None)
    common: dict[str, Any] = {
        "name": name,
        "checkpoint": Checkpoint(checkpoint),
        "resume": resume,
        "batch_size": batch_size,
        "retry": retry,
        "committed_by": committed_by,
    }
    if kind == "postgres":
        from headwater.capture.postgres import PostgresCapture

        return PostgresCapture(source, schemas, slot=slot, **common).open()
    if kind == "mysql":
        from headwater.capture.mysql import MysqlCapture

        return MysqlCapture(source, schemas, server_id=server_id, **common).open()
    raise SinkError(name, f"a {kind} sink has no change log to capture (postgres or mysql do)")
