"""`--profile`: fit what a bounded random sample of each table shows, vectorized with Arrow
and NumPy: null rates, weighted choices for low-cardinality columns, numeric ranges and
distributions, how skewed references are, children per parent, and the arrival rate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.init.choose import Spec
from headwater.init.compose import TableFit
from headwater.init.database import Database
from headwater.init.model import Column, Schema, Table

MAX_CHOICES = 50  # at most this many distinct values (and a tenth of the rows) make a choice
HOT_KEYS = 0.02  # the share of referenced keys that is checked for being hot
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def profile(db: Database, schema: Schema, limit: int) -> dict[str, TableFit]:
    """Each table's fit from at most `limit` sampled rows (plus a count and, per foreign
    key, one grouped count of children per parent run in the database)."""
    fits, samples = {}, {}
    for name, table in schema.tables.items():
        rows = db.count(table)
        samples[name] = db.sample(table, limit, rows)
        fits[name] = fit_table(table, samples[name], rows)
        for fk in table.foreign_keys:
            if len(fk.columns) == 1:
                fits[name].children[fk.columns[0]] = db.children(table, fk.columns[0])
    for name, table in schema.tables.items():
        for fk in table.foreign_keys:
            if len(fk.columns) == 1 and fk.table in fits:
                refs = samples[name].column(fk.columns[0]).combine_chunks()
                skew = ref_skew(refs, fits[fk.table].rows)
                if skew is not None:
                    fits[name].skews[fk.columns[0]] = skew
    return fits


def fit_table(table: Table, sample: pa.Table, rows: int) -> TableFit:
    fit = TableFit(rows)
    if not sample.num_rows:
        return fit
    n = sample.num_rows
    for name, col in table.columns.items():
        values = sample.column(name).combine_chunks()
        nulls = values.null_count
        if nulls:
            fit.null_rates[name] = round(nulls / n, 4)
        if name in table.primary_key or table.fk_of(name) is not None or col.unique:
            continue
        spec = fit_column(col, values.drop_null())
        if spec is not None:
            fit.fields[name] = spec
        if col.kind == "timestamp" and fit.rate is None and not name.lower().startswith("updated"):
            fit.rate = arrival_rate(values, rows)
    return fit


def fit_column(col: Column, values: pa.Array) -> Spec | None:
    """What this column's sampled values look like as a generator, or None to keep the guess."""
    if len(values) == 0 or col.kind in ("timestamp", "date", "time", "json", "bytes", "uuid"):
        return None
    if col.kind == "bool" or pa.types.is_boolean(values.type):
        return {"bool": {"p": round(pc.mean(values.cast(pa.float64())).as_py(), 4)}}
    counts = pc.value_counts(values)
    distinct = len(counts)
    if distinct <= MAX_CHOICES and distinct <= max(2, len(values) // 10):
        return {"choice": _weights(counts)}
    if col.kind in ("int", "float", "decimal"):
        return fit_numbers(col, values)
    return None


def _weights(counts: pa.StructArray) -> dict[Any, float]:
    """{value: percent} from value counts, largest first."""
    vals = counts.field("values").to_pylist()
    freq = counts.field("counts").to_numpy()
    order = np.argsort(-freq, kind="stable")
    share = np.maximum(np.round(100 * freq / freq.sum(), 2), 0.01)
    return {_plain(vals[i]): float(share[i]) for i in order}


def _plain(v: Any) -> Any:
    """A choice key YAML and the choice generator accept: str, int, float or bool."""
    if isinstance(v, (str, int, float, bool)):
        return v
    return float(v) if hasattr(v, "__float__") else str(v)


def _decimals(x: np.ndarray) -> int:
    """How many decimal places the values carry (up to 6)."""
    for d in range(7):
        scaled = x * 10**d
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6):
            return d
    return 6


def fit_numbers(col: Column, values: pa.Array) -> Spec:
    """A range and a shape: lognormal when positive and right-skewed, uniform when flat,
    normal otherwise; integers keep their range, decimals their scale."""
    x = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    lo, hi = float(x.min()), float(x.max())
    if col.kind == "int" or pa.types.is_integer(values.type):
        return {"uniform": {"min": int(lo), "max": int(hi)}}
    skewed = lo > 0 and _skewness(x) > 1
    if col.kind == "decimal":
        scale = col.scale if col.scale is not None else _decimals(x)
        precision = min(col.precision or 18, 18)
        spec: Spec = {
            "min": round(lo, scale),
            "max": round(hi, scale),
            "scale": scale,
            "precision": precision,
        }
        if skewed:
            spec["distribution"] = "lognormal"
        return {"decimal": spec}
    places = _decimals(x)
    if skewed:
        logs = np.log(x)
        return {
            "lognormal": {"mu": round(float(logs.mean()), 4), "sigma": round(float(logs.std()), 4)},
            "round": places,
        }
    if _kurtosis(x) < -0.9:
        return {"uniform": {"min": lo, "max": hi}, "round": places}
    return {
        "normal": {
            "mean": round(float(x.mean()), 4),
            "std": round(float(x.std()), 4),
            "min": lo,
            "max": hi,
        },
        "round": places,
    }


def _skewness(x: np.ndarray) -> float:
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def _kurtosis(x: np.ndarray) -> float:
    sd = x.std()
    return float(((x - x.mean()) ** 4).mean() / sd**4 - 3) if sd > 0 else 0.0


def arrival_rate(values: pa.Array, rows: int) -> float | None:
    """New rows per second: the rows of the later half of the time span over its length
    (the first half also holds whatever was loaded at once at the start)."""
    try:
        ts = pc.cast(values.drop_null(), _TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    us = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    if len(us) < 2 or us.max() <= us.min():
        return None
    mid = (int(us.min()) + int(us.max())) / 2
    half_s = (us.max() - mid) / 1e6
    late = float((us > mid).mean()) * rows
    return late / half_s if late and half_s > 0 else None


def ref_skew(values: pa.Array, parents: int, rng: np.random.Generator | None = None) -> Spec | None:
    """`{hot: {keys, share}}` when the most referenced 2% of keys draw clearly more references
    than they would uniformly (compared with a uniform draw of the same size), else None."""
    refs = values.drop_null()
    if len(refs) < 100 or parents < 50:
        return None
    counts = np.sort(pc.value_counts(refs).field("counts").to_numpy())[::-1]
    top = max(1, int(parents * HOT_KEYS))
    share = counts[:top].sum() / len(refs)
    rng = rng if rng is not None else np.random.default_rng(0)
    uniform = np.sort(np.bincount(rng.integers(0, parents, len(refs)), minlength=parents))[::-1]
    baseline = uniform[:top].sum() / len(refs)
    if share < 1.5 * baseline + 0.02:
        return None
    return {"hot": {"keys": HOT_KEYS, "share": round(float(share), 3)}}
