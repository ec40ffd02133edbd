"""REST behaviours one by one: items, relations, sorting, ETags, tombstones, bad input,
auth, rate limits, injected faults and schema drift."""

from __future__ import annotations

import time

import httpx
import pytest

from headwater.errors import ScenarioError
from headwater.serve.runtime import Serving

from tests.serve.conftest import Clock
from tests.serve.conftest import shop as _shop

SHORT = {"duration: 7m": "duration: 2m"}


def shop(serve: str = ""):
    return _shop(serve, **SHORT)


FAST = "speed: 3000x"


def wait_done(s: Serving) -> None:
    assert s.wait(30)


def test_items_relations_sorting_etag_and_links(serve):
    s = serve(shop(FAST + "\nrest: {pagination: offset, page_size: 5, max_page_size: 20}"))
    wait_done(s)
    c = httpx.Client(base_url=s.url)
    first = c.get("/v1/customers").json()
    assert first["limit"] == 5 and len(first["data"]) == 5
    assert c.get("/v1/customers", params={"limit": 1000}).json()["limit"] == 20  # capped
    r = c.get("/v1/customers", params={"limit": 3, "offset": 3})
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    assert int(r.headers["x-total-count"]) == r.json()["total"]
    cid = first["data"][0]["id"]
    item = c.get(f"/v1/customers/{cid}")
    assert item.json()["id"] == cid and item.json()["_created_at"].endswith("Z")
    assert (
        c.get(f"/v1/customers/{cid}", headers={"If-None-Match": item.headers["etag"]}).status_code
        == 304
    )
    assert c.get("/v1/customers/999999").status_code == 404
    assert c.get("/v1/customers/abc").status_code == 400
    orders = c.get(f"/v1/customers/{cid}/orders", params={"limit": 20}).json()
    assert all(o["customer_id"] == cid for o in orders["data"])
    oid = c.get("/v1/orders").json()["data"][0]["order_id"]
    items = c.get(f"/v1/orders/{oid}/items").json()["data"]
    assert items and all(i["order_id"] == oid for i in items)
    amounts = [
        o["amount"]
        for o in c.get("/v1/orders", params={"sort": "-amount", "limit": 20}).json()["data"]
    ]
    assert amounts == sorted(amounts, reverse=True)
    listing = c.get("/v1/orders", params={"status": "shipped", "limit": 20})
    assert all(o["status"] == "shipped" for o in listing.json()["data"])
    assert (
        c.get(
            "/v1/orders",
            headers={"If-None-Match": listing.headers["etag"]},
            params={"status": "shipped", "limit": 20},
        ).status_code
        == 304
    )
    assert c.get("/v1/orders", params={"sort": "nope"}).status_code == 400
    assert c.get("/v1/orders", params={"updated_since": "yesterday"}).status_code == 400
    assert isinstance(first["data"][0]["country"], str)
    price = c.get("/v1/orders").json()["data"][0]["price"]
    assert isinstance(price, str)  # decimals keep their digits


