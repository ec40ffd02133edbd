"""Where a pipeline landed its data, opened read-only as DuckDB relations, one per entity.

Target specs (`--target`):
    path/to/file.duckdb, duckdb:path       a DuckDB database (tables named after entities)
    path/to/file.sqlite, sqlite:path       a SQLite database (`.db` files are sniffed)
    path/to/folder, parquet:/csv:/jsonl:   a folder with one sub-folder or file group per entity
                                           (<entity>/**/*.parquet, <entity>.csv, <entity>-*.jsonl…)
    postgresql://user@host/db              a PostgreSQL database (needs headwater[postgres])
`--table entity=name` maps an entity to another table (`schema.table`) or file stem.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.errors import MissingExtra, VerifyError

FOLDER_FORMATS = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv", ".csv.gz", ".tsv", ".tsv.gz"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".json", ".json.gz"),
}


class Target(ABC):
    """A landing place; `relation()` exposes one table of it to the DuckDB connection."""

    kind: str
    typed: bool  # column types are declared (a type mismatch is a pipeline bug)

    def __init__(self, spec: str):
        self.spec = spec

    @abstractmethod
    def names(self, con: Any) -> list[str]:
        """Tables (or file groups) the target has, for suggestions."""

    @abstractmethod
    def relation(self, con: Any, table: str, view: str) -> bool:
        """Create DuckDB view `view` over `table`; False when it does not exist."""

    def close(self, con: Any) -> None:  # noqa: B027 - optional hook
        """Release what open() took."""

    def describe(self) -> str:
        return f"{self.kind} {self.spec}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBTarget(Target):
    kind = "duckdb"
    typed = True

    def __init__(self, spec: str, path: Path):
        super().__init__(spec)
        self.path = path
        self.attached = False

    def _attach(self, con: Any) -> None:
        if not self.attached:
            if not self.path.exists():
                raise VerifyError(f"--target: no DuckDB database at {self.path}")
            try:
                con.execute(f"ATTACH {_lit(str(self.path))} AS tgt (READ_ONLY)").fetchall()
            except Exception as exc:
                raise VerifyError(f"--target: cannot open {self.path}: {exc}") from None
            self.attached = True

    def _tables(self, con: Any) -> list[tuple[str, str]]:
        self._attach(con)
        return con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = 'tgt'"
        ).fetchall()

    def names(self, con: Any) -> list[str]:
        return sorted(t if s == "main" else f"{s}.{t}" for s, t in self._tables(con))

    def relation(self, con: Any, table: str, view: str) -> bool:
        schema, _, name = table.rpartition(".")
        for s, t in self._tables(con):
            if t.lower() == name.lower() and (not schema or s.lower() == schema.lower()):
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM tgt.{_q(s)}.{_q(t)}"
                ).fetchall()
                return True
        return False

    def close(self, con: Any) -> None:
        if self.attached:
            con.execute("DETACH tgt").fetchall()
            self.attached = False


class SqliteTarget(Target):
    """SQLite, read with the standard library (types come from the values, as SQLite has)."""

    kind = "sqlite"
    typed = False

    def __init__(self, spec: str, path: Path):
        super().__init__(spec)
        if not path.exists():
            raise VerifyError(f"--target: no SQLite database at {path}")
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise VerifyError(f"--target: cannot open {self.path}: {exc}") from None

    def names(self, con: Any) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            return sorted(r[0] for r in rows)

    def relation(self, con: Any, table: str, view: str) -> bool:
        match = {n.lower(): n for n in self.names(con)}.get(table.lower())
        if match is None:
            return False
        db = self._connect()
        try:
            cur = db.execute(f"SELECT * FROM {_q(match)}")
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            raise VerifyError(f"--target: cannot read {match} from {self.path}: {exc}") from None
        finally:
            db.close()
        arrow = pa.table({c: _column([r[i] for r in rows]) for i, c in enumerate(cols)})
        con.register(f"{view}_arrow", arrow)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow").fetchall()
        return True


def _column(values: list[Any]) -> pa.Array:
    """A column from SQLite values: its one type, or text when the values mix types."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int, float}:
        return pa.array(values, pa.float64())
    if len(kinds) <= 1:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else str(v) for v in values], pa.string())


