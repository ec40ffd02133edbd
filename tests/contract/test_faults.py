"""Faults (CONTRACT.md): rejected at validation where they cannot apply; where a sink takes
them, the ledger marks every faulted record that landed.

A run with duplicates, late and malformed records at a known rate is compared with the
world: every extra copy, every record that landed different from the world's image, must be
one the ledger's `fault` column marks, and the marks must all be there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.errors import ScenarioError
from headwater.ledger import LedgerReader
from headwater.testing.servers import free_port

from tests.contract._harness import NAME, Harness, declares, land, scenario, server_for
from tests.contract.harnesses import harnesses

#: Faults that change which changes a sink sees, or their order or shape: a store that
#: applies transactions by key cannot take them. One YAML sample each, valid on the world.
CHANGE_STREAM = {
    "late": "{rate: 0.1, delay: {mean: 5s}}",
    "reorder": "{window: 5s, rate: 0.2}",
    "duplicate": "0.05",
    "drift": "[{at: '2026-01-01T00:00:30Z', rename: {amount: total_amount}}]",
    "malformed": "{rate: 0.05, kinds: [missing]}",
    "zones": "{offsets: ['+02:00', Z], missing: 0.1}",
}
#: What a run with faults injects, at rates that touch a few dozen of its records.
INJECTED = {name: CHANGE_STREAM[name] for name in ("duplicate", "late", "malformed")}


def with_faults(sink_yaml: str, faults: dict[str, str]) -> str:
    """The sink under test's YAML with these faults."""
    body = ", ".join(f"{name}: {value}" for name, value in faults.items())
    return sink_yaml.replace(f"{NAME}: {{", f"{NAME}: {{faults: {{{body}}}, ", 1)


@pytest.mark.parametrize("fault", sorted(CHANGE_STREAM))
@pytest.mark.parametrize("h", harnesses(lambda h: declares(h, "store")))
def test_stream_faults_on_a_store_are_rejected_at_validation(h: Harness, fault: str) -> None:
    offline = h.dead(free_port()) if h.dead else h.sink(None, "offline")
    text = with_faults(offline, {fault: CHANGE_STREAM[fault]})
    with pytest.raises(ScenarioError) as err:
        scenario(text)
    assert f"sinks.{NAME}.faults.{fault}" in str(err.value), str(err.value)


@pytest.mark.parametrize("h", harnesses(lambda h: declares(h, "log_capture")))
def test_faults_on_log_based_cdc_are_rejected_at_validation(h: Harness) -> None:
    """Captured from a database's log, CDC events are the log's: faults belong on the
    transport."""
    assert h.dead is not None
    source = h.dead(free_port()).replace(f"{NAME}: ", "db: ", 1)
    cdc = f"{NAME}: {{kind: cdc, from: db, to: {{kind: files, format: jsonl, path: cdc}}}}\n"
    with pytest.raises(ScenarioError) as err:
        scenario(source + with_faults(cdc, {"duplicate": "0.05"}))
    message = str(err.value)
    assert f"sinks.{NAME}.faults" in message and "'to'" in message, message


@pytest.mark.parametrize("h", harnesses(lambda h: not declares(h, "store")))
def test_the_ledger_marks_every_faulted_record(
    h: Harness, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server = server_for(request, h)
    faulted = Harness(**{**h.__dict__, "sink": lambda s, ns: with_faults(h.sink(s, ns), INJECTED)})
    landing = land(faulted, server, f"contract_faults_{h.kind}", tmp_path)
    assert landing.landed is not None and landing.arrived is not None and h.expected is not None
    rows = published(landing.run.out)
    labels = [str(f) for f in rows["fault"].to_pylist() if f is not None]
    copies = sum(1 for c in rows["copy"].to_pylist() if c > 0)
    marked = {name: sum(name in f for f in labels) for name in INJECTED}
    assert all(marked.values()) and copies, f"not every fault happened: {marked}, {copies} copies"
    unmarked = [
        r for r in rows.to_pylist() if r["copy"] > 0 and "duplicate" not in (r["fault"] or "")
    ]
    assert not unmarked, f"{len(unmarked)} copies the ledger does not mark as duplicates"

    expected, landed = h.expected(landing.run), landing.landed
    extra, missing = sum((landed - expected).values()), sum((expected - landed).values())
    resent = landing.run.stats(NAME).get("resent", 0)
    dropped = landing.run.stats(NAME).get("duplicates", 0)  # copies the broker de-duplicated
    assert extra + dropped >= copies, f"{copies} copies marked, {extra + dropped} landed"
    assert extra <= copies + marked["malformed"] + resent, (
        f"{extra} records landed that the world does not have; the ledger marks "
        f"{copies} copies and {marked['malformed']} malformed"
    )
    assert missing <= marked["malformed"], (
        f"{missing} changes did not land as the world made them; "
        f"the ledger marks {marked['malformed']} malformed"
    )
    if h.event_id is not None and isinstance(landing.arrived[0], tuple):
        changed = {h.event_id(i) for i in Counter(landing.arrived) if i not in expected}
        assert changed, "no record landed malformed"
        malformed = {
            f"{r['entity']}-{r['seq']}"
            for r in rows.to_pylist()
            if "malformed" in (r["fault"] or "")
        }
        assert changed <= malformed, (
            f"landed changed but not marked: {sorted(changed - malformed)[:3]}"
        )


def published(out: Path) -> pa.Table:
    """Every record the ledger says the sink published: entity, seq, fault, copy."""
    ledger = LedgerReader(out / "ledger")
    tables = []
    for entity in ledger.sinks[NAME].entities:
        events = ledger.events(NAME, entity)
        if events is not None:
            t = events.select(["seq", "fault", "copy"])
            tables.append(t.append_column("entity", pa.array([entity] * t.num_rows)))
    return pa.concat_tables(tables)
