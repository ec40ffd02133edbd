"""The logs sink end to end: the world's events become parseable access, JSON and syslog lines."""

import json
import re
from datetime import datetime

import pytest

from headwater.resolve.load import loads
from headwater.runner import run

SCENARIO = """
name: web
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 2h}
entities:
  page_views:
    write: insert_only
    arrivals: 5/s
    fields:
      view_id: {seq: {}}
      url: {fake: uri_path}
      user_agent: {fake: user_agent}
      ip: {fake: ipv4}
      status: {choice: {200: 97, 404: 2.5, 500: 0.5}}
      latency_ms: {lognormal: {mu: 3, sigma: 1}, round: 1}
sinks:
  access: {kind: logs, format: combined, path: access, rotate: {every: 1h},
           incidents: [{at: 2026-01-01T01:00:00Z, length: 10m, error_rate: 0.5}]}
  app: {kind: logs, format: json, path: app, message: "GET {url} -> {status} in {latency_ms}ms", min_level: WARN}
  sys: {kind: logs, format: rfc5424, path: sys}
"""
COMBINED = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'
)
RFC5424 = re.compile(r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*\]) ?(.*)$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    run(loads(SCENARIO), out_dir=folder)
    return folder


def lines(folder):
    return [line for p in sorted(folder.iterdir()) for line in p.read_text().splitlines()]


def test_access_lines_parse_and_rotate_hourly(out):
    files = sorted(p.name for p in (out / "access").iterdir())
    assert files == ["page_views-20260101T000000.log", "page_views.log"]
    parsed = [COMBINED.match(line) for line in lines(out / "access")]
    assert parsed and all(parsed)
    assert all(m.group(6).startswith("/") for m in parsed)
    assert pytest.approx(len(parsed), rel=0.05) == 5 * 7200


def test_incident_window_raises_the_error_share(out):
    inside, outside = [], []
    for line in lines(out / "access"):
        m = COMBINED.match(line)
        t = datetime.strptime(m.group(4), "%d/%b/%Y:%H:%M:%S %z")
        (inside if t.hour == 1 and t.minute < 10 else outside).append(int(m.group(8)) >= 500)
    assert sum(inside) / len(inside) > 0.4
    assert sum(outside) / len(outside) < 0.02


def test_json_lines_are_valid_and_filtered_by_level(out):
    records = [json.loads(line) for line in lines(out / "app")]
    assert records and {r["level"] for r in records} <= {"WARN", "ERROR"}
    errors = [r for r in records if r["level"] == "ERROR"]
    assert errors and all("stack_trace" in r for r in errors)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]) for r in records)
    assert all(" -> 404 " in r["message"] for r in records if r["level"] == "WARN")


def test_syslog_lines_parse_as_rfc5424(out):
    parsed = [RFC5424.match(line) for line in lines(out / "sys")]
    assert parsed and all(parsed)
    assert {m.group(1) for m in parsed} <= {"11", "12", "14"}


def test_bad_log_config_is_a_scenario_error():
    from headwater.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"sinks\.access\.format"):
        loads(SCENARIO.replace("format: combined", "format: apache"))
    twice = SCENARIO.replace("min_level: WARN", "min_level: WARN, columns: {message: url}")
    with pytest.raises(ScenarioError, match=r"sinks\.app.*give the message once"):
        loads(twice)


def test_lines_are_delivered_to_a_syslog_receiver(tmp_path):
    import socket
    import threading

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    received = bytearray()

    def serve():
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    text = SCENARIO.split("sinks:")[0].replace("duration: 2h", "duration: 5m")
    text += f"sinks:\n  sys: {{kind: logs, format: rfc5424, path: sys, syslog: {{port: {port}, protocol: tcp}}}}\n"
    run(loads(text), out_dir=tmp_path)
    thread.join(10)
    server.close()
    written = (tmp_path / "sys" / "page_views.log").read_text().splitlines()
    frames, data = [], bytes(received)
    while data:  # RFC 6587 octet counting: "<length> <message>"
        length, _, rest = data.partition(b" ")
        frames.append(rest[: int(length)].decode())
        data = rest[int(length) :]
    assert frames == written and len(frames) > 1000


def test_column_mappings_name_existing_fields():
    from headwater.errors import ScenarioError

    text = SCENARIO.replace(
        "format: rfc5424, path: sys}",
        "format: rfc5424, path: sys, columns: {hostname: hots, message: 'GET {ulr}'}}",
    )
    with pytest.raises(ScenarioError) as exc:
        loads(text)
    msgs = [str(p) for p in exc.value.problems]
    assert any(
        "sinks.sys.columns.hostname: entity 'page_views' has no field 'hots'" in m for m in msgs
    ), msgs
    assert any(
        "sinks.sys.columns.message: entity 'page_views' has no field 'ulr' — did you mean 'url'?"
        in m
        for m in msgs
    ), msgs


MESSAGES = """
name: msgs
seed: 5
clock: {start: 2026-01-01T00:00:00Z, duration: 2m}
entities:
  events:
    write: insert_only
    arrivals: 5/s
    fields:
      event_id: {seq: {}}
      message: {choice: [raw text]}
      msg: {choice: [other raw]}
      url: {choice: ["https://shop.example/a?b=1", "/cart", "*", "items/7", "http://x/"]}
sinks:
  app: {kind: logs, format: json, path: app, message: "event {event_id} at {url}"}
  sys: {kind: logs, format: rfc5424, path: sys, message: "event {event_id}"}
  plain: {kind: logs, format: json, path: plain}
  access: {kind: logs, format: combined, path: access}
"""


@pytest.fixture(scope="module")
def msgs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("msgs")
    run(loads(MESSAGES), out_dir=folder)
    return folder


def test_the_message_template_wins_over_a_message_field(msgs):
    records = [json.loads(line) for line in lines(msgs / "app")]
    assert records and all(re.fullmatch(r"event \d+ at \S+", r["message"]) for r in records)
    sys_lines = lines(msgs / "sys")
    assert sys_lines and all(re.search(r" event \d+$", line) for line in sys_lines)
    # without a template, an entity's own `message` field is the message
    assert {json.loads(line)["message"] for line in lines(msgs / "plain")} == {"raw text"}


def test_request_targets_keep_absolute_urls_and_asterisk(msgs):
    targets = {COMBINED.match(line).group(6) for line in lines(msgs / "access")}
    assert targets == {"https://shop.example/a?b=1", "/cart", "*", "/items/7", "http://x/"}
