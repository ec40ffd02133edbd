"""The aggregate kernel: per group, nulls skipped, empty groups 0 (sum, count) or null."""

from decimal import Decimal

import numpy as np
import pyarrow as pa

from headwater.generators.lookup import aggregate


def test_aggregates_per_group_skip_nulls_and_fill_empty_groups():
    groups = np.array([0, 0, 2, 2, 2])
    values = pa.array([Decimal("1.10"), None, Decimal("2.00"), Decimal("0.50"), None])
    assert aggregate("sum", groups, values, 4).to_pylist() == [
        Decimal("1.10"),
        Decimal("0"),
        Decimal("2.50"),
        Decimal("0"),
    ]
    assert aggregate("count", groups, values, 4).to_pylist() == [1, 0, 2, 0]
    assert aggregate("count", groups, None, 4).to_pylist() == [2, 0, 3, 0]
    assert aggregate("min", groups, values, 4).to_pylist() == [
        Decimal("1.10"),
        None,
        Decimal("0.50"),
        None,
    ]
    assert aggregate("max", groups, values, 4).to_pylist() == [
        Decimal("1.10"),
        None,
        Decimal("2.00"),
        None,
    ]


def test_float_sums_and_no_rows():
    assert aggregate("sum", np.array([1, 1]), pa.array([0.5, 0.25]), 2).to_pylist() == [0.0, 0.75]
    assert (
        aggregate("max", np.zeros(0, np.int64), pa.array([], pa.int64()), 3).to_pylist()
        == [None] * 3
    )
