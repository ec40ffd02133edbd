"""What the world looks like to sinks: per entity, its Arrow row schema, key, relations."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from headwater.core.spec import TIMESTAMP
from headwater.errors import Problem, ScenarioError
from headwater.generators.base import FieldGen, field_order
from headwater.generators.ref import Ref
from headwater.generators.states import State
from headwater.world.model import Entity, WorldSpec

VERSION_FIELDS = (("version", pa.int64()), ("valid_from", TIMESTAMP), ("valid_to", TIMESTAMP))


@dataclass(frozen=True)
class ForeignKey:
    field: str
    entity: str
    target_field: str


@dataclass(frozen=True)
class EntitySchema:
    """An entity as sinks see it: columns, key(s), foreign keys, indexes, write pattern."""

    name: str
    key: str
    row_type: pa.StructType
    write: str
    parent: str | None
    foreign_keys: tuple[ForeignKey, ...]
    indexes: tuple[tuple[str, ...], ...]
    states: dict[str, list[str]] = field(default_factory=dict)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(list(self.row_type))

    @property
    def primary_key(self) -> tuple[str, ...]:
        return (self.key, "version") if self.write == "insert_only" else (self.key,)

    @property
    def key_type(self) -> pa.DataType:
        return self.row_type.field(self.key).type


class FieldTypes:
    """Resolves field types lazily (a field's type may depend on others) and detects cycles."""

    def __init__(self, scenario: WorldSpec, entity: str):
        self.scenario, self.entity = scenario, entity
        self.cache: dict[tuple[str, str], pa.DataType] = {}
        self.visiting: set[tuple[str, str]] = set()

    def for_entity(self, entity: str) -> FieldTypes:
        env = FieldTypes(self.scenario, entity)
        env.cache, env.visiting = self.cache, self.visiting
        return env

    def field_type(self, name: str) -> pa.DataType:
        ident = (self.entity, name)
        if ident in self.cache:
            return self.cache[ident]
        if ident in self.visiting:
            raise ValueError(f"field '{name}' depends on itself")
        gens = self.scenario.entities[self.entity].fields
        self.visiting.add(ident)
        try:
            t = gens[name].arrow_type(self)
        finally:
            self.visiting.discard(ident)
        self.cache[ident] = t
        return t

    def key_type(self, entity: str) -> pa.DataType:
        target = self.scenario.entities[entity]
        return self.for_entity(entity).field_type(target.key_field)

    def entity_field_type(self, entity: str, name: str) -> pa.DataType:
        return self.for_entity(entity).field_type(name)


def entity_schema(scenario: WorldSpec, name: str, env: FieldTypes | None = None) -> EntitySchema:
    ent: Entity = scenario.entities[name]
    env = (env or FieldTypes(scenario, name)).for_entity(name)
    gens: dict[str, FieldGen] = ent.fields
    for f in field_order(gens):  # dependencies first: a long chain needs no deep recursion
        env.field_type(f)
    fields = [pa.field(f, env.field_type(f)) for f in gens]
    if ent.write == "insert_only":
        fields += [pa.field(n, t) for n, t in VERSION_FIELDS]
    fks = tuple(ForeignKey(f, g.entity, g.field) for f, g in gens.items() if isinstance(g, Ref))
    states = {f: g.states() for f, g in gens.items() if isinstance(g, State)}
    return EntitySchema(
        name=name,
        key=ent.key_field,
        row_type=pa.struct(fields),
        write=ent.write,
        parent=ent.parent.entity if ent.parent else None,
        foreign_keys=fks,
        indexes=tuple(tuple(i) for i in ent.indexes),
        states=states,
    )


def world_schemas(scenario: WorldSpec) -> dict[str, EntitySchema]:
    """Every entity's schema; type errors (bad expressions, cycles) become ScenarioErrors."""
    env = FieldTypes(scenario, "")
    out, problems = {}, []
    for name in scenario.entities:
        try:
            out[name] = entity_schema(scenario, name, env)
        except ValueError as exc:
            problems.append(Problem(f"entities.{name}.fields", str(exc)))
    if problems:
        raise ScenarioError(problems)
    return out
