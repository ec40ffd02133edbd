"""Sinks by kind: one module each, imported only when a scenario uses it."""

from headwater import _plugins
from headwater.sinks.base import Sink, SinkConfig, SinkContext, SinkStats

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
    },
)

__all__ = ["SINKS", "Sink", "SinkConfig", "SinkContext", "SinkStats"]
