"""Sinks by kind: one module each, imported only when a scenario uses it."""

from collections.abc import Callable as _Callable

from headwater import _plugins
from headwater.sinks.base import CheckContext, Peer, Sink, SinkConfig, SinkContext, SinkStats
from headwater.sinks.capabilities import Capabilities, Ordering

SINKS: _plugins.Registry[type[Sink]] = _plugins.Registry(
    "sink kind",
    {
        "memory": "headwater.sinks.memory:MemorySink",
        "sqlite": "headwater.sinks.sqlite:SqliteSink",
        "files": "headwater.sinks.files.sink:FilesSink",
        "cdc": "headwater.sinks.cdc:CdcSink",
        "logs": "headwater.sinks.logs.sink:LogsSink",
        "webhook": "headwater.sinks.webhook:WebhookSink",
        "postgres": "headwater.sinks.postgres:PostgresSink",
        "mysql": "headwater.sinks.mysql:MysqlSink",
        "kafka": "headwater.sinks.kafka:KafkaSink",
        "mqtt": "headwater.sinks.mqtt:MqttSink",
        "rabbitmq": "headwater.sinks.rabbitmq:RabbitMQSink",
        "nats": "headwater.sinks.nats:NatsSink",
        "redis_streams": "headwater.sinks.redis_streams:RedisStreamsSink",
        "redis": "headwater.sinks.redis_kv:RedisKvSink",
        "elasticsearch": "headwater.sinks.elasticsearch:ElasticsearchSink",
        "cassandra": "headwater.sinks.cassandra:CassandraSink",
        "mongodb": "headwater.sinks.mongodb:MongoSink",
    },
)


def kinds(can: _Callable[[Capabilities], bool]) -> list[str]:
    """The registered sink kinds whose capabilities satisfy `can` (for messages that list
    sinks: they follow the registry). Imports those modules, not their drivers."""
    return [k for k in SINKS.names() if can(SINKS.get(k).capabilities)]


__all__ = [
    "SINKS",
    "Capabilities",
    "CheckContext",
    "Ordering",
    "Peer",
    "Sink",
    "SinkConfig",
    "SinkContext",
    "SinkStats",
    "kinds",
]
