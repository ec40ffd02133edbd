"""Every file format round-trips through a standard reader with the same rows."""

from __future__ import annotations

import base64
import csv as py_csv
import datetime as dt
import io
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import fastavro
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest
from lxml import etree

from headwater.errors import MissingExtra, PluginError, SinkError
from headwater.sinks.files.formats import (
    FORMATS,
    FormatOptions,
    FormatWriter,
    _base,
    format_class,
    writer_for,
)
from headwater.sinks.files.formats import xlsx as xlsx_module
from headwater.sinks.files.formats.csv import CsvOptions

UTC = dt.UTC

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("qty", pa.int32()),
        ("price", pa.float64()),
        ("amount", pa.decimal128(12, 2)),
        ("name", pa.string()),
        ("active", pa.bool_()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
    ]
)

NAMES = [
    "plain",
    "comma, inside",
    'quote " inside',
    "line\nbreak",
    "crlf\r\nbreak",
    "Zürich",
    "東京 ünïcödé",
    "",
    None,
    "tab\there",
    "back\\slash",
    "<xml> & 'apos'",
]


def _table(n: int = len(NAMES)) -> pa.Table:
    rows = range(n)
    return pa.table(
        {
            "id": [i if i % 7 != 3 else None for i in rows],
            "qty": [i * 3 - 5 for i in rows],
            "price": [None if i % 5 == 4 else round(i * 1.25 - 3.5, 2) for i in rows],
            "amount": [None if i % 6 == 5 else Decimal(i * 1001 - 2000) / 100 for i in rows],
            "name": [NAMES[i % len(NAMES)] for i in rows],
            "active": [None if i % 4 == 2 else i % 2 == 0 for i in rows],
            "created_at": [
                None
                if i % 9 == 8
                else dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i * 3607.123456)
                for i in rows
            ],
            "day": [
                None if i % 8 == 7 else dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in rows
            ],
        },
        schema=SCHEMA,
    )


TABLE = _table()


