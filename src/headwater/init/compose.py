"""A schema (and what profiling fitted) → the scenario mapping: one entity per table, its key,
a `ref` for every foreign key, children created with their parent where that is obvious,
generators for the rest, and a sink like the source."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.init.choose import Spec, choose, key_spec
from headwater.init.model import Column, Schema, Table

ROW_CAP = 100_000  # a profiled table's rows become the snapshot, up to this many
_PREFERRED_UPDATES = re.compile(r"status|state|email|price|amount|quantity|city|address|phone")


@dataclass
class TableFit:
    """What the data of one table shows (profile.py): overrides of the schema's guesses."""

    rows: int
    fields: dict[str, Spec] = field(default_factory=dict)
    null_rates: dict[str, float] = field(default_factory=dict)
    skews: dict[str, Spec] = field(default_factory=dict)
    children: dict[str, dict[int, int]] = field(default_factory=dict)  # fk column → {n: parents}
    rate: float | None = None  # new rows per second, from an event-time column


def compose(schema: Schema, fits: dict[str, TableFit] | None = None) -> dict[str, Any]:
    keys = {name: _key(t, schema.notes) for name, t in schema.tables.items()}
    referenced = {
        fk.table for t in schema.tables.values() for fk in t.foreign_keys if fk.table != t.name
    }
    entities: dict[str, Any] = {}
    for name, table in schema.tables.items():
        entities[name] = _entity(schema, table, keys, name in referenced, fits)
    return {
        "name": _name(schema),
        "seed": 1,
        "clock": {"start": "2026-01-01T00:00:00Z", "duration": "1h"},
        "entities": entities,
        "sinks": _sinks(schema, list(entities)),
    }


def _name(schema: Schema) -> str:
    stem = Path(schema.label.split("?")[0].rstrip("/")).stem or schema.kind
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)


def _key(table: Table, notes: list[str]) -> tuple[str, bool]:
    """The key field and whether it is a new one headwater adds (no single-column key)."""
    pk = table.primary_key
    if len(pk) == 1:
        return pk[0], False
    own = [c for c in pk if table.fk_of(c) is None]
    if len(own) == 1:
        return own[0], False
    surrogate = next(n for n in ("id", f"{table.name}_id", "_hw_id") if n not in table.columns)
    why = f"its key ({', '.join(pk)}) has several columns" if pk else "it has no primary key"
    notes.append(f"{table.name}: {why}; the entity gets a new key field '{surrogate}'")
    return surrogate, True


def _entity(
    schema: Schema,
    table: Table,
    keys: dict[str, tuple[str, bool]],
    referenced: bool,
    fits: dict[str, TableFit] | None,
) -> dict[str, Any]:
    fit = fits.get(table.name) if fits is not None else None
    key, added = keys[table.name]
    fields: dict[str, Spec] = {key: key_spec(Column(key, "int"))} if added else {}
    refs: dict[str, str] = {}  # column → referenced entity
    for name, col in table.columns.items():
        if name == key:
            fields[name] = key_spec(col)
            if table.fk_of(name) is not None:
                schema.notes.append(
                    f"{table.name}.{name} is both the key and a reference; generated as the key"
                )
            continue
        target = _reference(schema, table, name, keys)
        if target is not None:
            refs[name] = target
            spec: Spec = {"ref": f"{target}.{keys[target][0]}"}
            if fit is not None and name in fit.skews:
                spec["skew"] = fit.skews[name]
        elif fit is not None and name in fit.fields:
            spec = dict(fit.fields[name])
        else:
            spec = choose(col, table, key)
        if fit is not None and fit.null_rates.get(name):
            spec["null_rate"] = fit.null_rates[name]
        fields[name] = spec
    _email_names(fields)
    entity: dict[str, Any] = {"key": key}
    parent = _parent(schema, table, refs, fits)
    if parent is not None:
        entity["parent"] = parent
    else:
        entity.update(_volume(referenced, fit))
    entity["fields"] = fields
    updates = _updates(fields, key, set(refs))
    if updates:
        entity["updates"] = updates
    indexes = [
        i for i in table.indexes if not (len(i) == 1 and i[0] in refs) and set(i) <= set(fields)
    ]
    if indexes:
        entity["indexes"] = indexes
    return entity


def _reference(
    schema: Schema, table: Table, column: str, keys: dict[str, tuple[str, bool]]
) -> str | None:
    """The entity this column refers to, when it is a single-column foreign key onto a key."""
    fk = table.fk_of(column)
    if fk is None:
        return None
    if fk.table not in schema.tables:
        schema.notes.append(f"{table.name}.{column} refers to {fk.table}, which was not read")
        return None
    key, added = keys[fk.table]
    if added or fk.ref_columns not in ([], [key]):
        schema.notes.append(
            f"{table.name}.{column} refers to {fk.table}.{', '.join(fk.ref_columns)}, "
            f"which is not its key; generated as a plain column"
        )
        return None
    return fk.table


