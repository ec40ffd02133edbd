"""What the served APIs promise a client, checked against the documents they cite: not
ready means 503 (never an empty page), an unknown parameter is an error (never "everything"),
one timestamp format on every protocol, the OpenAPI document says what the server sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from tests.serve.conftest import shop

grpc = pytest.importorskip("grpc")

# RFC 9110 §10.2.3: "Servers send the "Retry-After" header field to indicate how long the
# user agent ought to wait before making a follow-up request. When sent with a 503 (Service
# Unavailable) response, Retry-After indicates how long the service is expected to be
# unavailable to the client."
# RFC 9110 §15.6.4: "The 503 (Service Unavailable) status code indicates that the server is
# currently unable to handle the request due to a temporary overload or scheduled
# maintenance, which will likely be alleviated after some delay."


def test_nothing_is_served_before_the_initial_snapshot(serve):
    s = serve(shop("grpc: {port: 0}"), stepped=True)
    c = httpx.Client(base_url=s.url)
    health = c.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "starting"
    assert health.headers["retry-after"] == "1"
    for path in ("/v1/customers", "/v1/customers/1", "/v1/customers/1/orders"):
        r = c.get(path)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", path
        assert r.json()["error"]["code"] == "starting"
    gql = c.post("/graphql", json={"query": "{ customers { totalCount } }"})
    assert gql.status_code == 503 and gql.headers["retry-after"] == "1"
    assert s.advance(1)  # the initial rows
    assert c.get("/health").json()["status"] == "ok"
    ids, cursor = [], None
    while True:
        page = c.get(
            "/v1/customers", params={"limit": 100, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200
        ids += [i["id"] for i in page.json()["data"]]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert len(ids) == 150  # `initial: 150`


def test_an_unknown_or_unfilterable_parameter_is_a_400_not_everything(serve):
    s = serve(
        shop("rest: {pagination: cursor, collections: {orders: {pagination: offset}}}"),
        stepped=True,
    )
    s.advance(1)
    c = httpx.Client(base_url=s.url)
    assert c.get("/v1/customers", params={"country": "DE"}).status_code == 200
    typo = c.get("/v1/customers", params={"countyr": "DE"})
    assert typo.status_code == 400
    assert typo.json()["error"]["message"] == (
        "unknown query parameter 'countyr' — did you mean 'country'?"
    )
    # a parameter of another pagination style is as unknown as a typo
    wrong_style = c.get("/v1/customers", params={"offset": "10"})
    assert wrong_style.status_code == 400 and "'offset'" in wrong_style.json()["error"]["message"]
    assert c.get("/v1/orders", params={"offset": "10"}).status_code == 200
    assert c.get("/v1/orders", params={"cursor": "x"}).status_code == 400
    # a field that exists but cannot be filtered on says so, rather than being ignored
    amount = c.get("/v1/orders", params={"amount": "5"})
    assert amount.status_code == 400
    assert "cannot filter by 'amount'" in amount.json()["error"]["message"]
    child = c.get("/v1/customers/1/orders", params={"stauts": "paid"})
    assert child.status_code == 400 and "did you mean 'status'" in child.json()["error"]["message"]
    item = c.get("/v1/customers/1", params={"fields": "id"})
    assert item.status_code == 400 and "'fields'" in item.json()["error"]["message"]
    doc = c.get("/openapi.json").json()
    assert "unknown" in doc["paths"]["/v1/customers"]["get"]["responses"]["400"]["description"]


def test_the_openapi_sort_enum_names_each_sort_once(serve):
    s = serve(shop(), stepped=True)
    doc = httpx.get(f"{s.url}/openapi.json").json()
    params = doc["paths"]["/v1/customers"]["get"]["parameters"]
    enum = next(p for p in params if p["name"] == "sort")["schema"]["enum"]
    assert len(enum) == len(set(enum))  # customers has a field named created_at
    assert {"created_at", "-created_at", "updated_at", "-updated_at", "email"} <= set(enum)


# RFC 3339 §5.6: date-time = full-date "T" full-time; time-secfrac = "." 1*DIGIT;
# time-offset = "Z" / time-numoffset. The APIs use one profile of it: UTC as "Z", always
# six fractional digits (microseconds), e.g. 2026-01-01T00:00:05.000000Z.
ONE_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_one_timestamp_format_on_every_protocol(serve, tmp_path):
    s = serve(shop("grpc: {port: 0}"), stepped=True, out_dir=tmp_path)
    s.advance(30)
    c = httpx.Client(base_url=s.url)
    rest = c.get("/v1/customers/3").json()
    q = "{ customer(id: 3) { created_at _created_at _updated_at } }"
    gql = c.post("/graphql", json={"query": q}).json()["data"]["customer"]
    for name in ("created_at", "_created_at", "_updated_at"):
        assert ONE_FORMAT.match(rest[name]), rest[name]
        assert gql[name] == rest[name], name
    assert ONE_FORMAT.match(c.get("/health").json()["clock"])
    gone = c.get("/v1/customers", params={"include_deleted": "true", "limit": 100}).json()
    tomb = next(i for i in gone["data"] if i.get("_deleted"))
    assert ONE_FORMAT.match(tomb["_deleted_at"])
    # gRPC: google.protobuf.Timestamp under the same names, the same instants
    proto = (tmp_path / "apishop.proto").read_text()
    assert "_created_at = " in proto and "row_created_at" not in proto
    with grpc.insecure_channel(s.grpc_address) as channel:
        row = s.grpc.pb2_grpc.ApishopStub(channel).GetCustomers(
            s.grpc.pb2.GetCustomersRequest(id=3)
        )
    for name in ("_created_at", "_updated_at"):
        at = datetime.strptime(rest[name], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert getattr(row, name).ToDatetime(tzinfo=UTC) == at


def test_decimals_are_strings_and_the_openapi_says_so(serve):
    s = serve(shop(), stepped=True)
    s.advance(20)
    c = httpx.Client(base_url=s.url)
    price = c.get("/v1/orders").json()["data"][0]["price"]
    schema = c.get("/openapi.json").json()["components"]["schemas"]["Orders"]["properties"]
    documented = schema["price"]
    documented = next(
        (x for x in documented.get("anyOf", [documented]) if x.get("type") == "string"), None
    )
    assert documented is not None and documented["format"] == "decimal"
    assert "string" in documented["description"]
    assert isinstance(price, str) and re.fullmatch(documented["pattern"], price)
    q = "{ orders(first: 1) { edges { node { price } } } }"
    node = c.post("/graphql", json={"query": q}).json()["data"]["orders"]["edges"][0]["node"]
    assert node["price"] == price


def test_offset_paging_over_a_live_world_skips_and_repeats_rows_as_documented(serve):
    """rest.py / README: "offset and page address positions in the state at each request: a
    row deleted before the position between two requests makes the next page skip a row, a
    row created (or moved) before it makes the next page repeat one"."""
    s = serve(shop("rest: {pagination: offset}"), stepped=True)
    s.advance(1)
    c = httpx.Client(base_url=s.url)

    def ids(**params):
        return [i["id"] for i in c.get("/v1/customers", params=params).json()["data"]]

    first, newest = ids(limit=11), ids(limit=10, sort="-id")
    page1 = first[:10]
    for _ in range(200):  # 5 s steps until a row of page 1 is deleted (seeded: a few steps)
        s.advance(1)
        if any(c.get(f"/v1/customers/{k}").status_code == 404 for k in page1):
            break
    assert c.get(f"/v1/customers/{first[10]}").status_code == 200
    assert first[10] not in page1 + ids(limit=10, offset=10)  # skipped, though it exists
    assert newest[-1] in ids(limit=10, offset=10, sort="-id")  # new rows came first: repeated


