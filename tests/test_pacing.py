"""Paced delivery: windows on a grid from the world's start; a delivery cut by time, whole."""

import pyarrow as pa

from headwater.core.micros import US
from headwater.faults.pipeline import FaultPipeline
from headwater.pacing import split, window_ends
from headwater.world.engine import World

from tests.helpers import scenario


def test_windows_follow_a_grid_from_the_start_of_the_world():
    assert window_ends(0, 0, 60 * US, None) == [60 * US]
    assert window_ends(0, 0, 10 * US, 20.0) == [5 * US, 10 * US]
    assert window_ends(0, 7 * US, 20 * US, 20.0) == [10 * US, 15 * US, 20 * US]
    assert window_ends(0, 5 * US, 5 * US, 20.0) == [5 * US]  # the snapshot: an instant


def test_a_delivery_cut_in_windows_keeps_every_change_in_order_and_transactions_whole():
    world = World(scenario())
    steps = world.steps()
    next(steps)
    changes = next(steps)
    (delivery,) = FaultPipeline("s", None, None).deliver(changes)  # type: ignore[arg-type]
    ends = window_ends(world.start_us, changes.start_us, changes.end_us, 40.0)
    pieces = split(delivery, ends)
    assert len(pieces) == len(ends) > 2
    for entity, table in delivery.tables.items():
        parts = [p.tables[entity] for p in pieces if p is not None]
        assert pa.concat_tables(parts).equals(table)
        events = [p.events[entity] for p in pieces if p is not None and entity in p.events]
        assert pa.concat_tables(events).equals(delivery.events[entity])
    txns = [
        {t for table in p.tables.values() for t in table["txn"].to_pylist()}
        for p in pieces
        if p is not None
    ]
    for i, a in enumerate(txns):
        for b in txns[i + 1 :]:
            assert not a & b
    starts = [p.start_us for p in pieces if p is not None]
    assert starts[0] == changes.start_us and pieces[-1].end_us == changes.end_us  # type: ignore[union-attr]
