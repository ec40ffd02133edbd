"""Log lines from Arrow columns: access logs, JSON application logs, syslog (RFC 5424 / 3164).

    fmt = FORMATS.get("combined")              # a LogFormat, its module loaded on first use
    lines = fmt.format(fields, fmt.options(tz="Europe/Paris"))

Every format reads `fields` (a `pa.Table`, or a mapping of column name to Arrow array or
to one Python scalar that stands for every row) and returns a `pa.StringArray` with one
line per row, without a trailing newline. The work is vectorized: strings are assembled
with `pyarrow.compute`, timestamps are rendered as fixed-width bytes with numpy lookup
tables (`times`), and Python runs only once per distinct value (a dictionary entry, a
day, a time-zone offset, a rare special character). Dictionary-encoded columns are
formatted once per dictionary entry, so low-cardinality columns (user agents, loggers,
stack traces) cost almost nothing.

Formats keep every row: drop rows first with `filter_level` (a minimum level).

Column names are shared across formats; each format's `fields` lists them with their
types as data. Required columns in capitals:

    common/combined  TIME CLIENT_IP METHOD PATH STATUS user protocol bytes
                     referrer user_agent (combined) request_time (request_time=True)
    json             TIME LEVEL MESSAGE logger trace_id span_id stack_trace <extras>
    rfc5424          TIME SEVERITY-or-LEVEL facility hostname app_name procid msgid
                     message <structured-data columns>
    rfc3164          TIME SEVERITY-or-LEVEL facility hostname app_name procid message

`time` is a timestamp of any unit (tz-aware, or naive meaning UTC); a scalar may stand
for any other column ("GET", "web-01", None). Columns that are absent, or null in a row,
get the format's placeholder: '-' in access logs and syslog headers, no key in JSON.

The line layouts follow the real software: Apache/nginx `common` and `combined` with
nginx's `\\xHH` escaping, JSON as structured loggers write it, syslog as rsyslog writes it
(control characters as `#ooo`).
"""

from headwater.sinks.logs.formats._base import LogFormat, LogOptions
from headwater.sinks.logs.formats._registry import FORMATS
from headwater.sinks.logs.formats.columns import Field, LogFields
from headwater.sinks.logs.formats.levels import (
    LEVELS,
    filter_level,
    level_to_severity,
    severity_to_level,
)
from headwater.sinks.logs.formats.traces import (
    STACK_TRACES,
    generate_span_ids,
    generate_trace_ids,
    stack_traces,
)

__all__ = [
    "FORMATS",
    "LEVELS",
    "STACK_TRACES",
    "Field",
    "LogFields",
    "LogFormat",
    "LogOptions",
    "filter_level",
    "generate_span_ids",
    "generate_trace_ids",
    "level_to_severity",
    "severity_to_level",
    "stack_traces",
]