def test_rest_enabled_false_serves_no_rest(serve):
    """README: `rest.enabled` (default true): "serve REST under /v1/<entity>" (it did anyway)."""
    s = serve(shop("rest: {enabled: false}"), stepped=True)
    s.advance(1)
    c = httpx.Client(base_url=s.url)
    assert c.get("/v1/customers").status_code == 404
    assert not [p for p in c.get("/openapi.json").json()["paths"] if p.startswith("/v1")]
    gql = c.post("/graphql", json={"query": "{ customers { totalCount } }"}).json()
    assert gql["data"]["customers"]["totalCount"] == 150


def _keys(model: type) -> set[str]:
    """Every key of a pydantic model, nested models' included."""
    import typing

    from pydantic import BaseModel

    out = set()
    for name, f in model.model_fields.items():  # type: ignore[attr-defined]
        out.add(f.alias or name)
        stack = [f.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                out |= _keys(t)
            stack += typing.get_args(t)
    return out


def test_every_serve_key_is_documented_in_the_readme_and_the_help():
    from pathlib import Path

    from click.testing import CliRunner

    from headwater.cli import main
    from headwater.serve.config import Serve

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Serving APIs", 1)[1].split("\n## ", 1)[0]
    missing = sorted(k for k in _keys(Serve) if not re.search(rf"\b{k}\b", section))
    assert missing == []
    assert "examples/shop_api.yaml" in section and "`_serve`" in section
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "serve:" in help_text and "_serve" in help_text and "shop_api.yaml" in help_text
