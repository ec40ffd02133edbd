"""Log formatters: every line parses with the standard regex of its format, and carries
exactly the values it was given (checked against a per-row Python reference)."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sinks.logs import formats as f
from headwater.sinks.logs.formats import access, rfc3164, rfc5424
from headwater.sinks.logs.formats import json as json_format

UTC = dt.UTC
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# The well-known combined-log regex (and common, its prefix).
COMBINED = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'
)
COMMON = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-)$')

# RFC 5424 section 6, ABNF transcribed rule by rule.
_PRINTUSASCII = r"[\x21-\x7e]"
_SD_NAME = r"[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}"  # PRINTUSASCII except = ] " (and SP)
_PARAM_VALUE = r'(?:[^"\\\]]|\\["\\\]])*'  # UTF-8, with '"', '\' and ']' escaped
_SD_ELEMENT = rf'\[{_SD_NAME}(?: {_SD_NAME}="{_PARAM_VALUE}")*\]'
_TIME_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_TIMESTAMP = (
    r"(?:-|\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    rf"T(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d{{1,6}})?{_TIME_OFFSET})"
)
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) "
    rf"(?P<timestamp>{_TIMESTAMP}) "
    rf"(?P<hostname>-|{_PRINTUSASCII}{{1,255}}) "
    rf"(?P<app_name>-|{_PRINTUSASCII}{{1,48}}) "
    rf"(?P<procid>-|{_PRINTUSASCII}{{1,128}}) "
    rf"(?P<msgid>-|{_PRINTUSASCII}{{1,32}}) "
    rf"(?P<sd>-|(?:{_SD_ELEMENT})+)"
    r"(?: (?P<msg>.*))?$",
    re.DOTALL,
)
RFC3164 = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(?P<day>[ 1-3]\d) (?P<time>\d{2}:\d{2}:\d{2}) (?P<host>\S+) "
    r"(?P<tag>[^\s\[:]{1,32})(?:\[(?P<pid>[^\]]+)\])?: (?P<msg>.*)$",
    re.DOTALL,
)


def ts(*values: dt.datetime, unit: str = "us") -> pa.Array:
    return pa.array(list(values), pa.timestamp(unit, tz="UTC"))


T0 = dt.datetime(2000, 10, 10, 20, 55, 36, 123456, tzinfo=UTC)
T1 = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)

# Text without surrogates (which UTF-8, hence Arrow, cannot hold).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TIMES = st.datetimes(min_value=dt.datetime(1000, 1, 2), max_value=dt.datetime(9999, 12, 30))
# Zones had offsets with seconds before 1900 (local mean time); lines carry whole minutes.
ZONED_TIMES = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9999, 12, 30))
NS_TIMES = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2262, 4, 10))


def nginx_unescape(text: str) -> str:
    """Undo nginx's `\\xHH` escaping (bytes, so multi-byte UTF-8 reassembles)."""
    raw = re.sub(rb"\\x([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return raw.decode()


def sd_unescape(text: str) -> str:
    return re.sub(r'\\(["\\\]])', r"\1", text)


# --------------------------------------------------------------------------------------
# Access logs
# --------------------------------------------------------------------------------------


def access_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "time": ts(T0, T1),
        "client_ip": pa.array(["127.0.0.1", "10.1.2.3"]),
        "user": pa.array(["frank", None]),
        "method": pa.array(["GET", "POST"]),
        "path": pa.array(["/apache_pb.gif", "/cart?id=7&x=1"]),
        "status": pa.array([200, 404]),
        "bytes": pa.array([2326, 0]),
        "referrer": pa.array(["http://www.example.com/start.html", None]),
        "user_agent": pa.array(["Mozilla/4.08 [en] (Win98; I ;Nav)", "curl/8.4.0"]),
        "request_time": pa.array([0.0456, 12.3]),
    }
    fields.update(overrides)
    return fields


def test_combined_matches_the_apache_documentation_example() -> None:
    lines = access.format_access(access_fields(), tz="-07:00").to_pylist()
    assert lines[0] == (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.1" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
    )
    assert lines[1] == (
        '10.1.2.3 - - [31/Dec/2025:17:00:00 -0700] "POST /cart?id=7&x=1 HTTP/1.1" 404 - "-" "curl/8.4.0"'
    )
    for line in lines:
        assert COMBINED.match(line)


