"""The private server fixtures start real servers that the standard clients can use."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid

import pytest

from headwater.testing.servers import (
    KafkaServer,
    MariaDBServer,
    MosquittoServer,
    NatsServer,
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    ServerNotInstalled,
    ServerStartError,
)


def _pg_rows(server: PostgresServer, sql: str) -> list[tuple[object, ...]]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(server.url, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def _mysql_rows(server: MariaDBServer, sql: str) -> list[tuple[object, ...]]:
    pymysql = pytest.importorskip("pymysql")
    conn = pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        database=server.database,
        autocommit=True,
        charset="utf8mb4",
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_postgres_round_trip_with_logical_decoding(pg_server: PostgresServer) -> None:
    assert pg_server.url == f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    assert _pg_rows(pg_server, "SHOW wal_level") == [("logical",)]
    _pg_rows(pg_server, "CREATE TABLE rt (id int PRIMARY KEY, name text)")
    _pg_rows(pg_server, "INSERT INTO rt VALUES (1, 'zoë')")
    assert _pg_rows(pg_server, "SELECT id, name FROM rt") == [(1, "zoë")]
    plugin = "wal2json" if pg_server.wal2json else "test_decoding"
    _pg_rows(pg_server, f"SELECT pg_create_logical_replication_slot('rt_slot', '{plugin}')")
    try:
        _pg_rows(pg_server, "INSERT INTO rt VALUES (2, 'ann')")
        changes = _pg_rows(
            pg_server, "SELECT data FROM pg_logical_slot_get_changes('rt_slot', NULL, NULL)"
        )
        assert any("ann" in str(row[0]) for row in changes)
    finally:
        _pg_rows(pg_server, "SELECT pg_drop_replication_slot('rt_slot')")


def test_postgres_restart_keeps_data_and_port(pg_server: PostgresServer) -> None:
    _pg_rows(pg_server, "CREATE TABLE survives (id int)")
    _pg_rows(pg_server, "INSERT INTO survives VALUES (7)")
    port, pid = pg_server.port, pg_server.pid
    pg_server.restart()
    assert (pg_server.port, pg_server.running) == (port, True)
    assert pg_server.pid != pid
    assert _pg_rows(pg_server, "SELECT id FROM survives") == [(7,)]


def test_postgres_comes_back_after_a_crash(pg_server: PostgresServer) -> None:
    _pg_rows(pg_server, "CREATE TABLE crash (id int)")
    _pg_rows(pg_server, "INSERT INTO crash VALUES (1)")
    assert pg_server.pid is not None
    os.kill(pg_server.pid, signal.SIGKILL)
    pg_server.restart()
    assert _pg_rows(pg_server, "SELECT id FROM crash") == [(1,)]


def test_mariadb_round_trip_with_row_binlog(mariadb_server: MariaDBServer) -> None:
    assert mariadb_server.url == f"mysql://root@127.0.0.1:{mariadb_server.port}/test"
    settings = dict(
        _mysql_rows(
            mariadb_server,
            "SHOW VARIABLES WHERE Variable_name IN "
            "('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'server_id')",
        )
    )
    assert settings == {
        "log_bin": "ON",
        "binlog_format": "ROW",
        "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL",
        "server_id": "1",
    }
    _mysql_rows(mariadb_server, "CREATE TABLE rt (id int PRIMARY KEY, name varchar(20))")
    _mysql_rows(mariadb_server, "INSERT INTO rt VALUES (1, 'zoë')")
    assert _mysql_rows(mariadb_server, "SELECT id, name FROM rt") == [(1, "zoë")]
    assert mariadb_server.socket.is_socket()


def test_mariadb_restart_keeps_data_and_port(mariadb_server: MariaDBServer) -> None:
    _mysql_rows(mariadb_server, "CREATE TABLE survives (id int)")
    _mysql_rows(mariadb_server, "INSERT INTO survives VALUES (7)")
    port, pid = mariadb_server.port, mariadb_server.pid
    mariadb_server.restart()
    assert (mariadb_server.port, mariadb_server.running) == (port, True)
    assert mariadb_server.pid != pid
    assert _mysql_rows(mariadb_server, "SELECT id FROM survives") == [(7,)]


def test_redis_round_trip(redis_server: RedisServer) -> None:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(redis_server.url)
    try:
        entry = client.xadd("orders", {"id": "1"})
        assert client.xrange("orders") == [(entry, {b"id": b"1"})]
    finally:
        client.close()


def test_nats_jetstream_round_trip(nats_server: NatsServer) -> None:
    nats = pytest.importorskip("nats")

    async def round_trip() -> bytes:
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="orders", subjects=["orders.>"])
            await js.publish("orders.new", b"order-1")
            sub = await js.pull_subscribe("orders.new", durable="reader")
            [msg] = await sub.fetch(1, timeout=5)
            await msg.ack()
            return bytes(msg.data)
        finally:
            await nc.close()

    assert asyncio.run(round_trip()) == b"order-1"


def test_mosquitto_round_trip(mosquitto_server: MosquittoServer) -> None:
    mqtt = pytest.importorskip("paho.mqtt.client")
    received: list[bytes] = []
    subscribed, got = threading.Event(), threading.Event()

    def on_subscribe(
        client: object, userdata: object, mid: int, codes: object, props: object
    ) -> None:
        subscribed.set()

    def on_message(client: object, userdata: object, message: object) -> None:
        received.append(message.payload)  # type: ignore[attr-defined]
        got.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(mosquitto_server.host, mosquitto_server.port)
    client.loop_start()
    try:
        client.subscribe("sensors/1", qos=1)
        assert subscribed.wait(5)
        client.publish("sensors/1", b"21.5", qos=1).wait_for_publish(5)
        assert got.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    assert received == [b"21.5"]


def test_rabbitmq_round_trip(rabbitmq_server: RabbitMQServer) -> None:
    pika = pytest.importorskip("pika")
    assert rabbitmq_server.epmd_pid is not None
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_server.url))
    try:
        channel = connection.channel()
        channel.queue_declare("orders")
        channel.basic_publish(exchange="", routing_key="orders", body=b"order-1")
        body = None
        deadline = time.monotonic() + 5
        while body is None and time.monotonic() < deadline:
            _method, _props, body = channel.basic_get("orders", auto_ack=True)
        assert body == b"order-1"
    finally:
        connection.close()


def test_kafka_round_trip(kafka_server: KafkaServer) -> None:
    kafka = pytest.importorskip("confluent_kafka")
    admin_mod = pytest.importorskip("confluent_kafka.admin")
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    admin = admin_mod.AdminClient({"bootstrap.servers": kafka_server.bootstrap_servers})
    for future in admin.create_topics([admin_mod.NewTopic(topic, num_partitions=1)]).values():
        future.result(10)
    producer = kafka.Producer({"bootstrap.servers": kafka_server.bootstrap_servers})
    producer.produce(topic, key=b"1", value=b"order-1")
    assert producer.flush(10) == 0
    consumer = kafka.Consumer(
        {"bootstrap.servers": kafka_server.bootstrap_servers, "group.id": "reader"}
    )
    try:
        consumer.assign([kafka.TopicPartition(topic, 0, kafka.OFFSET_BEGINNING)])
        message = None
        deadline = time.monotonic() + 10
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
        assert message is not None and message.error() is None
        assert (message.key(), message.value()) == (b"1", b"order-1")
    finally:
        consumer.close()


def test_missing_binary_is_a_clear_error() -> None:
    server = PostgresServer(bindir="/nonexistent/bin")
    with pytest.raises(ServerNotInstalled, match="initdb not installed") as info:
        server.start()
    assert info.value.binary == "initdb"
    assert server.folder is None


def test_failed_start_reports_the_log_and_cleans_up() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        server = RedisServer(port=taken.getsockname()[1])
        try:
            with pytest.raises(ServerStartError, match=r"(?i)address already in use"):
                server.start()
        except ServerNotInstalled:
            pytest.skip("redis-server not installed: run `make test`, which installs it")
    assert server.folder is None and server.pid is None


def test_stop_ends_the_process_and_removes_the_folder(redis_server: RedisServer) -> None:
    server = RedisServer()
    with server:
        folder, pid = server.folder, server.pid
        assert folder is not None and folder.is_dir() and pid is not None
        assert server.port != redis_server.port
    assert not folder.exists()
    assert server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
