"""The `faults:` mapping of a sink, and its cross-checks against the scenario.

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
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from headwater.core.spec import Spec
from headwater.faults.base import Loc
from headwater.faults.drift import DriftRule, plan
from headwater.faults.duplicate import DuplicateConfig
from headwater.faults.late import LateConfig
from headwater.faults.malformed import MalformedConfig
from headwater.faults.outage import OutageWindow
from headwater.faults.reorder import ReorderConfig
from headwater.faults.skew import SkewConfig
from headwater.faults.zones import ZonesConfig

# Faults that change which changes a sink sees or in what order; a database sink applies
# changes as transactions with keys, so there they would only break its constraints.
STREAM_ONLY = ("late", "reorder", "duplicate", "drift", "malformed", "zones")


class FaultsConfig(Spec):
    """How this sink misbehaves, reproducibly from the seed."""

    late: LateConfig | None = Field(None, description="a fraction of events arrives late")
    reorder: ReorderConfig | None = Field(None, description="events shuffled within a window")
    duplicate: DuplicateConfig | None = Field(None, description="at-least-once redelivery")
    drift: list[DriftRule] = Field(default_factory=list, description="schema changes over time")
    malformed: MalformedConfig | None = Field(None, description="broken records")
    outage: list[OutageWindow] = Field(default_factory=list, description="windows of no delivery")
    skew: SkewConfig | None = Field(None, description="the source's clock is off")
    zones: ZonesConfig | None = Field(None, description="timestamps with mixed/missing zones")

    @field_validator("drift", "outage", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    def declared(self) -> list[str]:
        """Names of the faults this sink has, in YAML order."""
        return [
            name
            for name in type(self).model_fields
            if (value := getattr(self, name)) is not None and value != []
        ]


def check_faults(
    config: FaultsConfig, schemas: dict[str, Any], store: bool, kind: str
) -> list[tuple[Loc, str]]:
    """Problems of a sink's faults against its entities (paths under `faults`); `store`: the
    sink declares the capability (a store of state, which stream faults would break)."""
    problems: list[tuple[Loc, str]] = []
    if store:
        for name in config.declared():
            if name in STREAM_ONLY:
                problems.append(
                    (
                        (name,),
                        f"a {kind} sink applies changes as transactions; {name} would break its "
                        "keys. Put it on a sink that carries the stream (cdc, files, a broker)",
                    )
                )
    if config.drift:
        _, found = plan(config.drift, schemas)
        problems += [(("drift", *loc), msg) for loc, msg in found]
    for name in ("skew", "zones"):
        sub = getattr(config, name)
        if sub is not None:
            problems += [((name, *loc), msg) for loc, msg in sub.check(schemas)]
    return problems
