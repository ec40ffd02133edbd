"""Hypothesis strategies for scenario documents: random YAML, and examples/shop.yaml with values
replaced at random paths or random text spliced in. Shared by the suite's bounded fuzz test and
longer local runs (`python -m tests.scenario.fuzz N [--rows]`; --rows also generates a few
rows of every scenario that validates)."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from headwater.errors import HeadwaterError
from headwater.resolve.load import from_document
from headwater.resolve.scenario import Scenario
from headwater.scenario.yamlio import load_yaml

SHOP_TEXT = (Path(__file__).parents[2] / "examples" / "shop.yaml").read_text()
SHOP_DATA = yaml.safe_load(SHOP_TEXT)
# every fault on the change stream, so mutations reach faults/config.py too
SHOP_DATA["sinks"]["changes"]["faults"] = yaml.safe_load("""
late: {rate: 0.05, delay: {mean: 30s}}
reorder: {window: 5s, rate: 0.2}
duplicate: 0.01
drift: [{at: 2026-01-01T06:00:00Z, rename: {amount: total_amount}, add: {channel: web}}]
malformed: {rate: 0.001, kinds: [truncate, missing]}
outage: [{at: 2026-01-01T03:00:00Z, length: 10m}]
skew: -90s
zones: {offsets: ["+02:00", Z], missing: 0.1}
""")

# Strings the loader gives meaning to, and some that broke it once.
TRICKY = [
    "=",
    "${V}",
    "${V:-x}",
    "${NOPE}",
    "5/s",
    "0/s",
    "1h",
    "-1s",
    "{nope}",
    "{}",
    "qty // 0",
    "int(1e300)",
    "quantity * unit_price",
    "a" * 2000,
    "!foo",
    "[1, 2",
    "{a: 1",
    "TH-100",
    ".inf",
    "customers.id",
    "nobody.id",
    "files",
    "sqlite",
    "postgres",
    "postgresql://u:pw@127.0.0.1:notaport/x",
    "2026-01-01T00:00:00Z",
]
CONTROL = st.characters(codec="utf-8", categories=["Cc", "Cs", "Co", "Cn"], exclude_characters="")


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.text(alphabet=st.one_of(st.characters(), CONTROL), max_size=6),
        st.sampled_from(TRICKY),
    )


KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["kind", "rate", "min", "max", "of"]))


def _nest(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4))


def values() -> st.SearchStrategy[Any]:
    return st.recursive(scalars(), _nest, max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


SHOP_PATHS = _paths(SHOP_DATA)[1:]


def _replace(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    head, *rest = path
    copy = dict(data) if isinstance(data, dict) else list(data)
    if not rest:
        if delete:
            del copy[head]
        else:
            copy[head] = value
        return copy
    copy[head] = _replace(data[head], tuple(rest), value, delete)
    return copy


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@st.composite
def mutated_shop(draw: st.DrawFn) -> str:
    data = SHOP_DATA
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(SHOP_PATHS))
        try:
            data = _replace(data, path, draw(values()), draw(st.booleans()))
        except (KeyError, IndexError, TypeError):  # an earlier change removed this path
            continue
    return dump(data)


@st.composite
def spliced_shop(draw: st.DrawFn) -> str:
    at = draw(st.integers(0, len(SHOP_TEXT)))
    cut = draw(st.integers(0, 20))
    piece = draw(st.one_of(st.text(max_size=10), st.sampled_from(TRICKY), CONTROL))
    return SHOP_TEXT[:at] + piece + SHOP_TEXT[at + cut :]


@st.composite
def structured(draw: st.DrawFn) -> str:
    """A scenario of known shape with generators and sinks given random arguments, so the
    values reach each generator's and sink's own validation."""
    from headwater.generators import GENERATORS
    from headwater.sinks import SINKS

    fields: dict[str, Any] = {"id": {"seq": {}}}
    for i in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(GENERATORS.names()))
        cls = GENERATORS.get(name)
        inner = _fields_of(getattr(cls.model_fields[name].annotation, "model_fields", {}))
        fields[f"f{i}"] = {name: draw(_args(inner))}
    sinks: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(SINKS.names()))
        keys = _fields_of(SINKS.get(kind).Config.model_fields)
        sinks[f"s{i}"] = {"kind": kind, **draw(st.dictionaries(st.sampled_from(keys), values()))}
    doc = {"entities": {"a": {"initial": 1, "fields": fields}}, "sinks": sinks}
    return dump(doc)


def _fields_of(model_fields: Any) -> list[str]:
    return [k for k in model_fields if k != "kind"]


def _args(keys: list[str]) -> st.SearchStrategy[Any]:
    if not keys:
        return values()
    return st.one_of(st.dictionaries(st.sampled_from(keys), values(), max_size=3), values())


def documents() -> st.SearchStrategy[str]:
    return st.one_of(
        structured(),
        mutated_shop(),
        spliced_shop(),
        values().map(dump),
        st.dictionaries(
            st.sampled_from(["name", "seed", "clock", "entities", "sinks"]), values()
        ).map(dump),
        st.text(max_size=80),
    )


def load_both(text: str, env: dict[str, str]) -> Scenario | None:
    """Load with the environment, and validate without it; only HeadwaterErrors may escape.
    The scenario when both succeed."""
    modes = (False, True) if "${" in text else (False,)  # the same without variables
    found = []
    for keep_unset in modes:
        with contextlib.suppress(HeadwaterError):
            found.append(from_document(load_yaml(text, "fuzz.yaml", env, keep_unset)))
    return found[0] if len(found) == len(modes) else None


def sample_rows(scenario: Scenario) -> None:
    """A few rows of every entity: what validation passed must also generate."""
    from headwater.world.sample import sample

    for entity in scenario.entities:
        with contextlib.suppress(HeadwaterError):
            sample(scenario, entity, 20)


def main(n: int, rows: bool) -> None:  # pragma: no cover - a local, longer run
    from hypothesis import HealthCheck, given, settings

    seen: Counter[str] = Counter()
    examples: dict[str, str] = {}

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(documents(), st.text(max_size=10))
    def run(text: str, var: str) -> None:
        seen["tried"] += 1
        stage = "load"
        try:
            scenario = load_both(text, {"V": var})
            seen["validated"] += scenario is not None
            if scenario is not None and rows:
                stage = "rows"
                sample_rows(scenario)
        except Exception as exc:  # counting what escapes is the point
            kind = f"{stage}: {type(exc).__name__}"
            seen[kind] += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            examples.setdefault(kind, f"{str(exc)[:200]!r} at {where.filename}:{where.lineno}")

    run()
    for kind, count in seen.most_common():
        print(f"{kind}: {count}")
        if kind in examples:
            print("   e.g.", examples[kind])


if __name__ == "__main__":  # pragma: no cover
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, "--rows" in sys.argv)
