"""The base of sinks that write a store's bulk-load format instead of talking to the store.

Used where no server of the store can run here (Elasticsearch, Cassandra): each change
becomes the store's own bulk text (an action line, a CSV row, a CQL statement), cut into one
drop per stream per interval (`every:`) and published as the `files` sink publishes (atomic
renames, manifests and _SUCCESS, proofs in the ledger: drops.py). A subclass encodes one
interval's changes of one entity (`encode`) and writes its fixed files (a schema, mappings)
once at `open()` (`prepare`).

Faults reach these files as the files sink's incremental files: a change arrives when the
source delivered it (late, duplicated), and a `malformed` record is written intact (a bulk
file holds no broken record); the ledger records the fault either way.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.core.micros import span_us
from headwater.core.units import Duration
from headwater.sinks.base import Sink, SinkConfig
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.sinks.files.drops import DEFAULT_NAMING, Intervals, Publisher, runs
from headwater.sinks.files.formats import FormatOptions, FormatWriter
from headwater.sinks.files.publish import PublishedFile, clean_stale_temp, write_atomic
from headwater.world.changes import Changes


class BulkConfig(SinkConfig):
    """Where the bulk files go and how often a new one starts."""

    path: str = Field(
        "bulk", description="folder; relative paths are under the run's output folder"
    )
    every: Duration = Field(timedelta(hours=1), description="simulated time per file")
    manifest: bool = Field(
        True, description="write _manifest.json and _SUCCESS per interval folder"
    )

    @field_validator("every")
    @classmethod
    def _second(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("every must be at least 1s")
        return v


class LinesOptions(FormatOptions):
    header: str = ""  # written first, not counted as a row


class LinesWriter(FormatWriter):
    """Writes rows already encoded as text (column `text`, terminators included): one row is
    one change, whatever number of lines the store's format spends on it."""

    options_model: ClassVar[type[FormatOptions]] = LinesOptions

    def __init__(self, stream: Any, schema: pa.Schema, options: Any = None, *, sink: str = ""):
        super().__init__(stream, schema, options, sink=sink)
        if self.options.header:
            self.stream.write(self.options.header.encode("utf-8"))

    def _write(self, batch: pa.Table | pa.RecordBatch) -> None:
        self.stream.write("".join(batch.column(0).to_pylist()).encode("utf-8"))

    def _close(self) -> None:
        """Nothing to end: the file is its lines."""

    def _discard(self) -> None:
        """Nothing held."""


TEXT = pa.schema([("text", pa.string())])


class BulkSink(Sink):
    """One entity's changes of one interval at a time through `encode`, into drops."""

    # files of keyed actions a loader replays in order: every change once, per key in order
    capabilities = Capabilities(
        updates=True,
        deletes=True,
        ordering=Ordering.PER_KEY,
        exactly_once=True,
        files=True,
        batches=True,
    )
    config: Any
    #: file extension per role of the files of one drop, in the order a drop opens them
    roles: ClassVar[dict[str, str]]
    #: the writer class per role
    writers: ClassVar[dict[str, type[FormatWriter]]]

    def __init__(self, name: str, config: SinkConfig, context: Any):
        super().__init__(name, config, context)
        self.intervals: Intervals | None = None  # drops being written, aborted by close()

    def open(self) -> None:
        self.root = self.resolve(self.config.path)
        self.root.mkdir(parents=True, exist_ok=True)
        clean_stale_temp(self.root)
        self.publisher = Publisher(self, manifest=self.config.manifest)
        self.intervals = Intervals(
            self.publisher, self.root, DEFAULT_NAMING, span_us(self.config.every), self.roles
        )
        for relative, text in self.prepare().items():
            write_atomic(self.root / relative, text, sink=self.name)

    def prepare(self) -> dict[str, str]:
        """The fixed files (path under the folder → text), written once at open()."""
        return {}

    @abstractmethod
    def encode(self, entity: str, changes: pa.Table) -> dict[str, list[str]]:
        """The text of each change (in order) by the role of the file it goes to."""

    def header(self, entity: str, role: str) -> str:
        """The first line of a new file of `role` (a CSV header)."""
        return ""

    def write(self, changes: Changes) -> None:
        assert self.intervals is not None
        for entity, table in changes.tables.items():
            if table.num_rows == 0:
                continue
            column = "ingest_time" if "ingest_time" in table.column_names else "event_time"
            at = self.intervals.interval_of(pc.cast(table[column], pa.int64()).to_numpy())
            for k, start, stop in runs(at):
                part = table.slice(start, stop - start)
                for role, texts in self.encode(entity, part).items():
                    if texts:
                        f = self.intervals.file(entity, k, role, self._opener(entity, role))
                        f.write(pa.table({"text": texts}, schema=TEXT))
                self.publisher.take(entity, part.num_rows)
        self.intervals.advance(changes.end_us)
        self.stats.add(changes)

    def _opener(self, entity: str, role: str) -> Callable[[Path], PublishedFile]:
        def opener(path: Path) -> PublishedFile:
            options = {"header": self.header(entity, role)}
            return PublishedFile(path, self.writers[role], TEXT, options, sink=self.name)

        return opener

    def advance(self, until_us: int) -> None:
        if self.intervals is not None:
            self.intervals.advance(until_us)

    def flush(self) -> None:
        if self.intervals is not None:
            self.intervals.flush()

    def close(self) -> None:
        if self.intervals is not None:
            self.intervals.abort()
            self.intervals = None

    def published(self) -> dict[str, int]:
        return self.publisher.published()