def write(
    fmt: str,
    table: pa.Table = TABLE,
    options: Any = None,
    *,
    batches: int = 1,
) -> tuple[bytes, FormatWriter]:
    out = io.BytesIO()
    w = writer_for(fmt, out, table.schema, options or {})
    step = max(1, -(-table.num_rows // batches))
    for start in range(0, table.num_rows, step):
        w.write(table.slice(start, step))
    w.close()
    assert w.rows == table.num_rows
    return out.getvalue(), w


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- registry and options ------------------------------------------------------------


def test_registry_names_every_format() -> None:
    assert set(FORMATS.names()) == {
        "csv",
        "tsv",
        "json",
        "jsonl",
        "xml",
        "xlsx",
        "parquet",
        "avro",
        "fixed_width",
    }
    for name in FORMATS.names():
        cls = FORMATS.get(name)
        assert issubclass(cls, FormatWriter), name
        assert issubclass(cls.options_model, FormatOptions), name
        assert cls.extension


def test_formats_load_on_first_use() -> None:
    """Importing the package loads no writer module; naming a format loads only its own."""
    code = (
        "import sys; from headwater.sinks.files.formats import FORMATS; "
        "before = {m for m in sys.modules if m.startswith('headwater.sinks.files.formats.')}; "
        "FORMATS.get('csv'); "
        "after = {m for m in sys.modules if m.startswith('headwater.sinks.files.formats.')}; "
        "print(sorted(before), sorted(after - before))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before = "['headwater.sinks.files.formats._base', 'headwater.sinks.files.formats._registry']"
    assert done.stdout.strip() == before + " ['headwater.sinks.files.formats.csv']"


def test_unknown_format_suggests_the_closest_name() -> None:
    with pytest.raises(PluginError, match="did you mean 'csv'"):
        writer_for("cvs", io.BytesIO(), SCHEMA, {})
    with pytest.raises(PluginError, match="did you mean 'jsonl'"):
        format_class("jsonlines")


@pytest.mark.parametrize("fmt", FORMATS.names())
def test_unknown_option_is_rejected_naming_it(fmt: str) -> None:
    with pytest.raises(SinkError, match="delimeter"):
        writer_for(fmt, io.BytesIO(), SCHEMA, {"delimeter": ";"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "exactly one character"),
        ({"delimiter": '"'}, "must differ"),
        ({"quoting": "sometimes"}, "quoting"),
        ({"encoding": "utf-16"}, "encoding"),
        ({"null": "a,b"}, "null string"),
        ({"line_terminator": "\r"}, "line_terminator"),
    ],
)
def test_invalid_csv_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SinkError, match=message):
        writer_for("csv", io.BytesIO(), SCHEMA, options)


def test_options_models_are_accepted_as_is_and_forbid_extras() -> None:
    opts = CsvOptions(delimiter=";")
    data, _ = write("csv", options=opts)
    assert data.startswith(b"id;qty;")
    with pytest.raises(ValueError):
        CsvOptions.model_validate({"nope": 1})


@pytest.mark.parametrize("fmt", FORMATS.names())
def test_batches_must_match_the_schema(fmt: str) -> None:
    w = writer_for(fmt, io.BytesIO(), SCHEMA, {})
    with pytest.raises(SinkError, match="columns"):
        w.write(TABLE.select(["name", "id"]))


@pytest.mark.parametrize("fmt", FORMATS.names())
def test_write_after_close_is_an_error(fmt: str) -> None:
    w = writer_for(fmt, io.BytesIO(), SCHEMA, {})
    w.write(TABLE)
    w.close()
    w.close()  # idempotent
    with pytest.raises(SinkError, match="after close"):
        w.write(TABLE)


def test_compatible_batches_are_cast_to_the_schema() -> None:
    narrow = TABLE.cast(TABLE.schema.set(0, pa.field("id", pa.int32())))
    a, _ = write("jsonl", narrow.cast(SCHEMA))
    out = io.BytesIO()
    w = writer_for("jsonl", out, SCHEMA, {})
    w.write(narrow)
    w.close()
    assert out.getvalue() == a


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "xml", "fixed_width"])
def test_text_formats_stream_the_same_bytes_whatever_the_batching(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(100)
    options = {"string_width": 40} if fmt == "fixed_width" else {}
    whole, _ = write(fmt, table, options)
    monkeypatch.setattr(_base, "CHUNK_ROWS", 7)
    pieces, _ = write(fmt, table, options, batches=13)
    assert pieces == whole
    as_batches = io.BytesIO()
    w = writer_for(fmt, as_batches, table.schema, options)
    for batch in table.to_batches(max_chunksize=11):
        w.write(batch)
    w.close()
    assert as_batches.getvalue() == whole


@pytest.mark.parametrize("fmt", FORMATS.names())
def test_empty_file_is_a_valid_document(fmt: str) -> None:
    data, w = write(fmt, TABLE.slice(0, 0))
    assert w.rows == 0
    if fmt == "csv":
        assert data == b"id,qty,price,amount,name,active,created_at,day\n"
    elif fmt == "json":
        assert json.loads(data) == []
    elif fmt in ("jsonl", "fixed_width"):
        assert data == b""
    elif fmt == "xml":
        etree.XMLSchema(etree.fromstring(w.xsd().encode())).assertValid(etree.fromstring(data))
    elif fmt == "parquet":
        assert pq.read_table(io.BytesIO(data)).num_rows == 0
    elif fmt == "avro":
        assert list(fastavro.reader(io.BytesIO(data))) == []
    elif fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        assert [c.value for c in next(sheet.iter_rows())] == SCHEMA.names


# -- CSV / TSV -----------------------------------------------------------------------


def read_csv_arrow(data: bytes, delimiter: str = ",", **read: Any) -> pa.Table:
    return pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(**read),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=SCHEMA,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["true"],
            false_values=["false"],
        ),
    )


def test_csv_round_trips_through_pyarrow() -> None:
    data, _ = write("csv")
    assert read_csv_arrow(data).equals(TABLE)


