"""Template format specs give what Python's format()/strftime give for the same values,
computed column-wise (the fallback for exotic specs too). Without a spec a value is written
in the shared lexical form (sinks/_text.py), as in JSON and CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from headwater.sinks._encode import Template
from headwater.sinks._format import format_column

RNG = np.random.default_rng(13)
FLOATS = [
    *RNG.uniform(-1e6, 1e6, 2000).tolist(),
    *np.round(RNG.uniform(0, 1000, 2000), 3).tolist(),
    *[0.125, 2.675, 1.005, -0.0001, 0.5, 1.5, 2.5, -0.0, 0.0, 99.995, 1e15, 123456789.125],
]
INTS = [*RNG.integers(-(10**12), 10**12, 2000).tolist(), 0, 7, -7]
START = datetime(2023, 1, 2, 6, 1, 0, tzinfo=UTC)
TIMES = [START + timedelta(microseconds=int(us)) for us in RNG.integers(0, 10**14, 2000)]
TIMES += [
    START,
    START.replace(microsecond=999_999),
    datetime(1969, 12, 31, 23, 59, 59, 500_000, UTC),
]
DATES = [t.date() for t in TIMES]
TEXTS = ["", "a", "Order # 1", "naïve", "x" * 20]


def same_as_python(values: list, arrow: pa.Array, spec: str) -> None:
    expected = [None, *(format(v, spec) for v in values)]
    got = format_column(pa.concat_arrays([pa.nulls(1, arrow.type), arrow]), spec).to_pylist()
    assert got == expected, spec


@pytest.mark.parametrize(
    "spec",
    [
        ".2f",
        ".0f",
        ".3f",
        "f",
        ".1F",
        "10.2f",
        ">12.1f",
        "<12.2f",
        "^13.2f",
        "*>9.0f",
        ",.2f",
        "+.2f",
        ".3e",
        "g",
    ],
)
def test_float_specs(spec):
    same_as_python(FLOATS, pa.array(FLOATS, pa.float64()), spec)


@pytest.mark.parametrize("spec", ["d", "", "8d", "<8", "^9", "012d", ".2f", ",d", "x", "+d"])
def test_int_specs(spec):
    same_as_python(INTS, pa.array(INTS, pa.int64()), spec)


@pytest.mark.parametrize(
    "spec",
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y%m%d-%H",
        "at %d/%m/%Y %H:%M %% %y",
        "%d/%m/%y %I:%M %p",
        "%j %%",
        "%Y-%m-%dT%H:%M:%S.%f%z",
        "%a %b %d",
    ],
)
def test_timestamp_specs_are_strftime(spec):
    arrow = pa.array(TIMES, pa.timestamp("us", tz="UTC"))
    same_as_python(TIMES, arrow, spec)
    naive = [t.replace(tzinfo=None) for t in TIMES]
    if "%z" not in spec:
        same_as_python(naive, pa.array(naive, pa.timestamp("us")), spec)
    same_as_python(DATES, pa.array(DATES, pa.date32()), spec.replace("%z", ""))


@pytest.mark.parametrize("spec", ["", "s", ".3", ">12", "*^11", "<4"])
def test_string_specs(spec):
    same_as_python(TEXTS, pa.array(TEXTS), spec)


def test_decimals_take_python_specs():
    values = [Decimal("100.005"), Decimal("-1.5"), Decimal("2.5")]
    same_as_python(values, pa.array(values, pa.decimal128(10, 3)), ".2f")


def test_a_spec_the_values_cannot_take_names_the_template_and_field():
    t = Template.parse("{name:.2f}")
    with pytest.raises(ValueError, match=r"template '\{name:.2f\}', field 'name'"):
        t.render("orders", {"name": pa.array(["a"])}.__getitem__, 1)


def test_the_seed_event_from_a_template():
    columns = {
        "order_id": pa.array([12345]),
        "sku": pa.array([123]),
        "price": pa.array([99.6]),
        "created_at": pa.array([START], pa.timestamp("us", tz="UTC")),
    }
    rendered = [
        Template.parse(text).render("orders", columns.__getitem__, 1).to_pylist()[0]
        for text in (
            "Order # {order_id}",
            "SKU {sku}, purchase price of ${price:.0f}",
            "{created_at:%Y-%m-%d %H:%M:%S}",
        )
    ]
    assert rendered == ["Order # 12345", "SKU 123, purchase price of $100", "2023-01-02 06:01:00"]
