"""What `headwater init` reads from a source, before it becomes a scenario: tables of typed
columns with their keys and constraints. Every source (database or schema file) fills these,
so choosing generators and writing YAML never see a driver's types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: the types a generator is chosen for; every source maps its own type names onto these
Kind = Literal[
    "int", "float", "decimal", "text", "bool", "timestamp", "date", "time", "uuid", "json", "bytes"
]


@dataclass
class Column:
    name: str
    kind: Kind
    nullable: bool = True
    length: int | None = None  # of a text column
    precision: int | None = None  # of a decimal
    scale: int | None = None
    choices: list[str | int | float] = field(default_factory=list)  # enum / CHECK … IN
    minimum: float | None = None  # from a CHECK range or a schema's minimum
    maximum: float | None = None
    unique: bool = False
    fmt: str | None = None  # a schema's format: email, uri, date-time…


@dataclass
class ForeignKey:
    columns: list[str]
    table: str
    ref_columns: list[str]
    cascade: bool = False  # ON DELETE CASCADE: the row lives and dies with its parent


@dataclass
class Table:
    name: str
    columns: dict[str, Column]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[list[str]] = field(default_factory=list)

    def fk_of(self, column: str) -> ForeignKey | None:
        """The single-column foreign key on `column`, if any."""
        return next(
            (fk for fk in self.foreign_keys if fk.columns == [column]),
            None,
        )


@dataclass
class Schema:
    """The tables of one source, in the order it lists them."""

    tables: dict[str, Table]
    kind: str  # sqlite, postgres, mysql, jsonschema, avro, openapi
    label: str  # where it came from, safe to show (a masked URL or a file name)
    notes: list[str] = field(default_factory=list)  # what could not be carried over
    namespace: str | None = None  # the PostgreSQL schema the tables were read from
