"""REST over the live state: `GET /v1/{entity}`, `/v1/{entity}/{id}` and children under
their parent (`/v1/customers/{id}/orders`), with an OpenAPI document written from the
scenario.

Pagination is one style per collection, as real APIs have it:
    cursor  ?limit=&cursor=      opaque keyset cursor; no row skipped or repeated while the
                                 data changes (a row that changes position under a sort on
                                 updated_at shows up again, with its new values)
    offset  ?limit=&offset=      positions in the state at each request, so over a live
                                 world it can skip rows and repeat them: a row deleted (or
                                 moved) before the offset between two requests makes the
                                 next page skip one, a row created (or moved) before it
                                 makes the next page repeat one
    page    ?page=&per_page=     positions too: skips and repeats as offset does
Every list takes `sort` (a field, or created_at/updated_at: the row's `_created_at`/
`_updated_at`, even where a field has that name; `-` for descending), `updated_since`/`created_since` (inclusive, simulated time),
`include_deleted` (tombstones: `{key, _deleted: true, _deleted_at}`) and equality filters on
integer, string and boolean fields; any other parameter is a 400 naming it (a misspelt
filter must not answer with everything). Responses carry `Link` headers, an `ETag`
(`If-None-Match` gives 304) and `_created_at`/`_updated_at` per item. Until the world's
initial snapshot is served, data paths answer 503 with Retry-After and /health is 503
`starting`. Timestamps are RFC 3339 UTC with microseconds; decimals are JSON strings with
all their digits.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pyarrow as pa
from fastapi import FastAPI, Request, Response

from headwater._plugins import suggest
from headwater.core.micros import epoch_us
from headwater.generators.base import FieldGen
from headwater.generators.identity import Seq, Uuid
from headwater.generators.states import State
from headwater.serve import cursors, encode
from headwater.serve.config import Serve
from headwater.serve.guard import ANONYMOUS, Authenticator, Denied, Principal, error_body
from headwater.serve.params import INT64, int_range, integer, shown
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
from headwater.sinks._text import json_text
from headwater.world.schema import EntitySchema

PAGING = {
    "cursor": ("limit", "cursor"),
    "offset": ("limit", "offset"),
    "page": ("page", "per_page"),
}
COMMON = ("sort", "updated_since", "created_since", "include_deleted")
RESERVED = {*COMMON, *(p for names in PAGING.values() for p in names)}


def never_null(gen: FieldGen | None) -> bool:
    """Whether a generator can never give null (so the OpenAPI field is not nullable)."""
    if gen is None or gen.null_rate > 0:
        return False
    from headwater.generators.choice import Choice, Const
    from headwater.generators.fake import Fake
    from headwater.generators.numbers import Bool, Lognormal, Normal, Uniform
    from headwater.generators.times import EventTime

    return isinstance(
        gen,
        Seq
        | Uuid
        | State
        | Choice
        | Const
        | Fake
        | Bool
        | Lognormal
        | Normal
        | Uniform
        | EventTime,
    )


class Shape:
    """An entity's item shape at a point in simulated time (drift changes it)."""

    def __init__(self, schema: EntitySchema, config: Serve):
        self.base = [f.name for f in schema.row_type]
        self.drift = sorted(
            (d for d in config.drift if d.entity == schema.name), key=lambda d: d.at
        )
        self.ats = [epoch_us(d.at) for d in self.drift]
        self._cache: dict[int, tuple[list[str], dict[str, str]]] = {}

    def at(self, clock_us: int) -> tuple[int, list[str], dict[str, str]]:
        n = sum(1 for a in self.ats if a <= clock_us)
        hit = self._cache.get(n)
        if hit is None:
            cols, renames = list(self.base), dict[str, str]()
            for d in self.drift[:n]:
                cols = [c for c in cols if c not in d.remove and renames.get(c, c) not in d.remove]
                cols += [f for f in d.add if f not in cols]
                for old, new in d.rename.items():
                    src = next((c for c, v in renames.items() if v == old), old)
                    renames[src] = new
            hit = self._cache[n] = (cols, renames)
        return n, *hit


