"""Vectorized message encoding (JSON, Avro, templates) and the stream sinks' shared config."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.errors import ScenarioError
from headwater.sinks import _encode as enc
from headwater.sinks._text import json_objects

from tests.helpers import scenario


def rows(table: pa.Table) -> list:
    return [json.loads(text) for text in json_objects(table).to_pylist()]


def test_json_scalars_nulls_and_escapes():
    t = pa.table(
        {
            "i": pa.array([1, None, -3], pa.int64()),
            "f": pa.array([1.5, float("nan"), float("inf")]),
            "b": pa.array([True, False, None]),
            "s": pa.array(['a "q"', "back\\slash\nline\ttab\x01", None]),
            "u": pa.array(["ünï ✓", "", "x"]).dictionary_encode(),
            "ls": pa.array(["x", "y", "z"], pa.large_string()),
            "ts": pa.array([datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, None]).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "naive": pa.array([datetime(2026, 1, 2), None, None], pa.timestamp("ms")),
            "d": pa.array([date(2026, 1, 2), None, date(1999, 12, 31)]),
            "dec": pa.array([Decimal("12.34"), None, Decimal("-0.05")], pa.decimal128(10, 2)),
            "bin": pa.array([b"\x00\xff", None, b""]),
            "n": pa.nulls(3),
        }
    )
    assert rows(t) == [
        {
            "i": 1,
            "f": 1.5,
            "b": True,
            "s": 'a "q"',
            "u": "ünï ✓",
            "ls": "x",
            "ts": "2026-01-02T03:04:05.000006Z",
            "naive": "2026-01-02T00:00:00.000",
            "d": "2026-01-02",
            "dec": 12.34,
            "bin": "AP8=",
            "n": None,
        },
        {
            "i": None,
            "f": None,
            "b": False,
            "s": "back\\slash\nline\ttab\x01",
            "u": "",
            "ls": "y",
            "ts": None,
            "naive": None,
            "d": None,
            "dec": None,
            "bin": None,
            "n": None,
        },
        {
            "i": -3,
            "f": None,
            "b": None,
            "s": None,
            "u": "x",
            "ls": "z",
            "ts": None,
            "naive": None,
            "d": "1999-12-31",
            "dec": -0.05,
            "bin": "",
            "n": None,
        },
    ]


def test_json_nested_structs_lists_and_maps_of_a_slice():
    inner = pa.StructArray.from_arrays(
        [pa.array([1, 2, 3, 4]), pa.array(["a", None, "c", "d"])],
        names=["x", "y"],
        mask=pa.array([False, False, True, False]),
    )
    t = pa.table(
        {
            "obj": inner,
            "tags": pa.array([["a", "b"], [], None, ['q"']]),
            "points": pa.array(
                [[{"v": 1.0}], [{"v": None}, None], [], None],
                pa.list_(pa.struct([("v", pa.float64())])),
            ),
            "attrs": pa.array(
                [[("k", 1)], None, [("a b", 2), ("c", None)], []], pa.map_(pa.string(), pa.int64())
            ),
        }
    ).slice(1)
    assert rows(t) == [
        {"obj": {"x": 2, "y": None}, "tags": [], "points": [{"v": None}, None], "attrs": None},
        {"obj": None, "tags": None, "points": [], "attrs": {"a b": 2, "c": None}},
        {"obj": {"x": 4, "y": "d"}, "tags": ['q"'], "points": None, "attrs": {}},
    ]


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30))
def test_json_strings_round_trip_any_text(values):
    t = pa.table({"s": pa.array(values, pa.string())})
    assert [r["s"] for r in rows(t)] == values


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)), min_size=1))
def test_json_floats_round_trip(values):
    t = pa.table({"f": pa.array(values, pa.float64())})
    got = [r["f"] for r in rows(t)]
    for a, b in zip(got, values, strict=True):
        assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-15, abs_tol=0)


def test_json_of_an_empty_table():
    assert json_objects(pa.table({"a": pa.array([], pa.int64())})).to_pylist() == []


def test_templates():
    t = enc.Template.parse("devices/{device_id}/{entity}")
    assert t.fields == ["device_id"] and not t.constant
    assert t.wildcard("+", "readings") == "devices/+/readings"
    columns = {"device_id": pa.array(["d1", None, "d3"])}
    rendered = t.render("readings", columns.__getitem__, 3)
    assert rendered.to_pylist() == [
        "devices/d1/readings",
        "devices//readings",
        "devices/d3/readings",
    ]
    assert enc.Template.parse("{entity}.events").render("orders", columns.__getitem__, 3) == (
        "orders.events"
    )
    for bad in ("{a:zz}", "{a!r}", "{a:{b}}", "{a.b}", "{", "{}"):
        with pytest.raises(ValueError):
            enc.Template.parse(bad)


def test_text_of_values_for_keys():
    assert enc.text(pa.array([1, None])).to_pylist() == ["1", None]
    assert enc.text(pa.array([True, False])).to_pylist() == ["true", "false"]
    ts = pa.array([datetime(2026, 1, 1, tzinfo=UTC)]).cast(pa.timestamp("us", tz="UTC"))
    assert enc.text(ts).to_pylist() == ["2026-01-01T00:00:00.000000Z"]


def _fastavro_bodies(schema: dict, table: pa.Table) -> list[bytes]:
    """The reference: fastavro's schemaless writer, one row at a time."""
    fastavro = pytest.importorskip("fastavro")
    parsed = fastavro.parse_schema(schema)
    maps = [f.name for f in table.schema if pa.types.is_map(f.type)]
    out = []
    for row in table.to_pylist():
        for name in maps:
            row[name] = dict(row[name]) if row[name] is not None else None
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, row)
        out.append(buf.getvalue())
    return out