def test_cursor_desc_and_tombstones(serve):
    s = serve(shop(FAST))
    wait_done(s)
    c = httpx.Client(base_url=s.url)
    seen, params = [], {"sort": "-created_at", "limit": 13}
    while True:
        body = c.get("/v1/customers", params=params).json()
        seen += body["data"]
        if not body["has_more"]:
            break
        params["cursor"] = body["next_cursor"]
    stamps = [(x["_created_at"], x["id"]) for x in seen]
    assert stamps == sorted(stamps, reverse=True) and len({x["id"] for x in seen}) == len(seen)
    dead = c.get(
        "/v1/customers", params={"include_deleted": "true", "limit": 100, "sort": "-updated_at"}
    ).json()["data"]
    tombstones = [x for x in dead if x.get("_deleted")]
    assert tombstones and set(tombstones[0]) == {
        "id",
        "_deleted",
        "_created_at",
        "_updated_at",
        "_deleted_at",
    }
    assert c.get(f"/v1/customers/{tombstones[0]['id']}").status_code == 404
    bad = c.get("/v1/customers", params={"cursor": "garbage"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    other = c.get("/v1/customers", params={"limit": 2}).json()["next_cursor"]
    assert c.get("/v1/customers", params={"cursor": other, "sort": "email"}).status_code == 400


AUTH = """
speed: 3000x
auth:
  api_keys: [k-all, {key: k-customers, entities: [customers]}]
  oauth2: {clients: {etl: s3cret}, token_ttl: 1s}
"""


def test_auth_rejects_missing_invalid_expired_and_forbidden(serve):
    clock = Clock()
    s = serve(shop(AUTH), clock=clock)
    c = httpx.Client(base_url=s.url)
    r = c.get("/v1/customers")
    assert r.status_code == 401 and "www-authenticate" in r.headers
    assert c.get("/v1/customers", headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.get("/v1/customers", headers={"X-API-Key": "k-all"}).status_code == 200
    assert c.get("/v1/customers", headers={"X-API-Key": "k-customers"}).status_code == 200
    assert c.get("/v1/orders", headers={"X-API-Key": "k-customers"}).status_code == 403
    assert c.get("/health").status_code == 200  # not guarded
    bad = c.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "etl", "client_secret": "no"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert c.post("/oauth/token", data={"grant_type": "password"}).status_code == 400
    tok = c.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "etl", "client_secret": "s3cret"},
    )
    assert (
        tok.status_code == 200
        and tok.json()["token_type"] == "bearer"
        and tok.json()["expires_in"] == 1
    )
    bearer = {"Authorization": f"Bearer {tok.json()['access_token']}"}
    assert c.get("/v1/orders", headers=bearer).status_code == 200
    basic = c.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("etl", "s3cret")
    )
    assert basic.status_code == 200
    assert c.get("/v1/orders", headers={"Authorization": "Bearer forged"}).status_code == 401
    clock.now += 1.1
    expired = c.get("/v1/orders", headers=bearer)
    assert expired.status_code == 401 and "expired" in expired.headers["www-authenticate"]
    gql = c.post("/graphql", json={"query": "{ customers { totalCount } }"})
    assert gql.status_code == 401
    gql = c.post(
        "/graphql",
        json={"query": "{ orders { totalCount } }"},
        headers={"X-API-Key": "k-customers"},
    )
    assert gql.json()["errors"][0]["message"].startswith("this credential may not read")


def test_a_client_honouring_retry_after_gets_everything(serve):
    clock = Clock()
    s = serve(shop("speed: 3000x\nrate_limit: {rate: 4/s, burst: 3}"), clock=clock)
    c = httpx.Client(base_url=s.url)
    ok, limited = 0, 0
    while ok < 8:
        r = c.get("/v1/customers", params={"limit": 1})
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)
        if r.status_code == 429:
            limited += 1
            retry = int(r.headers["retry-after"])
            assert retry >= 1 and r.headers["x-ratelimit-remaining"] == "0"
            clock.now += retry
            continue
        assert r.status_code == 200
        ok += 1
    # the burst of 3, refilled to the burst in each 1 s wait: 3 + 3 + 2, refused twice
    assert limited == 2


def test_injected_errors_timeouts_latency_and_outages(serve):
    c = httpx.Client(timeout=5)
    s = serve(shop("speed: 3000x\nfaults: {errors: {rate: 1, status: [502]}}"))
    assert c.get(f"{s.url}/v1/customers").status_code == 502
    s = serve(shop("speed: 3000x\nfaults: {timeouts: {rate: 1, after: 300ms}}"))
    t = time.monotonic()
    assert c.get(f"{s.url}/v1/customers").status_code == 504 and time.monotonic() - t >= 0.3
    s = serve(shop("speed: 3000x\nfaults: {latency: {min: 100ms, max: 150ms}}"))
    t = time.monotonic()
    assert c.get(f"{s.url}/v1/customers").status_code == 200 and time.monotonic() - t >= 0.1
    s = serve(shop("speed: 3000x\nfaults: {errors: {rate: 0.3}}"))
    codes = [c.get(f"{s.url}/v1/customers").status_code for _ in range(60)]
    assert 5 < sum(x >= 500 for x in codes) < 35 and codes.count(200) > 20
    s = serve(shop("speed: 3000x\nfaults: {outage: {at: 2026-01-01T00:00:00Z, length: 1h}}"))
    r = c.get(f"{s.url}/v1/customers")
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1