def test_csv_minimal_quoting_follows_rfc4180() -> None:
    data, _ = write("csv")
    lines = data.decode().split("\n")
    assert lines[0] == "id,qty,price,amount,name,active,created_at,day"
    assert lines[1] == "0,-5,-3.5,-20.00,plain,true,2026-01-01T00:00:00.000000Z,2026-01-01"
    assert '"comma, inside"' in data.decode()
    assert '"quote "" inside"' in data.decode()
    assert '"line\nbreak"' in data.decode()
    # An empty string is quoted so it differs from null (written as nothing).
    rows = list(py_csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[8][4] == "" and '\n7,16,5.25,50.07,"",' in data.decode()
    assert rows[9][4] == "" and "\n8,19,6.5,60.08,,true," in data.decode()


@pytest.mark.parametrize("quoting", ["minimal", "all", "nonnumeric"])
@pytest.mark.parametrize("quote_char", ['"', "'"])
def test_csv_quoting_styles_round_trip_through_python_csv(quoting: str, quote_char: str) -> None:
    data, _ = write("csv", options={"quoting": quoting, "quote_char": quote_char})
    rows = list(py_csv.reader(io.StringIO(data.decode(), newline=""), quotechar=quote_char))
    assert rows[0] == SCHEMA.names
    names = [r[4] for r in rows[1:]]
    assert names == [n or "" for n in TABLE["name"].to_pylist()]
    assert len(rows) == TABLE.num_rows + 1
    body = data.decode().split("\n")[1]
    if quoting == "all":
        assert body.startswith(f"{quote_char}0{quote_char},")
    elif quoting == "nonnumeric":
        assert body.startswith("0,-5,-3.5,-20.00,")
        assert f"{quote_char}true{quote_char}" in body
    else:
        assert body.startswith("0,-5,-3.5,-20.00,plain,true,")


@pytest.mark.parametrize("quoting", ["minimal", "all", "nonnumeric", "none"])
@pytest.mark.parametrize("specials", [True, False])
def test_csv_pyarrow_path_and_vectorized_path_write_identical_bytes(
    quoting: str, specials: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.sinks.files.formats.csv import CsvWriter

    needs_quotes = pc.fill_null(pc.match_substring_regex(TABLE["name"], '[,"\r\n]|^$'), False)
    table = TABLE if specials else TABLE.filter(pc.invert(needs_quotes))
    if specials:  # values that look like the placeholders used on the pyarrow path
        table = pa.concat_tables(
            [table, table.slice(0, 1).set_column(4, "name", pa.array(["\ue000,"]))]
        )
    if quoting == "none" and specials:
        return
    variants = [{"quoting": quoting}, {"quoting": quoting, "delimiter": "\t", "null": "NA"}]
    for options in variants[:1] if quoting == "none" else variants:
        native, _ = write("csv", table, options)
        with monkeypatch.context() as m:
            m.setattr(CsvWriter, "__init__", _force_vectorized(CsvWriter.__init__))
            vectorized, _ = write("csv", table, options)
        assert native == vectorized
        if specials:
            rows = list(
                py_csv.reader(
                    io.StringIO(native.decode(), newline=""),
                    delimiter=options.get("delimiter", ","),
                )
            )
            null = options.get("null", "")
            names = table["name"].to_pylist()
            assert [r[4] for r in rows[1:]] == [null if v is None else v for v in names]


def _force_vectorized(init: Any) -> Any:
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._native = False

    return wrapped


def test_csv_quoting_none_refuses_values_that_need_quotes() -> None:
    with pytest.raises(SinkError, match=r"column 'name' row 1 .*quoting: none"):
        write("csv", options={"quoting": "none"})


def test_csv_header_off_null_string_and_delimiter() -> None:
    data, _ = write("csv", options={"header": False, "null": "NULL", "delimiter": ";"})
    lines = data.decode().split("\n")
    assert lines[0].startswith("0;-5;-3.5;-20.00;plain;true;")
    assert "NULL" in lines[3]  # row 2: active is null
    frame = pd.read_csv(
        io.BytesIO(data),
        sep=";",
        header=None,
        names=SCHEMA.names,
        na_values=["NULL"],
        keep_default_na=False,
    )
    assert frame["id"].isna().tolist() == TABLE["id"].is_null().to_pylist()
    assert frame["name"].fillna("").tolist() == [n or "" for n in TABLE["name"].to_pylist()]


def test_tsv_round_trips_through_pyarrow_and_pandas() -> None:
    data, _ = write("tsv")
    assert data.startswith(b"id\tqty\tprice\t")
    assert read_csv_arrow(data, delimiter="\t").equals(TABLE)
    frame = pd.read_csv(io.BytesIO(data), sep="\t", keep_default_na=False, dtype=str)
    assert frame["name"].tolist() == [n or "" for n in TABLE["name"].to_pylist()]


def test_csv_with_bom_and_crlf_round_trips_through_pandas() -> None:
    data, _ = write("csv", options={"encoding": "utf-8-sig", "line_terminator": "\r\n"})
    assert data.startswith(b"\xef\xbb\xbfid,qty")
    assert b"2026-01-01\r\n1,-2," in data
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert list(frame.columns) == SCHEMA.names
    assert frame["name"].tolist() == [n or "" for n in TABLE["name"].to_pylist()]
    assert frame["amount"].tolist() == [
        "" if v is None else str(v) for v in TABLE["amount"].to_pylist()
    ]
    assert read_csv_arrow(data.removeprefix(b"\xef\xbb\xbf")).equals(TABLE)


def test_csv_latin1_round_trips_what_latin1_can_hold() -> None:
    table = TABLE.filter(
        pc.invert(pc.fill_null(pc.match_substring_regex(TABLE["name"], "東"), False))
    )
    data, _ = write("csv", table, {"encoding": "latin-1"})
    assert "Zürich".encode("latin-1") in data
    frame = pd.read_csv(io.BytesIO(data), encoding="latin-1", keep_default_na=False, dtype=str)
    assert frame["name"].tolist() == [n or "" for n in table["name"].to_pylist()]
    assert read_csv_arrow(data, encoding="latin-1").equals(table)


def test_csv_latin1_refuses_or_replaces_other_characters() -> None:
    with pytest.raises(SinkError, match=r"U\+6771.*errors: replace"):
        write("csv", options={"encoding": "latin-1"})
    data, _ = write("csv", options={"encoding": "latin-1", "errors": "replace"})
    assert b"?? \xfcn\xefc\xf6d\xe9" in data


def test_csv_writes_nested_and_binary_columns_as_text() -> None:
    table = pa.table(
        {
            "tags": pa.array([["a", "b"], None, []], pa.list_(pa.string())),
            "blob": pa.array([b"\x00\xff", None, b""], pa.binary()),
        }
    )
    data, _ = write("csv", table)
    rows = list(py_csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[1] == ['["a","b"]', base64.b64encode(b"\x00\xff").decode()]
    assert rows[2] == ["", ""]
    assert rows[3] == ["[]", ""]


# -- JSON / JSON Lines ---------------------------------------------------------------


def expected_json(table: pa.Table = TABLE, decimals: str = "number") -> list[dict[str, Any]]:
    out = []
    for row in table.to_pylist():
        for key, value in row.items():
            if isinstance(value, dt.datetime):
                row[key] = iso(value)
            elif isinstance(value, dt.date):
                row[key] = value.isoformat()
            elif isinstance(value, Decimal) and decimals == "string":
                row[key] = str(value)
        out.append(row)
    return out


def test_jsonl_round_trips_through_json() -> None:
    data, _ = write("jsonl")
    lines = data.decode().split("\n")
    assert lines[-1] == ""
    rows = [json.loads(line, parse_float=Decimal) for line in lines[:-1]]
    expected = expected_json()
    for row in expected:
        if row["price"] is not None:
            row["price"] = Decimal(str(row["price"]))
    assert rows == expected


def test_jsonl_round_trips_through_pyarrow_json() -> None:
    data, _ = write("jsonl", options={"decimals": "string"})
    # pyarrow.json parses neither decimals nor dates from strings: read those as text.
    explicit = pa.schema(
        [f.with_type(pa.string()) if f.name in ("amount", "day") else f for f in SCHEMA]
    )
    read = pa_json.read_json(
        io.BytesIO(data), parse_options=pa_json.ParseOptions(explicit_schema=explicit)
    )
    assert read.cast(SCHEMA).equals(TABLE)


def test_json_array_round_trips_through_json() -> None:
    data, _ = write("json", batches=3)
    assert data.startswith(b"[\n{") and data.endswith(b"}\n]\n")
    assert json.loads(data) == json.loads(json.dumps(expected_json(), default=float))


def test_json_decimals_as_strings_keep_precision() -> None:
    table = pa.table({"amount": pa.array([Decimal("12345678901234567.89")], pa.decimal128(20, 2))})
    number, _ = write("jsonl", table)
    assert number == b'{"amount":12345678901234567.89}\n'
    text, _ = write("jsonl", table, {"decimals": "string"})
    assert json.loads(text) == {"amount": "12345678901234567.89"}


def test_json_escapes_every_control_character_and_writes_nonfinite_as_null() -> None:
    weird = "".join(chr(c) for c in range(32)) + '"\\/é\u2028😀'
    table = pa.table({"s": [weird, "ok"], "f": [float("nan"), float("-inf")]})
    data, _ = write("jsonl", table)
    # Not splitlines(): it would also split at U+2028.
    rows = [json.loads(line) for line in data.decode().split("\n")[:-1]]
    assert rows == [{"s": weird, "f": None}, {"s": "ok", "f": None}]


def test_json_nested_columns_match_json_dumps() -> None:
    table = pa.table(
        {
            "tags": pa.array([["a", 'q"'], None, [], ["x"]], pa.list_(pa.string())),
            "pos": pa.array(
                [{"x": 1, "y": [1.5, None]}, None, {"x": None, "y": []}, {"x": 2, "y": None}]
            ),
            "attrs": pa.array(
                [[("k", 1)], [], None, [("a", None), ("b", 2)]], pa.map_(pa.string(), pa.int64())
            ),
            "fixed": pa.array([[1, 2], [3, 4], None, [5, 6]], pa.list_(pa.int8(), 2)),
            "big": pa.array([["z"], None, [], []], pa.large_list(pa.large_string())),
            "nothing": pa.nulls(4),
            "cat": pa.array(["a", "b", None, "a"]).dictionary_encode(),
        }
    )
    for sliced in (table, table.slice(1, 3)):
        data, _ = write("jsonl", sliced)
        rows = [json.loads(line) for line in data.decode().splitlines()]
        expected = sliced.to_pylist()
        for row in expected:
            if row["attrs"] is not None:
                row["attrs"] = dict(row["attrs"])
        assert rows == expected


def test_json_naive_timestamps_have_no_zone_and_other_zones_are_written_in_utc() -> None:
    naive = pa.array([dt.datetime(2026, 1, 1, 12)], pa.timestamp("ms"))
    paris = pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=UTC)], pa.timestamp("s", "Europe/Paris"))
    data, _ = write("jsonl", pa.table({"naive": naive, "paris": paris}))
    assert json.loads(data) == {"naive": "2026-01-01T12:00:00.000", "paris": "2026-01-01T12:00:00Z"}


