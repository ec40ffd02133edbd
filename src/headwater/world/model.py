"""The world as resolution hands it over: entities whose fields are parsed generators.

The document's entities carry each field as the mapping written in YAML; these carry the
FieldGen it was validated into, so the world, the sinks and serve read generators directly.
"""

from __future__ import annotations

from pydantic import Field

from headwater.generators.base import FieldGen
from headwater.scenario.model import EntityBase, ScenarioBase


class Entity(EntityBase):
    """An entity with its fields' generators, in declaration order."""

    fields: dict[str, FieldGen] = Field(min_length=1)


class WorldSpec(ScenarioBase):
    """What a world runs: the clock, seed, locale and resolved entities (no sinks)."""

    entities: dict[str, Entity] = Field(min_length=1)
