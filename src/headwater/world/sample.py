"""An entity's rows without running the world: for previews, bulk files and benchmarks.

Values read from other rows (lookups, aggregates of children) are null here.

Rows come in fixed-size chunks, each with its own random streams, so the output is the same
whatever chunk of it is asked for and however the work is split across workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np
import pyarrow as pa

from headwater.core.micros import US, epoch_us
from headwater.core.random import stream
from headwater.core.spec import TIMESTAMP
from headwater.generators.base import GenContext, field_order
from headwater.generators.lookup import Aggregate, Lookup
from headwater.generators.ref import Ref, Skew, pick
from headwater.world.model import WorldSpec
from headwater.world.rates import peak_rate
from headwater.world.schema import world_schemas

CHUNK = 1 << 16  # rows per random-stream chunk: fixed, so any slice of the output is stable


class StaticKeys:
    """References into another entity's first rows (its initial population, or 1,000 rows)."""

    def __init__(self, scenario: WorldSpec, seed: int):
        self.scenario, self.seed = scenario, seed
        self.schemas = world_schemas(scenario)

    @cache  # noqa: B019 - one instance per generation; keys are reused across chunks
    def keys(self, entity: str) -> pa.Array:
        ent = self.scenario.entities[entity]
        n = max(ent.initial, 1000)
        gens = ent.fields
        needed = {ent.key_field}
        while True:  # the key and whatever it is derived from
            more = {d for f in needed for d in gens[f].depends() if d in gens} - needed
            if not more:
                break
            needed |= more
        times = pa.array(np.full(n, epoch_us(self.scenario.clock.start)), pa.int64()).cast(
            TIMESTAMP
        )
        cols: dict[str, pa.Array] = {}
        for f in field_order(gens):
            if f in needed:
                rng = stream(self.seed, entity, f, "keys")
                cols[f] = gens[f].generate(GenContext(n, rng, times, cols, self, self.seed))
        return cols[ent.key_field]

    def sample_keys(
        self, entity: str, n: int, rng: np.random.Generator, skew: Skew | None
    ) -> pa.Array:
        keys = self.keys(entity)
        return keys.take(pa.array(pick(rng, len(keys), n, skew)))

    def key_type(self, entity: str) -> pa.DataType:
        return self.schemas[entity].key_type


def sample_chunks(
    scenario: WorldSpec, entity: str, n: int, *, seed: int | None = None, start: int = 0
) -> Iterator[pa.Table]:
    """Rows start..start+n of an entity as Arrow tables of at most CHUNK rows."""
    seed = scenario.seed if seed is None else seed
    ent = scenario.entities[entity]
    schema = world_schemas(scenario)[entity]
    gens = ent.fields
    order = field_order(gens)
    keys = StaticKeys(scenario, seed)
    t0 = epoch_us(scenario.clock.start)
    rate = peak_rate(ent.arrivals) if ent.arrivals is not None else 1.0
    gap = max(int(US / rate), 1) if rate > 0 else US
    pos = start
    while pos < start + n:
        chunk = pos // CHUNK
        lo, hi = chunk * CHUNK, (chunk + 1) * CHUNK
        first, last = max(pos, lo), min(hi, start + n)
        m = CHUNK
        # increasing event times at the entity's arrival rate, as if rows kept arriving
        times = t0 + np.arange(lo, hi, dtype=np.int64) * gap
        event_time = pa.array(times, pa.int64()).cast(TIMESTAMP)
        parent_keys = None
        if ent.parent is not None:
            parent_keys = keys.sample_keys(
                ent.parent.entity, m, stream(seed, entity, "parent", chunk), None
            )
        cols: dict[str, pa.Array] = {}
        for f in order:
            gen = gens[f]
            rng = stream(seed, entity, f, "sample", chunk)
            if isinstance(gen, Ref) and gen.entity == (ent.parent.entity if ent.parent else None):
                cols[f] = parent_keys
                continue
            if isinstance(gen, Lookup | Aggregate):  # other rows' values: only the world has them
                cols[f] = pa.nulls(m, schema.row_type.field(f).type)
                continue
            ctx = GenContext(m, rng, event_time, cols, keys, seed, scenario.locale, parent_keys, lo)
            cols[f] = gen.column(ctx)
        if ent.write == "insert_only":
            cols["version"] = pa.array(np.ones(m, dtype=np.int64))
            cols["valid_from"] = event_time
            cols["valid_to"] = pa.nulls(m, TIMESTAMP)
        table = pa.Table.from_arrays([cols[f.name] for f in schema.row_type], schema=schema.schema)
        yield table.slice(first - lo, last - first)
        pos = last


def _chunk(args: tuple[WorldSpec, str, int, int | None, int]) -> pa.Table:
    scenario, entity, n, seed, start = args
    return pa.concat_tables(list(sample_chunks(scenario, entity, n, seed=seed, start=start)))


def sample(
    scenario: WorldSpec, entity: str, n: int, *, seed: int | None = None, workers: int = 1
) -> pa.Table:
    """n rows of one entity as a single Arrow table (`.to_pandas()`, `polars.from_arrow`).

    With workers > 1, chunks are generated in parallel processes; the rows are identical.
    """
    if workers > 1 and n > CHUNK:
        from concurrent.futures import ProcessPoolExecutor

        jobs = [(scenario, entity, min(CHUNK, n - s), seed, s) for s in range(0, n, CHUNK)]
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_chunk, jobs))
    else:
        parts = list(sample_chunks(scenario, entity, n, seed=seed))
    return (
        pa.concat_tables(parts) if parts else world_schemas(scenario)[entity].schema.empty_table()
    )