def test_common_and_request_time() -> None:
    common = access.format_access(access_fields(), style="common").to_pylist()
    assert common[0] == (
        '127.0.0.1 - frank [10/Oct/2000:20:55:36 +0000] "GET /apache_pb.gif HTTP/1.1" 200 2326'
    )
    assert all(COMMON.match(line) for line in common)
    timed = access.format_access(access_fields(), style="common", request_time=True).to_pylist()
    assert [line.rsplit(" ", 1)[1] for line in timed] == ["0.046", "12.300"]
    durations = pa.array([45_600, None], pa.duration("us"))
    timed = access.format_access(access_fields(request_time=durations), request_time=True)
    assert [line.rsplit(" ", 1)[1] for line in timed.to_pylist()] == ["0.046", "-"]


def test_access_time_zones_follow_daylight_saving() -> None:
    summer = dt.datetime(2026, 7, 1, 12, tzinfo=UTC)
    fields = access_fields(time=ts(summer, T1))
    lines = access.format_access(fields, tz="Europe/Paris").to_pylist()
    assert "[01/Jul/2026:14:00:00 +0200]" in lines[0]
    assert "[01/Jan/2026:01:00:00 +0100]" in lines[1]
    lines = access.format_access(fields, tz=dt.timedelta(hours=5, minutes=30)).to_pylist()
    assert "[01/Jul/2026:17:30:00 +0530]" in lines[0]


def test_access_optional_columns_and_scalars() -> None:
    fields = {
        "time": ts(T0, T1),
        "client_ip": pa.array([167772161, 3232235777], pa.uint32()),
        "method": "GET",
        "path": pa.array(["/a", "/b"]),
        "status": 200,
        "protocol": "HTTP/2.0",
    }
    assert access.format_access(fields).to_pylist() == [
        '10.0.0.1 - - [10/Oct/2000:20:55:36 +0000] "GET /a HTTP/2.0" 200 - "-" "-"',
        '192.168.1.1 - - [01/Jan/2026:00:00:00 +0000] "GET /b HTTP/2.0" 200 - "-" "-"',
    ]


def test_access_escapes_like_nginx() -> None:
    ua = 'say "hi" \\ to\tbob\x7f é'
    lines = access.format_access(access_fields(user_agent=pa.array([ua, None]))).to_pylist()
    assert lines[0].endswith(r'"say \x22hi\x22 \x5C to\x09bob\x7F \xC3\xA9"')
    m = COMBINED.match(lines[0])
    assert m and nginx_unescape(m.group(11)) == ua


def _hhmm(local: dt.datetime) -> str:
    """The ±hhmm offset of a log line: whole minutes (pre-1900 zones have seconds)."""
    minutes = int(local.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            ZONED_TIMES, TEXT, TEXT, TEXT, st.integers(0, 10**9), st.sampled_from([200, 301, 500])
        ),
        min_size=1,
        max_size=12,
    ),
    tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "-07:00"]),
)
def test_access_lines_parse_and_round_trip(
    rows: list[tuple[dt.datetime, str, str, str, int, int]], tz: str
) -> None:
    times, users, refs, agents, sizes, statuses = zip(*rows, strict=True)
    fields = access_fields(
        time=pa.array(times, pa.timestamp("us")),
        client_ip=pa.array(["::1"] * len(rows)),
        user=pa.array(users),
        method=pa.array(["GET"] * len(rows)).dictionary_encode(),
        path=pa.array([f"/p/{i}" for i in range(len(rows))]),
        status=pa.array(statuses),
        bytes=pa.array(sizes),
        referrer=pa.array(refs),
        user_agent=pa.array(agents).dictionary_encode(),
        request_time=None,
    )
    zone = dt.timezone(-dt.timedelta(hours=7)) if tz == "-07:00" else ZoneInfo(tz)
    for line, row in zip(access.format_access(fields, tz=tz).to_pylist(), rows, strict=True):
        m = COMBINED.match(line)
        assert m, line
        when, user, ref, agent, size, status = row
        local = when.replace(tzinfo=UTC).astimezone(zone)
        assert m.group(4) == (
            f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year:04d}:"
            f"{local:%H:%M:%S} {_hhmm(local)}"
        )
        assert nginx_unescape(m.group(3)) == (user or "-")
        assert nginx_unescape(m.group(10)) == (ref or "-")
        assert nginx_unescape(m.group(11)) == (agent or "-")
        assert m.group(9) == (str(size) if size else "-")
        assert m.group(8) == str(status)


