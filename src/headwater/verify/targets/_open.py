"""Which registered kind a --target spec names (see the package docstring)."""

from __future__ import annotations

import re
from pathlib import Path

from headwater._plugins import Registry, suggest
from headwater.errors import VerifyError
from headwater.verify.targets._base import DatabaseFile, Target
from headwater.verify.targets.folder import FolderTarget

TARGETS: Registry[type[Target]] = Registry(
    "verify target",
    {
        "avro": "headwater.verify.targets.parsed:AvroFolder",
        "csv": "headwater.verify.targets.csv:CsvFolder",
        "duckdb": "headwater.verify.targets.duckdb:DuckDBTarget",
        "fixed_width": "headwater.verify.targets.parsed:FixedWidthFolder",
        "jsonl": "headwater.verify.targets.jsonl:JsonlFolder",
        "kafka": "headwater.verify.targets.kafka:KafkaTarget",
        "parquet": "headwater.verify.targets.parquet:ParquetFolder",
        "postgres": "headwater.verify.targets.postgres:PostgresTarget",
        "sqlite": "headwater.verify.targets.sqlite:SqliteTarget",
        "xlsx": "headwater.verify.targets.parsed:XlsxFolder",
        "xml": "headwater.verify.targets.parsed:XmlFolder",
    },
)


def _kinds() -> list[type[Target]]:
    """The registered kinds, in name order (which settles ties)."""
    return [TARGETS.get(name) for name in TARGETS.names()]


def open_target(spec: str) -> Target:
    """Parse a --target spec (see the module docstring)."""
    for kind in _kinds():
        if kind.urls and spec.startswith(kind.urls):
            return kind(spec)
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in TARGETS:
        named = TARGETS.get(prefix)
        if issubclass(named, DatabaseFile | FolderTarget):
            return named(spec, Path(rest.removeprefix("//")))
    path = Path(spec)
    if path.is_dir():
        return _folder(spec, path)
    if not path.exists():
        if sep and re.fullmatch(r"[A-Za-z][\w+.-]+", prefix):  # KIND:… (not a drive letter)
            unknown = f"'{prefix}'{suggest(prefix, TARGETS.names())}"
            raise VerifyError(f"--target: {spec} does not exist; unknown target kind {unknown}")
        raise VerifyError(
            f"--target: {spec} does not exist (a database file, a folder, KIND:PATH or a URL; "
            f"kinds: {', '.join(TARGETS.names())})"
        )
    head = _head(path)
    databases = [k for k in _kinds() if issubclass(k, DatabaseFile)]
    for db in databases:
        if db.recognizes(path, head):
            return db(spec, path)
    raise VerifyError(
        f"--target: {spec} is not a database file ({', '.join(k.kind for k in databases)}); "
        "for files give their folder"
    )


def _folder(spec: str, root: Path) -> Target:
    """The folder kind with the most data files under `root`."""
    kinds = [k for k in _kinds() if issubclass(k, FolderTarget)]
    counts = dict.fromkeys(kinds, 0)
    for p in root.rglob("*"):
        for kind in kinds:
            if kind.is_data_file(p):
                counts[kind] += 1
    best = max(kinds, key=lambda k: counts[k])
    if counts[best] == 0:
        raise VerifyError(
            f"--target: no data files ({', '.join(k.kind for k in kinds)}) under {root}; "
            "name the format like parquet:PATH"
        )
    return best(spec, root)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(16)
    except OSError:
        return b""
