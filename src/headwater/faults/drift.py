"""Schema drift: from a moment of delivery time on, the records' schema changes.

```yaml
faults:
  drift:
    - at: 2026-01-01T06:00:00Z
      entities: [orders]                  # default: every entity that has the named fields
      rename: {currency: currency_code}
      drop: [note]
      add: {channel: {choice: [web, app]}, coupon: null}   # a generator, or a constant
      type: {customer_id: string}         # widen or narrow: string, int32, float64, decimal(12,2)…
      format: {created_at: epoch_ms}      # timestamps as epoch_s/ms/us numbers, iso or a strftime pattern
```
A rule names fields as they are at its time (after earlier rules). Every rule bumps the
entity's schema version (1 before any drift), carried as the table metadata
`headwater.schema_version` and in the ledger. Records delivered at or after `at` have the
new schema, even if the event happened before it (the encoder changed, not the past).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater._plugins import suggest
from headwater.core.micros import epoch_us
from headwater.core.spec import TIMESTAMP, Spec
from headwater.core.units import Timestamp
from headwater.errors import HeadwaterError
from headwater.faults.base import Fault, FaultContext, Loc, Part, map_struct, put
from headwater.generators.base import FieldGen, GenContext
from headwater.world.schema import EntitySchema

TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": TIMESTAMP,
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
EPOCHS = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}


def arrow_type(name: str) -> pa.DataType:
    if name in TYPES:
        return TYPES[name]
    m = _DECIMAL.match(name)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ValueError(f"unknown type '{name}'{suggest(name, TYPES)}; or decimal(precision,scale)")


class DriftRule(Spec):
    """One change of schema at a moment; served APIs drift with the same rules (serve/)."""

    renamed: ClassVar[dict[str, str]] = {"entity": "entities", "remove": "drop"}  # old → new

    at: Timestamp = Field(description="delivery time from which the new schema is used")
    entities: list[str] | None = Field(None, description="default: those with the named fields")
    rename: dict[str, str] = {}
    drop: list[str] = []
    add: dict[str, Any] = Field(
        default_factory=dict, description="new field → generator mapping or constant value"
    )
    type: dict[str, str] = Field(default_factory=dict, description="field → new type")
    format: dict[str, str] = Field(
        default_factory=dict, description="timestamp field → epoch_s|epoch_ms|epoch_us|iso|pattern"
    )

    @field_validator("entities", mode="before")
    @classmethod
    def _one(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("add", mode="after")
    @classmethod
    def _generators(cls, v: dict[str, Any]) -> dict[str, Any]:
        from headwater.generators import parse_field
        from headwater.generators.choice import Const
        from headwater.generators.lookup import Aggregate, Lookup

        out: dict[str, Any] = {}
        for name, spec in v.items():
            try:
                out[name] = parse_field(spec) if isinstance(spec, dict) else Const(const=spec)
            except (ValueError, HeadwaterError) as exc:  # ValidationError is a ValueError
                raise ValueError(f"add.{name}: {exc}") from None
            if isinstance(out[name], Lookup | Aggregate):
                raise ValueError(
                    f"add.{name}: {out[name].name} reads other rows; an added column cannot"
                )
        return out

    @field_validator("type", mode="after")
    @classmethod
    def _types(cls, v: dict[str, str]) -> dict[str, str]:
        for name, t in v.items():
            try:
                arrow_type(t)
            except ValueError as exc:
                raise ValueError(f"type.{name}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> DriftRule:
        if not (self.rename or self.drop or self.add or self.type or self.format):
            raise ValueError("a drift rule changes something: rename, drop, add, type or format")
        return self

    def named(self) -> list[tuple[str, str]]:
        """(section, field) for every existing field the rule names."""
        return [
            *(("rename", f) for f in self.rename),
            *(("drop", f) for f in self.drop),
            *(("type", f) for f in self.type),
            *(("format", f) for f in self.format),
        ]

    def describe(self) -> str:
        parts = [f"rename {a}→{b}" for a, b in self.rename.items()]
        parts += [f"drop {f}" for f in self.drop]
        parts += [f"add {f}" for f in self.add]
        parts += [f"type {f}:{t}" for f, t in self.type.items()]
        parts += [f"format {f}:{t}" for f, t in self.format.items()]
        return ", ".join(parts)


def plan(
    rules: list[DriftRule], schemas: dict[str, EntitySchema], among: str = "this sink"
) -> tuple[dict[str, list[int]], list[tuple[Loc, str]]]:
    """Which rules apply to which entity (in order), and what is wrong with them; `among`
    says whose entities `schemas` are, for the messages."""
    names = {e: {f.name: f.type for f in s.row_type} for e, s in schemas.items()}
    applies: dict[str, list[int]] = {e: [] for e in schemas}
    problems: list[tuple[Loc, str]] = []
    order = sorted(range(len(rules)), key=lambda i: rules[i].at)
    for i in order:
        rule = rules[i]
        base: Loc = (i,)
        if rule.entities is not None:
            targets = []
            for j, e in enumerate(rule.entities):
                if e in schemas:
                    targets.append(e)
                else:
                    problems.append(
                        (
                            (*base, "entities", j),
                            f"'{e}' is not an entity of {among}{suggest(e, schemas)}",
                        )
                    )
        else:
            wanted = {f for _, f in rule.named()}
            targets = [e for e in schemas if wanted <= set(names[e])]
            if not targets:
                every = {f for fields in names.values() for f in fields}
                for section, f in rule.named():
                    if f not in every:
                        problems.append(
                            ((*base, section, f), f"unknown field '{f}'{suggest(f, every)}")
                        )
                if not any(p[0][:1] == base for p in problems):
                    problems.append(
                        (base, "no entity has all the fields this rule names: set entities")
                    )
                continue
        for e in targets:
            fields = names[e]
            key = schemas[e].key
            for section, f in rule.named():
                if f not in fields:
                    problems.append(
                        (
                            (*base, section, f),
                            f"'{e}' has no field '{f}' at this time{suggest(f, fields)}",
                        )
                    )
            for f in rule.drop:
                if f == key:
                    problems.append(((*base, "drop", f), f"the key of '{e}' cannot be dropped"))
            for f, fmt in rule.format.items():
                if f in fields and not pa.types.is_timestamp(fields[f]):
                    problems.append(
                        (
                            (*base, "format", f),
                            f"format applies to timestamps; '{f}' is {fields[f]}",
                        )
                    )
                elif fmt not in (*EPOCHS, "iso") and "%" not in fmt:
                    problems.append(
                        (
                            (*base, "format", f),
                            f"unknown format '{fmt}': epoch_s, epoch_ms, epoch_us, iso or a strftime pattern like '%d/%m/%Y %H:%M'",
                        )
                    )
            new = _apply_names(fields, rule)
            for f in rule.add:
                if f in fields and f not in rule.drop:
                    problems.append(((*base, "add", f), f"'{e}' already has a field '{f}'"))
            for old, target in rule.rename.items():
                if target in fields and target not in rule.rename and target not in rule.drop:
                    problems.append(
                        ((*base, "rename", old), f"'{e}' already has a field '{target}'")
                    )
            names[e] = new
            applies[e].append(i)
    return applies, problems


def _apply_names(fields: dict[str, pa.DataType], rule: DriftRule) -> dict[str, pa.DataType]:
    out = {rule.rename.get(f, f): t for f, t in fields.items() if f not in rule.drop}
    for f, t in rule.type.items():
        name = rule.rename.get(f, f)
        if name in out:
            out[name] = arrow_type(t)
    for f, fmt in rule.format.items():
        name = rule.rename.get(f, f)
        if name in out:
            out[name] = pa.int64() if fmt in EPOCHS else pa.string()
    for f in rule.add:
        out[f] = pa.null()
    return out


def reformat(values: pa.Array, fmt: str) -> pa.Array:
    """A timestamp column in another representation."""
    if fmt in EPOCHS:
        return pc.divide(pc.cast(values, pa.int64()), EPOCHS[fmt])
    naive = pc.cast(pc.cast(values, pa.int64()), pa.timestamp("us"))
    if fmt == "iso":
        return pc.binary_join_element_wise(pc.strftime(naive, format="%Y-%m-%dT%H:%M:%S"), "Z", "")
    return pc.strftime(naive, format=fmt)


class Drift(Fault):
    name = "drift"
    stage = "emit"
    order = 1
    Config = DriftRule
    about = "schema changes over time"
    many = True
    config: list[DriftRule]

    @classmethod
    def check(
        cls, config: list[DriftRule], schemas: dict[str, EntitySchema]
    ) -> list[tuple[Loc, str]]:
        return plan(config, schemas)[1]

    def __init__(self, config: Any, ctx: FaultContext):
        super().__init__(config, ctx)
        self.applies, _ = plan(config, ctx.schemas)
        self.times = [epoch_us(r.at) for r in config]

    def boundaries(self) -> list[int]:
        return sorted(set(self.times))

    def version(self, entity: str, at_us: int) -> int:
        return 1 + sum(1 for i in self.applies.get(entity, []) if self.times[i] <= at_us)

    def emit(self, entity: str, frame: pa.Table, part: Part) -> pa.Table:
        active = [i for i in self.applies.get(entity, []) if self.times[i] <= part.start_us]
        if not active:
            return frame
        n = frame.num_rows
        for i in active:
            rule = self.config[i]
            rng = self.rng(entity, i, part.step, part.index)
            added: dict[str, pa.Array] = {}
            fn = partial(self._apply, rule, frame=frame, rng=rng, added=added)
            for col in ("after", "before"):  # after first: added values are drawn once
                frame = put(frame, col, map_struct(frame[col], fn))
        self.count(f"v{1 + len(active)}:{entity}", n)  # delivered with a drifted schema
        return frame

    def _apply(
        self,
        rule: DriftRule,
        children: list[tuple[str, pa.Array]],
        *,
        frame: pa.Table,
        rng: Any,
        added: dict[str, pa.Array],
    ) -> list[tuple[str, pa.Array]]:
        out = []
        for name, col in children:
            if name in rule.drop:
                continue
            if name in rule.type:
                col = pc.cast(col, arrow_type(rule.type[name]), safe=False)
            if name in rule.format:
                col = reformat(col, rule.format[name])
            out.append((rule.rename.get(name, name), col))
        n = len(frame)
        event_time = frame["event_time"].combine_chunks()
        for name, gen in rule.add.items():
            if name not in added:
                assert isinstance(gen, FieldGen)
                ctx = GenContext(n, rng, event_time, dict(out), None, self.ctx.seed)
                added[name] = gen.column(ctx)
            out.append((name, added[name]))
        return out

    def summary(self) -> dict[str, Any]:
        rules = []
        for i, rule in enumerate(self.config):
            ents = ",".join(e for e, idx in self.applies.items() if i in idx)
            at = rule.at.isoformat().replace("+00:00", "Z")
            rules.append(f"{at} {ents}: {rule.describe()}")
        return {"rules": rules, "events": sum(self.counts.values())}
