"""Keyset cursors: the last item's sort tuple (null flag, sort value, key) and the query it
belongs to, as base64url JSON.

Cursors are not signed: a client may forge one, and that is harmless as long as decoding is
strict. A forged cursor only names a position in a listing the caller may read anyway, so
the page is the items after that position, exactly as for a real one; but only if every slot
has the type the listing compares (a float key, a bool flag or a string where a number
sorts would compare "successfully" and shift the page). So the text is size-limited before
it is decoded, the JSON must be a flat array of exactly four slots, and each slot must have
the exact type (integers within the column's range) or the cursor is refused with a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from headwater.serve.params import INT64, int_range
from headwater.serve.query import META_SORTS, Query, QueryError
from headwater.world.schema import EntitySchema

MAX_CURSOR = 8192  # characters; a real cursor is far shorter unless a sort value is huge


@dataclass(frozen=True)
class Slot:
    """What one position slot may hold: an int in [lo, hi], a finite number, or a string."""

    kind: type
    lo: int = INT64[0]
    hi: int = INT64[1]

    def admits(self, v: Any) -> bool:
        if self.kind is str:
            return type(v) is str
        if self.kind is float and type(v) is float:
            return math.isfinite(v)
        return type(v) is int and self.lo <= v <= self.hi


ZERO = Slot(int, 0, 0)
FLAG = Slot(int, 0, 1)


def slot(t: pa.DataType) -> Slot:
    """The slot of a sortable column's values as `query` compares them."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return Slot(str)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return Slot(float)
    if pa.types.is_boolean(t):
        return FLAG
    return Slot(int, *int_range(t))


def slots(schema: EntitySchema, sort: str) -> tuple[Slot, Slot, Slot]:
    """(null flag, sort value, key) slots of a listing sorted by `sort`."""
    key = slot(schema.key_type)
    if sort == schema.key:
        return ZERO, ZERO, key
    if sort in META_SORTS:
        return ZERO, Slot(int), key
    return FLAG, slot(schema.row_type.field(sort).type), key


def encode(q: Query, after: tuple[Any, ...]) -> str:
    raw = json.dumps([q.signature, *after], separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(q: Query, cursor: str, schema: EntitySchema, name: str = "cursor") -> tuple[Any, ...]:
    """The position a cursor names, checked against the listing it is used on; `name` is the
    parameter that carried it, for the message."""
    malformed = QueryError(f"{name}: not one this API issued (pass back the one a page gave)")
    if len(cursor) > MAX_CURSOR:
        raise malformed
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        parts = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, binascii.Error, RecursionError):
        raise malformed from None
    if type(parts) is not list or len(parts) != 4 or type(parts[0]) is not str:
        raise malformed
    if parts[0] != q.signature:
        raise QueryError(f"{name}: it belongs to another query (the sort or filters changed)")
    after = tuple(parts[1:])
    if not all(s.admits(v) for s, v in zip(slots(schema, q.sort), after, strict=True)):
        raise malformed
    return after


def _no_constant(name: str) -> Any:
    raise ValueError(name)