def _avro_table() -> pa.Table:
    row = pa.struct([("id", pa.int64()), ("name", pa.string())])
    return pa.table(
        {
            "before": pa.array([None, {"id": 1, "name": "a"}, {"id": -7, "name": None}], row),
            "after": pa.array([{"id": 1, "name": "a"}, {"id": 1, "name": "b"}, None], row),
            "small": pa.array([1, None, -64], pa.int8()),
            "n": pa.array([0, -1, 2**40], pa.int64()),
            "big": pa.array([2**63 - 1, -(2**63), None], pa.int64()),
            "u": pa.array([0, 300, 2**32], pa.uint64()),
            "f32": pa.array([1.5, None, -0.25], pa.float32()),
            "f64": pa.array([math.pi, float("inf"), None]),
            "text": pa.array(["ünï ✓", "", None]),
            "blob": pa.array([b"\x00\xff", None, b"x" * 200]),
            "price": pa.array(
                [Decimal("1.28"), Decimal("-1.28"), Decimal("-0.01")], pa.decimal128(9, 2)
            ),
            "huge": pa.array(
                [Decimal("12345678901234567890123.45"), None, Decimal("-1")],
                pa.decimal128(30, 2),
            ),
            "at": pa.array(
                [datetime(2026, 1, 1, tzinfo=UTC), None, datetime(1969, 12, 31, tzinfo=UTC)]
            ).cast(pa.timestamp("us", tz="UTC")),
            "at_ms": pa.array([datetime(2026, 1, 1), None, None], pa.timestamp("ms")),
            "day": pa.array([date(2026, 1, 1), None, date(1900, 1, 1)]),
            "tags": pa.array([["x", None], None, []]),
            "points": pa.array([[{"v": 1}], [], [None]], pa.list_(pa.struct([("v", pa.int32())]))),
            "attrs": pa.array(
                [[("k", 1.0)], [], [("a", None), ("b", 2.0)]], pa.map_(pa.string(), pa.float64())
            ),
            "ok": pa.array([True, None, False]),
            "nothing": pa.nulls(3),
            "cat": pa.array(["a", "b", "a"]).dictionary_encode(),
        }
    )