# --------------------------------------------------------------------------------------
# JSON application logs
# --------------------------------------------------------------------------------------


def json_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "time": ts(T0, T1),
        "level": pa.array(["INFO", "ERROR"]),
        "logger": "shop.orders",
        "message": pa.array(['order "7" placed', "payment failed\nretrying"]),
        "trace_id": pa.array(["4bf92f3577b34da6a3ce929d0e0e4736", None]),
        "span_id": pa.array(["00f067aa0ba902b7", "00f067aa0ba902b8"]),
        "stack_trace": f.stack_traces([0, 3]),
        "customer_id": pa.array([42, None]),
        "amount": pa.array([19.99, float("nan")]),
        "paid": pa.array([True, False]),
        "at": ts(T1, T0),
    }
    fields.update(overrides)
    return fields


def test_json_detail_levels() -> None:
    fields = json_fields()
    minimal = [json.loads(x) for x in json_format.format_json(fields, detail="minimal").to_pylist()]
    assert minimal[0] == {
        "timestamp": "2000-10-10T20:55:36.123Z",
        "level": "INFO",
        "message": 'order "7" placed',
    }
    standard = [json.loads(x) for x in json_format.format_json(fields).to_pylist()]
    assert standard[0] == {
        **minimal[0],
        "logger": "shop.orders",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
    }
    assert "trace_id" not in standard[1]  # null omits the key
    assert standard[1]["stack_trace"] == f.STACK_TRACES[3]
    assert "stack_trace" not in standard[0]  # INFO lines carry no trace
    full = [json.loads(x) for x in json_format.format_json(fields, detail="full").to_pylist()]
    assert full[0] == {
        **standard[0],
        "customer_id": 42,
        "amount": 19.99,
        "paid": True,
        "at": "2026-01-01T00:00:00.000Z",
    }
    assert full[1]["paid"] is False
    assert "amount" not in full[1] and "customer_id" not in full[1]  # NaN and null
    assert list(full[1])[-1] == "stack_trace"


def test_json_key_order_and_renames() -> None:
    line = json_format.format_json(
        json_fields(), keys={"time": "@timestamp", "level": "log.level"}
    ).to_pylist()[0]
    assert line.startswith('{"@timestamp":"2000-10-10T20:55:36.123Z","log.level":"INFO","logger":')
    line = json_format.format_json(json_fields(), detail="full", extras=["paid"]).to_pylist()[0]
    assert list(json.loads(line))[-1] == "paid"


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            TIMES,
            st.sampled_from(f.LEVELS),
            TEXT,
            st.one_of(st.none(), TEXT),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        ),
        min_size=1,
        max_size=15,
    ),
    key=TEXT.filter(lambda k: k not in json_format.JSON_KEYS.values()),
    encode=st.booleans(),
)
def test_json_lines_are_exact_json_for_any_text(
    rows: list[tuple[dt.datetime, str, str, str | None, int | None, float | None]],
    key: str,
    encode: bool,
) -> None:
    times, levels, messages, extra_text, ints, floats = zip(*rows, strict=True)
    text = pa.array(extra_text, pa.string())
    fields = {
        "time": pa.array(times, pa.timestamp("ms")),
        "level": pa.array(levels),
        "message": pa.array(messages).dictionary_encode() if encode else pa.array(messages),
        "logger": pa.array(messages),
        key: text.dictionary_encode() if encode else text,
        "n": pa.array(ints, pa.int64()),
        "x": pa.array(floats, pa.float64()),
    }
    lines = json_format.format_json(fields, detail="full").to_pylist()
    for line, (when, level, message, extra, n, x) in zip(lines, rows, strict=True):
        assert "\n" not in line
        doc = json.loads(line)
        expected: dict[str, object] = {
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "level": level,
            "logger": message,
            "message": message,
        }
        if extra is not None:
            expected[key] = extra
        if n is not None:
            expected["n"] = n
        if x is not None:
            expected["x"] = x
        assert doc == expected


