"""Files dropped into a sink's folder, interval by interval, as a reader may trust them.

Shared by every sink that writes files (`files`, and the bulk-format sinks `elasticsearch`
and `cassandra`). A drop is one or more files of one stream, published together: each is
renamed into place (publish.py), the last one's rename announced to the ledger right before
it happens as the proof that the stream's rows so far are published (ledger/proof.py); the
folder's `_manifest.json` lists them and `_SUCCESS` is touched after it.

`Intervals` keeps one drop open per stream and publishes it once simulated time leaves its
interval (`every:`), as the files sink does in events mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from headwater.core.micros import US
from headwater.sinks.files.publish import FileInfo, Manifest, PublishedFile

if TYPE_CHECKING:
    from headwater.sinks.base import Sink

DEFAULT_NAMING = "{stream}/dt={date}/hour={hour}/{stream}-{index:05d}.{ext}"


def drop_name(
    naming: str, *, stream: str, interval: int, every_us: int, index: int, ext: str
) -> str:
    """A file's name from a naming template: the interval's start fills {date} {hour} {minute}."""
    start = datetime.fromtimestamp(interval * every_us / US, UTC)
    return naming.format(
        stream=stream,
        date=start.strftime("%Y-%m-%d"),
        hour=start.strftime("%H"),
        minute=start.strftime("%M"),
        index=index,
        ext=ext,
        interval=interval,
    )


def runs(intervals: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(interval, start, stop) of each run of equal consecutive values."""
    start = 0
    while start < len(intervals):
        k = int(intervals[start])
        rest = intervals[start:] != k
        stop = start + int(rest.argmax()) if rest.any() else len(intervals)
        yield k, start, stop
        start = stop


class Publisher:
    """Counts the rows a sink put into files, publishes drops and keeps the manifests."""

    def __init__(self, sink: Sink, *, manifest: bool = True):
        self.sink = sink
        self.manifest = manifest
        self.taken: dict[str, int] = {}  # rows per stream put into files (open or to come)
        self.shown: dict[str, int] = {}  # … of which in files under their final name
        self.manifests: dict[Path, Manifest] = {}

    def take(self, stream: str, rows: int) -> None:
        self.taken[stream] = self.taken.get(stream, 0) + rows

    def publish(self, files: list[PublishedFile], stream: str) -> list[FileInfo]:
        """Rename the files into place, the last one announced: then all rows of the stream
        taken so far are published (a crash before it leaves them unclaimed)."""
        rows = self.taken.get(stream, 0)
        infos = []
        for i, f in enumerate(files):
            if i == len(files) - 1:
                self.sink.announce({"file": f.path, "inode": f.inode, "rows": {stream: rows}})
            infos.append(f.publish())
        self.shown[stream] = rows
        for info in infos:
            self.sink.stats.bytes += info.bytes
            self.sink.stats.extra["files"] = self.sink.stats.extra.get("files", 0) + 1
            if self.manifest:
                folder = info.path.parent
                self.manifests.setdefault(folder, Manifest(folder)).add(info)
        return infos

    def write_manifests(self) -> None:
        for m in self.manifests.values():
            m.write()

    def published(self) -> dict[str, int]:
        return dict(self.shown)


class _Drop:
    """The files open for one stream, and the interval they belong to."""

    def __init__(self, interval: int):
        self.interval = interval
        self.files: dict[str, PublishedFile] = {}  # by role, in the order they were opened


class Intervals:
    """One drop open per stream, cut at interval ends of simulated time.

    `file(stream, interval, role, opener)` gives the drop's file of that role (opened on
    first use with `opener(path of the name template)`); a drop of an earlier interval is
    published first. Roles name files of one drop apart (rows, deletes); the one opened
    last is the drop's proof.
    """

    def __init__(
        self, publisher: Publisher, root: Path, naming: str, every_us: int, ext: dict[str, str]
    ):
        self.publisher = publisher
        self.root = root
        self.naming = naming
        self.every_us = every_us
        self.ext = ext  # file extension per role
        self.drops: dict[str, _Drop] = {}
        self.index: dict[str, int] = {}  # per stream: names never depend on interleaving

    def interval_of(self, times_us: np.ndarray) -> np.ndarray:
        return times_us // self.every_us

    def file(
        self, stream: str, interval: int, role: str, opener: Callable[[Path], PublishedFile]
    ) -> PublishedFile:
        drop = self.drops.get(stream)
        if drop is not None and drop.interval != interval:
            self._publish(stream)
            drop = None
        if drop is None:
            drop = self.drops[stream] = _Drop(interval)
            self.index[stream] = self.index.get(stream, 0) + 1
        if role not in drop.files:
            name = drop_name(
                self.naming,
                stream=stream,
                interval=interval,
                every_us=self.every_us,
                index=self.index[stream],
                ext=self.ext[role],
            )
            drop.files[role] = opener(self.root / name)
        return drop.files[role]

    def _publish(self, stream: str) -> None:
        drop = self.drops.pop(stream)
        self.publisher.publish(list(drop.files.values()), stream)

    def advance(self, until_us: int) -> None:
        """Publish every drop whose interval has ended, then the manifests."""
        for stream, drop in list(self.drops.items()):
            if (drop.interval + 1) * self.every_us <= until_us:
                self._publish(stream)
        self.publisher.write_manifests()

    def flush(self) -> None:
        for stream in list(self.drops):
            self._publish(stream)
        self.publisher.write_manifests()

    def abort(self) -> None:
        for drop in self.drops.values():
            for f in drop.files.values():
                f.abort()
        self.drops = {}