def test_avro_schema_named_types_and_logical_types():
    schema = enc.avro_schema("Envelope", _avro_table().schema, "headwater.customers")
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert fields["before"][1]["type"] == "record"
    assert fields["after"] == ["null", fields["before"][1]["name"]]  # defined once, then named
    assert fields["price"][1] == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": 9,
        "scale": 2,
    }
    assert fields["at"][1] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["nothing"] == "null"


@pytest.mark.parametrize("offset", [0, 1])
def test_avro_bytes_equal_fastavro(offset):
    table = _avro_table().slice(offset)
    schema = enc.avro_schema("Envelope", table.schema, "headwater.customers")
    encoder = enc.AvroEncoder(schema, b"\x00\x00\x00\x00\x07", table.schema)
    ours = encoder.encode(table)
    reference = _fastavro_bodies(schema, table)
    assert ours == [b"\x00\x00\x00\x00\x07" + r for r in reference]


@given(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1))
def test_avro_longs_equal_fastavro(values):
    table = pa.table({"v": pa.array(values, pa.int64())})
    schema = enc.avro_schema("R", table.schema)
    assert enc.AvroEncoder(schema, b"", table.schema).encode(table) == _fastavro_bodies(
        schema, table
    )


@given(
    st.lists(
        st.one_of(st.none(), st.decimals(-(10**16), 10**16, places=2, allow_nan=False)),
        min_size=1,
    )
)
def test_avro_decimals_equal_fastavro(values):
    table = pa.table({"d": pa.array(values, pa.decimal128(20, 2))})
    schema = enc.avro_schema("R", table.schema)
    assert enc.AvroEncoder(schema, b"", table.schema).encode(table) == _fastavro_bodies(
        schema, table
    )


def test_confluent_prefix():
    assert enc.confluent_prefix(258) == b"\x00\x00\x00\x01\x02"


SINKS = {
    "string without template": ("{kind: kafka, encoding: string}", "needs a template"),
    "template without string": ("{kind: kafka, template: '{id}'}", "only used with encoding"),
    "bad route template": (
        "{kind: nats, subject: 'orders.{a!r}'}",
        "takes a format spec after ':'",
    ),
    "unknown field in route": ("{kind: mqtt, topic: 'x/{nope}'}", "has no field 'nope'"),
    "unknown key field": ("{kind: redis_streams, key: [id, nope]}", "has no field 'nope'"),
    "field missing in one entity": (
        "{kind: rabbitmq, routing_key: '{entity}.{status}'}",
        "entity 'customers' has no field 'status'",
    ),
    "unknown option": ("{kind: kafka, partitons: 3}", "partitons"),
    "default exchange with queue": ("{kind: rabbitmq, exchange: '', queue: q}", "routes by queue"),
}


@pytest.mark.parametrize("case", SINKS.values(), ids=list(SINKS))
def test_invalid_stream_configs_are_reported_with_their_path(case):
    spec, message = case
    with pytest.raises(ScenarioError) as err:
        scenario(sinks=f"s: {spec}\n")
    text = str(err.value)
    assert "sinks.s" in text and message in text


def test_valid_stream_configs():
    sc = scenario(
        sinks="""
        k: {kind: kafka, entities: [orders], topic: 'o.{status}', key: [customer_id, order_id]}
        n: {kind: nats, subject: '{entity}.events', payload: debezium}
        r: {kind: redis_streams, entities: [orders], encoding: string, template: '{order_id}'}
        q: {kind: rabbitmq, payload: changes, routing_key: '{entity}.{_op}'}
        m: {kind: mqtt, entities: [customers], topic: 'c/{country}', qos: 2, retain: true}
        """
    )
    assert set(sc.sinks) == {"k", "n", "r", "q", "m"}
