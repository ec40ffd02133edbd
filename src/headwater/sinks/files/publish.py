"""Publishing files so a reader never sees half of one.

A file is written under a temporary name in its final folder (``.name.tmp-<pid>``),
flushed to disk, then renamed over its final name in one ``os.replace``; on an error,
or if the process dies, only the temporary name can remain, and ``clean_stale_temp``
removes those of dead processes when the sink starts again. The byte count and SHA-256
are of the final (compressed) bytes, computed while writing. Each interval folder gets a
``_manifest.json`` listing its files and an empty ``_SUCCESS`` marker, both published the
same way, the marker last.

    with AtomicFile(path, compression="gzip") as stream:
        stream.write(data)

    f = PublishedFile(path, "csv", schema, {"delimiter": ";"}, compression="zstd")
    f.write(batch)
    info = f.publish()            # FileInfo(path, rows, bytes, sha256, sidecars, conventions)
    Manifest(path.parent).add(info).write()
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, cast

import pyarrow as pa

from headwater.errors import SinkError, require
from headwater.sinks.files.formats import FormatOptions, FormatWriter, writer_for

Compression = Literal["gzip", "zstd"]
SUFFIXES: dict[str, str] = {"gzip": ".gz", "zstd": ".zst"}
MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")


def temp_path(path: Path) -> Path:
    """The temporary name a file is written under: hidden, same folder, owner's pid."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


class _HashingFile:
    """Counts and hashes the bytes that reach the disk (the compressed ones)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.sha256.update(data)
        self.raw.write(data)
        self.bytes += n
        return n

    def flush(self) -> None:
        self.raw.flush()


class _Stream:
    """The binary stream handed to format writers.

    ``tell`` counts uncompressed bytes, which is what pyarrow and zipfile expect; there
    is no ``seek`` (zipfile then writes data descriptors), and ``close`` is left to the
    AtomicFile so a library closing its output cannot publish half a file.
    """

    def __init__(self, target: Any):
        self._target = target
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self._target.write(data)
        self._position += n
        return n

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        self._target.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def seek(self, *args: Any) -> int:
        raise io.UnsupportedOperation("seek")

    def close(self) -> None:
        """Ignored: the AtomicFile decides when the file is complete."""


def _compressor(kind: Compression, target: _HashingFile, level: int | None) -> Any:
    if kind == "gzip":
        # No name and mtime 0: the same rows give the same bytes (and checksum) every run.
        return gzip.GzipFile(
            filename="", mode="wb", fileobj=target, compresslevel=level or 6, mtime=0
        )
    if kind == "zstd":
        zstandard = require("zstandard", "files", "zstd compression")
        return zstandard.ZstdCompressor(level=level or 3).stream_writer(
            cast(BinaryIO, target), closefd=False
        )
    raise ValueError(f"unknown compression {kind!r}; expected gzip or zstd")


class AtomicFile:
    """A file that appears under its final name complete, or not at all.

    Use as a context manager (an exception discards the file) or call ``open``,
    then ``commit`` or ``abort``. After ``commit``, `bytes` and `sha256` describe the
    published file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compression: Compression | None = None,
        level: int | None = None,
        fsync: bool = True,
        sink: str = "files",
    ):
        self.path = Path(path)
        self.temp = temp_path(self.path)
        self.compression = compression
        self.level = level
        self.fsync = fsync
        self.sink = sink
        self.bytes = 0
        self.sha256 = ""
        self._raw: BinaryIO | None = None
        self._hashing: _HashingFile | None = None
        self._compressor: Any = None
        self._stream: _Stream | None = None
        self.done = False

    def open(self) -> BinaryIO:
        """Create the temporary file and return the stream to write to."""
        if self._stream is not None:
            return cast(BinaryIO, self._stream)
        if self.compression is not None and self.compression not in SUFFIXES:
            raise SinkError(self.sink, f"unknown compression {self.compression!r}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._raw = open(self.temp, "wb")  # noqa: SIM115 — closed in commit/abort
        except OSError as exc:
            raise SinkError(self.sink, f"cannot create {self.path}: {exc}") from exc
        self._hashing = _HashingFile(self._raw)
        target: Any = self._hashing
        if self.compression is not None:
            try:
                self._compressor = target = _compressor(self.compression, self._hashing, self.level)
            except BaseException:
                self.abort()
                raise
        self._stream = _Stream(target)
        return cast(BinaryIO, self._stream)

    def commit(self) -> Path:
        """Finish compression, flush to disk and rename to the final name."""
        if self.done:
            return self.path
        if self._stream is None:
            self.open()
        assert self._raw is not None and self._hashing is not None
        try:
            if self._compressor is not None:
                self._compressor.close()
            self._raw.flush()
            if self.fsync:
                os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.abort()
            raise SinkError(self.sink, f"cannot publish {self.path}: {exc}") from exc
        except BaseException:
            self.abort()
            raise
        if self.fsync:
            _fsync_dir(self.path.parent)
        self.bytes = self._hashing.bytes
        self.sha256 = self._hashing.sha256.hexdigest()
        self.done = True
        return self.path

    def abort(self) -> None:
        """Discard the temporary file; the final name is left as it was."""
        if self.done:
            return
        self.done = True
        if self._compressor is not None:
            with contextlib.suppress(Exception):
                self._compressor.close()
        if self._raw is not None:
            with contextlib.suppress(OSError):
                self._raw.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)

    def __enter__(self) -> BinaryIO:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); not possible or needed everywhere."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, sink: str = "files") -> Path:
    """Publish small content (a manifest, a schema) atomically."""
    with AtomicFile(path, sink=sink) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or the platform cannot tell: keep its file
    return True


