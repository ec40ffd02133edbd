"""Generators by name, and the field mapping → generator parsing that looks them up."""

from __future__ import annotations

import functools
from typing import Any

from headwater._plugins import Registry, suggest
from headwater.generators.base import FieldGen

GENERATORS: Registry[type[FieldGen]] = Registry(
    "generator",
    {
        "seq": "headwater.generators.identity:Seq",
        "uuid": "headwater.generators.identity:Uuid",
        "const": "headwater.generators.choice:Const",
        "choice": "headwater.generators.choice:Choice",
        "uniform": "headwater.generators.numbers:Uniform",
        "normal": "headwater.generators.numbers:Normal",
        "lognormal": "headwater.generators.numbers:Lognormal",
        "exponential": "headwater.generators.numbers:Exponential",
        "poisson": "headwater.generators.numbers:Poisson",
        "zipf": "headwater.generators.numbers:Zipf",
        "bool": "headwater.generators.numbers:Bool",
        "decimal": "headwater.generators.numbers:DecimalGen",
        "timestamp": "headwater.generators.times:TimestampRange",
        "date": "headwater.generators.times:DateRange",
        "event_time": "headwater.generators.times:EventTime",
        "format": "headwater.generators.text:Format",
        "fake": "headwater.generators.fake:Fake",
        "ref": "headwater.generators.ref:Ref",
        "state": "headwater.generators.states:State",
        "expr": "headwater.generators.derived:Expr",
        "object": "headwater.generators.nested:Object",
        "list": "headwater.generators.nested:List",
        "lookup": "headwater.generators.lookup:Lookup",
        "sum": "headwater.generators.lookup:Sum",
        "count": "headwater.generators.lookup:Count",
        "min": "headwater.generators.lookup:Min",
        "max": "headwater.generators.lookup:Max",
    },
)


@functools.cache
def sibling_keys() -> frozenset[str]:
    """Keys that may sit beside a generator name (`null_rate`, `round`, `skew`…).

    Read from the generators' models (a field's YAML name is its alias, if any), so a
    generator that gains an option needs no edit here.
    """
    keys: set[str] = set()
    for name in GENERATORS.names():
        cls = GENERATORS.get(name)
        keys |= {f.alias or k for k, f in cls.model_fields.items() if k != cls.name}
    return frozenset(keys)


def generator_name(spec: dict[str, Any]) -> str:
    """The one key of a field mapping that names a generator; ValueError otherwise."""
    names = [k for k in spec if k in GENERATORS]
    if len(names) == 1:
        return names[0]
    if len(names) > 1:
        raise ValueError(f"a field has exactly one generator, found {', '.join(names)}")
    unknown = [k for k in spec if k not in sibling_keys()]
    if unknown:
        raise ValueError(
            f"unknown generator '{unknown[0]}'{suggest(str(unknown[0]), GENERATORS.names())}"
        )
    raise ValueError(f"a field needs a generator, one of: {', '.join(GENERATORS.names())}")


def parse_field(spec: Any) -> FieldGen:
    """Validate one field's YAML mapping into its generator (pydantic errors keep their paths)."""
    if not isinstance(spec, dict):
        raise ValueError(
            f"expected a mapping with a generator, e.g. {{seq: {{}}}} or {{fake: email}}, got {spec!r}"
        )
    cls = GENERATORS.get(generator_name(spec))
    data = dict(spec)
    if data[cls.name] is None:  # `{seq: }`: the generator's defaults
        del data[cls.name]
    return cls.model_validate(data)
