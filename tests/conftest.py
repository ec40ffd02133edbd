"""Shared fixtures: private real servers, started lazily once per session.

Each `*_server` fixture starts its server only when a test asks for it, yields the
server object (see headwater.testing.servers for its attributes) and stops it at the end
of the session. A missing server binary skips the test with the command that installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from headwater.testing.servers import (
    KafkaServer,
    MariaDBServer,
    MongoServer,
    MosquittoServer,
    NatsServer,
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    Server,
    ServerNotInstalled,
)

S = TypeVar("S", bound=Server)

SERVER_FIXTURES = frozenset(
    {
        "pg_server",
        "mariadb_server",
        "redis_server",
        "nats_server",
        "mosquitto_server",
        "rabbitmq_server",
        "kafka_server",
        "mongo_server",
    }
)


def start_or_skip(server: S) -> S:
    """Start `server`, or skip the requesting test when its binary is not installed."""
    try:
        server.start()
    except ServerNotInstalled as exc:
        pytest.skip(f"{exc.binary} not installed: run `make test`, which installs it")
    return server


def served(server: S) -> Iterator[S]:
    start_or_skip(server)
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a server fixture, so `-m "not server"` runs without them."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    yield from served(PostgresServer())


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    yield from served(MariaDBServer())


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from served(RedisServer())


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    yield from served(NatsServer())


@pytest.fixture(scope="session")
def mosquitto_server() -> Iterator[MosquittoServer]:
    yield from served(MosquittoServer())


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQServer]:
    yield from served(RabbitMQServer())


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[KafkaServer]:
    yield from served(KafkaServer())


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    yield from served(MongoServer())
