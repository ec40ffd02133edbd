"""One harness per sink kind (tests/contract/_harness.py says what a harness is).

Read-back clients are the per-sink tests' own (tests/sinks/test_<kind>.py, tests/capture/
_db.py), imported when used so a missing driver skips only that sink's checks.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from headwater.ledger import LedgerReader
from headwater.sinks import SINKS
from headwater.world.engine import World

from tests.capture._db import my_database, my_rows, pg_database, pg_rows
from tests.contract._harness import (
    NAME,
    PASSWORD,
    Arrived,
    Harness,
    Landed,
    Rows,
    activity,
    canon,
    cell,
    debezium_images,
    event_images,
    event_list,
    jsonl,
    row_images,
    scenario,
)
from tests.sinks._streams import Received, Run, expected_events

#: The environment variable holding the webhook secret (set by tests/contract/conftest.py).
SECRET_ENV = "HW_CONTRACT_SECRET"


def columns() -> dict[str, list[str]]:
    """Each entity's columns in the short world."""
    return {e: [f.name for f in s.row_type] for e, s in World(scenario("")).schemas.items()}


def store_rows(read: Any) -> Rows:
    """Every entity's rows through `read(entity, columns)`, each value made comparable."""
    return {
        e: {tuple(cell(v) for v in row) for row in read(e, cols)} for e, cols in columns().items()
    }


def received_images(got: list[Received]) -> Arrived:
    return [(m.event_id, canon(json.loads(m.body))) for m in got]


def first(identity: tuple[str, str]) -> str:
    """The event id of an (event id, image) identity."""
    return identity[0]


def ledger_acks(r: Run) -> list[str]:
    """The event ids the broker acknowledged, as the ledger holds them."""
    acks = LedgerReader(r.out / "ledger").acks(NAME)
    return [] if acks is None else acks["event_id"].to_pylist()


def crash(sig: int) -> Callable[[Any], None]:
    """Stop a private server by signalling the PID its fixture started; wait until gone."""

    def stop(server: Any) -> None:
        os.kill(server.pid, sig)
        deadline = time.monotonic() + 30
        while server.running and time.monotonic() < deadline:
            time.sleep(0.01)

    return stop


#: Stream sinks: keep retrying for long enough that a restart is outlasted.
STREAM_RIDE_OUT = ", retry: {for: 60s, initial: 50ms, max: 500ms}"


# -- stores -----------------------------------------------------------------------------------


def _sqlite_rows(server: Any, ns: str, r: Run) -> Rows:
    conn = sqlite3.connect(r.out / "shop.db")

    def read(entity: str, cols: list[str]) -> list[tuple[Any, ...]]:
        names = ", ".join(f'"{c}"' for c in cols)
        return conn.execute(f'SELECT {names} FROM "{entity}"').fetchall()

    try:
        return store_rows(read)
    finally:
        conn.close()


def _pg_url(server: Any, ns: str) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{ns}"


def _redis_kv_rows(server: Any, ns: str, r: Run) -> Rows:
    from tests.sinks.test_redis_kv import rows_of

    schemas = World(scenario("")).schemas
    return {e: rows_of(server.url, f"{ns}:{e}:*", s.row_type) for e, s in schemas.items()}


def _my_url(server: Any, ns: str) -> str:
    return f"mysql://root@{server.host}:{server.port}/{ns}"


# -- files ------------------------------------------------------------------------------------


def _files_landed(server: Any, ns: str, r: Run) -> Arrived:
    root = r.out / "files"
    out: Arrived = []
    for p in sorted(root.rglob("*.jsonl")):
        entity = p.relative_to(root).parts[0]
        for line in p.read_text(encoding="utf-8").splitlines():
            out.append((entity, canon(json.loads(line))))
    return out


def _cdc_landed(server: Any, ns: str, r: Run) -> Arrived:
    out: Arrived = []
    for rec in jsonl(r.out / "cdc"):
        image = rec["before"] if rec["op"] == "d" else rec["after"]
        out.append((rec["source"]["table"], rec["op"], canon(image)))
    return out


def _es_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_elasticsearch import contract_landed

    return list(contract_landed(r.out, "es"))


def _es_expected(r: Run) -> Landed:
    from tests.sinks.test_elasticsearch import contract_expected

    return Counter(contract_expected(expected_events(r)))


def _cassandra_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_cassandra import contract_landed

    return list(contract_landed(r.out, "cassandra"))


def _cassandra_expected(r: Run) -> Landed:
    from tests.sinks.test_cassandra import contract_expected

    keys = {e: s.key for e, s in r.memory.context.schemas.items()}
    return Counter(contract_expected(expected_events(r), keys))


