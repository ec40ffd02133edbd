"""A loaded Scenario holds what its types say: resolution validates every section with its
owner's model, so no layer below sees a raw mapping where a model is declared."""

import pytest
from pydantic import ValidationError

from headwater.generators.base import FieldGen
from headwater.resolve.load import loads
from headwater.scenario.model import ScenarioDocument
from headwater.serve.config import Serve
from headwater.sinks import SINKS
from headwater.world.model import Entity

from tests.helpers import SHOP
from tests.scenario.test_load_errors import problems

SERVED = SHOP.replace("duration: 1h", "duration: 1h, speed: realtime") + (
    "serve: {rest: {collections: {orders: {}}}}\nsinks:\n  m: {kind: memory}\n"
)


def test_fields_are_generators_sinks_their_configs_serve_its_model():
    sc = loads(SERVED)
    gens = [g for e in sc.entities.values() for g in e.fields.values()]
    assert gens and all(isinstance(g, FieldGen) for g in gens)
    assert type(sc.sinks["m"]) is SINKS.get("memory").Config
    assert isinstance(sc.serve, Serve)


def test_the_document_keeps_the_plug_in_sections_as_written():
    import yaml

    doc = ScenarioDocument.model_validate(yaml.safe_load(SERVED))
    assert doc.entities["customers"].fields["id"] == {"seq": {}}
    assert doc.sinks["m"] == {"kind": "memory"}
    assert doc.serve == {"rest": {"collections": {"orders": {}}}}


def test_a_resolved_entity_refuses_a_raw_field_mapping():
    with pytest.raises(ValidationError):
        Entity.model_validate({"initial": 1, "fields": {"id": {"seq": {}}}})


def test_a_broken_source_sink_is_reported_once_not_as_unknown_to_cdc():
    text = SHOP + (
        "sinks:\n  db: {kind: sqlite, path: x.db, nonsense: 1}\n"
        "  cdc: {kind: cdc, from: db, to: {kind: memory}}\n"
    )
    msgs = problems(text)
    assert any("sinks.db" in m and "nonsense" in m for m in msgs), msgs
    assert not any("unknown sink 'db'" in m for m in msgs), msgs
