"""Vectorized string escaping for the log formats (nginx `\\xHH`, syslog `#ooo`, SD-PARAM).

Before each replace pass the column's raw bytes are tested for the literal's bytes
(`holds_bytes`), so clean columns cost one scan and no copy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._text import holds_bytes
from headwater.sinks.logs.formats.columns import map_entries


@dataclass(frozen=True)
class Escaper:
    """Escape strings in two vectorized steps.

    First the `fixed` literal replacements (one pass each, backslash first), then the
    characters in `ranges`, which are rare: the distinct ones present are found with one
    regex pass over the rows that have any, then replaced one literal pass each; past
    `max_passes` distinct characters it falls back to Python once per distinct row.
    """

    fixed: tuple[tuple[str, str], ...]
    ranges: tuple[tuple[int, int], ...]
    escape_char: Callable[[str], str]
    max_passes: int = 24

    def __post_init__(self) -> None:
        if any(lo <= 0x7E and hi >= 0x20 for lo, hi in self.ranges):
            raise ValueError("escaped ranges must lie outside printable ASCII")

    @functools.cached_property
    def _re2_class(self) -> str:
        return "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in self.ranges)

    @functools.cached_property
    def _py_special(self) -> re.Pattern[str]:
        body = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in self.ranges)
        return re.compile(f"[{body}]")

    def python(self, text: str) -> str:
        """The same escaping for one string: the reference the vectorized path matches."""
        for old, new in self.fixed:
            text = text.replace(old, new)
        if self.ranges:
            text = self._py_special.sub(lambda m: self.escape_char(m.group()), text)
        return text

    def __call__(self, arr: pa.Array) -> pa.Array:
        return map_entries(arr, self._escape)

    def _escape(self, arr: pa.Array) -> pa.Array:
        for old, new in self.fixed:
            if holds_bytes(arr, old.encode()):
                arr = pc.replace_substring(arr, old, new)
        if not self.ranges or len(arr) == 0:
            return arr
        # The ranges lie outside printable ASCII, so a cheap whole-string test (10x faster
        # than a regex) finds the candidates and the regex runs on those only.
        candidates = pc.invert(pc.fill_null(pc.ascii_is_printable(arr), True))
        if not pc.any(candidates).as_py():
            return arr
        rows = np.flatnonzero(np.asarray(candidates))
        sub = arr.take(rows)
        special = np.asarray(pc.match_substring_regex(sub, f"[{self._re2_class}]"))
        if not special.any():
            return arr
        rows, sub = rows[special], sub.filter(pa.array(special))
        residue = pc.unique(pc.replace_substring_regex(sub, f"[^{self._re2_class}]+", ""))
        chars = set("".join(residue.to_pylist()))
        if len(chars) <= self.max_passes:
            for ch in sorted(chars):
                sub = pc.replace_substring(sub, ch, self.escape_char(ch))
        else:
            enc = sub.dictionary_encode()
            escaped = [
                self._py_special.sub(lambda m: self.escape_char(m.group()), s)
                for s in enc.dictionary.to_pylist()
            ]
            sub = pa.array(escaped, pa.string()).take(enc.indices)
        mask = np.zeros(len(arr), bool)
        mask[rows] = True
        return pc.replace_with_mask(arr, pa.array(mask), sub)
