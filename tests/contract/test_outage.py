"""Server stopped mid-run (CONTRACT.md, failure): the run resumes and ends with nothing lost
or doubled, or fails cleanly naming the sink, nothing half-published, and the ledger says
what was not delivered.

The server is taken away as a crash does (the harness's `stop`: a signal to the PID the
fixture started) right after step `AT`, before the run takes its next one, and brought back
`DOWN` seconds later on a thread: whatever the machine's speed, the run writes into the
outage. The servers are the session's; each run uses its own namespace.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import HeadwaterError
from headwater.ledger import LedgerReader
from headwater.resolve.scenario import Scenario
from headwater.runner import RunReport, run
from headwater.sinks import SINKS, SinkContext
from headwater.world.schema import world_schemas

from tests.contract._checks import (
    check_acks,
    check_delivery,
    check_final_state,
    check_report_is_ledger,
    published_ids,
)
from tests.contract._harness import NAME, Harness, scenario, server_for
from tests.contract.harnesses import harnesses
from tests.sinks._streams import Run, expected_events

AT = 2  # of the short world's 4 steps
DOWN = 1.0  # seconds


class Outage:
    """An `on_step` hook: after step AT, stop the server; start it again DOWN s later.
    Keeps the runner's report, which a failed run fills in before it raises."""

    def __init__(self, h: Harness, server: Any):
        self.h, self.server = h, server
        self.report: RunReport | None = None
        self.thread: threading.Thread | None = None

    def __call__(self, changes: Any, report: RunReport) -> None:
        self.report = report
        if report.steps != AT:
            return
        assert self.h.stop is not None
        self.h.stop(self.server)
        self.thread = threading.Thread(target=self._back)
        self.thread.start()

    def _back(self) -> None:
        time.sleep(DOWN)
        self.h.start(self.server)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()


@dataclass
class Outcome:
    """A run into a server taken away mid-run: its error, if it failed, and what it left."""

    error: HeadwaterError | None
    run: Run
    sc: Scenario
    reader: Any
    ns: str


def run_through_an_outage(h: Harness, server: Any, ns: str, out: Path) -> Outcome:
    sc = scenario(h.sink(server, ns).replace("}\n", h.ride_out + "}\n", 1))
    reader = h.listen(server, ns) if h.listen else server
    context = SinkContext(world_schemas(sc), out, sc.seed, sc.name, dict(sc.sinks))
    sinks = {n: SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()}
    outage = Outage(h, server)
    error: HeadwaterError | None = None
    try:
        run(sc, out_dir=out, sinks=sinks, ledger=True, on_step=outage)
    except HeadwaterError as exc:
        error = exc
    finally:
        outage.join()
    assert outage.thread is not None and outage.report is not None, "the server was not stopped"
    return Outcome(error, Run(outage.report, sinks, out), sc, reader, ns)


@pytest.mark.parametrize("h", harnesses(lambda h: h.stop is not None and h.forgetful != h.server))
def test_server_stopped_mid_run_resumes_or_fails_cleanly(
    h: Harness, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    o = run_through_an_outage(h, server_for(request, h), f"contract_outage_{h.kind}", tmp_path)
    if o.error is None:
        resumed(h, o.sc, o.run, o.reader, o.ns)
    else:
        failed_cleanly(h, o.run, o.reader, o.ns, o.error)


@pytest.mark.parametrize("h", harnesses(lambda h: h.forgetful is not None))
def test_a_server_that_forgets_in_a_crash_fails_the_run_cleanly(
    h: Harness, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """It acknowledged messages it no longer has: success would be a lie. (When the crash
    comes before the server acknowledged anything, the client sends it all again and it
    forgets nothing; then success is the truth only if everything landed.)"""
    assert h.forgetful is not None
    server = request.getfixturevalue(h.forgetful)
    o = run_through_an_outage(h, server, f"contract_forgot_{h.kind}", tmp_path)
    if o.error is None:
        assert h.landed is not None, "the run succeeded though the server lost its data"
        arrived = h.landed(o.reader, o.ns, o.run)
        check_delivery(h, o.run, Counter(arrived))
        if h.acks is not None:
            check_acks(h, o.run, arrived)
        return
    failed_cleanly(h, o.run, o.reader, o.ns, o.error)


def resumed(h: Harness, sc: Scenario, r: Run, reader: Any, ns: str) -> None:
    """Nothing lost, nothing doubled beyond what the report counts; report = ledger = acks."""
    ledger = LedgerReader(r.out / "ledger")
    assert ledger.complete, "the run succeeded but its ledger is not complete"
    stats = r.stats(NAME)
    assert stats.get("retries", 0) + stats.get("reconnects", 0) > 0, "it never met the outage"
    check_report_is_ledger(r)
    if h.rows is not None:
        check_final_state(sc, h.rows(reader, ns, r))
        if h.acks is not None:  # a store acknowledges each change once, reconnects or not
            check_acks(h, r, None)
        return
    assert h.landed is not None
    arrived = h.landed(reader, ns, r)
    check_delivery(h, r, Counter(arrived))
    if h.acks is not None:
        check_acks(h, r, arrived)


def failed_cleanly(h: Harness, r: Run, reader: Any, ns: str, error: HeadwaterError) -> None:
    """The error names the sink; the ledger is marked incomplete; what landed is the
    world's, copies only as many as the report counts resent, and the ledger claims nothing
    published that did not land. (What a failed run leaves in a store's tables is for the
    sinks' own crash tests: tests/sinks/_durability.py.)"""
    assert f"sink '{NAME}'" in str(error), str(error)
    ledger = LedgerReader(r.out / "ledger")
    assert not ledger.complete, "the run failed but its ledger says complete"
    if h.rows is not None or h.event_id is None:
        return
    assert h.landed is not None
    arrived = [h.event_id(i) for i in h.landed(reader, ns, r)]
    world = {e.event_id for e in expected_events(r)}
    strange = sorted(set(arrived) - world)
    assert not strange, f"{len(strange)} landed that the world never had, e.g. {strange[:3]}"
    copies = len(arrived) - len(set(arrived))
    assert copies <= r.stats(NAME).get("resent", 0), f"{copies} copies landed, not counted"
    claimed = sorted(published_ids(r) - set(arrived))
    assert not claimed, f"the ledger says {len(claimed)} published that never landed: {claimed[:3]}"
    if ledger.sinks[NAME].acked:  # the manifest says so too
        assert ledger.manifest.get("unpublished", {}).get(NAME, {}) == ledger.unpublished(NAME)