class RestApi:
    """Builds the FastAPI app for a store and a serve config."""

    def __init__(
        self,
        store: LiveStore,
        config: Serve,
        scenario: Any,
        auth: Authenticator,
        entities: list[str],
    ):
        self.store, self.config, self.scenario, self.auth = store, config, scenario, auth
        self.entities = entities
        self.collections = entities if config.rest.enabled else []  # REST's paths
        self.schemas = {e: store.schemas[e] for e in entities}
        self.shapes = {e: Shape(s, config) for e, s in self.schemas.items()}
        self._sorts: dict[str, list[str]] = {}
        self._filters: dict[str, dict[str, str]] = {}
        self.children: dict[str, list[tuple[str, str, str]]] = {e: [] for e in entities}
        for e, s in self.schemas.items():
            fks = [fk for fk in s.foreign_keys if fk.entity in self.schemas]
            for fk in fks:
                dup = sum(1 for x in fks if x.entity == fk.entity) > 1
                path = f"{e}_by_{fk.field}" if dup else e
                self.children[fk.entity].append((path, e, fk.field))

    # -- parsing -------------------------------------------------------------------------------
    def filters(self, entity: str) -> dict[str, str]:
        """Filterable fields → JSON type."""
        hit = self._filters.get(entity)
        if hit is not None:
            return hit
        s = self.schemas[entity]
        out = {}
        for f in s.row_type:
            t = f.type
            if f.name in RESERVED:
                continue
            if pa.types.is_integer(t):
                out[f.name] = "integer"
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                out[f.name] = "string"
            elif pa.types.is_boolean(t):
                out[f.name] = "boolean"
        self._filters[entity] = out
        return out

    def sorts(self, entity: str) -> list[str]:
        hit = self._sorts.get(entity)
        if hit is not None:
            return hit
        s = self.schemas[entity]
        names = sort_names(s.row_type)
        self._sorts[entity] = [*names, *(f"-{n}" for n in names)]
        return self._sorts[entity]

    def known(self, entity: str, style: str, params: dict[str, str]) -> None:
        """QueryError for a parameter the listing does not take: a misspelt filter ignored
        would answer with everything, which a client cannot tell from a right answer."""
        known = {*COMMON, *PAGING[style], *self.filters(entity)}
        fields = self.schemas[entity].row_type.names
        for name in params:
            if name in known:
                continue
            if name in fields:
                raise QueryError(
                    f"cannot filter by {shown(name)}: only integer, string and boolean fields "
                    f"are filters ({', '.join(self.filters(entity))})"
                )
            raise QueryError(f"unknown query parameter {shown(name)}{suggest(name, known)}")

    def query(self, entity: str, params: dict[str, str]) -> Query:
        s = self.schemas[entity]
        sort = params.get("sort") or s.key
        desc = sort.startswith("-")
        sort = sort.removeprefix("-")
        if sort not in self.sorts(entity):
            raise QueryError(f"cannot sort by {shown(sort)}")
        equals = []
        kinds = self.filters(entity)
        for name, kind in kinds.items():
            if name in params:
                t = s.row_type.field(name).type
                equals.append((name, _parse(params[name], kind, name, t)))
        return Query(
            sort,
            desc,
            tuple(equals),
            _time(params.get("updated_since"), "updated_since"),
            _time(params.get("created_since"), "created_since"),
            _bool(params.get("include_deleted", "false"), "include_deleted"),
        )

    def key_value(self, entity: str, raw: str) -> Any:
        t = self.schemas[entity].key_type
        if pa.types.is_integer(t):
            return integer(raw, "id", *int_range(t))
        return raw

    # -- handlers ------------------------------------------------------------------------------
    def principal(self, request: Request, entity: str) -> Principal:
        p: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
        if not p.may_read(entity):
            raise Denied(403, "forbidden", f"this credential may not read '{entity}'")
        return p

    def list_handler(self, entity: str, parent: tuple[str, str] | None = None) -> Any:
        key = self.schemas[entity].key
        style, default_size, cap = self.config.rest.collection(entity)
        shape = self.shapes[entity]
        store = self.store

        async def handler(request: Request) -> Response:
            try:
                who = self.principal(request, entity)
                snap = store.snapshot(entity)
                psnap = None if parent is None else store.snapshot(parent[0])
                drifted, cols, renames = shape.at(store.clock_us)
                # a page is a function of the snapshots, the drift and the request's URL: between
                # world steps, the same request is answered from the encoded bytes
                scope = request.scope
                ck = (
                    psnap.version if psnap is not None else None,
                    drifted,
                    scope["path"],
                    scope["query_string"],
                    scope.get("scheme"),
                    scope.get("server"),
                    scope.get("root_path"),
                    _host(scope),
                )
                memo = snap.cache.get(PAGES)
                if memo is None:
                    memo = snap.cache[PAGES] = {}
                hit = memo.get(ck) if parent is None or who.may_read(parent[0]) else None
                if hit is not None:
                    return _cached(request, *hit)
                params = dict(request.query_params)
                self.known(entity, style, params)
                q = self.query(entity, params)
                if parent is not None:
                    pentity, field = parent
                    self.principal(request, pentity)
                    pid = self.key_value(pentity, request.path_params["id"])
                    assert psnap is not None
                    if psnap.find(pid) < 0:
                        return _error(404, "not_found", f"no {pentity} with id {pid}")
                    q = Query(
                        q.sort,
                        q.desc,
                        (*q.equals, (field, pid)),
                        q.updated_since,
                        q.created_since,
                        q.include_deleted,
                    )
                view = select(snap, q, key)
                n = len(view)
                body: dict[str, Any]
                links: dict[str, dict[str, str]] = {}
                if style == "page":
                    size = min(_int(params.get("per_page"), default_size, "per_page"), cap)
                    page = _int(params.get("page"), 1, "page")
                    start = (page - 1) * size
                    positions = window(view, start, start + size, q.desc)
                    pages = max(1, -(-n // size))
                    body = {"page": page, "per_page": size, "total": n, "total_pages": pages}
                    links = {"first": {"page": "1"}, "last": {"page": str(pages)}}
                    if page < pages:
                        links["next"] = {"page": str(page + 1)}
                    if page > 1:
                        links["prev"] = {"page": str(min(page - 1, pages))}
                    extra = {"per_page": str(size)}
                elif style == "offset":
                    size = min(_int(params.get("limit"), default_size, "limit"), cap)
                    start = _int(params.get("offset"), 0, "offset", minimum=0)
                    positions = window(view, start, start + size, q.desc)
                    body = {"offset": start, "limit": size, "total": n}
                    last = max(0, (n - 1) // size * size)
                    links = {"first": {"offset": "0"}, "last": {"offset": str(last)}}
                    if start + size < n:
                        links["next"] = {"offset": str(start + size)}
                    if start > 0:
                        links["prev"] = {"offset": str(max(0, start - size))}
                    extra = {"limit": str(size)}
                else:
                    size = min(_int(params.get("limit"), default_size, "limit"), cap)
                    cursor = params.get("cursor")
                    schema = self.schemas[entity]
                    start = seek(view, cursors.decode(q, cursor, schema), q.desc) if cursor else 0
                    positions = window(view, start, start + size, q.desc)
                    more = start + len(positions) < n
                    nxt = (
                        cursors.encode(q, last_item(view, start, len(positions), q.desc))
                        if more and len(positions)
                        else None
                    )
                    body = {"has_more": more, "next_cursor": nxt}
                    if nxt:
                        links["next"] = {"cursor": nxt}
                    extra = {"limit": str(size)}
                if drifted or (len(positions) and positions.min() < 0):
                    data = encode.rows(snap, positions, key, cols, renames)
                    text = json.dumps(
                        {"data": data, **body}, separators=(",", ":"), ensure_ascii=False
                    )
                else:  # the rows' stored JSON text, spliced into the envelope
                    rest = json.dumps(body, separators=(",", ":"))
                    text = '{"data":' + encode.page_json(snap, positions) + "," + rest[1:]
                raw = text.encode()
                headers = {"ETag": _etag(raw)}
                if links:
                    headers["Link"] = _links(request, links, extra)
                if style != "cursor":
                    headers["X-Total-Count"] = str(n)
                full = Response(raw, media_type="application/json", headers=headers)
                entry = (raw, headers, full.raw_headers)
                if len(memo) < PAGES_KEPT:
                    memo[ck] = entry
                return _cached(request, *entry)
            except QueryError as exc:
                return _error(400, "bad_request", str(exc))
            except Denied as d:
                return _error(d.status, d.code, d.message)

        return handler

    def item_handler(self, entity: str) -> Any:
        key = self.schemas[entity].key
        shape = self.shapes[entity]
        store = self.store

        async def handler(request: Request) -> Response:
            try:
                self.principal(request, entity)
                for name in request.query_params:
                    raise QueryError(f"unknown query parameter {shown(name)}: an item takes none")
                kv = self.key_value(entity, request.path_params["id"])
            except QueryError as exc:
                return _error(400, "bad_request", str(exc))
            except Denied as d:
                return _error(d.status, d.code, d.message)
            snap = store.snapshot(entity)
            i = snap.find(kv)
            if i < 0:
                return _error(404, "not_found", f"no {entity} with id {kv}")
            version, cols, renames = shape.at(store.clock_us)
            at = np.array([i], dtype=np.int64)
            if version:
                item = encode.rows(snap, at, key, cols, renames)[0]
                raw = json_text(item).encode()
            else:
                raw = encode.page_json(snap, at)[1:-1].encode()
            return _conditional(request, raw, {"ETag": f'"{int(snap.seq[i])}-{version}"'})

        return handler

    async def token(self, request: Request) -> Response:
        """OAuth2 client credentials (RFC 6749 4.4): form or JSON body, or HTTP Basic."""
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        try:
            if "json" in ctype:
                form = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
            else:
                form = dict(parse_qsl(raw.decode("utf-8")))
        except (ValueError, AttributeError, UnicodeDecodeError):
            return _oauth_error(400, "invalid_request", "the body is not a form or JSON object")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            import base64
            import binascii

            try:
                cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(400, "invalid_request", "malformed Basic credentials")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only client_credentials is supported"
            )
        if "client_id" not in form or "client_secret" not in form:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
        try:
            token, ttl = self.auth.issue(form["client_id"], form["client_secret"])
        except Denied as d:
            return _oauth_error(401, d.code, d.message)
        body = {"access_token": token, "token_type": "bearer", "expires_in": int(ttl)}
        return Response(
            json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    async def health(self, request: Request) -> Response:
        """200 `ok` once the initial snapshot is served; 503 `starting` before, `failed`
        after the world failed (a load balancer or a test waits on it)."""
        store = self.store
        status = "failed" if store.error else "ok" if store.ready else "starting"
        body = {
            "status": status,
            "clock": encode.iso(np.array([store.clock_us]))[0],
            "position": store.position,
            "done": store.done,
        }
        headers = {"Retry-After": "1"} if status == "starting" else {}
        return Response(
            json.dumps(body),
            status_code=200 if status == "ok" else 503,
            media_type="application/json",
            headers=headers,
        )

    # -- app -----------------------------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI(
            title=f"{self.scenario.name} (headwater)",
            version="1",
            description="The simulated world's current state, served while it runs.",
            docs_url="/docs",
            redoc_url=None,
        )
        for e in self.collections:
            app.add_api_route(
                f"/v1/{e}", self.list_handler(e), methods=["GET"], include_in_schema=False
            )
            app.add_api_route(
                f"/v1/{e}/{{id}}", self.item_handler(e), methods=["GET"], include_in_schema=False
            )
            for path, child, field in self.children[e]:
                app.add_api_route(
                    f"/v1/{e}/{{id}}/{path}",
                    self.list_handler(child, (e, field)),
                    methods=["GET"],
                    include_in_schema=False,
                )
        if self.auth.clients:
            app.add_api_route("/oauth/token", self.token, methods=["POST"], include_in_schema=False)
        app.add_api_route("/health", self.health, methods=["GET"], include_in_schema=False)
        doc = self.openapi()
        app.openapi = lambda: doc  # type: ignore[method-assign]
        return app

    def openapi(self) -> dict[str, Any]:
        from headwater.serve.openapi import document

        return document(self)


def _parse(raw: str, kind: str, name: str, t: pa.DataType) -> Any:
    if kind == "integer":
        return integer(raw, name, *int_range(t))
    if kind == "boolean":
        return _bool(raw, name)
    return raw


def _bool(raw: str, name: str) -> bool:
    v = raw.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise QueryError(f"{name}: expected true or false, got {shown(raw)}")


def _int(raw: str | None, default: int, name: str, minimum: int = 1) -> int:
    return default if raw is None else integer(raw, name, minimum, INT64[1])


def _time(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        t = datetime.fromisoformat(raw.strip().replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise QueryError(f"{name}: expected an ISO-8601 timestamp, got {shown(raw)}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    try:
        return epoch_us(t)
    except (OverflowError, ValueError, OSError):
        raise QueryError(f"{name}: out of range") from None


def _etag(raw: bytes) -> str:
    return '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


PAGES = "pages"  # snapshot cache entry: encoded list responses by request
PAGES_KEPT = 1024


def _host(scope: Any) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value
    return None


def _cached(
    request: Request, raw: bytes, headers: dict[str, str], raw_headers: list[tuple[bytes, bytes]]
) -> Response:
    """A list response from its encoded parts (304 when If-None-Match matches)."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _conditional(request, raw, headers)
    out = Response.__new__(Response)
    out.status_code = 200
    out.media_type = "application/json"
    out.background = None
    out.body = raw
    out.raw_headers = list(raw_headers)
    return out


def _conditional(request: Request, raw: bytes, headers: dict[str, str]) -> Response:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        if headers["ETag"] in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    return Response(raw, media_type="application/json", headers=headers)


def _links(request: Request, rels: dict[str, dict[str, str]], extra: dict[str, str]) -> str:
    base = str(request.url).partition("?")[0]
    params = dict(request.query_params)
    out = []
    for rel, change in rels.items():
        q = {**params, **extra, **change}
        out.append(f'<{base}?{urlencode(q)}>; rel="{rel}"')
    return ", ".join(out)


def _error(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status_code=status, media_type="application/json")


def _oauth_error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": code, "error_description": message})
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="headwater"'
    return Response(body, status_code=status, media_type="application/json", headers=headers)
