"""What every message sink shares: Kafka, NATS JetStream, Redis Streams, RabbitMQ, MQTT.

A stream sink projects each entity's changes into `Records` (rows, flat changes or the
Debezium envelope), encodes them in chunks (`_text`: JSON; `_encode`: Avro or a text template) and
hands a `Batch` of plain Python lists to its transport, which sends one message per record.
The parts that only differ by name across brokers live here:

    payload / encoding / template    what a message body holds
    key / key_format                 the message key (a field, several fields, the entity key)
    topic, subject, stream, …        where a message goes: a template over fields
    headers                          event id, event time, schema version, content type
    timestamp                        the broker's message timestamp: event, ingestion or wall
    max_in_flight                    the bounded buffer: messages sent but not yet acknowledged
    retry                            {for, initial, max}: backoff while the broker is
                                     unreachable, then give up (sinks/_retry)

Delivery is at-least-once. A broker that goes away makes `write()` block (the world waits:
memory stays bounded by `max_in_flight`) while the transport reconnects with exponential
backoff; what was sent but not acknowledged is sent again. `stats.extra` tells what the
broker acknowledged, per route or partition, and how many messages were sent twice.

Time: a record has an event time (when it happened on the simulated clock) and, when faults
delay it, an ingestion time (when the source delivered it, also simulated); wall time is
the machine's clock. `timestamp` chooses what a broker's own message timestamp holds:
`event` (the default), `ingestion` (the event time where nothing delayed the record) or
`wall` (the machine's clock when the message is sent). Kafka sets it as the record's
CreateTime (ms) and RabbitMQ as the AMQP `timestamp` property (s). NATS JetStream and
Redis Streams stamp each message with their own clock (a JetStream message's time, a
stream entry id) and cannot be told otherwise: their option only takes `wall`. MQTT has
no message timestamp. With `headers` on, every broker carries the event time in the
`event_time` header.

Faults: when the sink has faults its records carry an ingestion time, sent as an
`ingest_time` header (ISO 8601 UTC, like `event_time`; `Batch.ingest_times`, in
`header_pairs`). The `malformed` fault's text-level kinds (truncate, type, encoding) break
the marked messages of json and string encodings with `corrupt()` and the run seed, so the
same seed sends the same bytes. Avro messages are sent intact: a broken Avro body cannot
be produced meaningfully (a reader fails on it, or silently reads other values, depending
on where it breaks, and a registry-framed body would name a schema it does not follow);
the ledger records the fault either way. Every other message is byte-identical.

The package, one job per module: `config` (the options), `batch` (encoded records and their
headers), `acks` (what the broker confirmed, for stats and the ledger), `backoff` (giving up
on an unreachable broker, over sinks/_retry), `loop` (a private asyncio loop) and `sink`
(`StreamSink`, the base the brokers subclass).
"""

from headwater.sinks._stream.acks import ACK_SCHEMA, Acks
from headwater.sinks._stream.backoff import BrokerBackoff, describe
from headwater.sinks._stream.batch import Batch, header_pairs
from headwater.sinks._stream.config import MessageTime, StreamConfig, own_clock
from headwater.sinks._stream.loop import AsyncLoop
from headwater.sinks._stream.sink import CHUNK, StreamSink

__all__ = [
    "ACK_SCHEMA",
    "CHUNK",
    "Acks",
    "AsyncLoop",
    "Batch",
    "BrokerBackoff",
    "MessageTime",
    "StreamConfig",
    "StreamSink",
    "describe",
    "header_pairs",
    "own_clock",
]
