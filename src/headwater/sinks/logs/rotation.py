"""Rotating log files, as a web server writes them under logrotate.

Lines are appended to the active file `directory/basename` (`access.log`), which a
pipeline's tailer (Filebeat, Fluent Bit, Vector) follows. The file is rotated when the
next line would make it exceed `max_bytes` (a line is never split; a line longer than
`max_bytes` gets a file of its own), or when a line's *simulated* time reaches the next
boundary of `every` (boundaries aligned to the Unix epoch in UTC, so `every=1 day`
rotates at midnight UTC). Rotation renames the active file, so a tailer sees the classic
rename-and-recreate, and starts a new active file with the next line.

Rotated names follow logrotate's `dateext` with `dateformat -%Y%m%dT%H%M%S` and
`extension`, in UTC:

    access.log  →  access-20260101T130000.log        (then .gz with compress="gzip")
                   access-20260101T130000_001.log    (a second file with the same stamp)

The stamp is the start of the file's period when `every` is set, else the time of its
first line (never earlier than the previous stamp), so sorting the names sorts the files
in the order they were written. A rotated file is complete and closed before it gets its
final name; gzip happens after the rename into a temporary name, then an atomic rename.
Gzip headers carry no time stamp, so the same run gives the same bytes.

Memory does not grow with file size: a batch is written in at most one chunk per file it
touches, and nothing is kept after `write_lines` returns. An existing active file is
appended to (a resumed run continues it).
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EPOCH = dt.datetime(1970, 1, 1)
_STAMP = "%Y%m%dT%H%M%S"


class RotatingWriter:
    """Append log lines to `directory/basename`, rotating by size and/or simulated time."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        basename: str,
        *,
        max_bytes: int | None = None,
        every: dt.timedelta | None = None,
        compress: Literal["gzip"] | None = None,
        compresslevel: int = 6,
    ):
        if not basename or os.sep in basename or "/" in basename or basename in (".", ".."):
            raise ValueError(f"basename must be a file name, got {basename!r}")
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if every is not None and (every <= dt.timedelta(0) or every % dt.timedelta(microseconds=1)):
            raise ValueError(f"every must be a positive whole number of microseconds, got {every}")
        if compress not in (None, "gzip"):
            raise ValueError(f"compress must be None or 'gzip', got {compress!r}")
        self.directory = Path(directory)
        self.basename = basename
        self.max_bytes = max_bytes
        self.every = every
        self.compress = compress
        self.compresslevel = compresslevel
        self._every_us = None if every is None else every // dt.timedelta(microseconds=1)
        self._stem, self._ext = os.path.splitext(basename)
        self._file: BinaryIO | None = None
        self._size = 0
        self._period: int | None = None
        self._first_us: int | None = None
        self._last_stamp: str = ""
        self._rotated: list[Path] = []
        self.lines_written = 0
        self.bytes_written = 0

    @property
    def path(self) -> Path:
        """The active file (it may not exist yet: files are created by their first line)."""
        return self.directory / self.basename

    @property
    def rotated(self) -> list[Path]:
        """Rotated files, complete and closed, in the order they were written."""
        return list(self._rotated)

    def write_lines(
        self, lines: pa.Array | pa.ChunkedArray, times: pa.Array | pa.ChunkedArray
    ) -> None:
        """Append `lines` (each gets a newline), `times` being each line's simulated time.

        Times may go backwards (late events): a line stays in the current file unless its
        time is in a later period than every line before it.
        """
        lines = _combined(lines)
        times = _combined(times)
        if len(lines) != len(times):
            raise ValueError(f"{len(lines)} lines but {len(times)} times")
        if not (pa.types.is_string(lines.type) or pa.types.is_large_string(lines.type)):
            raise TypeError(f"lines must be strings, got {lines.type}")
        if not pa.types.is_timestamp(times.type):
            raise TypeError(f"times must be timestamps, got {times.type}")
        if lines.null_count or times.null_count:
            raise ValueError("lines and times must not contain nulls")
        if len(lines) == 0:
            return
        # large_string: 64-bit offsets, so a batch may exceed 2 GiB of text.
        newline, nothing = pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string())
        text = pc.binary_join_element_wise(pc.cast(lines, pa.large_string()), newline, nothing)
        offsets = np.frombuffer(text.buffers()[1], np.int64)[
            text.offset : text.offset + len(text) + 1
        ]
        data = memoryview(text.buffers()[2])
        micros = pc.cast(times, pa.timestamp("us", times.type.tz), safe=False)
        us = np.asarray(micros.view(pa.int64()))
        for start, end, period in self._periods(us):
            if period is not None and period != self._period:
                if self._period is not None:  # the first period adopts an existing file
                    self._rotate()
                self._period = period
            self._write_range(data, offsets, us, start, end)

    def rotate(self) -> Path | None:
        """Rotate the active file now, if it has lines; returns the rotated file's path."""
        return self._rotate()

    def close(self, *, rotate: bool = False) -> None:
        """Close the active file (leaving it in place, as a stopped server does), or
        rotate it too so that every line ends up in a rotated file."""
        if rotate:
            self._rotate()
        elif self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RotatingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _periods(self, us: np.ndarray) -> list[tuple[int, int, int | None]]:
        """Split rows into runs of one period each: (start, end, period)."""
        if self._every_us is None:
            return [(0, len(us), None)]
        period = np.maximum.accumulate(us // self._every_us)
        if self._period is not None:
            period = np.maximum(period, self._period)
        cuts = np.flatnonzero(period[1:] != period[:-1]) + 1
        bounds = [0, *cuts.tolist(), len(us)]
        return [(a, b, int(period[a])) for a, b in itertools.pairwise(bounds)]

    def _write_range(
        self, data: memoryview, offsets: np.ndarray, us: np.ndarray, start: int, end: int
    ) -> None:
        pos = start
        while pos < end:
            self._open()
            stop = end
            if self.max_bytes is not None:
                room = self.max_bytes - self._size
                fits = int(np.searchsorted(offsets, offsets[pos] + room, side="right")) - 1
                stop = min(end, fits)
                if stop <= pos:
                    if self._size:
                        self._rotate()
                        continue
                    stop = pos + 1  # longer than max_bytes: alone in its file
            self._append(data[offsets[pos] : offsets[stop]], int(us[pos]), stop - pos)
            pos = stop

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - lives until rotation or close
            self._size = self.path.stat().st_size
        return self._file

    def _append(self, chunk: memoryview, first_us: int, count: int) -> None:
        if self._first_us is None:
            self._first_us = first_us
        self._open().write(chunk)
        self._size += len(chunk)
        self.bytes_written += len(chunk)
        self.lines_written += count

    def _rotate(self) -> Path | None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        target = self._target(self._stamp())
        plain = target.with_name(target.name.removesuffix(".gz"))
        os.replace(self.path, plain)
        if self.compress == "gzip":
            self._gzip(plain, target)
        self._size = 0
        self._first_us = None
        self._rotated.append(target)
        return target

    def _stamp(self) -> str:
        if self._every_us is not None and self._period is not None:
            start_us = self._period * self._every_us
        else:
            start_us = self._first_us if self._first_us is not None else 0
        stamp = (_EPOCH + dt.timedelta(microseconds=start_us)).strftime(_STAMP)
        return max(stamp, self._last_stamp)

    def _target(self, stamp: str) -> Path:
        suffix = ".gz" if self.compress == "gzip" else ""
        counter = 0
        while True:
            tag = stamp if counter == 0 else f"{stamp}_{counter:03d}"
            name = f"{self._stem}-{tag}{self._ext}"
            candidates = (self.directory / name, self.directory / (name + suffix))
            if not any(c.exists() for c in candidates):
                self._last_stamp = stamp
                return self.directory / (name + suffix)
            counter += 1

    def _gzip(self, plain: Path, target: Path) -> None:
        partial = target.with_name(target.name + ".tmp")
        with (
            open(plain, "rb") as src,
            open(partial, "wb") as raw,
            gzip.GzipFile(plain.name, "wb", self.compresslevel, raw, mtime=0) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, target)
        plain.unlink()


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values
