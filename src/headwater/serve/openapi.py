"""The OpenAPI 3.1 document of the REST API, written from the scenario's schemas.

Written by hand rather than inferred from handlers, so that it says exactly what the
server does: one pagination style per collection, the filters and sorts that exist, which
fields can be null, the fields drift will add or take away, tombstones, the headers, and
every status the server can answer (including the injected ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.serve import encode
from headwater.serve.cursors import MAX_CURSOR
from headwater.serve.params import INT64
from headwater.serve.rest import never_null

if TYPE_CHECKING:
    from headwater.serve.rest import RestApi


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace("-", "_").split("_"))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _item_schema(api: RestApi, entity: str) -> dict[str, Any]:
    s = api.schemas[entity]
    gens = api.scenario.entities[entity].fields
    drift = api.shapes[entity].drift
    moved = {f for d in drift for f in [*d.remove, *d.rename]}
    props: dict[str, Any] = {}
    required = []
    for f in s.row_type:
        js = encode.json_schema(f.type)
        props[f.name] = js if never_null(gens.get(f.name)) else encode.nullable(js)
        if f.name not in moved:
            required.append(f.name)
    for d in drift:
        for f in d.add:
            props[f] = encode.nullable(
                encode.json_schema(api.store.table_schemas[entity].field(f).type)
            )
        for old, new in d.rename.items():
            props[new] = props.get(old, {})
    for m in encode.META:
        props[m] = {"type": "string", "format": "date-time"}
        required.append(m)
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _tombstone_schema(api: RestApi, entity: str) -> dict[str, Any]:
    s = api.schemas[entity]
    ts = {"type": "string", "format": "date-time"}
    props = {
        s.key: encode.json_schema(s.key_type),
        "_deleted": {"type": "boolean", "enum": [True]},
        "_created_at": ts,
        "_updated_at": ts,
        "_deleted_at": ts,
    }
    return {
        "type": "object",
        "description": f"A deleted {entity} row (only with include_deleted=true).",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _page_schema(style: str, item: str) -> dict[str, Any]:
    data = {"type": "array", "items": {"anyOf": [_ref(item), _ref(f"{item}Tombstone")]}}
    integer = {"type": "integer", "minimum": 0}
    if style == "cursor":
        props = {
            "data": data,
            "has_more": {"type": "boolean"},
            "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        }
    elif style == "offset":
        props = {"data": data, "offset": integer, "limit": integer, "total": integer}
    else:
        props = {
            "data": data,
            "page": integer,
            "per_page": integer,
            "total": integer,
            "total_pages": integer,
        }
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _errors(api: RestApi, *extra: int) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": _ref("Error")}}}
    out: dict[str, Any] = {}
    codes = {
        400: "Invalid or unknown parameters: a query parameter not listed here is refused",
        **{c: "" for c in extra},
    }
    if api.auth.enabled:
        codes[401] = "Missing, invalid or expired credentials"
        codes[403] = "The credential may not read this entity"
    if api.config.rate_limit:
        codes[429] = "Rate limited: retry after Retry-After seconds"
    for c, text in sorted(codes.items()):
        out[str(c)] = {"description": text or "Not found", **err}
        if c == 429:
            out["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    for c in (500, 502, 504):
        out[str(c)] = {"description": "Server error (injected by the scenario's faults)", **err}
    out["503"] = {
        "description": "Unavailable: the world's initial snapshot is not served yet, or an "
        "outage or error injected by the scenario's faults; retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        **err,
    }
    return dict(sorted(out.items()))


def _headers(api: RestApi, *names: str) -> dict[str, Any]:
    string = {"schema": {"type": "string"}}
    out = {n: string for n in names}
    if api.config.rate_limit:
        for n in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            out[n] = {"schema": {"type": "integer"}}
    return out


def _list_params(
    api: RestApi, entity: str, style: str, size: int, cap: int
) -> list[dict[str, Any]]:
    def q(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": text,
        }

    count = {"type": "integer", "format": "int64", "maximum": INT64[1]}
    limit = {**count, "minimum": 1, "default": size}
    capped = f"page size, capped at {cap}"
    if style == "cursor":
        params = [
            q("limit", limit, capped),
            q(
                "cursor",
                {"type": "string", "maxLength": MAX_CURSOR},
                "next_cursor of the previous page",
            ),
        ]
    elif style == "offset":
        params = [
            q("limit", limit, capped),
            q(
                "offset",
                {**count, "minimum": 0, "default": 0},
                "items to skip, counted in the state at this request: while the world "
                "changes, the next page can skip a row (one deleted before the offset) or "
                "repeat one (one created before it); cursor pagination does neither",
            ),
        ]
    else:
        params = [
            q(
                "page",
                {**count, "minimum": 1, "default": 1},
                "page number, from 1, counted in the state at this request: while the world "
                "changes, the next page can skip a row (one deleted before it) or repeat one "
                "(one created before it); cursor pagination does neither",
            ),
            q("per_page", limit, capped),
        ]
    ts = {"type": "string", "format": "date-time"}
    params += [
        q(
            "sort",
            {"type": "string", "enum": api.sorts(entity)},
            "order by a field, or created_at/updated_at: the row's _created_at/_updated_at "
            "(even where a field has that name); '-' for descending",
        ),
        q("updated_since", ts, "only items changed at or after this time (simulated time)"),
        q("created_since", ts, "only items created at or after this time"),
        q(
            "include_deleted",
            {"type": "boolean", "default": False},
            "include tombstones of deleted items",
        ),
    ]
    for name, kind in api.filters(entity).items():
        params.append(q(name, {"type": kind}, f"only items whose {name} equals this"))
    return params


def document(api: RestApi) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                }
            },
            "required": ["error"],
        }
    }
    paths: dict[str, Any] = {}
    for e in api.collections:
        name = camel(e)
        schemas[name] = _item_schema(api, e)
        schemas[f"{name}Tombstone"] = _tombstone_schema(api, e)
    for e in api.collections:
        name = camel(e)
        style, size, cap = api.config.rest.collection(e)
        schemas[f"{name}Page"] = _page_schema(style, name)
        key = api.schemas[e]
        id_param = {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": encode.json_schema(key.key_type),
        }
        list_headers = ["ETag", "Link"] + (["X-Total-Count"] if style != "cursor" else [])
        ok_list = {
            "description": f"A page of {e}",
            "headers": _headers(api, *list_headers),
            "content": {"application/json": {"schema": _ref(f"{name}Page")}},
        }
        not_modified = {
            "description": "Not modified (If-None-Match)",
            "headers": _headers(api, "ETag"),
        }
        paths[f"/v1/{e}"] = {
            "get": {
                "operationId": f"list_{e}",
                "summary": f"List {e} ({style} pagination)",
                "parameters": _list_params(api, e, style, size, cap),
                "responses": {"200": ok_list, "304": not_modified, **_errors(api)},
            }
        }
        paths[f"/v1/{e}/{{id}}"] = {
            "get": {
                "operationId": f"get_{e}",
                "summary": f"One of {e} by {key.key}",
                "parameters": [id_param],
                "responses": {
                    "200": {
                        "description": f"The {e} item",
                        "headers": _headers(api, "ETag"),
                        "content": {"application/json": {"schema": _ref(name)}},
                    },
                    "304": not_modified,
                    **_errors(api, 404),
                },
            }
        }
        for path, child, field in api.children[e]:
            cstyle, csize, ccap = api.config.rest.collection(child)
            cname = camel(child)
            paths[f"/v1/{e}/{{id}}/{path}"] = {
                "get": {
                    "operationId": f"list_{e}_{path}",
                    "summary": f"{child} whose {field} is this {e}",
                    "parameters": [id_param, *_list_params(api, child, cstyle, csize, ccap)],
                    "responses": {
                        "200": {
                            "description": f"A page of {child}",
                            "headers": _headers(
                                api,
                                "ETag",
                                "Link",
                                *(["X-Total-Count"] if cstyle != "cursor" else []),
                            ),
                            "content": {"application/json": {"schema": _ref(f"{cname}Page")}},
                        },
                        "304": not_modified,
                        **_errors(api, 404),
                    },
                }
            }
    security: list[dict[str, list[str]]] = []
    schemes: dict[str, Any] = {}
    if api.auth.keys:
        schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": api.auth.auth.header}  # type: ignore[union-attr]
        security.append({"apiKey": []})
    if api.auth.clients:
        schemes["oauth2"] = {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
        }
        security.append({"oauth2": []})
        token_props = {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["bearer"]},
            "expires_in": {"type": "integer"},
        }
        oauth_err = {
            "type": "object",
            "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            "required": ["error"],
        }
        schemas["Token"] = {
            "type": "object",
            "properties": token_props,
            "required": list(token_props),
        }
        schemas["OAuthError"] = oauth_err
        err = {"content": {"application/json": {"schema": _ref("OAuthError")}}}
        paths["/oauth/token"] = {
            "post": {
                "operationId": "token",
                "summary": "OAuth2 client credentials grant",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grant_type": {
                                        "type": "string",
                                        "enum": ["client_credentials"],
                                    },
                                    "client_id": {"type": "string"},
                                    "client_secret": {"type": "string"},
                                },
                                "required": ["grant_type"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "A bearer token",
                        "content": {"application/json": {"schema": _ref("Token")}},
                    },
                    "400": {"description": "Malformed request", **err},
                    "401": {"description": "Unknown client or wrong secret", **err},
                },
            }
        }
    paths["/health"] = {
        "get": {
            "operationId": "health",
            "summary": "Where the world is: simulated clock, change position, finished or not",
            "security": [],
            "responses": {
                "200": {
                    "description": "Status",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string", "enum": ["ok", "failed"]},
                                    "clock": {"type": "string", "format": "date-time"},
                                    "position": {"type": "integer"},
                                    "done": {"type": "boolean"},
                                },
                                "required": ["status", "clock", "position", "done"],
                            }
                        }
                    },
                }
            },
        }
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"{api.scenario.name} (headwater)",
            "version": "1",
            "description": "The simulated world's current state, served while it runs.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if schemes:
        doc["components"]["securitySchemes"] = schemes
        doc["security"] = security
    return doc
