"""Numbers from requests, parsed strictly: ASCII digits within the range of the column or
counter they address, else a `QueryError` (400) in plain words. Python's own `int()` takes
`1_000`, `٣` and `10**5000`-digit strings, and numpy then fails with its internals; a client
must get neither."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from headwater.serve.query import QueryError

INT64 = (-(2**63), 2**63 - 1)
_DIGITS = re.compile(r"[+-]?[0-9]{1,20}")


def int_range(t: pa.DataType) -> tuple[int, int]:
    """(min, max) of an integer column's values; int64 for anything else held as an int."""
    if pa.types.is_integer(t):
        info = np.iinfo(t.to_pandas_dtype())
        return int(info.min), int(info.max)
    return INT64


def shown(raw: str) -> str:
    """A client's value quoted in a message, cut short."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def integer(raw: str, name: str, lo: int = INT64[0], hi: int = INT64[1]) -> int:
    """An integer parameter in [lo, hi]."""
    if not _DIGITS.fullmatch(raw):
        raise QueryError(f"{name}: expected an integer, got {shown(raw)}")
    return within(int(raw), name, lo, hi)


def within(value: int, name: str, lo: int = INT64[0], hi: int = INT64[1]) -> int:
    if value < lo:
        raise QueryError(f"{name}: must be at least {lo}")
    if value > hi:
        raise QueryError(f"{name}: must be at most {hi}")
    return value
