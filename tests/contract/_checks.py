"""Assertions shared by several contract checks: one run's landing against its ledger and
the world (the delivery run of every kind, and runs with a server taken away)."""

from __future__ import annotations

from collections import Counter

import pyarrow.compute as pc

from headwater.ledger import LedgerReader
from headwater.resolve.scenario import Scenario

from tests.contract._harness import NAME, Arrived, Harness, Landed, Rows, declares, final_rows
from tests.sinks._streams import Run, expected_events


def check_delivery(h: Harness, run: Run, landed: Landed) -> None:
    """Every change of the world landed, nothing else did, and copies only where the sink
    is at least once and its report counts them."""
    assert h.expected is not None
    expected = h.expected(run)
    assert expected, "the world changed nothing"
    missing = expected - landed
    unexpected = {k: n for k, n in (landed - expected).items() if k not in expected}
    assert not missing and not unexpected, (
        f"{sum(missing.values())} missing, e.g. {list(missing)[:2]}; "
        f"{sum(unexpected.values())} unexpected, e.g. {list(unexpected)[:2]}"
    )
    doubled = sum((landed - expected).values())
    if declares(h, "at_least_once"):
        counted = run.stats(NAME).get("resent", 0)
        assert doubled <= counted, f"{doubled} duplicates landed, the report counts {counted}"
    else:
        assert doubled == 0, f"{doubled} duplicates landed"


def check_final_state(sc: Scenario, rows: Rows) -> None:
    """A store's tables hold the world's final rows, row by row."""
    want = final_rows(sc)
    assert set(rows) == set(want)
    for entity, wanted in want.items():
        got = rows[entity]
        assert got == wanted, (
            f"{entity}: {len(wanted - got)} rows missing, e.g. {sorted(wanted - got)[:1]}; "
            f"{len(got - wanted)} differ or extra, e.g. {sorted(got - wanted)[:1]}"
        )


def check_report_is_ledger(run: Run) -> None:
    """The report counts, per entity and op, what the ledger says the sink published."""
    ledger = LedgerReader(run.out / "ledger")
    counted: dict[str, dict[str, int]] = {}
    for entity in ledger.sinks[NAME].entities:
        events = ledger.events(NAME, entity)
        if events is not None:
            ops = pc.value_counts(events["op"]).to_pylist()
            counted[entity] = {d["values"]: d["counts"] for d in ops}
    reported = {e: dict(ops) for e, ops in run.stats(NAME)["counts"].items() if ops}
    assert reported == counted


def published_ids(run: Run) -> set[str]:
    """The event ids ("orders-12") of what the ledger says the sink published."""
    ledger = LedgerReader(run.out / "ledger")
    out: set[str] = set()
    for entity in ledger.sinks[NAME].entities:
        events = ledger.events(NAME, entity)
        if events is not None:
            out.update(f"{entity}-{seq}" for seq in events["seq"].to_pylist())
    return out


def check_acks(h: Harness, run: Run, arrived: Arrived | None) -> None:
    """Each delivery acknowledged once, no acknowledgement of what did not arrive, and the
    ledger's deliveries are the acknowledged ones. A store (`arrived` None: what it holds is
    state, its final state is checked apart) acknowledges every change of the world once."""
    assert h.acks is not None
    acks = Counter(h.acks(run))
    assert acks, "nothing was acknowledged"
    twice = [e for e, n in acks.items() if n > 1]
    assert not twice, f"{len(twice)} deliveries acknowledged more than once, e.g. {twice[:3]}"
    if arrived is None:
        delivered = {e.event_id for e in expected_events(run)}
    else:
        assert h.event_id is not None
        delivered = {h.event_id(i) for i in arrived}
    absent = sorted(acks.keys() - delivered)
    assert not absent, f"{len(absent)} acknowledged but not delivered, e.g. {absent[:3]}"
    unacked = sorted(delivered - acks.keys())
    assert not unacked, f"{len(unacked)} delivered without an acknowledgement: {unacked[:3]}"
    stats = run.stats(NAME)
    counted = stats["acknowledged"] if "acknowledged" in stats else stats["delivered"]
    assert counted == acks.total(), f"the report counts {counted}, {acks.total()} acknowledged"
    if "acknowledged" in stats:  # a broker's acknowledgements are the ledger's too
        manifest = LedgerReader(run.out / "ledger").manifest
        assert manifest["acknowledged"][NAME] == counted, manifest.get("acknowledged")
    ledger = published_ids(run)
    assert ledger == acks.keys(), (
        f"the ledger's deliveries and the acknowledgements differ: "
        f"{sorted(ledger - acks.keys())[:3]} not acknowledged, "
        f"{sorted(acks.keys() - ledger)[:3]} not in the ledger"
    )
