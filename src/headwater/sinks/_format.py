"""Python format specs applied to a whole column: `{price:.2f}`, `{created_at:%Y-%m-%d}`.

A template placeholder's spec means what it means to Python's `format(value, spec)` (for
dates and timestamps: `strftime`), and the result is the same text. The common specs are
computed column-wise with pyarrow/numpy:
    timestamps, dates   strftime directives %Y %m %d %H %M %S %y %% (slices of the UTC wall
                        clock in whole seconds cast to text); %j %I %p (pyarrow's strftime)
    numbers             fixed point `.Nf` (scaled integers), `d`, and no type
    strings             no type or `s`, `.N` (at most N characters)
    any of these        width, fill and alignment (`>8`, `*^12`, `06d` for non-negatives)
Anything else (`,` grouping, `+` signs, `e`/`g`/`x`/`%` types, `%f`/`%z`/`%a`… directives,
decimals with `.Nf`) is formatted per value by Python: correct, but a loop over the rows.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sinks._text import STRING, decode, to_text

_SPEC = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>#)?(?P<zero>0)?"
    r"(?P<width>\d+)?(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?",
    re.DOTALL,
)
_STRFTIME_VECTOR = set("YmdHMSjyIp%")
# where each directive sits in a timestamp[s] cast to text: 2023-01-02 06:01:00
_SLICES = {
    "Y": (0, 4),
    "y": (2, 4),
    "m": (5, 7),
    "d": (8, 10),
    "H": (11, 13),
    "M": (14, 16),
    "S": (17, 19),
}
_LAYOUT = "2023-01-02 06:01:00"
_YEAR_1000, _YEAR_9999 = -30_610_224_000, 253_402_300_799  # in seconds since 1970
_DIRECTIVE = re.compile(r"%(.)", re.DOTALL)
_EXACT = 2**53  # scaled values below this are exact integers in a float64


def check_spec(spec: str) -> None:
    """Raise ValueError when `spec` is neither a format spec nor a strftime pattern."""
    if "%" not in spec and _SPEC.fullmatch(spec) is None:
        raise ValueError(f"'{spec}' is not a format spec (e.g. .2f, >8, %Y-%m-%d)")


def format_column(arr: pa.Array | pa.ChunkedArray, spec: str) -> pa.Array:
    """Each value as `format(value, spec)` would write it; nulls stay null.

    Raises ValueError when the values' type cannot take the spec (`.2f` on text…).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = decode(arr)
    if not spec:
        return to_text(arr)
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _strftime(arr, spec)
    m = _SPEC.fullmatch(spec)
    if m is None or "%" in spec:
        return _python(arr, spec)
    text = _vector(arr, m)
    if text is None:
        return _python(arr, spec)
    return _pad(text, m, numeric=pa.types.is_integer(t) or pa.types.is_floating(t), arr=arr)


def _python(arr: pa.Array, spec: str) -> pa.Array:
    """The per-value fallback: Python's own format() for specs no kernel spells."""
    try:
        out = [None if v is None else format(v, spec) for v in arr.to_pylist()]
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"values of type {arr.type} cannot be formatted with '{spec}': {exc}"
        ) from None
    return pa.array(out, STRING)


def _strftime(arr: pa.Array, spec: str) -> pa.Array:
    """strftime column-wise: whole seconds of the UTC wall clock cast to text once
    (`2023-01-02 06:01:00`, a fixed layout), then each directive is a slice of it; %j, %I
    and %p come from pyarrow's strftime (slower), the others from Python."""
    directives = set(_DIRECTIVE.findall(spec))
    if not directives <= _STRFTIME_VECTOR:
        return _python(arr, spec)
    t = arr.type
    if pa.types.is_date(t):
        seconds = arr.cast(pa.timestamp("s"))
    else:
        naive = arr.cast(pa.timestamp(t.unit)) if t.tz is not None else arr  # the UTC wall clock
        if t.unit != "s":
            naive = pc.floor_temporal(naive, unit="second")
        seconds = naive.cast(pa.timestamp("s"))
    if not directives <= set(_SLICES) | {"%"}:
        return pc.strftime(seconds, format=spec)
    lo, hi = pc.min_max(seconds.cast(pa.int64())).values()
    if lo.is_valid and (lo.as_py() < _YEAR_1000 or hi.as_py() > _YEAR_9999):
        return _python(arr, spec)  # years of other than four digits
    text = seconds.cast(STRING)
    parts: list[pa.Array | str] = []
    for piece in _layout_pieces(spec):
        parts.append(piece if isinstance(piece, str) else pc.utf8_slice_codeunits(text, *piece))
    if not any(isinstance(p, pa.Array) for p in parts):
        return pc.if_else(arr.is_null(), pa.scalar(None, STRING), "".join(parts))
    return pc.binary_join_element_wise(*parts, "")


