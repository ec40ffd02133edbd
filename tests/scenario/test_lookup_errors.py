"""Lookups and aggregates that cannot work are validation errors with their YAML paths."""

import subprocess
import sys
import textwrap

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import loads

from tests.world.test_lookups import SHOP

PRICE = "unit_price: {lookup: products.price, via: product_id}"
TOTAL = "total: {sum: order_items.line_total}"
QUANTITY = "quantity: {choice: {1: 5, 2: 3, 3: 1}}"


def edited(*pairs: tuple[str, str]) -> str:
    text = textwrap.dedent(SHOP)
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new)
    return text


def problems(*pairs: tuple[str, str]) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        loads(edited(*pairs), file="s.yaml")
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            PRICE,
            "unit_price: {lookup: product.price, via: product_id}",
            "entities.order_items.fields.unit_price.lookup: unknown entity 'product' — did you mean 'products'?",
        ),
        (
            PRICE,
            "unit_price: {lookup: products.prize, via: product_id}",
            "entities.order_items.fields.unit_price.lookup: unknown field 'products.prize' — did you mean 'price'?",
        ),
        (
            PRICE,
            "unit_price: {lookup: products.price, via: order_id}",
            "entities.order_items.fields.unit_price.via: 'order_id' is not a ref to 'products'",
        ),
        (
            PRICE,
            "unit_price: {lookup: products.price, via: item}",
            "entities.order_items.fields.unit_price: unknown field 'item'",
        ),
        (
            PRICE,
            "unit_price: {lookup: price, via: product_id}",
            "entities.order_items.fields.unit_price.lookup: expected 'entity.field', got 'price'",
        ),
        (
            TOTAL,
            "total: {sum: products.price}",
            "entities.orders.fields.total.sum: 'products' is not a child of 'orders' (declare it with parent:)",
        ),
        (
            TOTAL,
            "total: {sum: order_items.nope}",
            "entities.orders.fields.total.sum: unknown field 'order_items.nope'",
        ),
        (
            TOTAL,
            "total: {sum: order_itemz.line_total}",
            "entities.orders.fields.total.sum: unknown entity 'order_itemz' — did you mean 'order_items'?",
        ),
        (
            "cheapest: {min: order_items.unit_price}",
            "cheapest: {min: order_items}",
            "entities.orders.fields.cheapest.min: expected 'child_entity.field', got 'order_items'",
        ),
        (
            "deletes: {rate: 0.05/s}",
            "deletes: {rate: 0.05/s}\n    updates: {rate: 1/s, fields: [total]}",
            "entities.orders.updates[0].fields[0]: 'total' follows its children and cannot be updated",
        ),
    ],
)
def test_bad_lookup_or_aggregate(old, new, message):
    msgs = problems((old, new))
    assert any(message in m for m in msgs), msgs


def test_sum_needs_a_numeric_field():
    msgs = problems(
        (QUANTITY, QUANTITY + "\n      label: {fake: word}"),
        (TOTAL, "total: {sum: order_items.label}"),
    )
    assert any(
        "entities.orders.fields.total: sum needs a numeric field; 'order_items.label' is string"
        in m
        for m in msgs
    ), msgs
    loads(edited((QUANTITY, QUANTITY + "\n      label: {fake: word}")))  # the field alone is fine


def test_a_cycle_across_entities_is_rejected():
    """Orders sum their items, and an item looks up its order's total."""
    msgs = problems((QUANTITY, QUANTITY + "\n      share: {lookup: orders.total, via: order_id}"))
    assert msgs == [
        "s.yaml:19:7: entities.orders.fields.total: cycle across entities: "
        "orders.total → order_items.share → orders.total"
    ]


def test_cli_validate_exits_2(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(edited((PRICE, "unit_price: {lookup: products.price, via: order_id}")))
    r = subprocess.run(
        [sys.executable, "-m", "headwater", "validate", str(f)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "entities.order_items.fields.unit_price.via" in r.stderr, r.stderr


def test_a_drift_cannot_add_a_lookup():
    msgs = problems(
        (
            "      amount: {lookup: orders.total, via: order_id}\n",
            "      amount: {lookup: orders.total, via: order_id}\n"
            "sinks:\n  f: {kind: files, faults: {drift: {at: 2026-01-01T00:30:00Z,"
            " add: {cost: {lookup: products.price, via: product_id}}}}}\n",
        )
    )
    assert any(
        "sinks.f.faults.drift" in m and "add.cost: lookup reads other rows" in m for m in msgs
    ), msgs
