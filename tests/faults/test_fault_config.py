"""Fault declarations validate with precise messages at their YAML paths; examples validate."""

from __future__ import annotations

import re
import textwrap

import pytest

from headwater.errors import ScenarioError
from headwater.faults import FAULTS, FaultsConfig
from headwater.resolve.load import loads

WORLD = """
name: c
clock: {start: 2026-01-01T00:00:00Z, duration: 1h}
entities:
  orders:
    key: order_id
    arrivals: 1/s
    fields:
      order_id: {seq: {}}
      amount: {uniform: {min: 1, max: 9}}
      note: {fake: sentence}
      created_at: {event_time: {}}
  users:
    key: id
    initial: 5
    fields:
      id: {seq: {}}
      email: {fake: email}
sinks:
"""


def load_with(faults: str, kind: str = "memory") -> object:
    block = textwrap.indent(textwrap.dedent(faults).strip(), "      ")
    return loads(WORLD + f"  s:\n    kind: {kind}\n    faults:\n{block}\n")


def problems(faults: str, kind: str = "memory") -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        load_with(faults, kind)
    return [str(p) for p in exc.value.problems]


def test_the_short_forms_and_the_full_forms_load():
    sc = load_with(
        """
        late: 0.05
        reorder: 5s
        duplicate: 0.01
        drift: {at: 2026-01-01T00:30:00Z, rename: {amount: total}}
        malformed: 0.001
        outage: {every: 20m, length: 1m}
        skew: -90s
        zones: {offsets: [Z, "+02:00"]}
        """
    )
    faults = sc.sinks["s"].faults  # type: ignore[attr-defined]
    assert faults.declared() == [
        "late",
        "reorder",
        "duplicate",
        "drift",
        "malformed",
        "outage",
        "skew",
        "zones",
    ]
    assert faults.skew.offset.total_seconds() == -90
    assert faults.late.delay.mean.total_seconds() == 30  # the default delay


CASES = [
    ("late: {rate: 1.5}", r"sinks\.s\.faults\.late\.rate: .*less than or equal to 1"),
    ("late: {rate: 0.1, delay: {mean: 1m, fixed: 2m}}", r"faults\.late\.delay: give one of"),
    (
        "late: {rate: 0.1, delay: {median: 1m}}",
        r"faults\.late\.delay: .*needs both median and sigma",
    ),
    # the suggestion after this one depends on scenario/errors.py unwrapping Optional models
    ("late: {rate: 0.1, dealy: 1m}", r"faults\.late\.dealy: unknown key 'dealy'"),
    ("latee: 0.1", r"faults\.latee: unknown key 'latee' — did you mean 'late'"),
    # a shorthand's problem points at the value as written, not at the key it expands to
    ("malformed: {rate: 0.1, kinds: [{a: 1}]}", r"faults\.malformed\.kinds: expected kinds"),
    ("zones: {offsets: [{a: 1}]}", r"faults\.zones\.offsets: expected offsets"),
    ("duplicate: 2", r"faults\.duplicate: .*less than or equal to 1, got 2"),
    ("reorder: {window: 0s}", r"faults\.reorder: .*window must be positive"),
    ("outage: [{length: 5m}]", r"faults\.outage\[0\]: .*give either at \(once\) or every"),
    ("outage: [{every: 5m, length: 5m}]", r"faults\.outage\[0\]: .*shorter than every"),
    ("skew: 90 seconds", r"faults\.skew: .*invalid duration"),
    (
        "malformed: {rate: 0.1, kinds: [truncate, garble]}",
        r"faults\.malformed\.kinds: .*unknown kind 'garble'",
    ),
    ("zones: {offsets: ['+2']}", r"faults\.zones\.offsets: .*invalid offset"),
    (
        "zones: {fields: [create_at]}",
        r"faults\.zones\.fields\[0\]: no timestamp field 'create_at'.*created_at",
    ),
    (
        "skew: {offset: 1m, fields: [amount]}",
        r"faults\.skew\.fields\[0\]: no timestamp field 'amount'",
    ),
    ("drift: [{at: 2026-01-01T00:30:00Z}]", r"faults\.drift\[0\]: .*changes something"),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, rename: {amont: total}}]",
        r"faults\.drift\[0\]\.rename\.amont: unknown field 'amont' — did you mean 'amount'",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, entities: [order], drop: [note]}]",
        r"faults\.drift\[0\]\.entities\[0\]: 'order' is not an entity of this sink — did you mean 'orders'",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, entities: [orders], drop: [order_id]}]",
        r"faults\.drift\[0\]\.drop\.order_id: the key of 'orders' cannot be dropped",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, rename: {amount: note}}]",
        r"faults\.drift\[0\]\.rename\.amount: 'orders' already has a field 'note'",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, type: {amount: int128}}]",
        r"faults\.drift\[0\]\.type: .*unknown type 'int128'",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, format: {amount: epoch_ms}}]",
        r"faults\.drift\[0\]\.format\.amount: format applies to timestamps",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, format: {created_at: unix}}]",
        r"faults\.drift\[0\]\.format\.created_at: unknown format 'unix'",
    ),
    (
        "drift: [{at: 2026-01-01T00:30:00Z, add: {x: {choise: [a]}}}]",
        r"faults\.drift\[0\]\.add: .*add\.x: unknown generator 'choise'",
    ),
    ("drift: [{at: 2026-01-01T00:30:00, drop: [note]}]", r"faults\.drift\[0\]\.at: .*no time zone"),
]


@pytest.mark.parametrize(("faults", "pattern"), CASES, ids=[c[0][:40] for c in CASES])
def test_invalid_faults_are_located(faults, pattern):
    found = problems(faults)
    assert any(re.search(pattern, p) for p in found), found


def test_later_drift_rules_use_the_names_of_earlier_ones():
    load_with(
        """
        drift:
          - {at: 2026-01-01T00:40:00Z, type: {total: string}}
          - {at: 2026-01-01T00:20:00Z, rename: {amount: total}}
        """
    )
    found = problems(
        """
        drift:
          - {at: 2026-01-01T00:20:00Z, rename: {amount: total}}
          - {at: 2026-01-01T00:40:00Z, entities: [orders], type: {amount: string}}
        """
    )
    assert any("'orders' has no field 'amount' at this time" in p for p in found), found


def test_every_problem_is_reported_with_its_line():
    found = problems("late: {rate: 3}\nduplicate: -1\nzones: {fields: [nope]}")
    assert len(found) == 2  # structural errors first; cross-checks need a valid mapping
    assert all(re.match(r"line \d+: sinks\.s\.faults\.", p) for p in found), found


def test_database_sinks_refuse_stream_faults_but_take_outages():
    found = problems(
        "duplicate: 0.1\noutage: [{at: 2026-01-01T00:10:00Z, length: 1m}]", kind="sqlite"
    )
    assert len(found) == 1
    assert "sinks.s.faults.duplicate: a sqlite sink applies changes as transactions" in found[0]
    load_with("outage: [{at: 2026-01-01T00:10:00Z, length: 1m}]\nskew: 5s", kind="sqlite")


def test_registry_matches_the_config_and_docstring_examples_validate():
    assert FAULTS.names() == sorted(FaultsConfig.model_fields)
    import yaml

    for name in FAULTS.names():
        doc = FAULTS.get(name).__module__
        module = __import__(doc, fromlist=["_"])
        block = re.search(r"```yaml\n(.*?)```", module.__doc__ or "", re.S)
        assert block, f"{name}: the module docstring needs a YAML example"
        data = yaml.safe_load(block.group(1))
        FaultsConfig.model_validate(data["faults"])
