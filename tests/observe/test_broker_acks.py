"""Acknowledgements pending on a broker (NATS JetStream acknowledges asynchronously): what
the sink sent and the broker has not confirmed, as the sink itself counts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.observe.probe import RunProbe
from headwater.observe.server import ObserveServer
from headwater.runner import run
from headwater.sinks import SINKS, SinkContext
from headwater.world.schema import world_schemas

from tests.observe._world import TOKEN
from tests.observe.test_metrics import scrape
from tests.sinks._streams import world


def test_acks_pending_follow_the_broker(nats_server: Any, tmp_path: Path) -> None:
    sc = world(f"n: {{kind: nats, url: '{nats_server.url}', subject: 'seen.{{entity}}'}}")
    context = SinkContext(world_schemas(sc), tmp_path, sc.seed, sc.name, dict(sc.sinks))
    sinks = {n: SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()}
    probe = RunProbe()
    seen: list[tuple[int, int, float]] = []
    with ObserveServer(probe, token=TOKEN) as server:

        def on_step(changes: Any, report: Any) -> None:
            stats = sinks["n"].stats  # acks reach its figures on this thread only
            pending = scrape(server.url)["headwater_acks_pending"][(("sink", "n"),)]
            seen.append((stats.total(), stats.extra["acknowledged"], pending))

        report = run(sc, out_dir=tmp_path, sinks=sinks, on_step=on_step, observer=probe)
        final = scrape(server.url)
    assert seen and all(pending == sent - acked >= 0 for sent, acked, pending in seen)
    info = report.sinks["n"]
    assert info["acknowledged"] == sum(sum(ops.values()) for ops in info["counts"].values())
    assert final["headwater_acks_pending"] == {(("sink", "n"),): 0}  # the memory sink has none