class FolderTarget(Target):
    """Files per entity: <root>/<entity>/**/*.<ext>, or <root>/<entity>[-_.]*.<ext>."""

    typed = False

    def __init__(self, spec: str, root: Path, format: str | None):
        super().__init__(spec)
        if not root.is_dir():
            raise VerifyError(f"--target: no folder at {root}")
        self.root = root
        self.format = format or self._sniff()
        self.kind = self.format
        self.typed = self.format == "parquet"

    def _sniff(self) -> str:
        counts = {f: 0 for f in FOLDER_FORMATS}
        for p in self.root.rglob("*"):
            for fmt, exts in FOLDER_FORMATS.items():
                if p.is_file() and p.name.lower().endswith(exts):
                    counts[fmt] += 1
        best = max(counts, key=lambda f: counts[f])
        if counts[best] == 0:
            raise VerifyError(
                f"--target: no data files (parquet, csv, jsonl) under {self.root}; "
                "name the format like parquet:PATH"
            )
        return best

    def _files(self, table: str) -> list[Path]:
        exts = FOLDER_FORMATS[self.format]
        sub = next(
            (p for p in self.root.iterdir() if p.is_dir() and p.name.lower() == table.lower()), None
        )
        if sub is not None:
            found = [p for p in sub.rglob("*") if p.is_file() and p.name.lower().endswith(exts)]
        else:
            pattern = re.compile(rf"^{re.escape(table.lower())}([-_.].*)?$")
            found = [
                p
                for p in self.root.iterdir()
                if p.is_file() and p.name.lower().endswith(exts) and pattern.match(p.name.lower())
            ]
        return sorted(p for p in found if not p.name.startswith((".", "_")))

    def names(self, con: Any) -> list[str]:
        exts = FOLDER_FORMATS[self.format]
        out = {
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        }
        for p in self.root.iterdir():
            if p.is_file() and p.name.lower().endswith(exts):
                out.add(re.split(r"[-_.]", p.name)[0])
        return sorted(out)

    def relation(self, con: Any, table: str, view: str) -> bool:
        files = self._files(table)
        if not files:
            return False
        listed = "[" + ", ".join(_lit(str(p)) for p in files) + "]"
        if self.format == "parquet":
            read = f"read_parquet({listed}, union_by_name = true)"
        elif self.format == "csv":
            read = f"read_csv({listed}, union_by_name = true, header = true)"
        else:
            read = f"read_json({listed}, format = 'newline_delimited', union_by_name = true)"
        try:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {read}").fetchall()
            con.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except Exception as exc:
            raise VerifyError(
                f"--target: cannot read {table} files under {self.root}: {exc}"
            ) from None
        return True

    def describe(self) -> str:
        return f"{self.format} folder {self.root}"


class PostgresTarget(Target):
    """PostgreSQL through psycopg: each table is read whole into Arrow."""

    kind = "postgres"
    typed = True

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise MissingExtra("verify --target postgresql://", "postgres", "psycopg") from None
        try:
            return psycopg.connect(self.spec, connect_timeout=10)
        except psycopg.Error as exc:
            raise VerifyError(
                f"--target: cannot connect to PostgreSQL: {_redact(str(exc))}"
            ) from None

    def names(self, con: Any) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
        return sorted(t if s == "public" else f"{s}.{t}" for s, t in rows)

    def relation(self, con: Any, table: str, view: str) -> bool:
        schema, _, name = table.rpartition(".")
        with self._connect() as db:
            found = db.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE lower(table_name) = lower(%s) AND (%s = '' OR lower(table_schema) = lower(%s)) "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema = 'public' DESC LIMIT 1",
                (name, schema, schema),
            ).fetchone()
            if found is None:
                return False
            cur = db.execute(f"SELECT * FROM {_q(found[0])}.{_q(found[1])}")
            cols = [d.name for d in cur.description or []]
            rows = cur.fetchall()
        arrow = pa.table({c: _pg_column([r[i] for r in rows]) for i, c in enumerate(cols)})
        con.register(f"{view}_arrow", arrow)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow").fetchall()
        return True

    def describe(self) -> str:
        return f"postgres {_redact(self.spec)}"


def _pg_column(values: list[Any]) -> pa.Array:
    from decimal import Decimal

    if any(isinstance(v, Decimal) for v in values):
        values = [float(v) if isinstance(v, Decimal) else v for v in values]
    return _column(values)


def _redact(text: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", text)


def _sniff_db(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith(b"SQLite format 3"):
        return "sqlite"
    if head[8:12] == b"DUCK":
        return "duckdb"
    return None


def open_target(spec: str) -> Target:
    """Parse a --target spec (see the module docstring)."""
    if re.match(r"^postgres(ql)?://", spec):
        return PostgresTarget(spec)
    scheme, sep, rest = spec.partition(":")
    if (
        sep
        and scheme in ("duckdb", "sqlite", *FOLDER_FORMATS)
        and not re.match(r"^[A-Za-z]$", scheme)
    ):
        path = Path(rest.removeprefix("//"))
        if scheme == "duckdb":
            return DuckDBTarget(spec, path)
        if scheme == "sqlite":
            return SqliteTarget(spec, path)
        return FolderTarget(spec, path, scheme)
    path = Path(spec)
    if path.is_dir():
        return FolderTarget(spec, path, None)
    if not path.exists():
        raise VerifyError(
            f"--target: {spec} does not exist (a DuckDB/SQLite file, a folder, or postgresql://…)"
        )
    kind = _sniff_db(path)
    if kind == "duckdb" or path.suffix in (".duckdb", ".ddb"):
        return DuckDBTarget(spec, path)
    if kind == "sqlite":
        return SqliteTarget(spec, path)
    raise VerifyError(
        f"--target: {spec} is neither a DuckDB nor a SQLite database; for files give their folder"
    )