def test_json_escapes_every_control_character() -> None:
    every = "".join(chr(c) for c in range(32)) + '"\\\x7f\u2028é😀'
    lines = json_format.format_json(json_fields(message=pa.array([every, "plain"]))).to_pylist()
    assert json.loads(lines[0])["message"] == every
    assert "\\u001f" in lines[0] and "\\n" in lines[0] and "é😀" in lines[0]


def test_json_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="detail"):
        json_format.format_json(json_fields(), detail="verbose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extras are written with detail='full'"):
        json_format.format_json(json_fields(), extras=["paid"])
    with pytest.raises(ValueError, match="repeat a standard JSON key"):
        json_format.format_json(
            json_fields(), detail="full", extras=["paid"], keys={"message": "paid"}
        )
    with pytest.raises(ValueError, match=r"needs column\(s\) \['message'\]"):
        json_format.format_json({"time": ts(T0), "level": pa.array(["INFO"])})


# --------------------------------------------------------------------------------------
# Syslog
# --------------------------------------------------------------------------------------


def syslog_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "time": ts(T0, T1),
        "level": pa.array(["INFO", "ERROR"]),
        "hostname": "web-01.example.com",
        "app_name": "shop",
        "procid": pa.array([4242, None]),
        "msgid": pa.array(["ORDER", None]),
        "message": pa.array(["order 7 placed", "payment failed\nretrying"]),
        "trace_id": pa.array(["4bf92f3577b34da6a3ce929d0e0e4736", None]),
        "ip": pa.array(["10.0.0.1", 'a"b]c\\d']),
    }
    fields.update(overrides)
    return fields


def test_rfc5424_lines_follow_the_abnf() -> None:
    lines = rfc5424.format_rfc5424(
        syslog_fields(),
        facility="local0",
        structured_data={"origin@32473": ["ip"], "trace@32473": {"id": "trace_id"}},
    ).to_pylist()
    assert lines == [
        "<134>1 2000-10-10T20:55:36.123456Z web-01.example.com shop 4242 ORDER "
        '[origin@32473 ip="10.0.0.1"][trace@32473 id="4bf92f3577b34da6a3ce929d0e0e4736"] '
        "order 7 placed",
        "<131>1 2026-01-01T00:00:00.000000Z web-01.example.com shop - - "
        '[origin@32473 ip="a\\"b\\]c\\\\d"][trace@32473] payment failed#012retrying',
    ]
    for line in lines:
        assert RFC5424.match(line), line


def test_rfc5424_nil_values_offsets_and_bom() -> None:
    fields = {
        "time": pa.array([T0, None], pa.timestamp("us", tz="UTC")),
        "severity": pa.array([0, 7]),
        "facility": pa.array([23, 0]),
        "hostname": pa.array(["has space\tand\u00e9", ""]),
        "message": pa.array([None, "x"]),
    }
    lines = rfc5424.format_rfc5424(fields, tz="+05:30", bom=True).to_pylist()
    assert lines == [
        "<184>1 2000-10-11T02:25:36.123456+05:30 has_space_and_ - - - -",
        "<7>1 - - - - - - \ufeffx",
    ]
    for line in lines:
        assert RFC5424.match(line), line


def test_rfc5424_header_fields_are_cut_to_their_length() -> None:
    fields = syslog_fields(hostname="h" * 300, app_name="a" * 60, msgid="m" * 40)
    m = RFC5424.match(rfc5424.format_rfc5424(fields).to_pylist()[0])
    assert m
    assert (len(m["hostname"]), len(m["app_name"]), len(m["msgid"])) == (255, 48, 32)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(NS_TIMES, st.integers(0, 7), st.integers(0, 23), TEXT, TEXT, TEXT),
        min_size=1,
        max_size=12,
    ),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "-03:00"]),
)
def test_rfc5424_parses_and_round_trips(
    rows: list[tuple[dt.datetime, int, int, str, str, str]], tz: str
) -> None:
    times, sevs, facs, hosts, params, messages = zip(*rows, strict=True)
    fields = {
        "time": pa.array(times, pa.timestamp("ns")),
        "severity": pa.array(sevs),
        "facility": pa.array(facs),
        "hostname": pa.array(hosts),
        "app_name": "app",
        "v": pa.array(params),
        "message": pa.array(messages),
    }
    lines = rfc5424.format_rfc5424(fields, tz=tz, structured_data={"x@1": ["v"]}).to_pylist()
    zone = dt.timezone(-dt.timedelta(hours=3)) if tz == "-03:00" else ZoneInfo(tz)
    for line, (when, sev, fac, host, param, message) in zip(lines, rows, strict=True):
        m = RFC5424.match(line)
        assert m, line
        assert int(m["pri"]) == fac * 8 + sev
        local = when.replace(tzinfo=UTC).astimezone(zone)
        offset = "Z" if tz == "UTC" else local.isoformat()[-6:]
        assert m["timestamp"] == local.strftime("%Y-%m-%dT%H:%M:%S.%f") + offset
        clean = re.sub(r"[^\x21-\x7e]", "_", host)
        assert m["hostname"] == (clean or "-")
        value = re.fullmatch(rf'\[x@1 v="({_PARAM_VALUE})"\]', m["sd"])
        assert value, m["sd"]
        assert sd_unescape(value.group(1)) == rsyslog_escape(param)
        assert m["msg"] == rsyslog_escape(message)


