"""Where a pipeline landed its data, opened read-only as DuckDB relations, one per entity.

Target specs (`--target`):
    path/to/file.duckdb, duckdb:path       a DuckDB database (tables named after entities)
    path/to/file.sqlite, sqlite:path       a SQLite database (`.db` files are sniffed)
    path/to/folder, parquet:/csv:/jsonl:/  a folder with one sub-folder or file group per entity
    xml:/xlsx:/avro:/fixed_width:          (<entity>/**/*.parquet, <entity>.csv, <entity>-*.jsonl…)
                                           in any format the files sink writes (see files.py)
    postgresql://user@host/db              a PostgreSQL database (needs headwater[postgres])
    kafka://host:port[/topic,topic2]       Kafka topics, read whole (needs headwater[kafka])
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
from headwater.secrets import redact
from headwater.verify import files as files_io


def _compressed(*exts: str) -> tuple[str, ...]:
    return tuple(e + c for e in exts for c in ("", ".gz", ".zst"))


FOLDER_FORMATS = {
    "parquet": (".parquet", ".pq"),
    "csv": _compressed(".csv", ".tsv"),
    "jsonl": _compressed(".jsonl", ".ndjson", ".json"),
    "xml": _compressed(".xml"),
    "xlsx": (".xlsx",),
    "avro": (".avro",),
    "fixed_width": _compressed(".txt"),
}
# Files published beside data files, never data themselves.
SIDECARS = (".layout.json", ".xsd", ".avsc")


def _data_file(p: Path, exts: tuple[str, ...]) -> bool:
    name = p.name.lower()
    return (
        p.is_file()
        and name.endswith(exts)
        and not name.endswith(SIDECARS)
        and not name.startswith((".", "_"))
    )


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
        return f"{self.kind} {redact(self.spec)}"


def _duckdb_error() -> type[Exception]:
    """DuckDB's errors (unreadable files, bad data) are the user's; anything else is a bug."""
    import duckdb

    return duckdb.Error


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
            except _duckdb_error() as exc:
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
        arrow = pa.table({c: files_io.column([r[i] for r in rows]) for i, c in enumerate(cols)})
        con.register(f"{view}_arrow", arrow)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow").fetchall()
        return True


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
                if _data_file(p, exts):
                    counts[fmt] += 1
        best = max(counts, key=lambda f: counts[f])
        if counts[best] == 0:
            raise VerifyError(
                f"--target: no data files ({', '.join(FOLDER_FORMATS)}) under {self.root}; "
                "name the format like parquet:PATH"
            )
        return best

    def _files(self, table: str) -> list[Path]:
        exts = FOLDER_FORMATS[self.format]
        sub = next(
            (p for p in self.root.iterdir() if p.is_dir() and p.name.lower() == table.lower()), None
        )
        if sub is not None:
            found = [p for p in sub.rglob("*") if _data_file(p, exts)]
        else:
            pattern = re.compile(rf"^{re.escape(table.lower())}([-_.].*)?$")
            found = [
                p
                for p in self.root.iterdir()
                if _data_file(p, exts) and pattern.match(p.name.lower())
            ]
        return sorted(found)

    def names(self, con: Any) -> list[str]:
        exts = FOLDER_FORMATS[self.format]
        out = {
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        }
        for p in self.root.iterdir():
            if _data_file(p, exts):
                out.add(re.split(r"[-_.]", p.name)[0])
        return sorted(out)

    def _read(self, con: Any, files: list[Path], view: str) -> str:
        """A query of the files (registering what Python reads as `view`_arrow)."""
        listed = "[" + ", ".join(_lit(str(p)) for p in files) + "]"
        if self.format == "parquet":
            return f"SELECT * FROM read_parquet({listed}, union_by_name = true)"
        if self.format == "csv":
            # text as written, NULL and '' as the files spell them (files.py)
            return " UNION ALL BY NAME ".join(
                "SELECT * FROM read_csv(["
                + ", ".join(_lit(str(p)) for p in group)
                + "], union_by_name = true, header = true, all_varchar = true, "
                f"allow_quoted_nulls = false, nullstr = {_lit(null)}, encoding = {_lit(enc)})"
                for null, enc, group in files_io.csv_groups(files)
            )
        if self.format == "jsonl":  # JSON Lines, or JSON arrays of objects
            return f"SELECT * FROM read_json({listed}, format = 'auto', union_by_name = true)"
        con.register(f"{view}_arrow", files_io.read_files(self.format, files))
        return f"SELECT * FROM {view}_arrow"

    def relation(self, con: Any, table: str, view: str) -> bool:
        files = self._files(table)
        if not files:
            return False
        try:
            read = self._read(con, files, view)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {read}").fetchall()
            con.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except (_duckdb_error(), OSError) as exc:  # unreadable files, bad data: the user's
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
                f"--target: cannot connect to PostgreSQL: {exc}"  # VerifyError redacts
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


def _pg_column(values: list[Any]) -> pa.Array:
    from decimal import Decimal

    if any(isinstance(v, Decimal) for v in values):
        values = [float(v) if isinstance(v, Decimal) else v for v in values]
    return files_io.column(values)


class KafkaTarget(Target):
    """Kafka topics, read from the beginning to the high watermark as JSON messages.

    `kafka://host:port[,host:port]/topic1,topic2[?timeout=SECONDS]`. An entity reads the
    listed topic named after it (or ending in `.entity`), the only listed topic, or the
    broker's topic of that name; `--table entity=topic` names it. A topic is a change log
    applied in offset order per message key (and `version`, for insert-only rows): the last
    message is the row (`rows`/`changes` payloads, or a Debezium envelope's after/before +
    op), a delete (`_op`/`op` 'd', or a tombstone: a null value) removes it. Every message
    counts: one that repeats an event already in the log (same event_id header, else the
    same value) lands the row once more, so verify reports it as a duplicate. The rows are
    read like a JSONL folder (DuckDB read_json over a temporary file).
    """

    kind = "kafka"
    typed = False

    def __init__(self, spec: str):
        super().__init__(spec)
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(spec)
        self.servers = parts.netloc
        if not self.servers:
            raise VerifyError(f"--target: {spec}: expected kafka://HOST:PORT[/TOPIC,…]")
        self.topics = [t for t in parts.path.strip("/").split(",") if t]
        try:
            self.timeout = float(parse_qs(parts.query).get("timeout", ["10"])[0])
        except ValueError:
            raise VerifyError(f"--target: {spec}: timeout must be a number of seconds") from None
        self._kafka: Any = None
        self._meta: Any = None
        self._tmp: list[Path] = []

    def _client(self) -> Any:
        if self._kafka is None:
            try:
                import confluent_kafka
                import confluent_kafka.admin
            except ImportError:
                raise MissingExtra("verify --target kafka://", "kafka", "confluent-kafka") from None
            self._kafka = confluent_kafka
        return self._kafka

    def _settings(self) -> dict[str, Any]:
        import logging
        import uuid

        return {
            "bootstrap.servers": self.servers,
            "group.id": f"headwater-verify-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "socket.connection.setup.timeout.ms": max(1000, int(self.timeout * 1000)),
            "logger": logging.getLogger(__name__),
        }

    def _metadata(self) -> Any:
        if self._meta is None:
            kafka = self._client()
            admin = kafka.admin.AdminClient(
                {k: v for k, v in self._settings().items() if not k.startswith(("group", "enable"))}
            )
            try:
                self._meta = admin.list_topics(timeout=self.timeout)
            except kafka.KafkaException as exc:
                raise VerifyError(
                    f"--target: cannot reach Kafka at {self.servers}: {exc.args[0] if exc.args else exc}"
                ) from None
        return self._meta

    def names(self, con: Any) -> list[str]:
        return sorted(t for t in self._metadata().topics if not t.startswith("__"))

    def _topic(self, table: str) -> str | None:
        low = table.lower()
        for t in self.topics:
            if t.lower() == low or re.search(rf"[.\-_]{re.escape(low)}$", t.lower()):
                return t
        if len(self.topics) == 1:
            return self.topics[0]
        if self.topics and low not in (t.lower() for t in self.topics):
            return None
        return {t.lower(): t for t in self._metadata().topics}.get(low)

    def _read(self, topic: str) -> list[Any]:
        """Every message of the topic, per partition in offset order."""
        import time

        kafka = self._client()
        info = self._metadata().topics[topic]
        consumer = kafka.Consumer(self._settings())
        out: list[Any] = []
        try:
            ends: dict[int, int] = {}
            for p in sorted(info.partitions):
                try:
                    low, high = consumer.get_watermark_offsets(
                        kafka.TopicPartition(topic, p), timeout=self.timeout
                    )
                except kafka.KafkaException as exc:
                    raise VerifyError(
                        f"--target: cannot read offsets of {topic}/{p} on Kafka at "
                        f"{self.servers}: {exc}"
                    ) from None
                if high > low:
                    ends[p] = high
            if not ends:
                return out
            consumer.assign(
                [kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in sorted(ends)]
            )
            pos = dict.fromkeys(ends, -1)
            deadline = time.monotonic() + max(30.0, self.timeout * 3)

            def behind() -> bool:
                # the high watermark each fetch reports raises the listed one (some brokers,
                # Tansu among them, list the last batch's start, not the end of the log)
                for p in ends:
                    _, fetched = consumer.get_watermark_offsets(
                        kafka.TopicPartition(topic, p), cached=True
                    )
                    ends[p] = max(ends[p], fetched)
                return any(pos[p] < ends[p] - 1 for p in ends)

            while behind():
                if time.monotonic() > deadline:
                    short = {p: ends[p] - 1 - pos[p] for p in ends if pos[p] < ends[p] - 1}
                    raise VerifyError(
                        f"--target: reading {topic} on Kafka at {self.servers} timed out "
                        f"(messages left per partition: {short})"
                    )
                for msg in consumer.consume(10_000, 0.5):
                    err = msg.error()
                    if err is not None:
                        if err.code() == kafka.KafkaError._PARTITION_EOF:
                            continue
                        raise VerifyError(
                            f"--target: cannot read {topic} on Kafka at {self.servers}: {err.str()}"
                        )
                    p = msg.partition()
                    if p in ends:
                        out.append(msg)
                        pos[p] = max(pos[p], msg.offset())
        finally:
            consumer.close()
        out.sort(key=lambda m: (m.partition(), m.offset()))
        return out

    def _rows(self, topic: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The topic applied as a change log: (rows, every column seen)."""
        import json

        state: dict[Any, tuple[dict[str, Any] | None, int]] = {}
        seen: dict[Any, set[Any]] = {}
        columns: dict[str, None] = {}
        for n, msg in enumerate(self._read(topic)):
            key, value = msg.key(), msg.value()
            if value is None:  # a tombstone deletes the key, every version of it
                for ident in [i for i in state if i[0] == key]:
                    state[ident] = (None, 0)
                continue
            try:
                data = json.loads(value)
            except (ValueError, UnicodeDecodeError) as exc:
                raise VerifyError(
                    f"--target: {topic}/{msg.partition()}@{msg.offset()} is not JSON ({exc}); "
                    "verify reads JSON messages"
                ) from None
            if not isinstance(data, dict):
                raise VerifyError(
                    f"--target: {topic}/{msg.partition()}@{msg.offset()} is not a JSON object"
                )
            if "op" in data and ("after" in data or "before" in data):  # Debezium envelope
                op = data.get("op")
                row = data.get("before" if op == "d" else "after") or {}
                row = {**row, "_op": op}
            else:
                row = data
                op = row.get("_op")
            columns.update(dict.fromkeys(row))
            ident = (key, row.get("version")) if key is not None else (None, n)
            headers = dict(msg.headers() or [])
            event = headers.get("event_id") or value
            events = seen.setdefault(ident, set())
            copies = 1 if event not in events else (state.get(ident, (None, 0))[1] + 1)
            events.add(event)
            if op == "d":
                state[ident] = (None, 0)
            else:
                state[ident] = (row, copies)
        rows = [r for r, copies in state.values() if r is not None for _ in range(copies)]
        return rows, list(columns)

    def relation(self, con: Any, table: str, view: str) -> bool:
        import json
        import tempfile

        topic = self._topic(table)
        if topic is None or topic not in self._metadata().topics:
            return False
        rows, columns = self._rows(topic)
        if not rows:
            arrow = pa.table({c: pa.array([], pa.string()) for c in columns or ["_op"]})
            con.register(f"{view}_arrow", arrow)
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow"
            ).fetchall()
            return True
        fd, name = tempfile.mkstemp(prefix="headwater-verify-", suffix=".jsonl")
        path = Path(name)
        self._tmp.append(path)
        with open(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str) + "\n")
        read = f"read_json([{_lit(str(path))}], format = 'newline_delimited', union_by_name = true)"
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {view}_rows AS SELECT * FROM {read}"
            ).fetchall()
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_rows"
            ).fetchall()
        except _duckdb_error() as exc:
            raise VerifyError(f"--target: cannot read the messages of {topic}: {exc}") from None
        finally:
            path.unlink(missing_ok=True)
        return True

    def close(self, con: Any) -> None:
        for path in self._tmp:
            path.unlink(missing_ok=True)
        self._tmp.clear()

    def describe(self) -> str:
        return f"kafka {self.servers}" + (f" ({', '.join(self.topics)})" if self.topics else "")


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
    if spec.startswith("kafka://"):
        return KafkaTarget(spec)
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