# -- XML -----------------------------------------------------------------------------


def text_matches(text: str | None, value: Any) -> bool:
    """Whether a text cell holds `value` in the shared lexical forms (floats compared as numbers)."""
    if isinstance(value, float):
        return text is not None and float(text) == value
    return (text or "") == xml_expected(value)


def xml_expected(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize("style", ["elements", "attributes"])
def test_xml_validates_against_its_xsd_and_round_trips(style: str) -> None:
    data, w = write("xml", options={"style": style, "root": "orders", "row": "order"}, batches=2)
    schema = etree.XMLSchema(etree.fromstring(w.xsd().encode()))
    doc = etree.fromstring(data)
    schema.assertValid(doc)
    assert doc.tag == "orders"
    rows = list(doc)
    assert len(rows) == TABLE.num_rows
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for element, expected in zip(rows, TABLE.to_pylist(), strict=True):
        assert element.tag == "order"
        for name, value in expected.items():
            if style == "elements":
                (child,) = element.findall(name)
                if value is None:
                    assert child.get(nil) == "true" and child.text is None
                else:
                    assert text_matches(child.text, value), (name, child.text)
            else:
                got = element.get(name)
                assert got is None if value is None else text_matches(got, value)


def test_xsd_types_columns() -> None:
    _, w = write("xml")
    xsd = w.xsd()
    for name, typ in [
        ("id", "xs:long"),
        ("qty", "xs:long"),
        ("price", "xs:double"),
        ("amount", "xs:decimal"),
        ("name", "xs:string"),
        ("active", "xs:boolean"),
        ("created_at", "xs:dateTime"),
        ("day", "xs:date"),
    ]:
        assert f'<xs:element name="{name}" type="{typ}" nillable="true"/>' in xsd
    assert w.sidecars() == {".xsd": xsd}


def test_xml_typed_values_that_xsd_spells_differently_still_validate() -> None:
    table = pa.table(
        {
            "f": [float("nan"), float("inf"), float("-inf"), 1e300],
            "s": ["\x01bell", "a\rb", "]]>", "ok"],
            "u": pa.array([0, 2**64 - 1, None, 1], pa.uint64()),
            "b": pa.array([b"\x00", None, b"xy", b""], pa.binary()),
        },
        schema=pa.schema(
            [
                pa.field("f", pa.float64(), nullable=False),
                ("s", pa.string()),
                ("u", pa.uint64()),
                ("b", pa.binary()),
            ]
        ),
    )
    for style in ("elements", "attributes"):
        data, w = write("xml", table, {"style": style})
        etree.XMLSchema(etree.fromstring(w.xsd().encode())).assertValid(etree.fromstring(data))
        doc = etree.fromstring(data)
        if style == "elements":
            assert [r.findtext("f") for r in doc] == ["NaN", "INF", "-INF", "1e+300"]
            assert [r.findtext("s") for r in doc] == ["\ufffdbell", "a\rb", "]]>", "ok"]
            assert doc[0].findtext("b") == base64.b64encode(b"\x00").decode()
        else:
            assert [r.get("s") for r in doc] == ["\ufffdbell", "a\rb", "]]>", "ok"]
    assert '<xs:attribute name="f" type="xs:double" use="required"/>' in w.xsd()


def test_xml_refuses_column_names_that_are_not_xml_names() -> None:
    with pytest.raises(SinkError, match="'order id' is not a valid XML element name"):
        writer_for("xml", io.BytesIO(), pa.schema([("order id", pa.int64())]), {})
    with pytest.raises(SinkError, match="element name"):
        writer_for("xml", io.BytesIO(), SCHEMA, {"row": "1row"})


def test_xml_schema_location_is_referenced() -> None:
    data, _ = write("xml", options={"schema_location": "orders.xsd"})
    assert b'xsi:noNamespaceSchemaLocation="orders.xsd"' in data.split(b"\n")[1]


# -- xlsx ----------------------------------------------------------------------------


def xlsx_expected(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # Excel keeps milliseconds; openpyxl rounds to them when reading.
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.replace(microsecond=round(naive.microsecond, -3) % 1_000_000)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, Decimal):
        return float(value)
    if value == "":
        return None  # Excel has no empty-string cells
    return value


def test_xlsx_round_trips_typed_cells_through_openpyxl() -> None:
    data, _ = write("xlsx", options={"sheet": "orders"}, batches=3)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["orders"]
    sheet = book["orders"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == SCHEMA.names
    assert all(c.font.b for c in sheet[1])
    assert len(rows) == TABLE.num_rows + 1
    for got, expected in zip(rows[1:], TABLE.to_pylist(), strict=True):
        want = [xlsx_expected(v) for v in expected.values()]
        assert [
            (g.replace(microsecond=0), w.replace(microsecond=0))
            if isinstance(g, dt.datetime)
            else g
            for g, w in zip(got, want, strict=True)
        ] == [
            (w.replace(microsecond=0), w.replace(microsecond=0))
            if isinstance(w, dt.datetime)
            else w
            for w in want
        ]
    assert sheet["G2"].is_date and sheet["H2"].is_date


def test_xlsx_new_sheet_per_entity_or_interval() -> None:
    out = io.BytesIO()
    w = writer_for("xlsx", out, SCHEMA, {"header": False})
    assert w.sheets
    w.new_sheet("orders 2026-01-01T00:00")
    w.write(TABLE.slice(0, 2))
    w.new_sheet("orders 2026-01-01T00:00")
    w.write(TABLE.slice(2, 3))
    w.new_sheet("a" * 40)
    w.close()
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    assert book.sheetnames == ["orders 2026-01-01T00_00", "orders 2026-01-01T00_00 (2)", "a" * 31]
    assert book.worksheets[0].max_row == 2
    assert book.worksheets[1].max_row == 3
    assert book.worksheets[2].max_row == 1 and book.worksheets[2]["A1"].value is None


def test_xlsx_continues_on_a_new_sheet_past_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_module, "MAX_ROWS", 5)
    data, _ = write("xlsx", options={"sheet": "rows"})
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["rows", "rows (2)", "rows (3)"]
    ids = [r[0] for s in book.worksheets for r in s.iter_rows(min_row=2, values_only=True)]
    assert ids == TABLE["id"].to_pylist()


def test_xlsx_keeps_big_integers_exact_and_strips_illegal_characters() -> None:
    table = pa.table({"n": [2**62 + 1, 5], "s": ["bell\x07", pa.nulls(1)[0].as_py()]})
    data, _ = write("xlsx", table)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet["A"]][1:] == [str(2**62 + 1), 5]
    assert sheet["B2"].value == "bell"


