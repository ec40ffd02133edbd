"""The CDC sink's pure checks ask the other sinks' capabilities (a typed CheckContext), and the
sinks its messages list come from the registry."""

from __future__ import annotations

import pytest

from headwater._plugins import either
from headwater.errors import ScenarioError
from headwater.resolve.load import loads
from headwater.sinks import kinds

from tests.helpers import SHOP


def problems(sinks: str) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        loads(SHOP + "sinks:\n" + sinks, file="s.yaml", env={})
    return [str(p) for p in exc.value.problems]


def test_a_source_without_transactions_is_refused_naming_the_sinks_that_have_them():
    msgs = problems(
        "  out: {kind: files, path: out}\n"
        "  cdc: {kind: cdc, from: out, to: {kind: files, path: cdc}}\n"
    )
    listed = "memory, mysql, postgres or sqlite"  # transactional, with a change log
    assert any(
        f"sinks.cdc.from: sink 'out' is a files sink; CDC captures {listed}" in m for m in msgs
    ), msgs


def test_a_transport_without_records_is_refused_naming_those_with():
    msgs = problems(
        "  db: {kind: sqlite, path: shop.db}\n"
        "  cdc: {kind: cdc, from: db, to: {kind: logs, path: logs}}\n"
    )
    listed = either(kinds(lambda c: c.carries_records))
    assert "files" in listed and "kafka" in listed and "logs" not in listed
    assert any(f"a logs sink cannot carry CDC events; use {listed}" in m for m in msgs), msgs


def test_a_source_with_an_invalid_configuration_is_not_called_unknown():
    msgs = problems(
        "  db: {kind: sqlite, pathh: shop.db}\n"
        "  cdc: {kind: cdc, from: db, to: {kind: files, path: cdc}}\n"
    )
    assert any("sinks.db.pathh" in m for m in msgs), msgs
    assert not any("sinks.cdc" in m for m in msgs), msgs


def test_an_unknown_source_suggests_the_other_sinks():
    msgs = problems(
        "  app_db: {kind: sqlite, path: shop.db}\n"
        "  cdc: {kind: cdc, from: app_bd, to: {kind: files, path: cdc}}\n"
    )
    assert any("sinks.cdc.from: unknown sink 'app_bd' — did you mean 'app_db'?" in m for m in msgs)


def test_a_key_value_store_is_no_cdc_source():
    msgs = problems(
        "  kv: {kind: redis}\n  cdc: {kind: cdc, from: kv, to: {kind: files, path: cdc}}\n"
    )
    assert any("sinks.cdc.from: sink 'kv' is a redis sink; CDC captures" in m for m in msgs), msgs
