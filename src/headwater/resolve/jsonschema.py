"""The JSON Schema of the scenario language, assembled from the models themselves.

Field generators and sink kinds are open registries, so their schemas are gathered from every
registered plug-in and referenced as `#/$defs/Field` and `#/$defs/Sink`; the serve section's
comes from its model, as `#/$defs/Serve`.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from headwater.generators import GENERATORS
from headwater.scenario.model import ScenarioDocument
from headwater.serve.config import Serve
from headwater.sinks import SINKS


def _union(classes: list[type], title: str) -> dict[str, Any]:
    adapters = [TypeAdapter(c).json_schema(ref_template="#/$defs/{model}") for c in classes]
    defs: dict[str, Any] = {}
    variants = []
    for s in adapters:
        defs.update(s.pop("$defs", {}))
        variants.append(s)
    return {"title": title, "anyOf": variants, "$defs": defs}


def _link(node: Any) -> Any:
    """Replace the model's placeholders with references to the gathered unions."""
    if isinstance(node, dict):
        if "x-headwater-ref" in node:
            return {"$ref": f"#/$defs/{node['x-headwater-ref']}"}
        return {k: _link(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link(v) for v in node]
    return node


def _shorthands(defs: dict[str, Any]) -> None:
    """The short forms the models accept before validation ('5/s' for {rate: 5/s}…)."""
    from headwater.core.units import Duration, Rate

    rate = TypeAdapter(Rate).json_schema()
    duration = TypeAdapter(Duration).json_schema()
    for name, short in (
        ("Arrivals", rate),
        ("Delay", duration),
        ("Count", {"type": "integer", "minimum": 0}),
        ("Credential", {"type": "string"}),  # a bare secret: "${API_KEY}"
    ):
        if name in defs:
            defs[name] = {"anyOf": [short, defs[name]], "title": defs[name].get("title", name)}
    if "Transition" in defs:
        short_transition = {
            "type": "object",
            "properties": {"after": {"$ref": "#/$defs/Delay"}},
            "additionalProperties": {"type": "number", "minimum": 0},
            "required": ["after"],
        }
        defs["Transition"] = {
            "anyOf": [short_transition, defs["Transition"]],
            "title": "Transition",
        }
    if "ApiKey" in defs:  # a bare secret, or `key:` as another name for `secret:`
        keyed = dict(defs["ApiKey"], properties=dict(defs["ApiKey"]["properties"]))
        keyed["properties"]["key"] = keyed["properties"].pop("secret")
        keyed["required"] = ["key"]
        defs["ApiKey"] = {
            "anyOf": [{"type": "string"}, keyed, defs["ApiKey"]],
            "title": "ApiKey",
        }
    entity = defs["EntityDocument"]["properties"]
    entity["updates"] = {"anyOf": [{"$ref": "#/$defs/Update"}, entity["updates"]]}
    entity["indexes"]["items"] = {"anyOf": [{"type": "string"}, entity["indexes"]["items"]]}


def scenario_json_schema() -> dict[str, Any]:
    schema = ScenarioDocument.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    fields = _union([GENERATORS.get(n) for n in GENERATORS.names()], "Field")
    sinks = _union([SINKS.get(n).Config for n in SINKS.names()], "Sink")
    serve = TypeAdapter(Serve).json_schema(ref_template="#/$defs/{model}")
    for part in (fields, sinks, serve):
        defs.update(part.pop("$defs", {}))
    defs["Field"] = fields
    defs["Sink"] = sinks
    defs["Serve"] = serve
    _shorthands(defs)
    schema = _link(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "headwater scenario"
    return schema