VERBS = {"created": "c", "updated": "u", "deleted": "d"}


def _logs_landed(server: Any, ns: str, r: Run) -> Arrived:
    out: Arrived = []
    for line in jsonl(r.out / "logs", "*.log"):
        entity, verb = line["message"].split(" ")
        out.append((entity, VERBS[verb]))
    return out


# -- brokers ----------------------------------------------------------------------------------


def _kafka_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_kafka import consume, received

    reported = sum(sum(ops.values()) for ops in r.stats(NAME)["counts"].values())
    msgs = consume(server, {f"{ns}.customers": 1, f"{ns}.orders": 1}, reported, idle=0.5)
    return received_images([m for m in received(msgs) if m.body is not None])


def _nats_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_nats import read

    got, _ = read(server, ns.upper(), f"{ns}.>")
    return received_images(got)


def _redis_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_redis_streams import read

    return received_images([m for s in read(server, f"{ns}:*").values() for m in s])


def _mongo_listen(server: Any, ns: str) -> Any:
    from tests.sinks.test_mongodb import Feed

    return Feed(server.url, ns)


def _mongo_landed(feed: Any, ns: str, r: Run) -> Arrived:
    """What the database's change stream carried, resumed from before the run."""
    return [(coll, op, canon(image)) for coll, op, image in feed.events()]


def _mongo_expected(r: Run) -> Landed:
    """Each change as a change stream shows it: inserts and replacements with the whole
    document, deletes with the key only."""
    out: Landed = Counter()
    for e in expected_events(r):
        image = {k: _millis(v) for k, v in e.row.items() if k != "_op"}
        if e.op == "d":
            out[(e.entity, "d", canon({"_id": e.key}))] += 1
        else:
            out[(e.entity, "u" if e.op == "u" else "c", canon(image))] += 1
    return out


def _millis(value: Any) -> Any:
    """An ISO time ("…00.117527Z") as a BSON date holds it: truncated to milliseconds."""
    if isinstance(value, str) and len(value) == 27 and value[19] == "." and value[-1] == "Z":
        return value[:23] + "000Z"
    return value