def test_formats_without_sheets_refuse_new_sheet() -> None:
    w = writer_for("csv", io.BytesIO(), SCHEMA, {})
    assert not w.sheets
    with pytest.raises(SinkError, match="no sheets"):
        w.new_sheet("x")


# -- Parquet -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "none"])
def test_parquet_round_trips(compression: str) -> None:
    data, w = write("parquet", options={"compression": compression}, batches=4)
    assert not w.compressible
    assert pq.read_table(io.BytesIO(data)).equals(TABLE)
    codec = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).compression
    assert codec == {"none": "UNCOMPRESSED"}.get(compression, compression.upper())


def test_parquet_row_groups_have_the_configured_size_whatever_the_batches() -> None:
    table = _table(100)
    data, _ = write("parquet", table, {"row_group_size": 30}, batches=17)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [30, 30, 30, 10]
    assert pq.read_table(io.BytesIO(data)).equals(table)


# -- Avro ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["null", "deflate", "zstandard"])
def test_avro_round_trips_through_fastavro(codec: str) -> None:
    if codec == "zstandard" and not _fastavro_has_zstd():
        with pytest.raises(MissingExtra, match=r"backports\.zstd"):
            write("avro", options={"codec": codec})
        return
    data, w = write("avro", options={"codec": codec}, batches=3)
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.codec == codec
    assert list(reader) == TABLE.to_pylist()
    canonical = fastavro.schema.to_parsing_canonical_form
    assert canonical(reader.writer_schema) == canonical(w.avro_schema())


