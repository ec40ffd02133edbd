"""Bad scenarios give precise messages: YAML path, line, and what is expected."""

import textwrap

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import loads

from tests.helpers import SHOP


def problems(text: str, env=None) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        loads(textwrap.dedent(text), file="s.yaml", env=env or {})
    return [str(p) for p in exc.value.problems]


def test_unknown_reference_suggests_the_entity():
    msgs = problems(SHOP.replace("ref: customers.id", "ref: customer.id"))
    assert any(
        "entities.orders.fields.customer_id.ref: unknown entity 'customer' — did you mean 'customers'?"
        in m
        for m in msgs
    ), msgs
    assert any(m.startswith("s.yaml:") for m in msgs)


def test_line_numbers_point_at_the_key():
    text = "entities:\n  a:\n    initial: 1\n    fields:\n      id: {seq: {}}\n      x: {lognormal: {mu: 1, sigmaa: 2}}\n"
    msgs = problems(text)
    assert msgs == [
        "s.yaml:6:30: entities.a.fields.x.lognormal.sigmaa: unknown key 'sigmaa' — did you mean 'sigma'?"
    ]


def test_unknown_generator_and_field_type():
    msgs = problems(
        "entities:\n  a:\n    initial: 1\n    fields:\n      id: {seq: {}}\n      x: {lognormall: {}}\n"
    )
    assert any("unknown generator 'lognormall' — did you mean 'lognormal'?" in m for m in msgs)


def test_bad_duration_and_rate():
    msgs = problems(
        SHOP.replace("duration: 1h", "duration: 1 hour").replace(
            "arrivals: 2/s", "arrivals: 2 per s"
        )
    )
    assert any("clock.duration" in m and "invalid duration '1 hour'" in m for m in msgs), msgs
    assert any("entities.orders.arrivals" in m and "invalid rate" in m for m in msgs), msgs


def test_cycle_in_derived_fields():
    text = SHOP.replace(
        'total: {expr: "qty * price"}',
        'total: {expr: "qty * price + extra"}\n      extra: {expr: "total * 2"}',
    )
    msgs = problems(text)
    assert any(
        "cycle in derived fields: extra → total → extra" in m
        or "cycle in derived fields: total → extra → total" in m
        for m in msgs
    ), msgs


def test_all_problems_are_reported_at_once():
    text = SHOP.replace("ref: customers.id", "ref: customer.id").replace(
        "fields: [email]", "fields: [emial]"
    )
    msgs = problems(text)
    assert len(msgs) >= 2
    assert any(
        "updates[0].fields[0]: unknown field 'emial' — did you mean 'email'?" in m for m in msgs
    )


def test_environment_interpolation():
    text = "name: ${NAME:-shop}\nseed: ${SEED}\nentities:\n  a:\n    initial: 1\n    fields:\n      id: {seq: {}}\n"
    sc = loads(text, env={"SEED": "7"})
    assert (sc.name, sc.seed) == ("shop", 7)
    msgs = problems(text)
    assert any("environment variable SEED is not set" in m for m in msgs)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("ref: customers.id", "ref: customers.name"), "'name' is not the key of 'customers'"),
        (
            ("parent: {entity: orders", "parent: {entity: order"),
            "unknown entity 'order' — did you mean 'orders'?",
        ),
        (("{fake: name}", "{fake: nmae}"), "unknown fake kind 'nmae' — did you mean 'name'?"),
        (('{expr: "qty * price"}', '{expr: "qty.real"}'), "is not allowed in an expression"),
        (('{expr: "qty * price"}', '{expr: "frob(qty)"}'), "unknown function 'frob'"),
        (
            ('{expr: "qty * price"}', '{expr: "qty * prise"}'),
            "unknown field 'prise' — did you mean 'price'?",
        ),
        (("arrivals: 2/s", "arrivals: {diurnal: {peak: 2/s}}"), "trough"),
        (("key: id", "key: ident"), "unknown field 'ident'"),
        (
            ("{uniform: {min: 1, max: 5}}", "{uniform: {min: 5, max: 1}}"),
            "max (1) must be >= min (5)",
        ),
        (("{fake: name}", "{fake: name, null_rate: 2}"), "less than or equal to 1"),
        (("initial: 300", "initial: -1"), "greater than or equal to 0"),
    ],
)
def test_table_of_bad_inputs(change, expected):
    text = SHOP.replace(*change)
    assert text != SHOP
    msgs = problems(text)
    assert any(expected in m for m in msgs), msgs


def test_unknown_sink_kind_and_entity():
    text = SHOP + "sinks:\n  db: {kind: sqlit}\n  f: {kind: sqlite, entities: [order]}\n"
    msgs = problems(text)
    assert any(
        "sinks.db.kind: unknown sink kind 'sqlit' — did you mean 'sqlite'?" in m for m in msgs
    ), msgs
    assert any(
        "sinks.f.entities[0]: unknown entity 'order' — did you mean 'orders'?" in m for m in msgs
    ), msgs


def test_yaml_syntax_error_has_a_position():
    msgs = problems("entities: [\n")
    assert msgs[0].startswith("s.yaml:") and "YAML syntax error" in msgs[0]


def test_serve_and_cdc_cross_checks_run_in_validate():
    text = SHOP.replace("duration: 1h", "duration: 1h, speed: realtime")
    text += "serve: {rest: {collections: {order: {}}}}\n"
    text += "sinks:\n  db: {kind: postgres, url: 'postgresql://u@127.0.0.1:1/x'}\n"
    text += "  cdc: {kind: cdc, from: db, to: {kind: files}, faults: {duplicate: 0.1}}\n"
    msgs = problems(text)
    assert any(
        "serve.rest.collections.order: unknown entity 'order' — did you mean 'orders'?" in m
        for m in msgs
    ), msgs
    assert any("sinks.cdc.faults: faults apply to simulated CDC only" in m for m in msgs), msgs
