"""A sink's `fields:`/`op:` (sinks/_project.py): which fields, renamed, templated, in order."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.errors import ScenarioError, SinkError
from headwater.runner import run
from headwater.sinks._project import Shape, ShapeOptions

from tests.helpers import scenario
from tests.sinks._streams import WORLD

NASTY = ['with "quotes"', "back\\slash", "line\nbreak", "ünïcödé ✓"]


def lines(folder: Path) -> list[str]:
    return [line for p in sorted(folder.rglob("*.jsonl")) for line in p.read_text().splitlines()]


def run_files(tmp_path: Path, options: str) -> list[str]:
    sc = scenario(
        WORLD.split("\nsinks:")[0],
        sinks=f"f: {{kind: files, entities: [orders], format: jsonl, path: out, {options}}}\n",
    )
    run(sc, duration=timedelta(minutes=3), out_dir=tmp_path)
    return lines(tmp_path / "out")


def test_fields_pick_rename_and_template_in_order(tmp_path):
    out = run_files(
        tmp_path,
        "fields: {Id: order_id, Amount: '{amount}', Label: 'Order # {order_id}: \"{note}\" "
        "${amount:.2f}', Day: '{placed_at:%Y-%m-%d %H:%M:%S}', Op: _op}",
    )
    assert out
    notes = set()
    for line in out:
        record = json.loads(line)  # a quote, backslash or newline in a value stays valid JSON
        assert list(record) == ["Id", "Amount", "Label", "Day", "Op"]
        assert isinstance(record["Id"], int) and isinstance(record["Amount"], int | float)
        note = record["Label"].split(": ", 1)[1].rsplit(" $", 1)[0][1:-1]
        assert record["Label"] == f'Order # {record["Id"]}: "{note}" ${record["Amount"]:.2f}'
        notes.add(note)
        assert len(record["Day"]) == 19 and record["Day"][10] == " "
    assert set(NASTY) <= notes


def test_op_false_drops_the_op_column(tmp_path):
    out = run_files(tmp_path, "op: false")
    assert out and all("_op" not in json.loads(line) for line in out)
    assert set(json.loads(out[0])) == {
        "order_id",
        "customer_id",
        "country",
        "amount",
        "note",
        "placed_at",
    }


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        (
            "{kind: files, fields: {Key: 'Order # {order_idd}'}}",
            "sinks.s.fields.Key",
            "entity 'orders' has no field 'order_idd' — did you mean 'order_id'?",
        ),
        ("{kind: kafka, fields: {Key: amount_}}", "sinks.s.fields.Key", "did you mean 'amount'?"),
        ("{kind: nats, fields: {Key: '{amount:zz}'}}", "sinks.s", "fields.Key: bad template"),
        ("{kind: files, fields: {}}", "sinks.s", "fields needs at least one"),
        (
            "{kind: files, fields: {Bad: '{note:.2f}'}}",
            "sinks.s.fields.Bad",
            "field 'note' of entity 'orders': values of type string cannot be formatted",
        ),
        (
            "{kind: kafka, topic: 'o.{placed_at:%Y}.{amount:%Y}'}",
            "sinks.s.topic",
            "field 'amount' of entity 'orders': values of type double",
        ),
        ("{kind: nats, subject: 'o.{countri}'}", "sinks.s.subject", "did you mean 'country'?"),
    ],
)
def test_projection_problems_name_their_yaml_path(spec, path, message):
    spec = spec.replace("{kind:", "{entities: [orders], kind:", 1)
    with pytest.raises(ScenarioError) as err:
        scenario(WORLD.split("\nsinks:")[0], sinks=f"s: {spec}\n")
    text = str(err.value)
    assert path in text and message in text, text


def test_kafka_bodies_are_shaped_while_keys_and_topics_read_the_records(kafka_server, tmp_path):
    pytest.importorskip("confluent_kafka")
    from tests.sinks.test_kafka import consume

    topic = f"shaped-{tmp_path.name}"
    sc = scenario(
        WORLD.split("\nsinks:")[0],
        sinks=f"k: {{kind: kafka, entities: [orders], bootstrap_servers: "
        f"'{kafka_server.bootstrap_servers}', topic: '{topic}.{{country}}', partitions: 1, "
        "fields: {Id: order_id, Note: 'note: {note}', Amount: '{amount:08.2f}'}}\n",
    )
    report = run(sc, duration=timedelta(minutes=2), out_dir=tmp_path)
    sent = report.sinks["k"]["counts"]["orders"]["c"]
    topics = {f"{topic}.{c}": 1 for c in ("US", "DE", "FR")}
    msgs = consume(kafka_server, topics, sent, idle=1)
    assert len(msgs) == sent > 0
    notes = set()
    for m in msgs:
        body = json.loads(m.value())  # quotes, backslashes, newlines: still valid JSON
        assert list(body) == ["Id", "Note", "Amount"]
        assert m.key() == str(body["Id"]).encode()
        assert re.fullmatch(r"\d{5}\.\d\d", body["Amount"])
        notes.add(body["Note"].removeprefix("note: "))
    assert set(NASTY) <= notes


def test_fields_of_debezium_envelopes_read_the_row_and_the_envelope(tmp_path):
    out = run_files(tmp_path, "payload: debezium, fields: {Id: order_id, Op: op, At: ts_ms}")
    records = [json.loads(line) for line in out]
    assert records and all(list(r) == ["Id", "Op", "At"] for r in records)
    assert {r["Op"] for r in records} == {"c"} and all(isinstance(r["Id"], int) for r in records)


def test_a_spec_the_values_cannot_take_at_run_time_is_the_sinks_error():
    shape = Shape.of("f", ShapeOptions(fields={"Bad": "{note:.2f}"}))
    with pytest.raises(SinkError, match=r"sink 'f'.*fields\.Bad: template '\{note:\.2f\}'"):
        shape.table(pa.table({"note": ["x"]}), "orders")
