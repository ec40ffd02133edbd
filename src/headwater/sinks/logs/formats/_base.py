"""A log format as a plug-in: the columns its lines read, its options, its formatter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from headwater.sinks.logs.formats.columns import Field, LogFields


class LogOptions(BaseModel):
    """A format's options: its formatter's keyword arguments, validated before the first line."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ZonedOptions(LogOptions):
    tz: str | dt.timedelta = "UTC"


@dataclass(frozen=True)
class LogFormat:
    """A registered log format (see `FORMATS`).

    `defaults` are the columns the `logs` sink fills with realistic values when an entity
    has none (an access line without a path is no access line); `application` formats
    write what an application logs: a level, a message, a logger and trace context.
    """

    name: str
    fields: tuple[Field, ...]
    formatter: Callable[..., pa.StringArray]
    options: type[LogOptions] = LogOptions
    defaults: tuple[str, ...] = ()
    application: bool = False

    def format(self, fields: LogFields, options: LogOptions | None = None) -> pa.StringArray:
        """One line per row of `fields`, without a trailing newline."""
        opts = options if options is not None else self.options()
        return self.formatter(fields, **{k: getattr(opts, k) for k in type(opts).model_fields})
