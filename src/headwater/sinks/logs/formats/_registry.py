"""Log formats by name; each format's module is imported when the format is first used."""

from headwater._plugins import Registry
from headwater.sinks.logs.formats._base import LogFormat

FORMATS: Registry[LogFormat] = Registry(
    "log format",
    {
        "common": "headwater.sinks.logs.formats.access:COMMON",
        "combined": "headwater.sinks.logs.formats.access:COMBINED",
        "json": "headwater.sinks.logs.formats.json:JSON",
        "rfc5424": "headwater.sinks.logs.formats.rfc5424:RFC5424",
        "rfc3164": "headwater.sinks.logs.formats.rfc3164:RFC3164",
    },
)