def _fastavro_has_zstd() -> bool:
    from headwater.sinks.files.formats.avro import _zstd_works

    return _zstd_works()


def test_avro_schema_uses_logical_types_and_nullable_unions() -> None:
    _, w = write("avro")
    fields = {f["name"]: f["type"] for f in w.avro_schema()["fields"]}
    assert fields["id"] == ["null", "long"]
    assert fields["qty"] == ["null", "int"]
    assert fields["amount"] == [
        "null",
        {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
    ]
    assert fields["created_at"] == ["null", {"type": "long", "logicalType": "timestamp-micros"}]
    assert fields["day"] == ["null", {"type": "int", "logicalType": "date"}]
    assert json.loads(w.sidecars()[".avsc"]) == w.avro_schema()


def test_avro_nested_and_required_columns() -> None:
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            ("tags", pa.list_(pa.string())),
            ("pos", pa.struct([("x", pa.int32()), ("at", pa.timestamp("ms"))])),
            ("attrs", pa.map_(pa.string(), pa.float64())),
        ]
    )
    table = pa.table(
        {
            "id": [1, 2, 3],
            "tags": [["a"], None, []],
            "pos": [{"x": 1, "at": dt.datetime(2026, 1, 1, 1)}, None, {"x": None, "at": None}],
            "attrs": [[("k", 1.5)], None, []],
        },
        schema=schema,
    )
    data, w = write("avro", table)
    assert w.avro_schema()["fields"][0] == {"name": "id", "type": "long"}
    rows = list(fastavro.reader(io.BytesIO(data)))
    expected = table.to_pylist()
    for row in expected:
        row["attrs"] = None if row["attrs"] is None else dict(row["attrs"])
    assert rows == expected