def _layout_pieces(spec: str) -> list[str | tuple[int, int]]:
    """`spec` as literals and slices of the layout `2023-01-02 06:01:00`; directives that
    follow each other there with the same text between them become one slice
    (`%Y-%m-%d %H:%M:%S` is the whole text)."""
    pieces: list[str | tuple[int, int]] = []
    last = 0
    for m in _DIRECTIVE.finditer(spec):
        literal = spec[last : m.start()] + ("%" if m[1] == "%" else "")
        last = m.end()
        if m[1] == "%":
            pieces.append(literal)
            continue
        start, end = _SLICES[m[1]]
        prev = pieces[-1] if pieces else None
        if literal and isinstance(prev, str):
            pieces[-1] = prev + literal
        elif literal:
            if isinstance(prev, tuple) and _LAYOUT[prev[1] : start] == literal:
                pieces[-1] = (prev[0], end)
                continue
            pieces.append(literal)
        elif isinstance(prev, tuple) and prev[1] == start:
            pieces[-1] = (prev[0], end)
            continue
        pieces.append((start, end))
    if spec[last:]:
        pieces.append(spec[last:])
    return pieces


def _vector(arr: pa.Array, m: re.Match[str]) -> pa.Array | None:
    """The unpadded text of the values, or None when only Python can write it."""
    t, kind = arr.type, m["type"]
    if m["sign"] not in (None, "-") or m["z"] or m["alt"] or m["grouping"]:
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if kind not in (None, "s"):
            return None
        text = to_text(arr)
        if m["precision"] is not None:
            text = pc.utf8_slice_codeunits(text, 0, int(m["precision"]))
        return text
    if pa.types.is_integer(t):
        if m["precision"] is not None and kind not in ("f", "F"):
            return None
        if kind in (None, "d"):
            return to_text(arr)
        if kind in ("f", "F"):
            return _fixed(arr.cast(pa.float64()), int(m["precision"] or 6))
        return None
    if pa.types.is_floating(t) and kind in ("f", "F"):
        return _fixed(arr.cast(pa.float64()), int(m["precision"] or 6))
    return None


def _fixed(arr: pa.Array, digits: int) -> pa.Array | None:
    """`.Nf` with scaled integers: round(|x|·10^N) split into whole and fraction digits.

    Python rounds the exact binary value half to even; the product x·10^N is within two
    units in the last place of it, so values that land that close to a half (where the
    rounding could go either way) are written by Python. A column with values too large
    for exact integers, or not finite, goes to Python whole (None)."""
    x = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False)
    scaled = np.abs(x) * 10.0**digits
    if not np.isfinite(scaled).all() or (scaled >= _EXACT).any():
        return None
    units = np.rint(scaled).astype(np.int64)
    scale = 10**digits
    negative = np.signbit(x)
    parts: list[pa.Array | str] = [pa.array(units // scale).cast(STRING)]
    if negative.any():
        parts.insert(0, pc.if_else(pa.array(negative), "-", ""))
    if digits:
        parts += [".", pc.utf8_lpad(pa.array(units % scale).cast(STRING), digits, "0")]
    text = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
    tie = np.abs(scaled - np.floor(scaled) - 0.5) <= scaled * 2.0**-50
    if tie.any():
        mask = pa.array(tie)
        text = pc.replace_with_mask(text, mask, _python(arr.filter(mask), f".{digits}f"))
    return pc.if_else(arr.is_null(), pa.scalar(None, STRING), text) if arr.null_count else text


def _pad(text: pa.Array, m: re.Match[str], *, numeric: bool, arr: pa.Array) -> pa.Array:
    """Width, fill and alignment as format() applies them (numbers right, text left)."""
    if not m["width"]:
        return text
    width = int(m["width"])
    fill, align = m["fill"] or " ", m["align"]
    if m["zero"] and not m["align"]:
        if numeric and pc.any(pc.less(arr, 0)).as_py():
            return _python(arr, m.group(0))  # the sign goes before the zeros
        fill, align = "0", ">"
    align = align or (">" if numeric else "<")
    if align == "=":
        if numeric and pc.any(pc.less(arr, 0)).as_py():
            return _python(arr, m.group(0))
        align = ">"
    pad = {"<": pc.utf8_rpad, ">": pc.utf8_lpad, "^": pc.utf8_center}[align]
    return pad(text, width, fill)
