"""The `elasticsearch` sink: the world's changes as `_bulk` NDJSON files, one per interval.

No Elasticsearch server can run on this machine, so this sink writes what an application
feeding Elasticsearch sends to `POST _bulk` (files to replay with
`curl -H 'Content-Type: application/x-ndjson' --data-binary @FILE host:9200/_bulk`), and is
tested against the bulk API's grammar, never against a fake server. Each change is one
action: an insert (or snapshot row) `index`es the document under `_id` (the entity key), an
update sends `update` with a partial `doc` of the fields that changed (`updates: index`
re-indexes the full image instead), a delete sends `delete` (no source line).

Index names come from `index:` ({entity}); `date_suffix:` adds the date of the change that
created the document (`orders-2026.01.01`, as time-based indices are named); its later
updates and its delete go to that same index. Mappings derived from the field types are
written once per index at open() under `_mappings/` (an index template when suffixed):
strings keyword (or `text:`), integers long, floats double, decimals scaled_float (or
keyword), times date, booleans boolean, structs object.

```yaml
sinks:
  search: {kind: elasticsearch, path: es, every: 1h, date_suffix: "%Y.%m.%d", text: [note]}
```
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from headwater.sinks.base import CheckContext, SinkConfig, SinkContext
from headwater.sinks.files.bulk import BulkConfig, BulkSink, LinesWriter
from headwater.sinks.files.formats import FormatWriter


class ElasticsearchConfig(BulkConfig):
    kind: Literal["elasticsearch"] = "elasticsearch"
    path: str = Field(
        "elasticsearch", description="folder; relative paths are under the run's output folder"
    )
    index: str = Field("{entity}", description="index name template: {entity}")
    date_suffix: str | None = Field(
        None, description="strftime of the creating change's time appended as -SUFFIX"
    )
    updates: Literal["update", "index"] = Field(
        "update", description="update: a partial doc of the changed fields; index: full image"
    )
    text: list[str] = Field(
        default_factory=list, description="string fields mapped as text (others: keyword)"
    )
    decimals: Literal["scaled_float", "keyword"] = "scaled_float"

    @field_validator("index")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            name = v.format(entity="orders")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"index names use only {{entity}} ({exc})") from None
        if (
            name != name.lower()
            or not name
            or name[0] in "-_+"
            or any(c in name for c in '\\/*?"<>| ,#:')
        ):
            raise ValueError(f"'{name}' is not a valid index name (lowercase, no \\/*?\"<>| ,#:)")
        return v


class NdjsonWriter(LinesWriter):
    extension = "ndjson"


def es_type(t: pa.DataType, field: str, config: ElasticsearchConfig) -> dict[str, Any]:
    """The mapping of one field of Arrow type `t`."""
    if pa.types.is_struct(t):
        return {"properties": {f.name: es_type(f.type, f.name, config) for f in t}}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return es_type(t.value_type, field, config)  # an array is a field of its element type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return {"type": "text" if field in config.text else "keyword"}
    if pa.types.is_boolean(t):
        return {"type": "boolean"}
    if pa.types.is_integer(t):
        return {"type": "long"}
    if pa.types.is_floating(t):
        return {"type": "double"}
    if pa.types.is_decimal(t):
        if config.decimals == "keyword":
            return {"type": "keyword"}
        return {"type": "scaled_float", "scaling_factor": 10**t.scale}
    if pa.types.is_timestamp(t):
        return {"type": "date", "format": "strict_date_optional_time"}
    if pa.types.is_date(t):
        return {"type": "date", "format": "strict_date"}
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return {"type": "binary"}
    return {"type": "keyword"}


def mappings(row_type: pa.StructType, config: ElasticsearchConfig) -> dict[str, Any]:
    """Strict mappings: a field the world did not declare is rejected, not guessed."""
    return {
        "dynamic": "strict",
        "properties": {f.name: es_type(f.type, f.name, config) for f in row_type},
    }


class ElasticsearchSink(BulkSink):
    kind = "elasticsearch"
    Config = ElasticsearchConfig
    roles: ClassVar[dict[str, str]] = {"actions": "ndjson"}
    writers: ClassVar[dict[str, type[FormatWriter]]] = {"actions": NdjsonWriter}
    config: ElasticsearchConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.homes: dict[str, dict[str, str]] = {}  # per entity, _id → its dated index

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every `text:` field is a string field of some entity of the sink."""
        assert isinstance(config, ElasticsearchConfig)
        strings = {
            f.name
            for e in context.entities(config)
            for f in context.schemas[e].row_type
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        }
        return [
            (("text", i), f"'{name}' is no string field of the sink's entities")
            for i, name in enumerate(config.text)
            if name not in strings
        ]

    def index_of(self, entity: str) -> str:
        return self.config.index.format(entity=entity)

    def prepare(self) -> dict[str, str]:
        out = {}
        for entity, schema in self.schemas().items():
            body: dict[str, Any] = {"mappings": mappings(schema.row_type, self.config)}
            name = self.index_of(entity)
            if self.config.date_suffix is not None:
                body = {"index_patterns": [f"{name}-*"], "template": body}
                name += "-template"
            out[f"_mappings/{name}.json"] = json.dumps(body, indent=2, sort_keys=True) + "\n"
        return out

    def encode(self, entity: str, changes: pa.Table) -> dict[str, list[str]]:
        schema = self.context.schemas[entity]
        homes = self.homes.setdefault(entity, {})
        lines = []
        for op, at, before, after in zip(
            changes["op"].to_pylist(),
            changes["event_time"].to_pylist(),
            changes["before"].to_pylist(),
            changes["after"].to_pylist(),
            strict=True,
        ):
            row = before if op == "d" else after
            doc_id = ":".join(str(row[k]) for k in schema.primary_key)
            index = homes.get(doc_id) or self._dated(entity, at)
            meta = {"_index": index, "_id": doc_id}
            if op == "d":
                homes.pop(doc_id, None)
                lines.append(_line({"delete": meta}))
                continue
            if self.config.date_suffix is not None:
                homes[doc_id] = index
            if op == "u" and self.config.updates == "update" and before is not None:
                doc = {k: v for k, v in after.items() if before.get(k) != v}
                lines.append(_line({"update": meta}) + _line({"doc": self._source(doc)}))
            else:
                lines.append(_line({"index": meta}) + _line(self._source(after)))
        return {"actions": lines}

    def _dated(self, entity: str, at: dt.datetime) -> str:
        name = self.index_of(entity)
        if self.config.date_suffix is None:
            return name
        return f"{name}-{at.strftime(self.config.date_suffix)}"

    def _source(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: _json_value(v, self.config.decimals) for k, v in row.items()}


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _json_value(v: Any, decimals: str) -> Any:
    """A row value as Elasticsearch reads it for its mapped type."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v) if decimals == "keyword" else float(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, dict):
        return {k: _json_value(x, decimals) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x, decimals) for x in v]
    return v