def test_avro_decimals_of_any_precision_sign_and_slice() -> None:
    values = [
        Decimal("-12345678901234567890123456789.1234"),
        None,
        Decimal("0.0001"),
        Decimal("-1"),
    ]
    table = pa.table(
        {
            "big": pa.array(values, pa.decimal128(38, 4)),
            "small": pa.array(
                [Decimal("-0.01"), Decimal("99.99"), None, Decimal("0")], pa.decimal128(4, 2)
            ),
        }
    )
    for sliced in (table, table.slice(1)):
        data, _ = write("avro", sliced)
        assert list(fastavro.reader(io.BytesIO(data))) == sliced.to_pylist()


def test_avro_refuses_names_it_cannot_hold() -> None:
    with pytest.raises(SinkError, match="not a valid Avro name"):
        writer_for("avro", io.BytesIO(), pa.schema([("order-id", pa.int64())]), {})


# -- fixed width ---------------------------------------------------------------------


def test_fixed_width_round_trips_by_slicing() -> None:
    data, w = write("fixed_width", options={"widths": {"name": 14}}, batches=2)
    layout = w.layout()
    assert [(c.name, c.width, c.align) for c in layout] == [
        ("id", 20, "right"),
        ("qty", 11, "right"),
        ("price", 24, "right"),
        ("amount", 15, "right"),
        ("name", 14, "left"),
        ("active", 5, "left"),
        ("created_at", 27, "left"),
        ("day", 10, "left"),
    ]
    lines = data.decode().split("\n")[:-1]
    assert len(lines) == TABLE.num_rows
    total = sum(c.width for c in layout)
    assert all(len(line) == total for line in lines)
    for line, row in zip(lines, TABLE.to_pylist(), strict=True):
        for c in layout:
            cell = line[c.start : c.start + c.width]
            value = row[c.name]
            want = "" if value is None else xml_expected(value)
            if c.name == "name":
                want = want.replace("\r", " ").replace("\n", " ")
            assert len(cell) == c.width
            if cell.strip(" "):
                assert cell == (cell.lstrip(" ") if c.align == "left" else cell.rstrip(" "))
            if value is None:
                assert cell.strip(" ") == ""
            elif c.name == "name":
                assert cell.rstrip(" ") == want
            else:
                assert text_matches(cell.strip(" "), value), (c.name, cell)