def clean_stale_temp(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Delete temporary files left by processes that died while writing; returns them.

    Temporary files of live processes (other workers writing the same folder) are kept.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    removed: list[Path] = []
    paths = root.rglob(".*.tmp-*") if recursive else root.glob(".*.tmp-*")
    for path in paths:
        m = _TEMP.match(path.name)
        if not m or not path.is_file() or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


@dataclass(frozen=True)
class Sidecar:
    """A file published beside a data file (an .xsd, .avsc, .layout.json), hashed like it."""

    path: Path
    bytes: int
    sha256: str


@dataclass(frozen=True)
class FileInfo:
    """A published file: what a manifest lists and a ledger can check.

    `conventions` says how the file spells what a reader must know to read it back
    exactly (a CSV's NULL and empty string); the manifest records it for `verify`.
    """

    path: Path
    rows: int
    bytes: int
    sha256: str
    sidecars: tuple[Sidecar, ...] = ()
    conventions: Mapping[str, Any] = field(default_factory=dict)


class PublishedFile:
    """One data file being written: a format writer on an AtomicFile.

    `format` names a registered format, or is a writer class of a sink's own (a bulk format).

    ``publish`` ends the document, renames the file into place and writes the writer's
    sidecars (an .xsd, an .avsc) beside it; ``abort`` leaves nothing behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str | type[FormatWriter],
        schema: pa.Schema,
        options: FormatOptions | Mapping[str, Any] | None = None,
        *,
        compression: Compression | None = None,
        level: int | None = None,
        sidecars: bool = True,
        fsync: bool = True,
        sink: str = "files",
    ):
        self.path = Path(path)
        self.format = format
        self.sink = sink
        self._sidecars = sidecars
        self._file = AtomicFile(
            self.path, compression=compression, level=level, fsync=fsync, sink=sink
        )
        stream = self._file.open()
        try:
            self.writer: FormatWriter = (
                writer_for(format, stream, schema, options, sink=sink)
                if isinstance(format, str)
                else format(stream, schema, options, sink=sink)
            )
        except BaseException:
            self._file.abort()
            raise

    @property
    def rows(self) -> int:
        return self.writer.rows

    def write(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Append rows; a failure discards the file."""
        try:
            self.writer.write(batch)
        except OSError as exc:
            self.abort()
            raise SinkError(self.sink, f"cannot write {self.path}: {exc}") from exc
        except BaseException:
            self.abort()
            raise

    def publish(self) -> FileInfo:
        """Finish the document, put the file in place, then its sidecars."""
        try:
            self.writer.close()
        except BaseException:
            self.abort()
            raise
        self._file.commit()
        written: list[Sidecar] = []
        if self._sidecars:
            for suffix, text in self.writer.sidecars().items():
                data = text.encode("utf-8")
                path = write_atomic(self.sidecar_path(suffix), data, sink=self.sink)
                written.append(Sidecar(path, len(data), hashlib.sha256(data).hexdigest()))
        return FileInfo(
            self.path,
            self.rows,
            self._file.bytes,
            self._file.sha256,
            tuple(written),
            self.writer.conventions(),
        )

    @property
    def inode(self) -> int:
        """The file's inode: the rename keeps it, so it tells this file from an earlier one
        of the same name (a proof of publication names both, ledger/proof.py)."""
        return os.stat(self._file.temp).st_ino

    def abort(self) -> None:
        """Discard the file (nothing appears under its final name)."""
        try:
            self.writer.discard()
        finally:
            self._file.abort()

    def sidecar_path(self, suffix: str) -> Path:
        """orders-00001.csv.gz → orders-00001<suffix>."""
        name = self.path.name
        for ending in SUFFIXES.values():
            name = name.removesuffix(ending)
        name = name.removesuffix("." + self.writer.extension)
        return self.path.with_name(name + suffix)


class Manifest:
    """The files published in one folder, written as _manifest.json plus _SUCCESS.

    ``write`` may be called after every interval: it rewrites the manifest (atomically)
    only when files were added since the last write, then touches _SUCCESS, so a
    reader that sees _SUCCESS finds every listed file complete.
    """

    def __init__(self, folder: str | os.PathLike[str], *, sink: str = "files"):
        self.folder = Path(folder)
        self.sink = sink
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False

    @classmethod
    def read(cls, folder: str | os.PathLike[str], *, sink: str = "files") -> Manifest:
        """The manifest already in a folder (empty if none), to add to it."""
        manifest = cls(folder, sink=sink)
        path = manifest.folder / MANIFEST
        if path.exists():
            for entry in json.loads(path.read_text("utf-8")).get("files", []):
                manifest._entries[entry["file"]] = entry
        return manifest

    def add(self, info: FileInfo) -> Manifest:
        """List a published file (again: its entry is replaced)."""
        name = self._relative(info.path)
        entry: dict[str, Any] = {
            "file": name,
            "rows": info.rows,
            "bytes": info.bytes,
            "sha256": info.sha256,
        }
        if info.conventions:
            entry["conventions"] = dict(info.conventions)
        if info.sidecars:
            entry["sidecars"] = [
                {"file": self._relative(s.path), "bytes": s.bytes, "sha256": s.sha256}
                for s in info.sidecars
            ]
        self._entries[name] = entry
        self._dirty = True
        return self

    @property
    def files(self) -> list[dict[str, Any]]:
        return list(self._entries.values())

    def document(self, **meta: Any) -> dict[str, Any]:
        """The manifest's JSON content; `meta` (interval, entity…) is added at the top."""
        files = self.files
        return {
            **meta,
            "rows": sum(e["rows"] for e in files),
            "bytes": sum(e["bytes"] for e in files),
            "files": files,
        }

    def write(self, **meta: Any) -> Path | None:
        """Publish _manifest.json then _SUCCESS if anything changed; returns the manifest path."""
        if not self._dirty and not meta:
            return None
        path = self.folder / MANIFEST
        text = json.dumps(self.document(**meta), indent=2, ensure_ascii=False) + "\n"
        write_atomic(path, text, sink=self.sink)
        write_atomic(self.folder / SUCCESS, b"", sink=self.sink)
        self._dirty = False
        return path

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return Path(os.path.relpath(path, self.folder)).as_posix()
