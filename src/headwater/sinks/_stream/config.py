"""The options every message sink shares (see the package docstring)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from headwater.core.units import Duration
from headwater.sinks import _encode as enc
from headwater.sinks._project import Projection, ShapeOptions
from headwater.sinks._retry import Retry
from headwater.sinks.base import SinkConfig

#: What a message's timestamp holds (see the module's docstring).
MessageTime: TypeAlias = Literal["event", "ingestion", "wall"]

CONTENT_TYPES = {
    "json": "application/json",
    "avro": "application/avro",
    "string": "text/plain; charset=utf-8",
}
SCHEMA_VERSION = "1"


class StreamConfig(SinkConfig, ShapeOptions):
    """Options shared by the message sinks (`fields`/`op`: the body's shape, sinks/_project)."""

    payload: Projection = Field(
        "rows",
        description="rows: the row after the change (+ _op); changes: flat change events; "
        "debezium: the Debezium envelope",
    )
    encoding: Literal["json", "avro", "string"] = Field(
        "json", description="message body: JSON object, Avro record, or text from `template`"
    )
    template: str | None = Field(
        None,
        description="the message text for encoding: string, e.g. '{order_id},{price:.2f}' "
        "(plain text, not JSON-escaped: for JSON bodies use fields:)",
    )
    key: str | list[str] | None = Field(
        None, description="field(s) whose values make the message key; default: the entity key"
    )
    key_format: Literal["string", "json"] = Field(
        "string",
        description="string: the value's text (fields joined by key_separator); "
        'json: an object like {"order_id": 1}',
    )
    key_separator: str = Field(":", description="joins the fields of a composite string key")
    headers: bool = Field(
        True, description="send event_id, event_time, schema_version and content-type headers"
    )
    timestamp: MessageTime = Field(
        "event",
        description="the message timestamp: event (when it happened, simulated), ingestion "
        "(when the source delivered it, simulated) or wall (the clock when it is sent)",
    )
    max_in_flight: int = Field(
        10_000, ge=1, description="messages sent but not yet acknowledged (the bounded buffer)"
    )
    connect_timeout: Duration = Field(
        timedelta(seconds=10), description="how long open() waits for the broker"
    )
    retry: Retry = Field(
        default_factory=Retry, description="an unreachable broker: how long to retry, how to wait"
    )

    #: The option whose template says where each message goes (topic, subject…).
    route_option: ClassVar[str] = ""
    #: Whether the sink sets the message timestamp (else its `timestamp` is `own_clock`).
    sets_time: ClassVar[bool] = True

    @field_validator("timestamp")
    @classmethod
    def _own_clock(cls, value: MessageTime) -> MessageTime:
        if value != "wall" and not cls.sets_time:
            raise ValueError(str(cls.model_fields["timestamp"].description))
        return value

    @model_validator(mode="after")
    def _templates(self) -> StreamConfig:
        if self.encoding == "string" and not self.template:
            raise ValueError("encoding: string needs a template, e.g. template: '{id},{status}'")
        if self.template is not None and self.encoding != "string":
            raise ValueError("template is only used with encoding: string")
        for text in self.templates().values():
            enc.Template.parse(text)  # raises ValueError with the problem
        return self

    def templates(self) -> dict[str, str]:
        """Option name → template text, for every template option that is set."""
        out = {self.route_option: getattr(self, self.route_option)} if self.route_option else {}
        if self.template is not None:
            out["template"] = self.template
        return out


def own_clock(why: str) -> Any:
    """The `timestamp` option of a broker whose messages carry no time the sink can set
    (with `sets_time = False` on its config)."""
    return Field(
        "wall", description=f"only wall: {why}; the event time is in the event_time header"
    )