def test_fixed_width_overflow_is_an_error_or_truncated() -> None:
    with pytest.raises(SinkError, match=r"column 'name' row 1 value .* wider than 5"):
        write("fixed_width", options={"widths": {"name": 5}})
    data, _ = write(
        "fixed_width",
        options={"widths": {"name": 5}, "overflow": "truncate", "align": "right", "padding": "0"},
    )
    first = data.decode().split("\n")[0]
    assert first.startswith("0" * 20)
    assert first[70:75] == "plain"


def test_fixed_width_header_separator_and_layout_sidecar() -> None:
    table = TABLE.select(["id", "name"]).slice(0, 2)
    data, w = write(
        "fixed_width",
        table,
        {
            "widths": {"id": 3, "name": 6},
            "header": True,
            "separator": "|",
            "align": {"id": "left"},
            "overflow": "truncate",
        },
    )
    assert data.decode() == "id |name  \n0  |plain \n1  |comma,\n"
    spec = json.loads(w.sidecars()[".layout.json"])
    assert spec["columns"][1] == {"name": "name", "start": 4, "width": 6, "align": "left"}


def test_fixed_width_rejects_widths_for_unknown_columns() -> None:
    with pytest.raises(SinkError, match=r"unknown columns \['nope'\]"):
        writer_for("fixed_width", io.BytesIO(), SCHEMA, {"widths": {"nope": 3}})


def test_fixed_width_default_text_width_holds_a_uuid() -> None:
    ids = pa.table({"id": pa.array([str(uuid.UUID(int=i)) for i in range(3)])})
    data, w = write("fixed_width", ids)
    assert w.layout()[0].width >= 36
    assert data.decode().split("\n")[0].rstrip() == "00000000-0000-0000-0000-000000000000"


def test_fixed_width_header_widens_derived_columns_to_their_names() -> None:
    table = pa.table(
        {
            "weight": [1.5],
            "active": [True],
            "born": [dt.date(2020, 1, 2)],
            "n": pa.array([7], pa.int8()),
        }
    )
    data, w = write("fixed_width", table, {"header": True, "separator": "|"})
    header = data.decode().split("\n")[0]
    assert [h.strip() for h in header.split("|")] == ["weight", "active", "born", "n"]
    assert [c.width for c in w.layout()] == [24, 6, 10, 4]
    with pytest.raises(SinkError, match=r"column 'active' is 2 wide, its name 6"):
        writer_for(
            "fixed_width", io.BytesIO(), table.schema, {"header": True, "widths": {"active": 2}}
        )


def test_fixed_width_layout_records_how_nulls_and_padding_are_spelled() -> None:
    _, w = write("fixed_width", TABLE.select(["name"]), {"null": "-", "padding": "."})
    spec = json.loads(w.sidecars()[".layout.json"])
    assert (spec["null"], spec["padding"], spec["line_breaks"]) == ("-", ".", " ")


def test_csv_quoting_none_refuses_an_empty_string_it_could_not_tell_from_null() -> None:
    table = TABLE.select(["name"]).slice(7, 2)  # "", None
    with pytest.raises(SinkError, match=r"column 'name' row 0 is an empty string, .* set null"):
        write("csv", table, {"quoting": "none"})
    data, _ = write("csv", table, {"quoting": "none", "null": "\\N"})
    assert data == b"name\n\n\\N\n"
