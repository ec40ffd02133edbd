"""The `faults:` mapping of a sink, built from the fault registry, and its cross-checks.

```yaml
sinks:
  changes:
    kind: cdc
    from: app_db
    to: {kind: files, format: jsonl, path: cdc}
    faults:
      late: {rate: 0.05, delay: {mean: 30s}}
      reorder: {window: 5s, rate: 0.2}
      duplicate: 0.01
      drift: [{at: 2026-01-01T06:00:00Z, rename: {amount: total_amount}}]
      malformed: {rate: 0.001, kinds: [truncate, missing]}
      outage: [{at: 2026-01-01T03:00:00Z, length: 10m}]
      skew: -90s
      zones: {offsets: ["+02:00", Z], missing: 0.1}
```
Each registered fault is one field, in the registry's order, typed by the fault's `Config`.
Building that model imports every fault module, so it is built when a sink's config is first
validated (or its schema asked for), not when headwater is imported.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetPydanticSchema, create_model
from pydantic_core import CoreSchema

from headwater.core.spec import Spec
from headwater.faults.base import Loc, OneOrMany
from headwater.faults.registry import FAULTS


class FaultsConfig(Spec):
    """How this sink misbehaves, reproducibly from the seed.

    The base of the model built from the registry (`built()`): a field typed `Faults`
    validates with that one, and what it gives is an instance of it.
    """

    @classmethod
    def built(cls) -> type[FaultsConfig]:
        return built()

    def declared(self) -> list[str]:
        """Names of the faults this sink has, in YAML order."""
        return [
            name
            for name in type(self).model_fields
            if (value := getattr(self, name)) is not None and value != []
        ]


@cache
def built() -> type[FaultsConfig]:
    """One field per registered fault: its Config, or a list of them for a `many` fault."""
    fields: dict[str, Any] = {}
    for name in FAULTS.in_order():
        fault = FAULTS.get(name)
        item: Any = fault.Config  # a type known at run time only
        if fault.many:
            fields[name] = (OneOrMany[item], Field(default_factory=list, description=fault.about))
        else:
            fields[name] = (item | None, Field(None, description=fault.about))
    return create_model("FaultsConfig", __base__=FaultsConfig, __module__=__name__, **fields)


def _built_schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    return handler(built() | None)


# The type of a sink's `faults:`: validated by the model built from the registry at first use.
Faults = Annotated[FaultsConfig | None, GetPydanticSchema(_built_schema)]


def check_faults(
    config: FaultsConfig, schemas: dict[str, Any], store: bool, kind: str
) -> list[tuple[Loc, str]]:
    """Problems of a sink's faults against its entities (paths under `faults`); `store`: the
    sink declares the capability (a store of state, which stream faults would break)."""
    problems: list[tuple[Loc, str]] = []
    if store:
        for name in config.declared():
            if FAULTS.get(name).stream_only:
                problems.append(
                    (
                        (name,),
                        f"a {kind} sink applies changes as transactions; {name} would break its "
                        "keys. Put it on a sink that carries the stream (cdc, files, a broker)",
                    )
                )
    for name in config.declared():
        found = FAULTS.get(name).check(getattr(config, name), schemas)
        problems += [((name, *loc), msg) for loc, msg in found]
    return problems