def test_schema_drift_changes_items_from_its_time(serve):
    drift = """
faults:
  drift:
    - {at: 2026-01-01T00:01:00Z, entities: customers, add: {tier: {choice: [gold, silver]}}, rename: {email: email_address}, drop: [country]}
"""
    s = serve(shop(drift), stepped=True)
    c = httpx.Client(base_url=s.url)
    assert s.advance(1)  # the initial rows
    early = c.get("/v1/customers").json()["data"][0]
    assert "email" in early and "country" in early and "tier" not in early
    doc = c.get("/openapi.json").json()["components"]["schemas"]["Customers"]
    assert {"tier", "email_address", "email", "country"} <= set(doc["properties"])
    assert "email" not in doc["required"] and "country" not in doc["required"]
    assert s.advance(13)  # 5 s steps to 00:01:05, one past the drift
    items = c.get("/v1/customers", params={"sort": "-updated_at"}).json()["data"]
    assert "email_address" in items[0] and "email" not in items[0] and "country" not in items[0]
    assert items[0]["tier"] in ("gold", "silver")  # changed after the drift: has a value
    assert any(i["tier"] is None for i in c.get("/v1/customers").json()["data"])  # older rows


def test_serve_section_errors_name_their_place():
    with pytest.raises(ScenarioError, match=r"serve\.rest\.pagination"):
        shop("rest: {pagination: keyset}")
    with pytest.raises(ScenarioError, match="serve needs a paced world"):
        shop("speed: max")
    with pytest.raises(
        ScenarioError,
        match=r"serve\.faults\.drift\[0\]\.entities\[0\]: 'custmers' is not an entity of the "
        r"scenario — did you mean 'customers'",
    ):
        Serving(
            shop("faults: {drift: [{at: 2026-01-01T00:00:00Z, entities: custmers, drop: [email]}]}")
        )
    with pytest.raises(ScenarioError, match=r"serve\.faults\.drift\[0\]\.type: a served item"):
        shop("faults: {drift: {at: 2026-01-01T00:00:00Z, type: {email: int32}}}")


RENAMED = [
    ("faults: {outages: []}", r"serve\.faults\.outages: use `outage:` instead of `outages:`"),
    (
        "faults: {outage: [{at: 2026-01-01T00:00:00Z, for: 1h}]}",
        r"serve\.faults\.outage\[0\]\.for: use `length:` instead of `for:`",
    ),
    (
        "drift: [{at: 2026-01-01T00:00:00Z, entities: customers, drop: [email]}]",
        r"serve\.drift: use `faults\.drift:` instead of `drift:`",
    ),
    (
        "faults: {drift: [{at: 2026-01-01T00:00:00Z, entity: customers, drop: [email]}]}",
        r"serve\.faults\.drift\[0\]\.entity: use `entities:` instead of `entity:`",
    ),
    (
        "faults: {drift: [{at: 2026-01-01T00:00:00Z, remove: [email]}]}",
        r"serve\.faults\.drift\[0\]\.remove: use `drop:` instead of `remove:`",
    ),
]


@pytest.mark.parametrize(("serve", "pattern"), RENAMED, ids=[p for _, p in RENAMED])
def test_a_renamed_key_names_its_new_spelling(serve, pattern):
    with pytest.raises(ScenarioError, match=pattern):
        shop(serve)


def test_an_outage_every_period_answers_503_inside_its_windows():
    from headwater.serve.config import Outage

    o = Outage.model_validate({"every": "1h", "length": "10m", "status": 502})
    h = 3_600_000_000
    assert o.around(0, 0) is None and o.around(h - 1, 0) is None  # the first is one period in
    assert o.around(h, 0) == (h, h + h // 6) and o.around(2 * h + h // 6 - 1, 0) is not None
    assert o.around(h + h // 6, 0) is None
