"""Run size estimates: close to what a run makes; absurd scenarios refused before they run."""

import textwrap

import pytest
from click.testing import CliRunner

import headwater
from headwater.cli import main
from headwater.errors import ScenarioError
from headwater.resolve.estimate import estimate
from headwater.runner import run
from headwater.world.engine import World

from tests.helpers import scenario


def test_the_estimate_is_close_to_what_a_run_makes():
    sc = scenario(sinks="mem: {kind: memory}")
    world = World(sc)
    est = estimate(world, sc.sinks)
    made: dict[str, int] = {}
    steps = 0
    for changes in world.steps():
        steps += changes.step > 0
        for entity, ops in changes.counts().items():
            made[entity] = made.get(entity, 0) + sum(ops.values())
    assert est.steps == steps
    for entity, n in made.items():
        assert est.events[entity] == pytest.approx(n, rel=0.35), entity
    assert est.rows["order_items"] == pytest.approx(2.5 * est.rows["orders"])
    assert 0 < est.live_bytes < est.output_bytes
    assert est.step_bytes > 0


TEMPLATE = """
name: big
clock: {{start: 2026-01-01T00:00:00Z, duration: {duration}{step}}}
entities:
  a:
    {rows}
    fields:
      id: {{seq: {{}}}}
      name: {{fake: name}}
    updates: {{rate: 1/s, fields: [name]}}
  b:
    parent: {{entity: a, count: {count}}}
    fields:
      id: {{seq: {{}}}}
      a_id: {{ref: a.id}}
{limits}
sinks:
  out: {{kind: files, format: csv, path: out}}
"""

CASES = {
    "initial": ({"rows": "initial: 1000000000000"}, "limits.max_events", "entities.a.initial"),
    "arrivals": ({"rows": "arrivals: 1e9/s"}, "limits.max_events", "entities.a.arrivals"),
    "burst": (
        {"rows": "arrivals: {rate: 1/s, bursts: [{factor: 1e9, length: 1s, every: 1d}]}"},
        "limits.max_memory",
        "largest step",
    ),
    "children": (
        {"rows": "initial: 10000", "count": "1000000"},
        "limits.max_events",
        "entities.b.parent.count",
    ),
    "steps": ({"step": ", step: 1us", "duration": "36500d"}, "limits.max_steps", "clock.step"),
}


def _text(**parts: str) -> str:
    values = {"duration": "1h", "step": "", "rows": "initial: 10", "count": "1", "limits": ""}
    return TEMPLATE.format(**{**values, **parts})


@pytest.mark.parametrize("case", CASES)
def test_validate_and_run_refuse_an_absurd_scenario_saying_how_to_raise_the_limit(tmp_path, case):
    parts, limit, cause = CASES[case]
    path = tmp_path / "big.yaml"
    path.write_text(_text(**parts))
    with pytest.raises(ScenarioError) as exc:
        headwater.validate(path)
    msg = str(exc.value)
    assert limit in msg and cause in msg and "limits: {max_" in msg
    with pytest.raises(ScenarioError, match=limit):
        run(headwater.load(path), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any sink or ledger


def test_a_raised_limit_lets_it_through(tmp_path):
    path = tmp_path / "big.yaml"
    raised = "limits: {max_events: 3e12, max_memory: 1PB}"
    path.write_text(_text(rows="initial: 1000000000000", limits=raised))
    assert headwater.validate(path).limits.max_events == 3e12


def test_cli_validate_prints_the_estimate(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(textwrap.dedent(_text()))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "estimate:" in result.output and "events" in result.output
    assert "memory" in result.output


def test_cli_validate_refuses_with_exit_2(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(_text(rows="arrivals: 1e9/s"))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "limits.max_events" in result.output and "Traceback" not in result.output
