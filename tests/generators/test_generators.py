"""Generators: statistics within tolerance, properties, and vectorized shapes."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater._plugins import Registry
from headwater.core.spec import TIMESTAMP
from headwater.generators import _registry, parse_field
from headwater.generators.base import GenContext
from headwater.generators.derived import Expr
from headwater.generators.numbers import Uniform
from headwater.generators.ref import Skew, pick

N = 100_000


def gen(spec, n=N, columns=None, seed=3, times=None):
    g = parse_field(spec)
    et = (
        times
        if times is not None
        else pa.array(np.arange(n) * 1_000_000 + 1_767_225_600_000_000).cast(TIMESTAMP)
    )
    return g.column(GenContext(n, np.random.default_rng(seed), et, dict(columns or {}), None, seed))


def test_choice_weights():
    v = gen({"choice": {"US": 6, "DE": 2, "FR": 2}})
    counts = {d["values"]: d["counts"] / N for d in pc.value_counts(v).to_pylist()}
    assert counts["US"] == pytest.approx(0.6, abs=0.01)
    assert counts["DE"] == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.8, 1.0])
def test_null_rate(rate):
    v = gen({"uniform": {"min": 0, "max": 10}, "null_rate": rate})
    assert v.null_count / N == pytest.approx(rate, abs=0.01)


def test_numeric_distributions():
    assert np.mean(gen({"normal": {"mean": 5, "std": 2}}).to_numpy()) == pytest.approx(5, abs=0.05)
    assert np.std(gen({"normal": {"mean": 5, "std": 2}}).to_numpy()) == pytest.approx(2, abs=0.05)
    ln = gen({"lognormal": {"mu": 1, "sigma": 0.5}}).to_numpy()
    assert np.median(ln) == pytest.approx(np.e, rel=0.03)
    assert np.mean(gen({"exponential": {"mean": 3}}).to_numpy()) == pytest.approx(3, rel=0.03)
    assert np.mean(gen({"poisson": {"mean": 4}}).to_numpy()) == pytest.approx(4, rel=0.03)
    b = gen({"bool": {"p": 0.3}}).to_numpy(zero_copy_only=False)
    assert b.mean() == pytest.approx(0.3, abs=0.01)
    u = gen({"uniform": {"min": 1, "max": 6}}).to_numpy()
    assert u.min() == 1 and u.max() == 6 and u.dtype == np.int64


def test_zipf_is_skewed_towards_low_ranks():
    z = gen({"zipf": {"s": 1.2, "n": 1000}}).to_numpy()
    assert z.min() >= 1 and z.max() <= 1000
    top = np.mean(z == 1)
    assert top > 0.1 and np.mean(z <= 10) > 0.4


def test_hot_set_share():
    idx = pick(np.random.default_rng(1), 10_000, N, Skew(hot={"keys": 0.01, "share": 0.5}))
    hot = np.mean(idx < 100)
    assert hot == pytest.approx(0.5 + 0.5 * 0.01, abs=0.01)


def test_decimal_has_exact_scale():
    v = gen({"decimal": {"min": 1, "max": 2, "scale": 2}}, n=1000)
    assert v.type == pa.decimal128(18, 2)
    values = v.to_pylist()
    assert all(1 <= x <= 2 and x.as_tuple().exponent == -2 for x in values)


def test_uuid_v4_and_v7():
    import uuid

    v4 = [uuid.UUID(s) for s in gen({"uuid": {}}, n=1000).to_pylist()]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in v4)
    assert len(set(v4)) == 1000
    v7 = gen({"uuid": {"version": 7}}, n=1000).to_pylist()
    assert all(uuid.UUID(s).version == 7 for s in v7)
    assert v7 == sorted(v7)  # event times increase, so v7 keys sort by creation


def test_format_template():
    v = gen({"format": "SKU-{id:08d}"}, n=3, columns={"id": pa.array([1, 22, 333])})
    assert v.to_pylist() == ["SKU-00000001", "SKU-00000022", "SKU-00000333"]


def test_email_matches_name():
    names = pa.array(["Jürgen Müller", "Ann O'Neil", "Bob Smith"])
    emails = gen({"fake": "email", "name": "n"}, n=3, columns={"n": names}).to_pylist()
    assert emails[0].startswith("jurgen.muller")
    assert emails[1].startswith("ann.o.neil")
    assert all("@" in e for e in emails)


@pytest.mark.parametrize(
    "kind",
    [
        "address",
        "city",
        "country",
        "phone_number",
        "company",
        "ipv4",
        "ipv6",
        "user_agent",
        "url",
        "sentence",
    ],
)
def test_fake_kinds_are_realistic_and_varied(kind):
    v = gen({"fake": kind}, n=2000)
    assert v.null_count == 0 and len(pc.unique(v)) > 100


def test_fake_locale():
    v = gen({"fake": "city", "locale": "de_DE"}, n=500).to_pylist()
    en = gen({"fake": "city"}, n=500).to_pylist()
    assert set(v) != set(en)


def test_derived_expressions():
    cols = {
        "q": pa.array([1, 2, 3]),
        "p": pa.array([1.5, 2.0, 10.0]),
        "s": pa.array(["a", "b", None]),
    }
    assert gen({"expr": "q * p"}, 3, cols).to_pylist() == [1.5, 4.0, 30.0]
    assert gen({"expr": "'VIP' if q * p > 5 else 'reg'"}, 3, cols).to_pylist() == [
        "reg",
        "reg",
        "VIP",
    ]
    assert gen({"expr": "concat(s, '-', q)"}, 3, cols).to_pylist() == ["a-1", "b-2", None]
    assert gen({"expr": "q // 2"}, 3, cols).to_pylist() == [0, 1, 1]


def test_expressions_that_cannot_be_computed_give_null():
    """Values only known while running (a zero divisor, a float beyond int64) give null, as in
    SQL engines without ANSI mode, instead of failing the run half-way."""
    cols = {
        "q": pa.array([7, 8, -9]),
        "z": pa.array([2, 0, 0]),
        "f": pa.array([1.5, 1e300, float("nan")]),
    }
    assert gen({"expr": "q // z"}, 3, cols).to_pylist() == [3, None, None]
    assert gen({"expr": "q % z"}, 3, cols).to_pylist() == [1, None, None]
    assert gen({"expr": "int(f)"}, 3, cols).to_pylist() == [1, None, None]
    assert gen({"expr": "int(q)"}, 3, cols).to_pylist() == [7, 8, -9]


def test_nested_object_and_list():
    o = gen(
        {"object": {"city": {"fake": "city"}, "zip": {"uniform": {"min": 10000, "max": 99999}}}},
        n=10,
    )
    assert pa.types.is_struct(o.type) and set(o.type.names) == {"city", "zip"}
    lst = gen({"list": {"of": {"fake": "word"}, "min": 1, "max": 3}}, n=1000)
    lengths = pc.list_value_length(lst).to_numpy()
    assert lengths.min() == 1 and lengths.max() == 3


def test_same_seed_same_values_and_different_seed_differs():
    a = gen({"fake": "email"}, n=1000, seed=1)
    b = gen({"fake": "email"}, n=1000, seed=1)
    c = gen({"fake": "email"}, n=1000, seed=2)
    assert a.equals(b) and not a.equals(c)


@settings(max_examples=50, deadline=None)
@given(lo=st.integers(-(10**6), 10**6), width=st.integers(0, 10**6), n=st.integers(0, 500))
def test_uniform_ints_stay_in_bounds(lo, width, n):
    v = gen({"uniform": {"min": lo, "max": lo + width}}, n=n).to_numpy()
    assert len(v) == n and (n == 0 or (v.min() >= lo and v.max() <= lo + width))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=50), st.integers(1, 9))
def test_expression_matches_python(values, k):
    arr = pa.array(values)
    got = (
        Expr(expr=f"x * {k} - x // {k}")
        .generate(GenContext(len(values), None, None, {"x": arr}))
        .to_pylist()
    )
    assert got == [x * k - x // k for x in values]


class Jittered(Uniform):
    """A generator with an option of its own, for the sibling-keys test."""

    jitter: float = 0.0


def test_sibling_keys_come_from_the_generators_models(monkeypatch):
    """A key beside the generator name is known when some generator's model declares it."""
    assert {"null_rate", "round", "skew", "locale", "name"} <= _registry.sibling_keys()
    with pytest.raises(ValueError, match="a field needs a generator"):
        _registry.generator_name({"null_rate": 0.1, "round": 2})
    with pytest.raises(ValueError, match="unknown generator 'jitter'"):
        _registry.generator_name({"jitter": 0.1})

    registry = Registry("generator", {"uniform": f"{__name__}:Jittered"})
    monkeypatch.setattr(_registry, "GENERATORS", registry)
    _registry.sibling_keys.cache_clear()
    try:
        with pytest.raises(ValueError, match="a field needs a generator"):
            _registry.generator_name({"jitter": 0.1})
    finally:
        monkeypatch.undo()
        _registry.sibling_keys.cache_clear()
