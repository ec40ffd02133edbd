"""GraphQL over the live state (strawberry): one type per entity with its relations, Relay
connections, equality filters, and the same guard as REST (auth, rate limit, faults).

```graphql
{ customers(first: 10, where: {country: "DE"}) {
    edges { cursor node { id email orders(first: 5) { edges { node { order_id items {
      edges { node { qty } } } } } } } }
    pageInfo { hasNextPage endCursor } totalCount } }
```

A reference field `customer_id` also gives `customer` (the row it points at); an entity
referenced by others gets one connection per referencing entity. Field names are the
scenario's (no camel-casing), so REST, GraphQL and gRPC say the same words, and values
are written as REST writes them: DateTime in RFC 3339 UTC with microseconds, Decimal as a
string with all its digits.
"""

# no `from __future__ import annotations`: strawberry reads these types at run time
import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any, NewType

import numpy as np
import pyarrow as pa
import strawberry
from starlette.requests import Request
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.base_scalars import DateTimeDefinition

from headwater.core.micros import epoch_us
from headwater.serve import cursors
from headwater.serve.encode import iso_datetime
from headwater.serve.guard import ANONYMOUS, Principal
from headwater.serve.params import shown, within
from headwater.serve.query import (
    Query,
    QueryError,
    last_item,
    seek,
    select,
    sort_names,
    window,
)
from headwater.serve.store import LiveStore

if TYPE_CHECKING:
    from headwater.serve.runtime import Serving

Long = NewType("Long", int)


def _long(value: Any) -> int:
    """A Long argument: an integer within 64 bits (a bool, float or string is not one)."""
    if type(value) is not int:
        raise QueryError("Long: expected an integer")
    return within(value, "Long")


class _Schema(strawberry.Schema):
    """Logs only what is a bug. A client's bad query or argument (a syntax or validation
    error, a QueryError, a credential that may not read) is its answer, not a traceback on
    the server's stderr per request."""

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        bugs = [
            e
            for e in errors
            if e.path is not None
            and e.original_error is not None
            and not isinstance(e.original_error, QueryError | PermissionError)
        ]
        super().process_errors(bugs, execution_context)


LONG = strawberry.scalar(
    name="Long", serialize=int, parse_value=_long, description="A 64-bit integer"
)
DATETIME = strawberry.scalar(
    name="DateTime",
    serialize=iso_datetime,
    parse_value=DateTimeDefinition.parse_value,
    description="RFC 3339 in UTC with microseconds, as REST: 2026-01-01T00:00:05.000000Z",
)


@strawberry.type
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


