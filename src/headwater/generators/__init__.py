"""Generators by name: each turns a field's YAML mapping into an Arrow column for n rows."""

from headwater.generators._registry import GENERATORS, generator_name, parse_field
from headwater.generators.base import FieldGen, GenContext, KeySource, TypeEnv

__all__ = [
    "GENERATORS",
    "FieldGen",
    "GenContext",
    "KeySource",
    "TypeEnv",
    "generator_name",
    "parse_field",
]