def _singular(name: str) -> str:
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("s", "")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + repl
    return name


def _parent(
    schema: Schema, table: Table, refs: dict[str, str], fits: dict[str, TableFit] | None
) -> dict[str, Any] | None:
    """`parent: {entity, count}` when rows obviously belong to one parent row each: the data
    shows every parent with children, or (no data) the reference is part of the key,
    cascades on delete, or the table is named after its parent (order → order_items)."""
    for column, target in refs.items():
        if target == table.name or _descends(schema, target, table.name):
            continue
        if fits is not None and fits[table.name].rows:  # the data decides
            found = _observed_parent(fits[table.name], column, fits[target].rows)
            if found is not None:
                return {"entity": target, "count": found}
            continue
        fk = table.fk_of(column)
        named = table.name.lower().startswith(_singular(target.lower()) + "_")
        if (fk is not None and fk.cascade) or column in table.primary_key or named:
            return {"entity": target, "count": {"min": 1, "max": 3}}
    return None


def _observed_parent(fit: TableFit, column: str, parents: int) -> Any:
    """The children per parent when (nearly) every parent row has some, else None."""
    hist = fit.children.get(column, {})
    if not hist or not parents or fit.null_rates.get(column):
        return None
    lo, hi = min(hist), max(hist)
    if sum(hist.values()) < 0.95 * parents or hi > 100:
        return None
    return lo if lo == hi else {"min": lo, "max": hi}


def _descends(schema: Schema, start: str, ancestor: str) -> bool:
    """Whether `start` already refers (transitively) to `ancestor`: no parent cycles."""
    seen, todo = set(), [start]
    while todo:
        cur = todo.pop()
        if cur == ancestor:
            return True
        if cur in seen or cur not in schema.tables:
            continue
        seen.add(cur)
        todo += [fk.table for fk in schema.tables[cur].foreign_keys]
    return False


def _volume(referenced: bool, fit: TableFit | None) -> dict[str, Any]:
    """How many rows a top-level entity starts with and how fast new ones arrive."""
    if fit is None:
        return {"initial": 1000, "arrivals": "0.1/s"} if referenced else {"arrivals": "1/s"}
    out: dict[str, Any] = {}
    if fit.rows:
        out["initial"] = min(fit.rows, ROW_CAP)
    if fit.rate:
        out["arrivals"] = _rate(fit.rate)
    elif not fit.rows:
        out["arrivals"] = "0.1/s"
    return out


def _rate(per_second: float) -> str:
    for unit, factor in (("s", 1), ("min", 60), ("h", 3600)):
        if per_second * factor >= 1 or unit == "h":
            return f"{per_second * factor:.3g}/{unit}"
    raise AssertionError("unreachable")


def _email_names(fields: dict[str, Spec]) -> None:
    """Emails that match the row's person: `{fake: email, name: <the name field>}`."""
    names = [f for f, s in fields.items() if s.get("fake") == "name"]
    for spec in fields.values():
        if spec.get("fake") == "email" and names:
            spec["name"] = names[0]


def _updates(fields: dict[str, Spec], key: str, refs: set[str]) -> list[dict[str, Any]]:
    """Tables with an updated_at-like column change in place: a few fields at a modest rate."""
    if not any(s.get("event_time", {}).get("on_update") for s in fields.values()):
        return []
    movable = [
        f
        for f, s in fields.items()
        if f != key
        and f not in refs
        and not {"event_time", "seq", "uuid", "format", "expr"} & set(s)
    ]
    chosen = [f for f in movable if _PREFERRED_UPDATES.search(f.lower())][:2] or movable[:1]
    return [{"rate": "0.05/s", "fields": chosen}] if chosen else []


def _sinks(schema: Schema, entities: list[str]) -> dict[str, Any]:
    if schema.kind == "sqlite":
        return {"db": {"kind": "sqlite", "path": f"{_name(schema)}.db", "entities": entities}}
    if schema.kind in ("postgres", "mysql"):
        db = {"kind": schema.kind, "url": "${DATABASE_URL}", "entities": entities}
        if schema.namespace not in (None, "public"):
            db["schema"] = schema.namespace
        return {"db": db}
    return {
        "files": {"kind": "files", "format": "jsonl", "path": _name(schema), "entities": entities}
    }