def _py_type(t: pa.DataType) -> Any:
    if pa.types.is_boolean(t):
        return bool
    if pa.types.is_integer(t):
        return Long if t.bit_width == 64 else int
    if pa.types.is_floating(t):
        return float
    if pa.types.is_decimal(t):
        return decimal.Decimal
    if pa.types.is_timestamp(t):
        return dt.datetime
    if pa.types.is_date(t):
        return dt.date
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return str
    return JSON


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _us_dt(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


class _Builder:
    def __init__(self, serving: "Serving"):
        self.store: LiveStore = serving.store
        self.cap = serving.config.graphql.max_page_size
        self.schemas = {e: self.store.schemas[e] for e in serving.entities}
        self.nodes: dict[str, type] = {}
        self.connections: dict[str, type] = {}
        self.filters: dict[str, type] = {}
        self.edges: dict[str, type] = {}

    def filterable(self, entity: str) -> dict[str, Any]:
        out = {}
        for f in self.schemas[entity].row_type:
            t = f.type
            if pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_boolean(t):
                out[f.name] = _py_type(t)
        return out

    def build(self) -> strawberry.Schema:
        names = list(self.schemas)
        for e in names:
            self.nodes[e] = type(_camel(e), (), {"__module__": __name__})
        for e in names:
            ann = {f: t | None for f, t in self.filterable(e).items()}
            cls = type(f"{_camel(e)}Filter", (), {"__annotations__": ann, **dict.fromkeys(ann)})
            self.filters[e] = strawberry.input(cls, description=f"{e} whose fields equal these")
            edge = self.edges[e] = strawberry.type(
                type(
                    f"{_camel(e)}Edge",
                    (),
                    {"__annotations__": {"cursor": str, "node": self.nodes[e]}},
                )
            )
            self.connections[e] = strawberry.type(
                type(
                    f"{_camel(e)}Connection",
                    (),
                    {
                        "__annotations__": {
                            "edges": list[edge],  # type: ignore[valid-type]
                            "pageInfo": PageInfo,
                            "totalCount": int,
                        }
                    },
                )
            )
        for e in names:
            self._node(e)
        root_ns: dict[str, Any] = {"__annotations__": {}}
        for e in names:
            root_ns[e] = strawberry.field(resolver=self._connection_resolver(e, None))
            root_ns[self._singular(e)] = strawberry.field(resolver=self._lookup_resolver(e))
        root = strawberry.type(type("Query", (), root_ns))
        return _Schema(
            query=root,
            config=StrawberryConfig(
                auto_camel_case=False, scalar_map={Long: LONG, dt.datetime: DATETIME}
            ),
        )

    def _singular(self, e: str) -> str:
        base = e[:-1] if e.endswith("s") and len(e) > 1 else f"{e}_by_key"
        return base if base not in self.schemas else f"{e}_by_key"

    def _node(self, e: str) -> None:
        cls = self.nodes[e]
        s = self.schemas[e]
        ann: dict[str, Any] = {}
        for f in s.row_type:
            t = _py_type(f.type)
            ann[f.name] = t if f.name == s.key else t | None
        ann["_created_at"] = dt.datetime
        ann["_updated_at"] = dt.datetime
        cls.__annotations__ = ann
        taken = set(ann)
        for fk in s.foreign_keys:
            if fk.entity not in self.schemas:
                continue
            name = fk.field[:-3] if fk.field.endswith("_id") else f"{fk.field}_ref"
            if name in taken:
                name = f"{fk.field}_ref"
            taken.add(name)
            setattr(cls, name, strawberry.field(resolver=self._ref_resolver(fk.entity, fk.field)))
        for other, os in self.schemas.items():
            fks = [fk for fk in os.foreign_keys if fk.entity == e]
            for fk in fks:
                name = other if len(fks) == 1 else f"{other}_by_{fk.field}"
                if name in taken:
                    name = f"{name}_rel"
                taken.add(name)
                setattr(
                    cls,
                    name,
                    strawberry.field(resolver=self._connection_resolver(other, fk.field, e)),
                )
        strawberry.type(cls)

    # -- resolvers -----------------------------------------------------------------------------
    def check_access(self, info: Any, entity: str) -> None:
        p: Principal = info.context.get("principal", ANONYMOUS)
        if not p.may_read(entity):
            raise PermissionError(f"this credential may not read '{entity}'")

    def _make(self, entity: str, positions: np.ndarray, snap: Any) -> list[Any]:
        if len(positions) == 0:
            return []
        cls = self.nodes[entity]
        names = [f.name for f in self.schemas[entity].row_type]
        rows = snap.table.select(names).take(pa.array(positions)).to_pylist()
        out = []
        for row, c, u in zip(
            rows, snap.created[positions].tolist(), snap.updated[positions].tolist(), strict=True
        ):
            out.append(cls(**row, _created_at=_us_dt(c), _updated_at=_us_dt(u)))
        return out

    def _lookup_resolver(self, entity: str) -> Any:
        node = self.nodes[entity]
        key_t = _py_type(self.schemas[entity].key_type)
        builder = self

        def resolve(info: strawberry.Info, id: Any) -> Any:
            builder.check_access(info, entity)
            snap = builder.store.snapshot(entity)
            i = snap.find(id)
            return builder._make(entity, np.array([i]), snap)[0] if i >= 0 else None

        resolve.__annotations__ = {"info": strawberry.Info, "id": key_t, "return": node | None}
        resolve.__name__ = self._singular(entity)
        return resolve

    def _ref_resolver(self, target: str, field: str) -> Any:
        builder = self

        def resolve(root: Any, info: strawberry.Info) -> Any:
            value = getattr(root, field)
            if value is None:
                return None
            builder.check_access(info, target)
            snap = builder.store.snapshot(target)
            i = snap.find(value)
            return builder._make(target, np.array([i]), snap)[0] if i >= 0 else None

        resolve.__annotations__ = {
            "root": Any,
            "info": strawberry.Info,
            "return": self.nodes[target] | None,
        }
        return resolve

    def _connection_resolver(
        self, entity: str, field: str | None, parent: str | None = None
    ) -> Any:
        builder = self
        s = self.schemas[entity]
        sorts = sort_names(s.row_type)
        parent_key = self.schemas[parent].key if parent else None

        def resolve(
            root: Any,
            info: strawberry.Info,
            first: int = 50,
            after: str | None = None,
            where: Any = None,
            sort: str | None = None,
            updated_since: dt.datetime | None = None,
        ) -> Any:
            builder.check_access(info, entity)
            if first < 0:
                raise QueryError("first: must be at least 0")
            first = min(first, builder.cap)
            sort_by = sort or s.key
            desc = sort_by.startswith("-")
            sort_by = sort_by.removeprefix("-")
            if sort_by not in sorts:
                raise QueryError(f"cannot sort by {shown(sort_by)} (one of: {', '.join(sorts)})")
            equals = [(k, v) for k, v in vars(where).items() if v is not None] if where else []
            if field is not None and root is not None:
                equals.append((field, getattr(root, parent_key)))  # type: ignore[arg-type]
            since = None
            if updated_since is not None:
                ts = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=dt.UTC)
                since = epoch_us(ts)
            q = Query(sort_by, desc, tuple(equals), since)
            snap = builder.store.snapshot(entity)
            view = select(snap, q, s.key)
            start = seek(view, cursors.decode(q, after, s, "after"), desc) if after else 0
            positions = window(view, start, start + first, desc)
            nodes = builder._make(entity, positions, snap)
            marks = [
                cursors.encode(q, last_item(view, start + i, 1, desc)) for i in range(len(nodes))
            ]
            conn = builder.connections[entity]
            edge_cls = builder.edges[entity]
            return conn(
                edges=[edge_cls(cursor=c, node=n) for c, n in zip(marks, nodes, strict=True)],
                pageInfo=PageInfo(
                    hasNextPage=start + len(nodes) < len(view),
                    hasPreviousPage=start > 0,
                    startCursor=marks[0] if marks else None,
                    endCursor=marks[-1] if marks else None,
                ),
                totalCount=len(view),
            )

        resolve.__annotations__ = {
            "root": Any,
            "info": strawberry.Info,
            "first": int,
            "after": str | None,
            "where": self.filters[entity] | None,
            "sort": str | None,
            "updated_since": dt.datetime | None,
            "return": self.connections[entity],
        }
        return resolve


def schema(serving: "Serving") -> strawberry.Schema:
    return _Builder(serving).build()


def mount(app: Any, serving: "Serving", path: str) -> None:
    async def context(request: Request) -> dict[str, Any]:
        return {"principal": request.scope.get("state", {}).get("principal", ANONYMOUS)}

    router = GraphQLRouter(schema(serving), context_getter=context, include_in_schema=False)
    app.include_router(router, prefix=path)
