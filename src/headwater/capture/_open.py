"""Open a capture of a log-capturing sink's database (see the package docstring). The sink
class names its Capture plug-in (`Sink.capture`, 'module:Class'), so capture knows no kinds."""

from __future__ import annotations

from typing import Any

from headwater._plugins import either, load
from headwater.capture.base import Capture
from headwater.errors import SinkError
from headwater.sinks import SINKS, kinds
from headwater.world.schema import EntitySchema


def capture_class(kind: str, name: str) -> type[Capture]:
    """The Capture plug-in of a sink kind; SinkError naming `name` for kinds without a log."""
    target = SINKS.get(kind).capture if kind in SINKS else None
    if target is None:
        able = either(kinds(lambda c: c.log_capture))
        raise SinkError(name, f"a {kind} sink has no change log to capture ({able} do)")
    found: type[Capture] = load(target)
    return found


def open_capture(
    source: Any, schemas: dict[str, EntitySchema], *, name: str, **options: Any
) -> Capture:
    """Connect to the source sink's database, check it can be captured, and start (or resume).

    `options`: `checkpoint` (a path), `resume`, `batch_size`, `retry` (the source sink's by default), and the
    plug-in's own: `slot` (PostgreSQL, default `headwater_<name>`), `server_id` (MySQL, one
    derived from the name). `committed_by` names the sink writing the tables: its
    bookkeeping rows, read from the log too, prove that no transaction was skipped and
    `catch_up()` got all it committed (base.CommitChain). Raises SinkUnavailable/SinkError
    naming `name`.
    """
    return capture_class(source.kind, name).start(source, schemas, name=name, **options)
