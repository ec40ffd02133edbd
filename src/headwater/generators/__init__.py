"""Generators by name: each turns a field's YAML mapping into an Arrow column for n rows."""

from headwater.generators._registry import GENERATORS, generator_name, parse_field
from headwater.generators.base import TIMESTAMP, FieldGen, GenContext, KeySource, TypeEnv

__all__ = [
    "GENERATORS",
    "TIMESTAMP",
    "FieldGen",
    "GenContext",
    "KeySource",
    "TypeEnv",
    "generator_name",
    "parse_field",
]