def _rabbitmq_landed(server: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_rabbitmq import drain

    return received_images([m for m, _ in drain(server, ns)])


def _mqtt_listen(server: Any, ns: str) -> Any:
    from tests.sinks.test_mqtt import Subscriber

    return Subscriber(server, f"{ns}/#")


def _mqtt_landed(sub: Any, ns: str, r: Run) -> Arrived:
    from tests.sinks.test_mqtt import received

    try:
        seen = -1
        while len(sub.messages) != seen:  # until nothing more arrives for a second
            seen = len(sub.messages)
            time.sleep(1.0)
    finally:
        sub.close()
    return received_images(received(sub.messages))


def _webhook_landed(receiver: Any, ns: str, r: Run) -> Arrived:
    taken = list(receiver.deliveries)
    receiver.deliveries.clear()  # the run is over: nothing posts any more
    return [d["event"]["id"] for d in taken]


def _webhook_acks(r: Run) -> list[str]:
    """The 2xx answers the sink logged (`<name>.deliveries.jsonl`), one per event."""
    log = r.out / f"{NAME}.deliveries.jsonl"
    return [d["id"].removeprefix("evt_") for d in jsonl(log.parent, log.name) if d["ok"]]


def _webhook_event_id(identity: str) -> str:
    return identity.removeprefix("evt_")


def _webhook_expected(r: Run) -> Landed:
    """Event ids of the world's changes; the snapshot is not sent (`snapshot: false`)."""
    return Counter(f"evt_{e.event_id}" for e in expected_events(r) if e.op != "r")


def _stream(kind: str, address: str, extra: str = "") -> str:
    return f"{NAME}: {{kind: {kind}, {address}, connect_timeout: 2s{extra}}}\n"


def _sql_store(
    kind: str,
    scheme: str,
    server: str,
    client: str,
    database: Callable[[Any, str], str],
    url: Callable[[Any, str], str],
    read: Callable[[str, str, list[str]], Any],
    crash_signal: int,
) -> Harness:
    """A SQL database sink: a fresh database per run, read back with the client library."""
    return Harness(
        kind,
        lambda srv, ns: f"{NAME}: {{kind: {kind}, url: '{database(srv, ns)}'}}\n",
        server=server,
        driver=(client, kind),
        rows=lambda srv, ns, r: store_rows(lambda e, c: read(url(srv, ns), e, c)),
        stop=crash(crash_signal),
        dead=lambda port: (
            f"{NAME}: {{kind: {kind}, url: '{scheme}://app:{PASSWORD}@127.0.0.1:{port}/shop'}}\n"
        ),
    )


HARNESSES: dict[str, Harness] = {
    h.kind: h
    for h in [
        Harness(
            "memory",
            lambda srv, ns: f"{NAME}: {{kind: memory}}\n",
            landed=lambda srv, ns, r: event_list(_as_run(r)),
            expected=event_images,
            event_id=first,
        ),
        Harness(
            "sqlite",
            lambda srv, ns: f"{NAME}: {{kind: sqlite, path: shop.db}}\n",
            rows=_sqlite_rows,
            files="shop.db",
        ),
        Harness(
            "files",
            lambda srv, ns: f"{NAME}: {{kind: files, format: jsonl, path: files, every: 1m}}\n",
            landed=_files_landed,
            expected=row_images,
            unobserved=frozenset({"ordering"}),  # row images carry no world event id
            files="files",
        ),
        Harness(
            "cdc",
            lambda srv, ns: (
                "db: {kind: sqlite, path: cdc.db}\n"
                f"{NAME}: {{kind: cdc, from: db, to: {{kind: files, format: jsonl, path: cdc}}}}\n"
            ),
            landed=_cdc_landed,
            expected=debezium_images,
            files="cdc",
            # acks are the transport's (none into files); the envelope carries no world
            # event id to map a landed change back to its place in the world's order
            unobserved=frozenset({"acks", "ordering"}),
        ),
        Harness(  # no server can run here: its _bulk files, read by the bulk grammar
            "elasticsearch",
            lambda srv, ns: f"{NAME}: {{kind: elasticsearch, path: es, every: 20s}}\n",
            landed=_es_landed,
            expected=_es_expected,
            unobserved=frozenset({"ordering"}),  # an action carries no world event id
            files="es",
        ),
        Harness(  # no server can run here: CSV rows and CQL tombstones, read by a CQL parser
            "cassandra",
            lambda srv, ns: f"{NAME}: {{kind: cassandra, every: 20s}}\n",
            landed=_cassandra_landed,
            expected=_cassandra_expected,
            unobserved=frozenset({"ordering"}),  # a row carries no world event id
            files="cassandra",
        ),
        Harness(
            "logs",
            lambda srv, ns: f"{NAME}: {{kind: logs, format: json, path: logs}}\n",
            landed=_logs_landed,
            expected=activity,
            files="logs",
        ),
        Harness(
            "webhook",
            lambda srv, ns: (
                f"{NAME}: {{kind: webhook, url: '{srv.url}', secret_env: {SECRET_ENV}}}\n"
            ),
            server="webhook_receiver",
            driver=("httpx", "api"),
            landed=_webhook_landed,
            expected=_webhook_expected,
            event_id=_webhook_event_id,
            acks=_webhook_acks,
            stop=lambda receiver: receiver.stop(),
            start=lambda receiver: receiver.start(),
            ride_out=", retry: {attempts: 100, initial: 50ms, max: 500ms}",
            dead=lambda port: (
                f"{NAME}: {{kind: webhook, url: 'http://app:{PASSWORD}@127.0.0.1:{port}/hooks', "
                f"secret_env: {SECRET_ENV}, retry: {{attempts: 2, initial: 5ms, max: 10ms}}}}\n"
            ),
        ),
        _sql_store(  # SIGQUIT: pg_ctl stop -m immediate
            "postgres",
            "postgresql",
            "pg_server",
            "psycopg",
            pg_database,
            _pg_url,
            pg_rows,
            signal.SIGQUIT,
        ),
        _sql_store(
            "mysql",
            "mysql",
            "mariadb_server",
            "pymysql",
            my_database,
            _my_url,
            my_rows,
            signal.SIGKILL,
        ),
        Harness(
            "kafka",
            lambda srv, ns: _stream(
                "kafka",
                f"bootstrap_servers: '{srv.bootstrap_servers}'",
                f", topic: '{ns}.{{entity}}', partitions: 1",
            ),
            server="kafka_server",
            driver=("confluent_kafka", "kafka"),
            stop=crash(signal.SIGKILL),
            ride_out=", retry: {for: 5s, initial: 50ms, max: 500ms}",
            forgetful="kafka_server",  # memory storage: the only broker here
            landed=_kafka_landed,
            expected=event_images,
            unobserved=frozenset({"tombstones"}),  # off by default
            event_id=first,
            acks=ledger_acks,
            dead=lambda port: _stream(
                "kafka",
                f"bootstrap_servers: '127.0.0.1:{port}'",
                ", producer: {security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, "
                f"sasl.username: app, sasl.password: {PASSWORD}}}",
            ),
        ),
        Harness(
            "nats",
            lambda srv, ns: _stream(
                "nats", f"url: '{srv.url}'", f", subject: '{ns}.{{entity}}', stream: {ns.upper()}"
            ),
            server="nats_server",
            driver=("nats", "nats"),
            stop=crash(signal.SIGKILL),
            ride_out=STREAM_RIDE_OUT + ", ack_timeout: 1s",
            landed=_nats_landed,
            expected=event_images,
            event_id=first,
            acks=ledger_acks,
            dead=lambda port: _stream("nats", f"url: 'nats://app:{PASSWORD}@127.0.0.1:{port}'"),
        ),
        Harness(
            "redis_streams",
            lambda srv, ns: _stream(
                "redis_streams", f"url: '{srv.url}'", f", stream: '{ns}:{{entity}}'"
            ),
            server="durable_redis_server",
            driver=("redis", "redis"),
            stop=crash(signal.SIGKILL),
            ride_out=STREAM_RIDE_OUT,
            forgetful="redis_server",  # no persistence
            landed=_redis_landed,
            expected=event_images,
            event_id=first,
            acks=ledger_acks,
            dead=lambda port: _stream(
                "redis_streams", f"url: 'redis://:{PASSWORD}@127.0.0.1:{port}/0'"
            ),
        ),
        Harness(
            "mongodb",
            lambda srv, ns: (
                f"{NAME}: {{kind: mongodb, url: '{srv.url}', database: {ns}, "
                "connect_timeout: 2s}\n"
            ),
            server="mongo_server",
            driver=("pymongo", "mongodb"),
            stop=crash(signal.SIGKILL),
            ride_out=STREAM_RIDE_OUT,
            listen=_mongo_listen,
            landed=_mongo_landed,
            expected=_mongo_expected,
            dead=lambda port: (
                f"{NAME}: {{kind: mongodb, url: 'mongodb://app:{PASSWORD}@127.0.0.1:{port}/"
                "?directConnection=true', connect_timeout: 1s, retry: {for: 1s}}\n"
            ),
        ),
        Harness(
            "redis",
            lambda srv, ns: (
                f"{NAME}: {{kind: redis, url: '{srv.url}', key: '{ns}:{{entity}}:{{key}}'}}\n"
            ),
            server="durable_redis_server",
            driver=("redis", "redis"),
            rows=_redis_kv_rows,
            acks=ledger_acks,
            stop=crash(signal.SIGKILL),
            ride_out=", retry: {for: 60s, initial: 50ms, max: 500ms}",
            forgetful="redis_server",  # no persistence: the sink finds the loss and fails
            dead=lambda port: (
                f"{NAME}: {{kind: redis, url: 'redis://:{PASSWORD}@127.0.0.1:{port}/0', "
                "connect_timeout: 2s}\n"
            ),
        ),
        Harness(
            "rabbitmq",
            lambda srv, ns: _stream(
                "rabbitmq",
                f"url: '{srv.url}'",
                f", exchange: {ns}, routing_key: '{{entity}}', queue: {ns}",
            ),
            server="rabbitmq_server",
            driver=("pika", "rabbitmq"),
            stop=crash(signal.SIGKILL),
            ride_out=STREAM_RIDE_OUT,
            landed=_rabbitmq_landed,
            expected=event_images,
            event_id=first,
            acks=ledger_acks,
            dead=lambda port: _stream(
                "rabbitmq", f"url: 'amqp://guest:{PASSWORD}@127.0.0.1:{port}/%2F'"
            ),
        ),
        Harness(
            "mqtt",
            lambda srv, ns: _stream("mqtt", f"url: '{srv.url}'", f", topic: '{ns}/{{entity}}'"),
            server="mosquitto_server",
            driver=("paho", "mqtt"),
            listen=_mqtt_listen,
            landed=_mqtt_landed,
            expected=event_images,
            event_id=first,
            acks=ledger_acks,
            dead=lambda port: _stream("mqtt", f"url: 'mqtt://app:{PASSWORD}@127.0.0.1:{port}'"),
        ),
    ]
}


def _as_run(r: Run) -> Run:
    """The memory sink under test read back as if it were the run's `mem`."""
    return Run(r.report, {"mem": r.sinks[NAME]}, r.out)


def harnesses(applies: Callable[[Harness], bool] = lambda h: True) -> list[Any]:
    """The registered kinds that have a harness and to which a check applies, as pytest
    parameters (`h`)."""
    return [
        pytest.param(HARNESSES[k], id=k)
        for k in SINKS.names()
        if k in HARNESSES and applies(HARNESSES[k])
    ]