def rsyslog_escape(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", lambda c: f"#{ord(c.group()):03o}", text)


def test_rfc3164_lines() -> None:
    lines = rfc3164.format_rfc3164(syslog_fields(), tz="America/New_York").to_pylist()
    assert lines == [
        "<14>Oct 10 16:55:36 web-01.example.com shop[4242]: order 7 placed",
        "<11>Dec 31 19:00:00 web-01.example.com shop: payment failed#012retrying",
    ]
    day = rfc3164.format_rfc3164(syslog_fields(time=ts(T1, T1))).to_pylist()[0]
    assert day.startswith("<14>Jan  1 00:00:00 ")
    for line in [*lines, day]:
        assert RFC3164.match(line), line


def test_rfc3164_tag_is_sanitized() -> None:
    line = rfc3164.format_rfc3164(syslog_fields(app_name="my app[x]:" + "y" * 40)).to_pylist()[0]
    m = RFC3164.match(line)
    assert m and m["tag"] == "my_app_x__" + "y" * 22 and m["pid"] == "4242"


def test_syslog_needs_a_severity_and_known_facility() -> None:
    with pytest.raises(ValueError, match="'severity' or a 'level'"):
        rfc5424.format_rfc5424({"time": ts(T0)})
    with pytest.raises(ValueError, match="unknown syslog facility"):
        rfc5424.format_rfc5424(syslog_fields(), facility="local9")
    with pytest.raises(ValueError, match=r"within 0\.\.7"):
        rfc5424.format_rfc5424(syslog_fields(severity=pa.array([8, 1])))
    with pytest.raises(ValueError, match="invalid RFC 5424 PARAM-NAME"):
        rfc5424.format_rfc5424(syslog_fields(), structured_data={"a@1": {"bad name": "ip"}})


# --------------------------------------------------------------------------------------
# Levels, trace ids, stack traces, inputs
# --------------------------------------------------------------------------------------


def test_level_mapping_round_trips() -> None:
    levels = pa.array(list(f.LEVELS))
    severities = f.level_to_severity(levels)
    assert severities.to_pylist() == [7, 6, 4, 3]
    assert f.severity_to_level(severities).to_pylist() == list(f.LEVELS)
    assert f.severity_to_level(pa.array(range(8))).to_pylist() == [
        "ERROR", "ERROR", "ERROR", "ERROR", "WARN", "INFO", "INFO", "DEBUG"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown level"):
        f.level_to_severity(pa.array(["INFO", "FATAL"]))


def test_filter_level_keeps_the_given_kind() -> None:
    table = pa.table({"time": ts(T0, T1, T1), "level": ["DEBUG", "ERROR", "WARN"], "n": [1, 2, 3]})
    kept = f.filter_level(table, "WARN")
    assert isinstance(kept, pa.Table) and kept["n"].to_pylist() == [2, 3]
    mapping = f.filter_level({"level": pa.array(["INFO", "WARN"]), "host": "a"}, "INFO")
    assert isinstance(mapping, dict) and mapping["host"] == "a"
    by_severity = f.filter_level({"severity": pa.array([7, 4, 0])}, "WARN")
    assert isinstance(by_severity, dict) and by_severity["severity"].to_pylist() == [4, 0]
    with pytest.raises(ValueError, match="unknown level 'LOUD'"):
        f.filter_level(table, "LOUD")


def test_trace_ids_are_hex_and_reproducible() -> None:
    ids = f.generate_trace_ids(np.random.default_rng(7), 1000)
    assert isinstance(ids, pa.StringArray) and len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", x) for x in ids.to_pylist())
    assert len(set(ids.to_pylist())) == 1000
    assert ids.equals(f.generate_trace_ids(np.random.default_rng(7), 1000))
    spans = f.generate_span_ids(np.random.default_rng(7), 3).to_pylist()
    assert all(re.fullmatch(r"[0-9a-f]{16}", x) for x in spans)
    assert len(f.generate_trace_ids(np.random.default_rng(7), 0)) == 0


def test_stack_traces_by_index() -> None:
    n = len(f.STACK_TRACES)
    traces = f.stack_traces(pa.array([0, n + 1, None, -1]))
    assert traces.to_pylist() == [f.STACK_TRACES[0], f.STACK_TRACES[1], None, f.STACK_TRACES[-1]]
    assert any(t.startswith("Traceback") for t in f.STACK_TRACES)
    assert any("\tat " in t for t in f.STACK_TRACES)


def test_inputs_table_chunks_units_and_dictionaries() -> None:
    chunked = pa.chunked_array([["INFO"], ["WARN"]])
    table = pa.table(
        {
            "time": pa.array([1_000, 2_000], pa.timestamp("s")),
            "level": chunked,
            "message": pa.chunked_array([pa.array(["a"]), pa.array([None], pa.string())]),
            "logger": pa.array(["x", None]).dictionary_encode(),
        }
    )
    docs = [json.loads(x) for x in json_format.format_json(table).to_pylist()]
    assert docs == [
        {"timestamp": "1970-01-01T00:16:40.000Z", "level": "INFO", "logger": "x", "message": "a"},
        {"timestamp": "1970-01-01T00:33:20.000Z", "level": "WARN", "message": None},
    ]
    with pytest.raises(ValueError, match="different lengths"):
        json_format.format_json(
            {"time": ts(T0), "level": pa.array(["INFO", "INFO"]), "message": "m"}
        )
    with pytest.raises(ValueError, match="null value"):
        json_format.format_json(
            {"time": pa.array([None], pa.timestamp("us")), "level": "INFO", "message": "m"}
        )
    with pytest.raises(ValueError, match="unknown time zone"):
        access.format_access(access_fields(), tz="Mars/Olympus")


def test_empty_batch() -> None:
    empty = {name: value[:0] for name, value in access_fields().items()}
    assert len(access.format_access(empty)) == 0
    assert (
        len(
            rfc5424.format_rfc5424(
                syslog_fields(
                    time=ts(),
                    level=pa.array([], pa.string()),
                    procid=pa.array([]),
                    msgid=pa.array([]),
                    message=pa.array([]),
                    trace_id=pa.array([]),
                    ip=pa.array([]),
                )
            )
        )
        == 0
    )


def test_formats_registry_and_columns() -> None:
    assert f.FORMATS.names() == ["combined", "common", "json", "rfc3164", "rfc5424"]
    line = f.FORMATS.get("common").format(access_fields()).to_pylist()[0]
    assert COMMON.match(line)
    for name in f.FORMATS.names():
        fmt = f.FORMATS.get(name)
        assert fmt.name == name
        assert fmt.fields[0].name == "time" and fmt.fields[0].required


@pytest.mark.parametrize("name", ["combined", "common", "json", "rfc3164", "rfc5424"])
def test_format_options_are_the_formatters_keywords(name: str) -> None:
    """A format's options model has its formatter's keyword arguments, with their defaults."""
    fmt = f.FORMATS.get(name)
    params = inspect.signature(fmt.formatter).parameters
    keywords = {
        k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k != "style"
    }
    assert {k: v.default for k, v in fmt.options.model_fields.items()} == keywords


def test_format_options_are_validated() -> None:
    fmt = f.FORMATS.get("rfc5424")
    with pytest.raises(ValueError, match="bomb"):
        fmt.options.model_validate({"bomb": True})
    opts = fmt.options.model_validate({"tz": "+02:00", "structured_data": {"x@1": ["user"]}})
    line = fmt.format(syslog_fields(user="ana"), opts).to_pylist()[0]
    assert '[x@1 user="ana"]' in line and "+02:00" in line
