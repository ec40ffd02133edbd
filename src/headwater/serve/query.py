"""Listing a snapshot: filters, sorting and the three pagination styles, as numpy index work.

A listing is a *view*: positions into the snapshot's live rows (>= 0) and tombstones (< 0,
as -1 - i), in sort order. The order is a total order on (null flag, sort value, key), so a
cursor can carry the last item's tuple and find its place again in a later snapshot: keyset
pagination that neither skips nor repeats rows however the data changes between pages.
Offset and page numbers count positions in the current snapshot instead, with the classic
anomalies (a delete before the offset skips a row, a row that moves in the sort order can be
seen twice); the REST docs say so.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.serve.store import Snapshot

META_SORTS = {"created_at": "created", "updated_at": "updated"}


class QueryError(ValueError):
    """A bad listing argument (the server answers 400 with the message)."""


def sortable(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_date(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    )


def sort_names(row_type: pa.StructType | pa.Schema) -> list[str]:
    """What a listing can be ordered by, each once: the sortable fields, then created_at and
    updated_at, which always mean the row's `_created_at`/`_updated_at` (they shadow a field
    of the same name)."""
    names = [f.name for f in row_type if sortable(f.type)]
    return [*names, *(m for m in META_SORTS if m not in names)]


@dataclass(frozen=True)
class Query:
    """What a client asked for, already parsed."""

    sort: str  # a field name, created_at, updated_at, or the key
    desc: bool = False
    equals: tuple[tuple[str, Any], ...] = ()  # field == value
    updated_since: int | None = None  # µs, inclusive
    created_since: int | None = None
    include_deleted: bool = False

    @property
    def signature(self) -> str:
        """What a cursor is bound to: the same sort and filters (a short digest)."""
        return _signature(
            self.sort,
            self.desc,
            self.equals,
            self.updated_since,
            self.created_since,
            self.include_deleted,
        )


@functools.lru_cache(maxsize=1024)
def _signature(*parts: Any) -> str:
    raw = json.dumps(list(parts), default=str)
    return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()


@dataclass
class View:
    keys: np.ndarray
    src: np.ndarray | None  # None: identity over the live rows
    nulls: np.ndarray | None = None
    values: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def item(self, i: int) -> tuple[Any, ...]:
        k = self.keys[i]
        if self.values is None:
            return (0, 0, _py(k))
        assert self.nulls is not None
        return (int(self.nulls[i]), _py(self.values[i]), _py(k))

    def positions(self, start: int, stop: int) -> np.ndarray:
        if self.src is None:
            return np.arange(start, min(stop, len(self.keys)), dtype=np.int64)
        return self.src[start:stop]


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _sort_values(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(null flags, values with nulls filled) of a sortable column, as numpy."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    nulls = arr.is_null().to_numpy(zero_copy_only=False).astype(np.int8)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        arr = (
            pc.cast(arr, pa.int64())
            if pa.types.is_timestamp(t)
            else pc.cast(pc.cast(arr, pa.date32()), pa.int32())
        )
        values = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    elif pa.types.is_decimal(t):
        values = pc.cast(arr, pa.float64()).fill_null(0).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        values = np.asarray(arr.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    elif pa.types.is_boolean(t):
        values = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int8)
    else:
        values = arr.fill_null(0).to_numpy(zero_copy_only=False)
    return nulls, values


def _base(snap: Snapshot, sort: str, key: str, include_deleted: bool) -> View:
    """The whole snapshot in ascending sort order (cached on the snapshot)."""
    ck = ("view", sort, include_deleted)
    hit = snap.cache.get(ck)
    if hit is not None:
        return hit
    dead = snap.dead
    if sort == key and not include_deleted:
        view = View(snap.keys, None)
    else:
        keys = np.concatenate([snap.keys, dead.keys]) if include_deleted else snap.keys
        src = np.arange(len(snap.keys), dtype=np.int64)
        if include_deleted:
            src = np.concatenate([src, -1 - np.arange(len(dead), dtype=np.int64)])
        if sort == key:
            order = np.argsort(keys, kind="stable")
            view = View(keys[order], src[order])
        else:
            if sort in META_SORTS:
                attr = META_SORTS[sort]
                values = getattr(snap, attr)
                if include_deleted:
                    values = np.concatenate(
                        [values, dead.created if attr == "created" else dead.deleted]
                    )
                nulls = np.zeros(len(values), dtype=np.int8)
            else:
                nulls, values = _sort_values(snap.table[sort])
                if include_deleted:
                    dn, dv = _sort_values(dead.table[sort])
                    nulls, values = np.concatenate([nulls, dn]), np.concatenate([values, dv])
            order = np.lexsort((keys, values, nulls))
            view = View(keys[order], src[order], nulls[order], values[order])
    snap.cache[ck] = view
    return view


def select(snap: Snapshot, q: Query, key: str) -> View:
    """The rows a query selects, in its order."""
    view = _base(snap, q.sort, key, q.include_deleted)
    if q.equals or q.updated_since is not None or q.created_since is not None:
        ck = ("select", q.signature)
        hit = snap.cache.get(ck)
        if hit is not None:
            return hit
        src = view.src if view.src is not None else np.arange(len(view.keys), dtype=np.int64)
        live = src >= 0
        li = np.where(live, src, 0)
        di = np.where(live, 0, -1 - src)
        dead = snap.dead
        mask = np.ones(len(src), dtype=bool)
        if q.updated_since is not None:
            up = np.where(
                live, snap.updated[li] if len(snap) else 0, dead.deleted[di] if len(dead) else 0
            )
            mask &= up >= q.updated_since
        if q.created_since is not None:
            cr = np.where(
                live, snap.created[li] if len(snap) else 0, dead.created[di] if len(dead) else 0
            )
            mask &= cr >= q.created_since
        for name, value in q.equals:
            lm = _equal_mask(snap.table[name], value) if len(snap) else np.zeros(0, dtype=bool)
            dm = _equal_mask(dead.table[name], value) if len(dead) else np.zeros(0, dtype=bool)
            mask &= np.where(live, lm[li] if len(lm) else False, dm[di] if len(dm) else False)
        idx = np.flatnonzero(mask)
        view = View(
            view.keys[idx],
            src[idx],
            view.nulls[idx] if view.nulls is not None else None,
            view.values[idx] if view.values is not None else None,
        )
        if len(snap.cache) < 256:
            snap.cache[ck] = view
    return view


def _equal_mask(col: pa.ChunkedArray, value: Any) -> np.ndarray:
    try:
        scalar = pa.scalar(value).cast(col.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        raise QueryError(f"cannot compare with {value!r}") from None
    return pc.equal(col, scalar).fill_null(False).to_numpy(zero_copy_only=False)


def seek(view: View, after: tuple[Any, ...], desc: bool) -> int:
    """Index of the first item that comes after `after` in the (asc or desc) order."""
    n = len(view)
    if view.values is None and view.src is None:
        i = int(np.searchsorted(view.keys, after[2], side="left" if desc else "right"))
        return n - i if desc else i
    lo, hi = 0, n  # in ascending order: first index whose tuple > after
    while lo < hi:
        mid = (lo + hi) // 2
        if (view.item(mid) > after) if not desc else (view.item(mid) >= after):
            hi = mid
        else:
            lo = mid + 1
    return n - lo if desc else lo


def window(view: View, start: int, stop: int, desc: bool) -> np.ndarray:
    """Positions of items [start, stop) in the query's order."""
    n = len(view)
    start, stop = max(0, min(start, n)), max(0, min(stop, n))
    if not desc:
        return view.positions(start, stop)
    pos = view.positions(n - stop, n - start)
    return pos[::-1]


def last_item(view: View, start: int, count: int, desc: bool) -> tuple[Any, ...]:
    """The sort tuple of the last item of a page of count >= 1 (what the next cursor carries)."""
    i = start + count - 1
    return view.item(len(view) - 1 - i if desc else i)
