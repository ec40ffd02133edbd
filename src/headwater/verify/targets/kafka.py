"""Kafka topics as tables: `kafka://host:port[,host:port]/topic1,topic2[?timeout=SECONDS]`."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from headwater.errors import VerifyError, require
from headwater.verify.targets._base import Target, arrow_view, duckdb_error, literal
from headwater.verify.targets.changelog import apply_change_log
from headwater.verify.targets.kafka_consumer import read_topic


class KafkaTarget(Target):
    """Kafka topics, read from the beginning to the high watermark as JSON messages.

    An entity reads the listed topic named after it (or ending in `.entity`), the only
    listed topic, or the broker's topic of that name; `--table entity=topic` names it. A
    topic is a change log (changelog.py); the rows are read like a JSONL folder (DuckDB
    read_json over a temporary file).
    """

    kind = "kafka"
    typed = False
    urls = ("kafka://",)

    def __init__(self, spec: str):
        super().__init__(spec)
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
            what = "verify --target kafka://"
            confluent_kafka = require("confluent_kafka", "kafka", what, "confluent-kafka")
            require("confluent_kafka.admin", "kafka", what, "confluent-kafka")
            self._kafka = confluent_kafka
        return self._kafka

    def _settings(self) -> dict[str, Any]:
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

    def relation(self, con: Any, table: str, view: str) -> bool:
        topic = self._topic(table)
        if topic is None or topic not in self._metadata().topics:
            return False
        partitions = list(self._metadata().topics[topic].partitions)
        messages = read_topic(self._client(), self._settings(), partitions, topic, self.timeout)
        rows, columns = apply_change_log(messages, topic)
        if not rows:
            empty = pa.table({c: pa.array([], pa.string()) for c in columns or ["_op"]})
            arrow_view(con, view, empty)
            return True
        fd, name = tempfile.mkstemp(prefix="headwater-verify-", suffix=".jsonl")
        path = Path(name)
        self._tmp.append(path)
        with open(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str) + "\n")
        read = (
            f"read_json([{literal(str(path))}], format = 'newline_delimited', union_by_name = true)"
        )
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {view}_rows AS SELECT * FROM {read}"
            ).fetchall()
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_rows"
            ).fetchall()
        except duckdb_error() as exc:
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
