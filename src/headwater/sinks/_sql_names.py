"""Which entity and field names a database can hold as table and column names.

Every name is quoted (`Dialect.q`), so quotes, semicolons and spaces are just characters;
what remains are the names a server refuses, cuts or confuses with another: checked by
`validate`, before anything connects, with the scenario path of the name and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from headwater.sinks._sql import MYSQL, POSTGRES, SQLITE, Dialect
from headwater.world.schema import EntitySchema

Problems = list[tuple[tuple[str | int, ...], str]]
BLANKS = " \t\n\v\f\r"


@dataclass(frozen=True)
class NameRules:
    """What a dialect refuses beyond empty names, NUL and its length limit (`Dialect`)."""

    dialect: Dialect
    title: str
    table_prefix: str = ""  # tables may not start with it (any case)
    table_prefix_why: str = ""
    system_columns: frozenset[str] = frozenset()
    device_names: frozenset[str] = frozenset()  # table names (any case) the server mangles
    bmp_only: bool = False  # no characters beyond U+FFFF (MySQL's identifier charset)
    trailing_blank: bool = True  # may a name end with one of BLANKS
    fold_columns: Callable[[str], str] | None = None  # columns equal under it are one column
    fold_tables: Callable[[str], str] | None = None


def _ascii_lower(name: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in name)


SQLITE_NAMES = NameRules(
    SQLITE,
    "SQLite",
    table_prefix="sqlite_",
    table_prefix_why="SQLite reserves names starting with sqlite_ for itself",
    fold_columns=_ascii_lower,
    fold_tables=_ascii_lower,
)
POSTGRES_NAMES = NameRules(
    POSTGRES,
    "PostgreSQL",
    table_prefix="pg_",
    table_prefix_why="PostgreSQL looks pg_… names up in its own catalog first",
    system_columns=frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"}),
)
MYSQL_NAMES = NameRules(
    MYSQL,
    "MySQL/MariaDB",
    bmp_only=True,
    # Windows device names: stored under another file name, and foreign keys cannot find them
    device_names=frozenset(
        {"con", "prn", "aux", "nul", *(f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10))}
    ),
    trailing_blank=False,
    fold_columns=str.lower,
)


def name_problem(rules: NameRules, name: str, *, table: bool) -> str | None:
    """Why the server cannot hold `name` as a table (or column) name, or None."""
    why = ident_problem(rules, name)
    if why is None and table and rules.table_prefix and name.lower().startswith(rules.table_prefix):
        why = f"starts with {rules.table_prefix}: {rules.table_prefix_why}"
    if why is None and table and name.lower() in rules.device_names:
        why = f"is a Windows device name, which {rules.title} cannot point foreign keys at"
    if why is None and not table and name in rules.system_columns:
        why = f"is the name of a {rules.title} system column"
    return why


def ident_problem(rules: NameRules, name: str) -> str | None:
    """Why the server cannot hold `name` as any identifier (a schema, say), or None."""
    d = rules.dialect
    if not name:
        return "is empty"
    if any("\ud800" <= c <= "\udfff" for c in name):
        return "holds half of a UTF-16 surrogate pair (\\ud800-\\udfff), which is no character"
    if "\x00" in name:
        return f"holds a NUL character, which {rules.title} cannot keep in a name"
    if not d.fits(name):
        unit = "bytes (UTF-8)" if d.ident_bytes else "characters"
        return (
            f"is {d.ident_size(name)} {unit} long; {rules.title} keeps at most "
            f"{d.max_ident} {unit} of a name"
        )
    if rules.bmp_only and any(ord(c) > 0xFFFF for c in name):
        return f"holds a character beyond U+FFFF (an emoji?), which {rules.title} refuses in names"
    if not rules.trailing_blank and name[-1] in BLANKS:
        return f"ends with a blank (space, tab or line break), which {rules.title} refuses"
    return None


def check_names(
    rules: NameRules,
    config: Any,
    schemas: Mapping[str, EntitySchema],
    reserved: tuple[str, ...] = (),
) -> Problems:
    """Problems with the table and column names of the entities a SQL sink receives; each
    message gives the name's path in the scenario. `reserved` are the sink's own tables."""
    wanted = config.entities
    out: Problems = []
    tables = {(rules.fold_tables or str)(r): f"the sink's own table {r!r}" for r in reserved}
    for e, s in schemas.items():
        if wanted and e not in wanted:
            continue
        _check(rules, out, tables, e, f"entity {e!r} (entities.{e})", table=True)
        columns: dict[str, str] = {}
        for f in s.row_type:
            what = f"field {f.name!r} of entity {e!r} (under entities.{e}.fields)"
            _check(rules, out, columns, f.name, what, table=False)
    return out


def _check(
    rules: NameRules, out: Problems, seen: dict[str, str], name: str, what: str, *, table: bool
) -> None:
    """Add the problem of one name, or of it naming the same thing as one seen before."""
    fold = (rules.fold_tables if table else rules.fold_columns) or str
    why = name_problem(rules, name, table=table)
    if why is None and fold(name) in seen:
        kind = "table" if table else "column"
        why = f"names the same {kind} as {seen[fold(name)]} in {rules.title}"
    if why:
        out.append(((), f"{what} {why}; rename it"))
    seen.setdefault(fold(name), what)
