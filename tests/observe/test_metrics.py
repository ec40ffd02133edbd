"""Prometheus metrics while a run goes: scraped at steps the test picks, parsed with
prometheus_client's own parser, and equal to the run report's figures."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from headwater.errors import MissingExtra
from headwater.observe.probe import RunProbe
from headwater.observe.server import Bucket, ObserveServer
from headwater.runner import run

from tests.observe._world import TOKEN, get, world


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample by name and sorted labels."""
    status, text = get(f"{url}/metrics")
    assert status == 200, text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def per_sink(samples: dict, sink: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for labels, value in samples["headwater_events_total"].items():
        d = dict(labels)
        if d["sink"] == sink:
            counts.setdefault(d["entity"], {})[d["op"]] = int(value)
    return counts


def test_metrics_during_and_after_a_run_agree_with_the_report(tmp_path: Any) -> None:
    sc = world()
    probe = RunProbe()
    seen: list[tuple[int, float, dict, dict]] = []
    with ObserveServer(probe, token=TOKEN) as server:

        def on_step(changes: Any, report: Any) -> None:
            if report.steps in (3, 9):  # the run waits while the test scrapes
                world_now = {e: dict(ops) for e, ops in report.entities.items()}
                clock = changes.end_us / 1e6
                seen.append((report.steps, clock, world_now, scrape(server.url)))

        report = run(sc, out_dir=tmp_path / "out", on_step=on_step, observer=probe)
        final = scrape(server.url)

    start = sc.clock.start.timestamp()
    for steps, clock, world_now, m in seen:
        assert m["headwater_steps_total"][()] == steps
        assert m["headwater_simulated_time_seconds"][()] == clock
        assert m["headwater_simulated_elapsed_seconds"][()] == clock - start
        assert m["headwater_run_done"][()] == 0
        assert {
            dict(k)["entity"] + "/" + dict(k)["op"]: int(v)
            for k, v in m["headwater_world_events_total"].items()
        } == {f"{e}/{op}": n for e, ops in world_now.items() for op, n in ops.items()}
        assert per_sink(m, "db") == world_now  # no faults: the sink took every event

    assert seen[0][2] != seen[1][2]  # the figures moved between the scrapes
    assert final["headwater_run_done"][()] == 1
    assert final["headwater_steps_total"][()] == report.steps > 9
    assert final["headwater_simulated_elapsed_seconds"][()] == report.simulated.total_seconds()
    assert final["headwater_wall_elapsed_seconds"][()] == pytest.approx(report.wall_seconds)
    ratio = final["headwater_simulated_wall_ratio"][()]
    assert ratio == pytest.approx(report.simulated.total_seconds() / report.wall_seconds)
    end = final["headwater_simulated_time_seconds"][()]
    assert end == start + report.simulated.total_seconds()
    for name, info in report.sinks.items():
        assert per_sink(final, name) == info["counts"]
        assert final["headwater_written_bytes_total"][(("sink", name),)] == info["bytes"]
        for metric in ("errors", "retries", "reconnects"):
            assert final[f"headwater_{metric}_total"][(("sink", name),)] == 0
    faults = report.sinks["drop"]["faults"]
    assert final["headwater_faults_total"] == {
        (("fault", "duplicate"), ("sink", "drop")): faults["duplicate"]["events"],
        (("fault", "outage"), ("sink", "drop")): faults["outage"]["held"],
    }
    assert faults["duplicate"]["events"] > 0 and faults["outage"]["held"] > 0
    assert "headwater_acks_pending" not in final  # neither sink is a broker


def test_every_request_needs_the_token() -> None:
    with ObserveServer(RunProbe(), token=TOKEN, ui=True) as server:
        for path in ("/metrics", "/", "/api/state"):
            assert get(server.url + path, token=None)[0] == 401
            assert get(server.url + path, token="wrong-token-value")[0] == 401
            assert get(server.url + path)[0] == 200
        status, _ = get(f"{server.url}/api/state?token={TOKEN}", token=None)
        assert status == 200
        assert get(server.url + "/nothing")[0] == 404


def test_metrics_without_the_ui_serve_no_page() -> None:
    with ObserveServer(RunProbe(), token=TOKEN) as server:
        assert get(server.url + "/")[0] == 404
        assert get(server.url + "/metrics")[0] == 200


def test_requests_beyond_the_rate_limit_get_429() -> None:
    with ObserveServer(RunProbe(), token=TOKEN, rate=0.001, burst=3) as server:
        assert [get(server.url + "/metrics")[0] for _ in range(4)] == [200, 200, 200, 429]


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    bucket = Bucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.take("a"), bucket.take("a")] == [0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # per client
    now[0] = 0.5
    assert bucket.take("a") == 0.0


def test_missing_prometheus_client_names_the_metrics_extra(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingExtra) as caught:
        ObserveServer(RunProbe(), token=TOKEN)
    assert caught.value.extra == "metrics"
    assert "headwater[metrics]" in str(caught.value)
