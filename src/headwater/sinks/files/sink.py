"""The `files` sink: entities or change streams dropped as files on a simulated schedule.

One file per stream per interval (`every: 1h` of simulated time), named with time
partitions, published atomically (temporary name, then rename), optionally compressed and
listed in a per-interval manifest. Modes:
    events       every change as a record (append-only event files), streamed as it happens
    incremental  at each interval's end, the last state of every row changed in it (with _op)
    snapshot     at each interval's end, the full current table
`fields:` picks, renames and templates the columns, `op: false` drops `_op`
(sinks/_project.py `Shape`, shared with the message sinks).

Faults: in events mode the `malformed` fault's text-level kinds (truncate, type, encoding)
break the marked records of line-oriented text formats (jsonl, csv, tsv) in the file, in
place and in order (the file keeps its row count). Formats that cannot hold a broken
record (parquet, avro, xlsx, xml, a json array, fixed-width) write those rows intact, as
do incremental and snapshot files (a row image, not a delivered record); the ledger
records the fault either way.

```yaml
sinks:
  exports: {kind: files, entities: [orders], format: csv, every: 1h, mode: incremental, path: exports}
```
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.core.micros import span_us
from headwater.core.units import Duration
from headwater.errors import SinkError
from headwater.sinks._live import LiveTable, last_per_key
from headwater.sinks._project import Projection, Records, Shape, ShapeOptions, project
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.sinks.files.drops import DEFAULT_NAMING, Publisher, drop_name, runs
from headwater.sinks.files.formats import FORMATS, format_class
from headwater.sinks.files.publish import PublishedFile, clean_stale_temp
from headwater.world.changes import Changes

# what _name() fills a file name template with, as sample values
_NAMING_SAMPLE: dict[str, Any] = {
    "stream": "orders",
    "date": "2026-01-01",
    "hour": "00",
    "minute": "00",
    "index": 1,
    "ext": "jsonl",
    "interval": 0,
}


class FilesConfig(SinkConfig, ShapeOptions):
    """`fields`/`op` shape each row (sinks/_project.py); default: every field, plus `_op`."""

    kind: Literal["files"] = "files"
    path: str = Field(
        "files", description="folder; relative paths are under the run's output folder"
    )
    format: str = Field("jsonl", description=f"one of: {', '.join(FORMATS.names())}")
    options: dict[str, Any] = Field(
        default_factory=dict, description="options of the format (delimiter, compression…)"
    )
    every: Duration = Field(timedelta(hours=1), description="simulated time per file")
    mode: Literal["events", "incremental", "snapshot"] = "events"
    payload: Projection = Field(
        "rows", description="events mode: rows, changes or debezium envelopes"
    )
    naming: str = Field(
        DEFAULT_NAMING,
        description="file name template: {stream} {date} {hour} {minute} {index} {ext} {interval}",
    )
    compression: Literal["none", "gzip", "zstd"] = "none"
    manifest: bool = Field(
        True, description="write _manifest.json and _SUCCESS per interval folder"
    )

    @field_validator("options", mode="before")
    @classmethod
    def _null_key(cls, v: Any) -> Any:
        # YAML reads an unquoted `null:` key (the csv/fixed-width option) as None
        if isinstance(v, dict) and None in v:
            return {("null" if k is None else k): value for k, value in v.items()}
        return v

    @model_validator(mode="after")
    def _known(self) -> FilesConfig:
        cls = format_class(self.format)
        cls.parse_options(self.options, sink="files")
        if self.every < timedelta(seconds=1):
            raise ValueError("every must be at least 1s")
        return self

    @field_validator("naming")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        """A template that would fail at the first file fails here, naming what is wrong."""
        known = " ".join(f"{{{k}}}" for k in _NAMING_SAMPLE)
        try:
            name = Path(v.format(**_NAMING_SAMPLE))
        except KeyError as exc:
            raise ValueError(f"unknown placeholder '{{{exc.args[0]}}}': use {known}") from None
        except (IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"invalid template ({exc}): placeholders are {known}") from None
        if name.is_absolute() or ".." in name.parts or not name.name:
            raise ValueError("file names stay inside the sink's folder: no leading /, no '..'")
        return v


class _Stream:
    """The file currently open for one stream, and the interval it belongs to."""

    def __init__(self) -> None:
        self.interval: int | None = None
        self.file: PublishedFile | None = None


class FilesSink(Sink):
    kind = "files"
    Config = FilesConfig
    capabilities = Capabilities(
        updates=True,
        deletes=True,
        ordering=Ordering.PER_KEY,
        exactly_once=True,
        carries_records=True,
        files=True,
        batches=True,
    )
    config: FilesConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.streams: dict[str, _Stream] = {}  # files being written, aborted by close()

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every field `fields:` names exists in every entity of the sink."""
        assert isinstance(config, FilesConfig)
        payload = config.payload if config.mode == "events" else "rows"
        return config.check_fields(context.schemas, context.entities(config), payload)

    def open(self) -> None:
        self.shape = Shape.of(self.name, self.config)
        self.root = self.resolve(self.config.path)
        self.root.mkdir(parents=True, exist_ok=True)
        clean_stale_temp(self.root)
        self.every_us = span_us(self.config.every)
        self.streams = {}
        self.publisher = Publisher(self, manifest=self.config.manifest)
        self.index: dict[str, int] = {}  # per stream: names never depend on interleaving
        self.live = (
            {e: LiveTable(s.schema, s.key) for e, s in self.schemas().items()}
            if self.config.mode == "snapshot"
            else {}
        )
        self.pending: dict[str, list[pa.Table]] = {}
        self.interval: int | None = None
        self.reached_us = 0  # simulated time the sink has seen, µs

    def published(self) -> dict[str, int]:
        return self.publisher.published()

    # -- naming and publication --------------------------------------------------------------
    def _name(self, stream: str, interval: int) -> Path:
        self.index[stream] = self.index.get(stream, 0) + 1
        ext = (
            FORMATS.get(self.config.format).extension
            + {"none": "", "gzip": ".gz", "zstd": ".zst"}[self.config.compression]
        )
        name = drop_name(
            self.config.naming,
            stream=stream,
            interval=interval,
            every_us=self.every_us,
            index=self.index[stream],
            ext=ext,
        )
        return self.root / name

    def _open_file(self, stream: str, interval: int, schema: pa.Schema) -> PublishedFile:
        path = self._name(stream, interval)
        return PublishedFile(
            path,
            self.config.format,
            schema,
            self.config.options,
            compression=None if self.config.compression == "none" else self.config.compression,
            sink=self.name,
        )

    def _publish(self, f: PublishedFile, stream: str) -> None:
        """Rename the file into place; its rows (all taken so far) are then published."""
        self.publisher.publish([f], stream)

    def _write_file(self, stream: str, interval: int, table: pa.Table) -> None:
        f = self._open_file(stream, interval, table.schema)
        try:
            f.write(table)
        except BaseException:
            f.abort()
            raise
        self._publish(f, stream)

    # -- events mode ---------------------------------------------------------------------------
    def write_records(self, records: Records) -> None:
        """Append records to the stream's current file, splitting them at interval boundaries."""
        if len(records) == 0:
            return
        records = self.shape.records(records)
        st = self.streams.setdefault(records.stream, _Stream())
        # files are cut by when records were delivered: a late event lands in the current drop
        intervals = pc.divide(pc.cast(records.delivery_time, pa.int64()), self.every_us).to_numpy(
            zero_copy_only=False
        )
        values = records.values
        malformed = records.malformed
        for k, start, stop in runs(intervals):
            drifted = st.file is not None and not st.file.writer.schema.equals(values.schema)
            if st.file is not None and (
                st.interval != k or drifted
            ):  # a new schema starts a new file
                self._publish(st.file, records.stream)
                st.file = None
            if st.file is None:
                st.file, st.interval = self._open_file(records.stream, k, values.schema), k
            part = values.slice(start, stop - start)
            kinds = None if malformed is None else malformed.slice(start, stop - start)
            if kinds is None or kinds.null_count == len(kinds):
                st.file.write(part)
            else:
                self._write_malformed(st.file, part, kinds, records.seq.slice(start, len(kinds)))
            self.publisher.take(records.stream, stop - start)

    def _write_malformed(
        self, f: PublishedFile, part: pa.Table, kinds: pa.Array, seqs: pa.Array
    ) -> None:
        """Write with the marked rows broken (a failure discards the file, as `write`)."""
        try:
            f.writer.write_malformed(part, kinds, seqs, seed=self.context.seed)
        except OSError as exc:
            f.abort()
            raise SinkError(self.name, f"cannot write {f.path}: {exc}") from exc
        except BaseException:
            f.abort()
            raise

    def advance(self, until_us: int) -> None:
        """Simulated time reached `until_us`: publish every file whose interval has ended."""
        for stream, st in self.streams.items():
            if (
                st.file is not None
                and st.interval is not None
                and (st.interval + 1) * self.every_us <= until_us
            ):
                self._publish(st.file, stream)
                st.file = None
        self.publisher.write_manifests()

    # -- all modes ------------------------------------------------------------------------------
    def write(self, changes: Changes) -> None:
        if self.config.mode == "events":
            for entity, table in changes.tables.items():
                self.write_records(
                    project(table, self.context.schemas[entity], self.config.payload)
                )
        else:
            self._collect(changes)
        self.advance(changes.end_us)
        self.stats.add(changes)

    def _collect(self, changes: Changes) -> None:
        """incremental/snapshot: files are cut at interval ends from what the interval changed.

        A change joins the interval it was delivered in, so files do not depend on how
        the world's time was cut into steps or deliveries (a late one joins the current)."""
        # the interval the step ends in (a step ending on a boundary belongs to the one before;
        # the snapshot, an instant at the start, to the first)
        last_us = changes.end_us - 1 if changes.end_us > changes.start_us else changes.end_us
        k = last_us // self.every_us
        self.reached_us = changes.end_us
        if self.interval is None:
            self.interval = k
        parts: dict[int, dict[str, pa.Table]] = {}
        for entity, table in changes.tables.items():
            column = "ingest_time" if "ingest_time" in table.column_names else "event_time"
            at = pc.cast(table[column], pa.int64()).to_numpy() // self.every_us
            # in the order handed over: a change after one of a later interval joins that one,
            # so each interval takes a contiguous run and what is published is a prefix
            at = np.maximum.accumulate(at.clip(self.interval, k))
            bounds = np.searchsorted(at, np.arange(self.interval, k + 2))
            for i, lo, hi in zip(range(self.interval, k + 1), bounds[:-1], bounds[1:], strict=True):
                if hi > lo:
                    parts.setdefault(i, {})[entity] = table.slice(int(lo), int(hi - lo))
        while True:
            for entity, table in parts.get(self.interval, {}).items():
                if self.config.mode == "snapshot":
                    self.live[entity].apply(table)
                else:
                    self.pending.setdefault(entity, []).append(table)
                self.publisher.take(entity, table.num_rows)
            if self.interval >= k:
                break
            self._cut(self.interval)
            self.interval += 1
        if changes.end_us % self.every_us == 0 and changes.end_us > changes.start_us:
            self._cut(self.interval)
            self.interval += 1

    def _cut(self, interval: int) -> None:
        for entity in self.entities:
            if self.config.mode == "snapshot":
                self._write_file(entity, interval, self.shape.table(self.live[entity].rows, entity))
                continue
            parts = self.pending.pop(entity, [])
            if not parts:
                continue
            last = last_per_key(pa.concat_tables(parts))
            image = project(last, self.context.schemas[entity], "rows").values
            self._write_file(entity, interval, self.shape.table(image, entity))

    def flush(self) -> None:
        if (
            self.config.mode != "events"
            and self.interval is not None
            and self.reached_us > self.interval * self.every_us
        ):
            self._cut(self.interval)  # the interval the run ended in, if it had begun
            self.interval = None
        for stream, st in self.streams.items():
            if st.file is not None:
                self._publish(st.file, stream)
                st.file = None
        self.publisher.write_manifests()

    def close(self) -> None:
        for st in self.streams.values():
            if st.file is not None:
                st.file.abort()
                st.file = None
