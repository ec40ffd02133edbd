"""`headwater init` from schema files: JSON Schema, Avro and OpenAPI documents become
scenarios that validate and run, with types, formats, enums and `$ref`s carried over."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from headwater.init import init_scenario

from tests.init._shop import run_text

JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Order",
    "type": "object",
    "required": ["order_id", "customer", "status"],
    "properties": {
        "order_id": {"type": "integer"},
        "customer": {"$ref": "#/$defs/Customer"},
        "status": {"$ref": "#/$defs/Status"},
        "total": {"type": "number", "multipleOf": 0.01, "minimum": 0, "maximum": 5000},
        "placed_at": {"type": "string", "format": "date-time"},
        "contact": {"type": ["string", "null"], "format": "email"},
        "lines": {"type": "array", "items": {"type": "object"}},
    },
    "$defs": {
        "Status": {"type": "string", "enum": ["placed", "paid", "shipped"]},
        "Customer": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "vip": {"type": "boolean"},
            },
        },
    },
}

AVRO = {
    "type": "record",
    "name": "PageView",
    "namespace": "shop",
    "fields": [
        {"name": "view_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "url", "type": "string"},
        {"name": "device", "type": {"type": "enum", "name": "Device", "symbols": ["web", "ios"]}},
        {"name": "viewed_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {
            "name": "price",
            "type": [
                "null",
                {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2},
            ],
        },
        {
            "name": "session",
            "type": {
                "type": "record",
                "name": "Session",
                "fields": [{"name": "id", "type": "long"}],
            },
        },
        {"name": "previous", "type": ["null", "shop.Session"]},  # the record again, by name
    ],
}

OPENAPI = """
openapi: 3.1.0
info: {title: Pets, version: '1'}
paths: {}
components:
  schemas:
    Owner:
      type: object
      required: [id]
      properties:
        id: {type: integer}
        email: {type: string, format: email}
        city: {type: string}
    Pet:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        species: {type: string, enum: [dog, cat]}
        owner: {$ref: '#/components/schemas/Owner'}
        born: {type: string, format: date}
    Error: {type: string}
"""


def test_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text(json.dumps(JSON_SCHEMA))
    text = init_scenario(str(path))
    ents = yaml.safe_load(text)["entities"]
    assert set(ents) == {"order", "customer"}  # Status is an enum, not an entity
    order = ents["order"]["fields"]
    assert ents["order"]["key"] == "order_id" and order["order_id"] == {"seq": {}}
    assert order["customer_id"] == {"ref": "customer.id"}
    assert order["status"] == {"choice": ["placed", "paid", "shipped"]}
    assert order["total"]["decimal"]["max"] == 5000 and order["total"]["decimal"]["scale"] == 2
    assert order["placed_at"] == {"event_time": {}}
    assert order["contact"] == {"fake": "email"}
    assert ents["customer"]["fields"]["id"] == {"uuid": {"version": 7}}
    assert ents["customer"]["fields"]["vip"] == {"bool": {"p": 0.5}}
    run_text(text, tmp_path / "out")
    assert list((tmp_path / "out" / "order" / "order").rglob("*.jsonl"))


def test_avro(tmp_path: Path) -> None:
    path = tmp_path / "page_view.avsc"
    path.write_text(json.dumps(AVRO))
    text = init_scenario(str(path))
    ents = yaml.safe_load(text)["entities"]
    views = ents["page_view"]["fields"]
    assert ents["page_view"]["key"] == "view_id" and views["view_id"] == {"uuid": {"version": 7}}
    assert views["device"] == {"choice": ["web", "ios"]}
    assert views["url"] == {"fake": "url"}
    assert views["viewed_at"] == {"event_time": {}}
    assert views["price"]["decimal"]["precision"] == 8
    assert views["session_id"] == {"ref": "session.id"}  # a nested record is its own entity
    assert views["previous_id"] == {"ref": "session.id"}
    run_text(text, tmp_path / "out")


def test_openapi(tmp_path: Path) -> None:
    path = tmp_path / "pets.yaml"
    path.write_text(OPENAPI)
    text = init_scenario(str(path))
    ents = yaml.safe_load(text)["entities"]
    assert set(ents) == {"owner", "pet"}  # Error is not an object
    assert ents["pet"]["fields"]["owner_id"] == {"ref": "owner.id"}
    assert ents["pet"]["fields"]["species"] == {"choice": ["dog", "cat"]}
    assert ents["pet"]["fields"]["born"]["date"]
    assert ents["owner"]["fields"]["email"] == {"fake": "email"}
    run_text(text, tmp_path / "out")
