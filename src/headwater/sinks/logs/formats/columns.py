"""The columns formatters read: their description, and one batch's columns made uniform.

A batch is a `pa.Table`, or a mapping of column name to an Arrow array or to one Python
scalar standing for every row. `Fields` combines chunks, broadcasts scalars (strings as a
one-entry dictionary, so formatters escape them once) and names what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks.logs.formats.times import rfc3339

Scalar: TypeAlias = str | int | float | bool | None
Column: TypeAlias = pa.Array | pa.ChunkedArray
LogFields: TypeAlias = pa.Table | Mapping[str, Column | Scalar]
"""What formatters read: a table, or named columns where a scalar stands for every row."""


@dataclass(frozen=True)
class Field:
    """One input column a formatter reads; `required` columns must be present."""

    name: str
    type: str
    required: bool
    doc: str


TIME = Field("time", "timestamp", True, "when the line was logged; naive means UTC")
MESSAGE = Field("message", "string", True, "the log message; may span lines")


class Fields:
    """Named columns of one batch: combines chunks, broadcasts scalars, names what is missing."""

    def __init__(self, fields: LogFields, fmt: str):
        self.fmt = fmt
        if isinstance(fields, pa.Table):
            self._cols: dict[str, Column | Scalar] = {
                n: fields.column(n) for n in fields.column_names
            }
            self.n: int = fields.num_rows
            return
        self._cols = dict(fields)
        lengths = {len(v) for v in self._cols.values() if isinstance(v, pa.Array | pa.ChunkedArray)}
        if len(lengths) > 1:
            raise ValueError(f"{fmt}: columns have different lengths {sorted(lengths)}")
        if not lengths:
            raise ValueError(f"{fmt}: at least one column must be an array, not every one a scalar")
        self.n = lengths.pop()

    @property
    def names(self) -> list[str]:
        return list(self._cols)

    def has(self, name: str) -> bool:
        return name in self._cols

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self._cols]
        if missing:
            raise ValueError(
                f"format {self.fmt!r} needs column(s) {missing}; got {sorted(self._cols)}"
            )

    def get(self, name: str) -> pa.Array:
        self.require(name)
        value = self._cols[name]
        if isinstance(value, pa.Array | pa.ChunkedArray):
            return as_array(value)
        if value is None or isinstance(value, str):
            return pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(self.n, np.int32)), pa.array([value], pa.string())
            )
        return pa.repeat(pa.scalar(value), self.n)


def as_array(value: Column | np.ndarray | Sequence[object]) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        return value.chunk(0) if value.num_chunks == 1 else value.combine_chunks()
    if isinstance(value, pa.Array):
        return value
    return pa.array(value)


def strings(arr: pa.Array) -> pa.Array:
    """`arr` as utf8 strings, keeping a dictionary encoding (its entries become strings)."""
    if pa.types.is_dictionary(arr.type):
        if pa.types.is_string(arr.type.value_type):
            return arr
        return pa.DictionaryArray.from_arrays(arr.indices, strings(arr.dictionary))
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_timestamp(arr.type):
        return rfc3339(arr)
    return pc.cast(arr, pa.string())


def encode(arr: pa.Array) -> pa.Array:
    """Dictionary-encode a column of few distinct values (such as HTTP statuses)."""
    return arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)


def map_entries(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn(arr)`, computed once per dictionary entry when `arr` is dictionary-encoded.

    The result stays dictionary-encoded; a null row becomes a null dictionary entry
    first, so `fn` decides what it turns into (a '-' for instance).
    """
    if not pa.types.is_dictionary(arr.type):
        return fn(arr)
    indices, dictionary = arr.indices, arr.dictionary
    if indices.null_count:
        indices = pc.fill_null(indices, pa.scalar(len(dictionary), indices.type))
        dictionary = pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])
    return pa.DictionaryArray.from_arrays(indices, fn(dictionary))


def no_nulls(arr: pa.Array, name: str) -> pa.Array:
    if arr.null_count:
        raise ValueError(
            f"column {name!r} has {arr.null_count} null value(s); this format needs one per line"
        )
    return arr
