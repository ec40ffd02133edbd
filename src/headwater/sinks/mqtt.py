"""MQTT: device telemetry on topics built from fields (`devices/{device_id}/telemetry`).

Each record is one PUBLISH with the chosen QoS (0 at most once, 1 at least once, 2 exactly
once between client and broker) and, with `retain: true`, kept by the broker as the
topic's last value for new subscribers. With MQTT 5 (the default) the content type and the
user properties event_id, event_time, schema_version and key travel with each message;
MQTT 3.1.1 has no place for them. MQTT has no message timestamp (`timestamp` only takes
`wall`): the event time is the event_time user property.

paho-mqtt runs its network loop on its own thread. Up to `max_in_flight` messages may be
queued or awaiting their acknowledgement (at most the broker's Receive Maximum, 20 unless
an MQTT 5 broker says otherwise, on the wire). When the connection drops, paho reconnects
with backoff and sends QoS 1/2 messages again (counted as `resent`: a QoS 1 message may
then arrive twice); the sink sends again the QoS 0 messages paho had not yet written.
For QoS 0 "acknowledged" means written to the connection.

```yaml
sinks:
  telemetry:
    kind: mqtt
    url: mqtt://127.0.0.1:1883
    entities: [readings]
    topic: devices/{device_id}/telemetry
    qos: 1
```
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field

from headwater.errors import SinkError, require
from headwater.secrets import mask_url
from headwater.sinks._stream import (
    Batch,
    MessageTime,
    StreamConfig,
    StreamSink,
    own_clock,
)
from headwater.sinks.base import SinkConfig, SinkContext

PROCESS_EVERY = 1000  # publishes between reading acknowledgements
RECEIVE_MAXIMUM = 20  # unacknowledged messages a broker takes unless it says otherwise


class MqttConfig(StreamConfig):
    kind: Literal["mqtt"] = "mqtt"
    sets_time: ClassVar[bool] = False
    timestamp: MessageTime = own_clock("MQTT messages have no timestamp")
    url: str = Field("mqtt://localhost:1883", description="mqtt:// (or mqtts:// for TLS) URL")
    topic: str = Field(
        "{entity}",
        description="topic; a template over fields, e.g. 'devices/{device_id}/telemetry'",
    )
    qos: Literal[0, 1, 2] = Field(1, description="0 at most once, 1 at least once, 2 exactly once")
    retain: bool = Field(False, description="the broker keeps the last message of each topic")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT version (5 carries headers)")
    client_id: str | None = Field(None, description="default: headwater-<sink>-<random>")
    keepalive: int = Field(30, ge=5, description="seconds between keep-alive pings")
    max_in_flight: int = Field(100, ge=1, description="messages queued or awaiting acknowledgement")

    route_option: ClassVar[str] = "topic"


class MqttSink(StreamSink):
    """Publishes one MQTT message per record with paho-mqtt 2.x (callback API version 2)."""

    kind = "mqtt"
    Config = MqttConfig
    config: MqttConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.client: Any = None  # set by connect(), released by disconnect()

    # -- connection ------------------------------------------------------------------------

    def location(self) -> str:
        return f"MQTT broker at {mask_url(self.config.url)}"

    def connect(self) -> None:
        mqtt = require("paho.mqtt.client", "mqtt", f"sink '{self.name}' (kind: mqtt)")
        self._mqtt = mqtt
        c = self.config
        parts = urlsplit(c.url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise SinkError(self.name, f"invalid url {mask_url(c.url)}: expected mqtt://host:port")
        tls = parts.scheme in ("mqtts", "ssl")
        host, port = parts.hostname, parts.port or (8883 if tls else 1883)
        v5 = c.protocol == "5"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=c.client_id or f"headwater-{self.name}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        )
        if parts.username:
            self.client.username_pw_set(
                unquote(parts.username), unquote(parts.password) if parts.password else None
            )
        if tls:
            self.client.tls_set()
        # On the wire, at most what the broker accepts unacknowledged: MQTT 5 brokers say so
        # in CONNACK (Receive Maximum); Mosquitto's default of 20 is safe for MQTT 3.1.1,
        # and exceeding it makes the broker drop the connection (QoS 2).
        self.client.max_inflight_messages_set(min(c.max_in_flight, RECEIVE_MAXIMUM))
        self.client.max_queued_messages_set(c.max_in_flight)
        self._receive_maximum: int | None = None
        self.client.reconnect_delay_set(
            max(1, int(c.retry.initial.total_seconds())),
            max(1, int(c.retry.max.total_seconds())),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._connected = threading.Event()
        self._progress = threading.Event()
        self._refused: str | None = None
        self._last_error: str | None = None
        self._acked: deque[tuple[int, bool]] = deque()  # (mid, failed), from paho's thread
        # mid → (topic, event_id) (QoS 0: + payload, properties); owned by the writing thread
        self._pending: dict[int, Any] = {}
        self._disconnects = self._handled = 0
        self._failed = 0
        timeout = c.connect_timeout.total_seconds()
        self.client.connect_timeout = timeout
        try:
            self.client.connect(host, port, keepalive=c.keepalive)
        except (OSError, ValueError) as exc:
            raise self.unavailable(exc) from exc
        self._start(timeout)
        window = self.client.max_inflight_messages
        if self._receive_maximum and self._receive_maximum < window:
            # paho cannot change its window on a live connection: reconnect with the
            # broker's (before anything was published).
            self.client.disconnect()
            self.client.loop_stop()
            self.client.max_inflight_messages_set(self._receive_maximum)
            self._connected.clear()
            try:
                self.client.reconnect()
            except OSError as exc:
                raise self.unavailable(exc) from exc
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        self.client.loop_start()
        if not self._connected.wait(timeout) or self._refused:
            self.client.loop_stop()
            raise self.unavailable(self._refused or "no CONNACK in time")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = f"connection refused: {reason}"
            client.disconnect()
        self._receive_maximum = getattr(props, "ReceiveMaximum", None)
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set():
            self._last_error = f"disconnected: {reason}"
            self._disconnects += 1
            if self.config.qos > 0:
                # paho sends these again once reconnected: an estimate of possible duplicates.
                self.acks.resent += max(0, len(self._pending) - len(self._acked))
        self._connected.clear()
        self._progress.set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acked.append((mid, bool(getattr(reason, "is_failure", False))))
        self._progress.set()

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    # -- sending ---------------------------------------------------------------------------

    def send(self, batch: Batch) -> None:
        publish = self._publish
        n = 0
        for topic, payload, props, event_id in zip(
            batch.route_list(), batch.values, self._properties(batch), batch.event_ids, strict=True
        ):
            publish(topic, payload, props, event_id)
            n += 1
            if n == PROCESS_EVERY:
                self._process_acks()
                self._resend_lost()
                n = 0
        self._process_acks()

    def _publish(self, topic: str, payload: bytes, props: Any, event_id: str) -> None:
        c, mqtt = self.config, self._mqtt
        if self._disconnects != self._handled:
            self._resend_lost()
        while True:
            info = self.client.publish(topic, payload, c.qos, c.retain, props)
            rc = info.rc
            if rc == mqtt.MQTT_ERR_SUCCESS or (rc == mqtt.MQTT_ERR_NO_CONN and c.qos > 0):
                # QoS 1/2: paho keeps the message and sends it (again) once connected.
                # QoS 0: kept here, in case paho drops it with the connection.
                self._pending[info.mid] = (
                    (topic, event_id) if c.qos else (topic, event_id, payload, props)
                )
                return
            if rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                self._wait(c.max_in_flight - 1)
            elif rc == mqtt.MQTT_ERR_NO_CONN:  # QoS 0 without a connection: wait, send again
                self._connected.wait(self.backoff.delay(self._last_error or "not connected"))
                self._resend_lost()
            else:
                raise SinkError(self.name, f"publish to '{topic}' failed: {mqtt.error_string(rc)}")

    def _resend_lost(self) -> None:
        """QoS 0: what paho had not written when the connection went is gone; send it again."""
        if self.config.qos or self._disconnects == self._handled or not self._connected.is_set():
            return
        self._handled = self._disconnects
        self._process_acks()
        lost = list(self._pending.values())
        self._pending.clear()
        self.acks.resent += len(lost)
        for topic, event_id, payload, props in lost:
            self._publish(topic, payload, props, event_id)

    def _properties(self, batch: Batch) -> list[Any]:
        """MQTT 5 publish properties per message, encoded here (see `_packed`)."""
        if self.config.protocol != "5" or not self.config.headers:
            return [None] * len(batch)
        from paho.mqtt.properties import Properties

        head = b"\x03" + _utf8(batch.content_type.encode())
        version = _pair(b"schema_version", batch.schema_version.encode())
        packed = _packed_class(Properties)
        ingests: Sequence[str | None] = batch.ingest_times or [None] * len(batch)
        return [
            packed(
                head
                + _pair(b"event_id", event_id.encode())
                + _pair(b"event_time", event_time.encode())
                + version
                + _pair(b"key", key or b"")
                + (_pair(b"ingest_time", ingest.encode()) if ingest else b"")
            )
            for event_id, event_time, key, ingest in zip(
                batch.event_ids,
                batch.event_times,
                batch.keys,
                ingests,
                strict=True,
            )
        ]

    def _process_acks(self) -> None:
        acked, pending, acks = self._acked, self._pending, self.acks
        while acked:
            mid, failed = acked.popleft()
            message = pending.pop(mid, None)  # (topic, event_id[, payload, properties])
            if message is None:
                continue
            if failed:
                self._failed += 1
            else:
                acks.ack(message[0], message[1])
        if self._failed:
            raise SinkError(self.name, f"{self.where} refused {self._failed} messages")

    def _wait(self, most: int) -> None:
        """Wait until at most `most` messages are pending; give up after retry.for idle."""
        self.backoff.reset()
        while True:
            self._progress.clear()
            before = self.acks.acknowledged
            self._process_acks()
            if len(self._pending) <= most:
                return
            if self.acks.acknowledged != before:
                self.backoff.reset()
            elif not self._connected.is_set():  # paho reconnects meanwhile
                self._progress.wait(self.backoff.delay(self._last_error or "not connected"))
                continue
            elif self._disconnects != self._handled:
                self._resend_lost()
                continue
            else:
                self.backoff.check(self._last_error or "waiting for acknowledgements")
            self._progress.wait(0.5)

    def drain(self) -> None:
        self._wait(0)


# -- MQTT 5 properties -----------------------------------------------------------------------
# paho's Properties object validates every attribute against its tables and rebuilds those
# tables per instance (tens of µs per message); paho only ever calls `pack()` on it. So the
# properties (content type 0x03, user properties 0x26) are encoded here, per the MQTT 5
# spec, and handed over in a Properties subclass whose pack() returns them.


def _utf8(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _pair(name: bytes, value: bytes) -> bytes:
    return b"\x26" + _utf8(name) + _utf8(value)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


_PACKED: dict[type, type] = {}


def _packed_class(base: type) -> Any:
    """A paho Properties subclass holding already-encoded PUBLISH properties."""
    cls = _PACKED.get(base)
    if cls is None:

        class Packed(base):
            def __init__(self, body: bytes):
                object.__setattr__(self, "_packed", _varint(len(body)) + body)

            def pack(self) -> bytes:
                return self._packed

            def __repr__(self) -> str:
                return f"<{len(self._packed)} bytes of MQTT 5 properties>"

            __str__ = __repr__

        cls = _PACKED[base] = Packed
    return cls
