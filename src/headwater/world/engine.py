"""The simulated world: advances a clock in steps and emits each step's changes.

Per step [t0, t1): new rows arrive (children with their parent, in one transaction), due
state transitions fire, random rows are updated and deleted. A row changes at most once per
step (besides an aggregate update, which comes after), so before/after images chain exactly; a transition that falls due twice in one step
fires again at the start of the next. References only reach rows that existed when the
step began, and deletes spare rows still referenced, so foreign keys always hold.

Lookups read a referenced row as it was when the step began (or, for a parent created with
the row, as just created). A parent's aggregates are computed with its children; when
children change later, the parent gets one update at the end of the step, ordered after
those changes and the parent's own, in the transaction of the latest of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.core.micros import US, epoch_us, span_us
from headwater.core.random import stream
from headwater.core.spec import TIMESTAMP
from headwater.generators.base import FieldGen, GenContext, field_order, with_nulls
from headwater.generators.lookup import Aggregate, Lookup, aggregate
from headwater.generators.ref import Ref, Skew, pick
from headwater.generators.states import State
from headwater.generators.times import EventTime
from headwater.world.changes import Changes, change_schema
from headwater.world.model import Entity, WorldSpec
from headwater.world.rates import arrival_times, peak_rate
from headwater.world.schema import EntitySchema, world_schemas
from headwater.world.state import NEVER, EntityState

OP_CODES = {"r": 0, "c": 1, "u": 2, "d": 3}
OP_NAMES = pa.array(["r", "c", "u", "d"])
_NICE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)  # seconds, the divisors of a minute
SNAPSHOT_BLOCK = 1 << 14  # rows (families counted whole) per random-stream block of the snapshot
SNAPSHOT_ROWS = 1 << 18  # rows per Changes of the snapshot: memory follows this, not `initial`


@dataclass
class _Piece:
    """Changes of one entity made by one action, before global ordering."""

    entity: str
    op: np.ndarray  # op codes
    time: np.ndarray  # event time, µs
    group: np.ndarray  # provisional transaction
    intra: np.ndarray  # order inside the transaction
    key: pa.Array
    before: pa.Array | None
    after: pa.Array | None


class _Plan:
    """Per-entity facts the engine asks every step, computed once."""

    def __init__(self, name: str, ent: Entity, schema: EntitySchema, scenario: WorldSpec):
        self.name, self.ent, self.schema = name, ent, schema
        self.gens: dict[str, FieldGen] = ent.fields
        self.order = field_order(self.gens)
        self.refs = {f: g for f, g in self.gens.items() if isinstance(g, Ref)}
        self.aggs = {f: g for f, g in self.gens.items() if isinstance(g, Aggregate)}
        self.agg_deps = [f for f in _dependents(self, set(self.aggs)) if f not in self.aggs]
        self.states = {f: g for f, g in self.gens.items() if isinstance(g, State)}
        self.state_values = {f: pa.array(g.states()) for f, g in self.states.items()}
        self.on_update = [
            f for f, g in self.gens.items() if isinstance(g, EventTime) and g.event_time.on_update
        ]
        self.parent = ent.parent.entity if ent.parent else None
        self.deletable = ent.deletes is not None
        self.children: list[str] = []
        self.targeted = False  # another entity references its keys or reads its rows
        self.feeds = False  # its parent aggregates it: its changes update the parent
        self.insert_only = ent.write == "insert_only"


class World:
    """A scenario's world. Iterate `steps()` to get Changes, snapshot first."""

    def __init__(
        self,
        scenario: WorldSpec,
        *,
        seed: int | None = None,
        duration: timedelta | None = None,
        step: timedelta | None = None,
        snapshot_rows: int | None = None,
    ):
        self.scenario = scenario
        self.snapshot_rows = snapshot_rows or SNAPSHOT_ROWS
        self.seed = scenario.seed if seed is None else seed
        self.schemas = world_schemas(scenario)
        self.start_us = epoch_us(scenario.clock.start)
        span = duration if duration is not None else scenario.clock.span
        self.end_us = self.start_us + span_us(span)
        self.plans = {
            n: _Plan(n, e, self.schemas[n], scenario) for n, e in scenario.entities.items()
        }
        for p in self.plans.values():
            if p.parent:
                self.plans[p.parent].children.append(p.name)
            for g in p.refs.values():
                if g.entity != p.parent:
                    self.plans[g.entity].targeted = True
        self._link_reads()
        self.order = self._creation_order()
        self.states = {
            n: EntityState(self.schemas[n].row_type, self._side(p)) for n, p in self.plans.items()
        }
        self.step_us = span_us(step or scenario.clock.step or self._auto_step())
        self.seq = 0
        self.txn = 0
        self._candidates: dict[str, np.ndarray] = {}
        self._touched: dict[str, np.ndarray] = {}
        self._inflight: dict[str, tuple[int, dict[str, pa.Array]]] = {}
        self._frozen: dict[tuple[str, str], pa.Array] = {}  # looked-up columns as a step began
        self._looked_up = {
            (g.entity, g.field)
            for p in self.plans.values()
            for g in p.gens.values()
            if isinstance(g, Lookup)
        }
        self._dirty: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._own: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    # -- set-up -----------------------------------------------------------------------------
    def _link_reads(self) -> None:
        """Lookups and aggregates: their rows are kept, and a parent's children are created
        aggregated ones first, so a child that looks up the parent sees the aggregates."""
        for p in self.plans.values():
            reread = {f for u in p.ent.updates for f in _dependents(p, set(u.fields))}
            for f, g in p.gens.items():  # a child reads a parent created with it as it is made
                if isinstance(g, Lookup) and (g.entity != p.parent or f in reread):
                    self.plans[g.entity].targeted = True
            fed = [self.plans[g.entity] for g in p.aggs.values()]
            for c in fed:
                c.feeds = True
            if any(c.ent.updates or c.deletable or c.states for c in fed):
                for c in fed:  # a change of one recomputes all the parent's aggregates
                    c.targeted = True
            looks = {
                c
                for c in p.children
                if any(
                    isinstance(g, Lookup) and g.entity == p.name
                    for g in self.plans[c].gens.values()
                )
            }
            p.children.sort(key=lambda c: c in looks)

    def _creation_order(self) -> list[str]:
        """Parents before children, referenced entities before referencing ones (when acyclic)."""
        done: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done or name in path:
                return
            p = self.plans[name]
            for dep in [*(g.entity for g in p.refs.values()), *([p.parent] if p.parent else [])]:
                visit(dep, (*path, name))
            done.append(name)

        for name in self.plans:
            visit(name, ())
        return done

    def _side(self, p: _Plan) -> dict[str, np.dtype]:
        side: dict[str, np.dtype] = {}
        if p.deletable:
            side["refcount"] = np.dtype(np.int32)
        if p.parent:
            side["parent"] = np.dtype(np.int64)
        for f, g in p.refs.items():
            if g.entity != p.parent:
                side[f"ref:{f}"] = np.dtype(np.int64)
        for f in p.states:
            side[f"due:{f}"] = np.dtype(np.int64)
            side[f"code:{f}"] = np.dtype(np.int16)
        if p.insert_only:
            side["version"] = np.dtype(np.int64)
        return side

    def _auto_step(self) -> timedelta:
        """About 20,000 changes per step, from the rates alone (never the speed: speed paces
        delivery, it must not change the data); a divisor of a minute, so runs of whole
        minutes end on a step boundary and a shorter run is a prefix of a longer one."""
        rate = 0.0
        for p in self.plans.values():
            if p.ent.arrivals is not None:
                rate += peak_rate(p.ent.arrivals) * (1 + len(p.states))
            rate += sum(u.rate for u in p.ent.updates) + (
                p.ent.deletes.rate if p.ent.deletes else 0
            )
        seconds = 20_000 / rate if rate > 0 else 60
        return timedelta(seconds=max(d for d in _NICE_STEPS if d <= max(seconds, 1)))

    def retained(self, p: _Plan) -> bool:
        """Whether the world keeps an entity's rows (to change, delete or reference them)."""
        return bool(p.ent.updates or p.deletable or p.states or p.targeted) or (
            p.parent is not None and self.plans[p.parent].deletable
        )

    # -- generation -------------------------------------------------------------------------
    def _rng(self, *names: object) -> np.random.Generator:
        return stream(self.seed, *names)

    def _sample_refs(
        self, target: str, n: int, rng: np.random.Generator, skew: Skew | None
    ) -> tuple[pa.Array, np.ndarray]:
        cands = self._candidates.get(target)
        if cands is None or len(cands) == 0:
            return pa.nulls(n, self.schemas[target].key_type), np.full(n, -1, dtype=np.int64)
        slots = cands[pick(rng, len(cands), n, skew)]
        state = self.states[target]
        keys = state.column(self.schemas[target].key).take(pa.array(slots))
        if self.plans[target].deletable:
            np.add.at(state.side["refcount"], slots, 1)
        return keys, state.rowid[slots]

    def _fields(
        self,
        p: _Plan,
        names: list[str],
        n: int,
        times: np.ndarray,
        tag: tuple[object, ...],
        columns: dict[str, pa.Array],
        parent_keys: pa.Array | None = None,
        parent_rowids: np.ndarray | None = None,
        slots: np.ndarray | None = None,
    ) -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
        """Generate `names` for n rows, in dependency order, reading `columns` for the rest
        (and, for lookups of existing rows, the references those `slots` hold)."""
        cols = dict(columns)
        side: dict[str, np.ndarray] = {}
        targets: dict[str, np.ndarray] = {}  # rowids each ref field points at
        event_time = pa.array(times, pa.int64()).cast(TIMESTAMP)
        wanted = set(names)
        for f in p.order:
            if f not in wanted:
                continue
            gen = p.gens[f]
            rng = self._rng(p.name, f, *tag)
            if isinstance(gen, Ref) and gen.entity == p.parent and parent_keys is not None:
                cols[f] = parent_keys
                if parent_rowids is not None:
                    targets[f] = parent_rowids
                continue
            if isinstance(gen, Lookup):
                rowids = targets.get(gen.via)
                if rowids is None:
                    assert slots is not None
                    held = "parent" if gen.entity == p.parent else f"ref:{gen.via}"
                    rowids = self.states[p.name].side[held][slots]
                cols[f] = self._lookup(gen.entity, gen.field, rowids)
                if gen.null_rate > 0:
                    cols[f] = with_nulls(cols[f], rng.random(n) < gen.null_rate)
                continue
            if isinstance(gen, Aggregate):  # no children yet; `_create` fills it in
                cols[f] = self._aggregate(p, f, np.zeros(0, np.int64), None, n)
                continue
            if isinstance(gen, Ref):
                keys, rowids = self._sample_refs(gen.entity, n, rng, gen.skew)
                if gen.null_rate > 0:
                    mask = rng.random(n) < gen.null_rate
                    keys = pc.if_else(pa.array(mask), pa.scalar(None, keys.type), keys)
                    rowids = np.where(mask, -1, rowids)
                cols[f] = keys
                targets[f] = rowids
                if f"ref:{f}" in self.states[p.name].side_names:
                    side[f"ref:{f}"] = rowids
                continue
            ctx = GenContext(
                n,
                rng,
                event_time,
                cols,
                None,
                self.seed,
                self.scenario.locale,
                parent_keys,
                self.states[p.name].created,
            )
            cols[f] = gen.column(ctx)
        if parent_rowids is not None and "parent" in self.states[p.name].side_names:
            side["parent"] = parent_rowids
        return cols, side

    def _lookup(self, entity: str, field: str, rowids: np.ndarray) -> pa.Array:
        """A field of the rows with these rowids (-1: null): rows being created right now are
        read from their new columns, the others from the state."""
        state, pending = self.states[entity], self._inflight.get(entity)
        base = pending[0] if pending is not None else state.created
        new, old = rowids >= base, (rowids >= 0) & (rowids < base)
        where = np.full(len(rowids), -1, dtype=np.int64)
        parts = []
        if old.any():
            column = self._frozen.get((entity, field))
            if column is None:
                column = state.column(field)
            parts.append(column.take(pa.array(state.slots_of(rowids[old]))))
            where[old] = np.arange(int(old.sum()))
        if pending is not None and new.any():
            parts.append(pending[1][field])
            where[new] = int(old.sum()) + rowids[new] - base
        source = (
            pa.concat_arrays(parts)
            if parts
            else pa.nulls(0, self.schemas[entity].row_type.field(field).type)
        )
        return source.take(pa.array(where, mask=where < 0))

    def _aggregate(
        self, p: _Plan, f: str, groups: np.ndarray, children: pa.StructArray | None, n: int
    ) -> pa.Array:
        """Aggregate field f of n rows of p from children in groups 0..n-1."""
        gen = p.aggs[f]
        out_type = p.schema.row_type.field(f).type
        values = None
        if gen.field is not None:
            child_type = self.schemas[gen.entity].row_type.field(gen.field).type
            values = children.field(gen.field) if children is not None else pa.array([], child_type)
        return aggregate(gen.kind, groups, values, n).cast(out_type)

    def _create(
        self,
        name: str,
        times: np.ndarray,
        groups: np.ndarray,
        op: int,
        tag: tuple[object, ...],
        parent_keys: pa.Array | None = None,
        parent_rowids: np.ndarray | None = None,
    ) -> list[_Piece]:
        """New rows (and, recursively, their children) as pieces; appended to the state."""
        p, state, n = self.plans[name], self.states[name], len(times)
        if n == 0:
            return []
        cols, side = self._fields(p, list(p.gens), n, times, tag, {}, parent_keys, parent_rowids)
        rowids = np.arange(state.created, state.created + n, dtype=np.int64)
        if p.insert_only:
            cols["version"] = pa.array(np.ones(n, dtype=np.int64))
            cols["valid_from"] = pa.array(times).cast(TIMESTAMP)
            cols["valid_to"] = pa.nulls(n, TIMESTAMP)
            side["version"] = np.ones(n, dtype=np.int64)
        if "refcount" in state.side_names:
            side["refcount"] = np.zeros(n, dtype=np.int32)
        for f, g in p.states.items():
            side[f"code:{f}"] = np.zeros(n, dtype=np.int16)
            first = g.state[g.initial]
            side[f"due:{f}"] = np.maximum(times, self.start_us) + first.after.sample_us(
                self._rng(name, f, "delay", *tag), n
            )
        state.created += n
        key = cols[p.schema.key]
        pieces: list[_Piece] = []
        self._inflight[name] = (int(rowids[0]), cols)  # children may look these rows up
        for child in p.children:
            cp = self.plans[child]
            assert cp.ent.parent is not None
            cnt = cp.ent.parent.count
            counts = self._rng(child, "count", *tag).integers(cnt.min, cnt.max, n, endpoint=True)
            owner = np.repeat(np.arange(n), counts)
            sub = self._create(
                child,
                times[owner],
                groups[owner],
                op,
                tag,
                key.take(pa.array(owner)),
                rowids[owner],
            )
            for piece in sub:
                piece.intra = piece.intra + 1
            pieces += sub
            fed = [f for f, g in p.aggs.items() if g.entity == child]
            if fed:
                children = sub[0].after if sub else None
                for f in fed:
                    cols[f] = self._aggregate(p, f, owner, children, n)
                if p.agg_deps:
                    cols, _ = self._fields(p, p.agg_deps, n, times, tag, cols)
                self._inflight[name] = (int(rowids[0]), cols)
        del self._inflight[name]
        if self.retained(p):
            state.append(cols, side, rowids)
        after = pa.StructArray.from_arrays(
            [cols[f.name] for f in p.schema.row_type], fields=list(p.schema.row_type)
        )
        pieces.insert(
            0,
            _Piece(
                name, np.full(n, op), times, groups, np.zeros(n, dtype=np.int64), key, None, after
            ),
        )
        return pieces

    # -- lifecycle --------------------------------------------------------------------------
    def _change(
        self,
        name: str,
        slots: np.ndarray,
        times: np.ndarray,
        groups: np.ndarray,
        values: dict[str, pa.Array],
        side: dict[str, np.ndarray],
    ) -> list[_Piece]:
        """Update rows in place (CRUD) or as a new version (insert-only); slots sorted, unique."""
        p, state = self.plans[name], self.states[name]
        n = len(slots)
        before = state.rows(slots)
        ts = pa.array(times).cast(TIMESTAMP)
        for f in p.on_update:
            values[f] = ts
        key = before.field(p.schema.key)
        zeros = np.zeros(n, dtype=np.int64)
        pieces = []
        if p.insert_only:
            closed = _with(before, {"valid_to": ts})
            pieces.append(
                _Piece(name, np.full(n, OP_CODES["u"]), times, groups, zeros, key, before, closed)
            )
            version = state.side["version"][slots] + 1
            side["version"] = version
            values = {
                **values,
                "version": pa.array(version),
                "valid_from": ts,
                "valid_to": pa.nulls(n, TIMESTAMP),
            }
            after = _with(before, values)
            pieces.append(
                _Piece(name, np.full(n, OP_CODES["c"]), times, groups, zeros + 1, key, None, after)
            )
        else:
            after = _with(before, values)
            pieces.append(
                _Piece(name, np.full(n, OP_CODES["u"]), times, groups, zeros, key, before, after)
            )
        state.replace(slots, values)
        for k, v in side.items():
            state.side[k][slots] = v
        if p.aggs:
            self._own.setdefault(name, []).append((slots, times, groups))
        if p.feeds and p.parent is not None:
            self._dirty.setdefault(p.parent, []).append(
                (state.side["parent"][slots], times, groups)
            )
        return pieces

    def _transitions(
        self, name: str, t0: int, t1: int, touched: np.ndarray, step: int
    ) -> list[_Piece]:
        """Due state changes; rows created in this step may already move on."""
        p, state = self.plans[name], self.states[name]
        pieces = []
        for f, g in p.states.items():
            due, codes = state.side[f"due:{f}"], state.side[f"code:{f}"]
            slots = np.flatnonzero(state.live & (due < t1) & ~touched)
            if len(slots) == 0:
                continue
            rng = self._rng(name, f, "transition", step)
            names = g.states()
            new_codes = codes[slots].copy()
            for code, state_name in enumerate(names):
                trans = g.state.get(state_name)
                at = np.flatnonzero(codes[slots] == code)
                if trans is None or len(at) == 0:
                    continue
                targets = np.array([names.index(s) for s in trans.to], dtype=np.int16)
                w = np.array(list(trans.to.values()), dtype=float)
                new_codes[at] = targets[rng.choice(len(targets), len(at), p=w / w.sum())]
            times = np.maximum(due[slots], t0)
            new_due = np.full(len(slots), NEVER, dtype=np.int64)
            for code, state_name in enumerate(names):
                trans = g.state.get(state_name)
                at = np.flatnonzero(new_codes == code)
                if trans is not None and len(at):
                    new_due[at] = times[at] + trans.after.sample_us(rng, len(at))
            groups = self._groups(len(slots))
            values = {f: p.state_values[f].take(pa.array(new_codes))}
            pieces += self._change(
                name, slots, times, groups, values, {f"due:{f}": new_due, f"code:{f}": new_codes}
            )
            touched[slots] = True
        return pieces

    def _updates(self, name: str, t0: int, t1: int, touched: np.ndarray, step: int) -> list[_Piece]:
        """Random updates of rows that existed when the step began (`touched` marks the rest)."""
        p, state = self.plans[name], self.states[name]
        pieces = []
        for i, upd in enumerate(p.ent.updates):
            rng = self._rng(name, "update", i, step)
            cands = np.flatnonzero(state.live & ~touched)
            n = min(rng.poisson(upd.rate * (t1 - t0) / US), len(cands))
            if n == 0:
                continue
            slots = np.unique(cands[rng.integers(0, len(cands), n)])
            times = np.sort(rng.integers(t0, t1, len(slots)))
            rng.shuffle(times)  # which row changes when is random, but times stay within the step
            current = {
                f.name: c
                for f, c in zip(p.schema.row_type, state.rows(slots).flatten(), strict=True)
            }
            fields = _dependents(p, set(upd.fields))
            cols, _ = self._fields(
                p, fields, len(slots), times, ("update", i, step), current, slots=slots
            )
            pieces += self._change(
                name, slots, times, self._groups(len(slots)), {f: cols[f] for f in fields}, {}
            )
            touched[slots] = True
        return pieces

    def _deletes(self, name: str, t0: int, t1: int, touched: np.ndarray, step: int) -> list[_Piece]:
        p, state = self.plans[name], self.states[name]
        if p.ent.deletes is None:
            return []
        rng = self._rng(name, "delete", step)
        ok = state.live & ~self._busy(name, touched) & (state.side["refcount"] == 0)
        cands = np.flatnonzero(ok)
        n = min(rng.poisson(p.ent.deletes.rate * (t1 - t0) / US), len(cands))
        if n == 0:
            return []
        slots = np.unique(cands[rng.integers(0, len(cands), n)])
        times = rng.integers(t0, t1, len(slots))
        return self._delete(name, slots, times, self._groups(len(slots)), 0)

    def _busy(self, name: str, touched: np.ndarray) -> np.ndarray:
        """Rows changed this step or with a descendant that was: a cascade must not delete a
        child before the change it already had in this step."""
        busy = touched.copy()
        state = self.states[name]
        for child in self.plans[name].children:
            cs = self.states[child]
            mark = self._touched.get(child)
            if mark is None:
                continue
            held = cs.side["parent"][self._busy(child, mark) & cs.live]
            busy[state.slots_of(held)] = True
        return busy

    def _delete(
        self, name: str, slots: np.ndarray, times: np.ndarray, groups: np.ndarray, depth: int
    ) -> list[_Piece]:
        """Delete rows and, first, their children (cascade), releasing the keys they referenced."""
        p, state = self.plans[name], self.states[name]
        pieces: list[_Piece] = []
        rowids = state.rowid[slots]
        for child in p.children:
            cs = self.states[child]
            hit = cs.live & np.isin(cs.side["parent"], rowids)
            cslots = np.flatnonzero(hit)
            if len(cslots):
                owner = np.searchsorted(rowids, cs.side["parent"][cslots])
                pieces += self._delete(child, cslots, times[owner], groups[owner], depth + 1)
        for f, g in p.refs.items():
            col = f"ref:{f}"
            if col in state.side_names and self.plans[g.entity].deletable:
                target = self.states[g.entity]
                held = state.side[col][slots]
                held = held[held >= 0]
                np.subtract.at(target.side["refcount"], target.slots_of(held), 1)
                self._hold(g.entity, held)
        if depth == 0 and p.parent is not None and self.plans[p.parent].deletable:
            self._hold(p.parent, state.side["parent"][slots])
        if depth == 0 and p.feeds and p.parent is not None:
            self._dirty.setdefault(p.parent, []).append(
                (state.side["parent"][slots], times, groups)
            )
        before = state.rows(slots)
        key = before.field(p.schema.key)
        intra = np.full(len(slots), -depth, dtype=np.int64)
        if p.insert_only:
            closed = _with(before, {"valid_to": pa.array(times).cast(TIMESTAMP)})
            pieces.append(
                _Piece(
                    name,
                    np.full(len(slots), OP_CODES["u"]),
                    times,
                    groups,
                    intra,
                    key,
                    before,
                    closed,
                )
            )
        else:
            pieces.append(
                _Piece(
                    name,
                    np.full(len(slots), OP_CODES["d"]),
                    times,
                    groups,
                    intra,
                    key,
                    before,
                    None,
                )
            )
        state.kill(slots)
        return pieces

    def _refresh(self, name: str, step: int) -> list[_Piece]:
        """Recompute the aggregates of rows whose children changed in this step; rows whose
        values moved get one update, after every change of the row and its children this
        step, in the transaction of the latest of them."""
        causes = self._dirty.pop(name, [])
        p, state = self.plans[name], self.states[name]
        if not causes:
            return []
        rowids = np.concatenate([c[0] for c in causes])
        at = np.minimum(state.slots_of(rowids), state.slots - 1)
        ok = (state.rowid[at] == rowids) & state.live[at]  # the parent may be gone
        dirty = np.unique(at[ok])
        if len(dirty) == 0:
            return []
        own = self._own.get(name, [])
        every = [(at[ok], *(np.concatenate([c[i] for c in causes])[ok] for i in (1, 2))), *own]
        slot_, time_, group_ = (np.concatenate([e[i] for e in every]) for i in range(3))
        order = np.lexsort((group_, time_, slot_))
        slot_s = slot_[order]
        last = order[np.r_[slot_s[1:] != slot_s[:-1], True]]  # latest change per slot
        last = last[np.isin(slot_[last], dirty)]
        slots, times, groups = slot_[last], time_[last], group_[last]
        values = self._recompute(p, slots)
        current = {
            f.name: c for f, c in zip(p.schema.row_type, state.rows(slots).flatten(), strict=True)
        }
        moved = np.zeros(len(slots), dtype=bool)
        for f, new in values.items():
            same = pc.fill_null(pc.equal(current[f], new), False)
            both_null = pc.and_(pc.is_null(current[f]), pc.is_null(new))
            moved |= ~pc.or_(same, both_null).to_numpy(zero_copy_only=False)
        if not moved.any():
            return []
        keep = pa.array(np.flatnonzero(moved))
        slots, times, groups = slots[moved], times[moved], groups[moved]
        cols = {f: c.take(keep) for f, c in current.items()}
        cols.update({f: v.take(keep) for f, v in values.items()})
        if p.agg_deps:
            cols, _ = self._fields(
                p, p.agg_deps, len(slots), times, ("aggregate", step), cols, slots=slots
            )
        changed = {f: cols[f] for f in [*p.aggs, *p.agg_deps]}
        pieces = self._change(name, slots, times, groups, changed, {})
        for piece in pieces:
            piece.intra = piece.intra + 2  # after the changes that caused it, in their group
        return pieces

    def _recompute(self, p: _Plan, slots: np.ndarray) -> dict[str, pa.Array]:
        """Every aggregate of these rows, from the live children in the state."""
        parents = self.states[p.name].rowid[slots]
        out = {}
        for f, g in p.aggs.items():
            cs = self.states[g.entity]
            live = np.flatnonzero(cs.live)
            pos = np.searchsorted(parents, cs.side["parent"][live])
            mine = (pos < len(parents)) & (
                parents[np.minimum(pos, len(parents) - 1)] == cs.side["parent"][live]
            )
            rows = pa.array(live[mine])
            children = (
                pa.StructArray.from_arrays([cs.column(g.field).take(rows)], [g.field])
                if g.field is not None
                else None
            )
            out[f] = self._aggregate(p, f, pos[mine], children, len(slots))
        return out

    def _hold(self, entity: str, rowids: np.ndarray) -> None:
        """Rows whose referrers were deleted this step wait for the next step to be deleted,
        so their delete never precedes the referrer's in seq order."""
        touched = self._touched.get(entity)
        if touched is not None and len(rowids):
            touched[self.states[entity].slots_of(rowids)] = True

    def _groups(self, n: int) -> np.ndarray:
        start = self._next_group
        self._next_group += n
        return np.arange(start, start + n, dtype=np.int64)

    # -- assembling a step ------------------------------------------------------------------
    def _assemble(
        self, step: int, t0: int, t1: int, pieces: list[_Piece], snapshot: bool
    ) -> Changes:
        if not pieces:
            return Changes(step, t0, t1, {})
        rank = {n: i for i, n in enumerate(self.order)}
        time = np.concatenate([pc_ for pc_ in (p.time for p in pieces)])
        group = np.concatenate([p.group for p in pieces])
        intra = np.concatenate([p.intra for p in pieces])
        ent = np.concatenate([np.full(len(p.time), rank[p.entity]) for p in pieces])
        order = (
            np.lexsort((intra, group, time, ent))
            if snapshot
            else np.lexsort((ent, intra, group, time))
        )
        seq = np.empty(len(order), dtype=np.int64)
        seq[order] = np.arange(self.seq, self.seq + len(order))
        self.seq += len(order)
        if snapshot:
            txn = np.zeros(len(order), dtype=np.int64)
        else:
            g_sorted = group[order]
            new = np.concatenate([[True], g_sorted[1:] != g_sorted[:-1]])
            txn_sorted = self.txn + np.cumsum(new)
            self.txn = int(txn_sorted[-1]) if len(txn_sorted) else self.txn
            txn = np.empty(len(order), dtype=np.int64)
            txn[order] = txn_sorted
        tables: dict[str, list[pa.Table]] = {}
        offset = 0
        for p in pieces:
            n = len(p.time)
            sch = self.schemas[p.entity]
            schema = change_schema(sch.key_type, sch.row_type)
            t = pa.Table.from_arrays(
                [
                    pa.array(seq[offset : offset + n]),
                    pa.array(txn[offset : offset + n]),
                    OP_NAMES.take(pa.array(p.op)),
                    pa.array(p.time, pa.int64()).cast(TIMESTAMP),
                    p.key.cast(sch.key_type),
                    p.before if p.before is not None else pa.nulls(n, sch.row_type),
                    p.after if p.after is not None else pa.nulls(n, sch.row_type),
                ],
                schema=schema,
            )
            tables.setdefault(p.entity, []).append(t)
            offset += n
        out = {}
        for name in self.order:
            if name in tables:
                t = pa.concat_tables(tables[name])
                out[name] = t.take(pc.sort_indices(t["seq"])).combine_chunks()
        return Changes(step, t0, t1, out)

    # -- public -----------------------------------------------------------------------------
    def steps(self) -> Iterator[Changes]:
        """The snapshot (op r, step 0, in chunks of about `snapshot_rows`), then one Changes
        per step until the end of the clock."""
        self._next_group = 0
        yield from self._snapshot()
        step, t0 = 1, self.start_us
        while t0 < self.end_us:
            t1 = min(t0 + self.step_us, self.end_us)
            yield self._step(step, t0, t1)
            step, t0 = step + 1, t1

    def _snapshot(self) -> Iterator[Changes]:
        """Initial rows block by block: a block is a fixed number of root rows with their
        children and its own random streams, assembled alone, so the data is the same however
        blocks are grouped into the chunks handed on; a chunk is yielded once it is full."""
        chunk: list[Changes] = []
        rows, handed = 0, False
        for name in self.order:
            p = self.plans[name]
            if not p.ent.initial or p.parent is not None:
                continue
            self._candidates = {k: np.flatnonzero(s.live) for k, s in self.states.items()}
            per_block = max(1, SNAPSHOT_BLOCK // self.family_rows(name))
            for block, lo in enumerate(range(0, p.ent.initial, per_block)):
                n = min(per_block, p.ent.initial - lo)
                times = np.full(n, self.start_us, dtype=np.int64)
                tag = ("initial", block)
                pieces = self._create(name, times, self._groups(n), OP_CODES["r"], tag)
                chunk.append(self._assemble(0, self.start_us, self.start_us, pieces, True))
                rows += len(chunk[-1])
                if rows >= self.snapshot_rows:
                    yield _merged(chunk)
                    chunk, rows, handed = [], 0, True
        if chunk or not handed:  # an empty snapshot still marks the start
            yield _merged(chunk) if chunk else Changes(0, self.start_us, self.start_us, {})

    def family_rows(self, name: str) -> int:
        """Most rows one row of this entity brings with its children (recursively)."""
        p = self.plans[name]
        more = 0
        for child in p.children:
            parent = self.plans[child].ent.parent
            assert parent is not None
            more += parent.count.max * self.family_rows(child)
        return 1 + more

    def _step(self, step: int, t0: int, t1: int) -> Changes:
        self._candidates = {k: np.flatnonzero(s.live) for k, s in self.states.items()}
        self._frozen = {(e, f): self.states[e].column(f) for e, f in self._looked_up}
        existing = {k: s.slots for k, s in self.states.items()}
        pieces: list[_Piece] = []
        for name in self.order:
            p = self.plans[name]
            if p.ent.arrivals is None:
                continue
            times = arrival_times(
                p.ent.arrivals, self._rng(name, "arrivals", step), t0, t1, self.start_us
            )
            pieces += self._create(
                name, times, self._groups(len(times)), OP_CODES["c"], ("create", step)
            )
        touched: dict[str, np.ndarray] = {}
        self._touched = touched
        for name in self.order:
            state = self.states[name]
            if not state.slots:
                continue
            touched[name] = np.zeros(state.slots, dtype=bool)
            pieces += self._transitions(name, t0, t1, touched[name], step)
            touched[name][existing[name] :] = (
                True  # new rows: no update or delete in their first step
            )
            pieces += self._updates(name, t0, t1, touched[name], step)
        for name in reversed(self.order):  # children first: their deletes free parent rows
            if name in touched and self.plans[name].deletable:
                pieces += self._deletes(name, t0, t1, touched[name], step)
        for name in reversed(self.order):  # children first: a parent's update feeds its own
            pieces += self._refresh(name, step)
        self._own.clear()
        changes = self._assemble(step, t0, t1, pieces, snapshot=False)
        self._frozen = {}
        self._compact()
        return changes

    def _compact(self) -> None:
        for name, state in self.states.items():
            p = self.plans[name]
            keep = state.live.copy()
            if not (p.ent.updates or p.deletable or p.targeted):
                for f in p.states:
                    keep &= state.side[f"due:{f}"] != NEVER
                if not p.states and not (p.parent and self.plans[p.parent].deletable):
                    keep[:] = False
            dropped = state.slots - int(keep.sum())
            if dropped and dropped >= max(4096, state.slots // 4):
                state.compact(keep)

    def current(self, entity: str) -> pa.Table:
        """Live rows of a retained entity right now (the world's view of the final state)."""
        state = self.states[entity]
        return state.table.filter(pa.array(state.live))


def _merged(chunk: list[Changes]) -> Changes:
    """Consecutive snapshot Changes as one (their seq ranges follow each other)."""
    if len(chunk) == 1:
        return chunk[0]
    tables: dict[str, list[pa.Table]] = {}
    for changes in chunk:
        for entity, table in changes.tables.items():
            tables.setdefault(entity, []).append(table)
    first = chunk[0]
    return Changes(
        0, first.start_us, first.end_us, {e: pa.concat_tables(ts) for e, ts in tables.items()}
    )


def _with(rows: pa.StructArray, values: dict[str, pa.Array]) -> pa.StructArray:
    """A struct array with some fields replaced."""
    fields = list(rows.type)
    arrays = [
        values[f.name].cast(f.type) if f.name in values else rows.field(f.name) for f in fields
    ]
    return pa.StructArray.from_arrays(arrays, fields=fields)


def _dependents(p: _Plan, fields: set[str]) -> list[str]:
    """Fields to regenerate on update: the updated ones and every field derived from them."""
    out = set(fields)
    changed = True
    while changed:
        changed = False
        for f, g in p.gens.items():
            if f not in out and g.depends() & out and not isinstance(g, Ref):
                out.add(f)
                changed = True
    return [f for f in p.order if f in out]
