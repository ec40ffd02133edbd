"""GraphQL and gRPC over the same live state as REST."""

from __future__ import annotations

import httpx
import pytest

from tests.serve.conftest import Oracle, shop

grpc = pytest.importorskip("grpc")


def test_graphql_relations_filters_and_connections(serve):
    sc = shop("speed: 3000x", **{"duration: 7m": "duration: 2m"})
    s = serve(sc)
    assert s.wait(30)
    oracle = Oracle(sc).run()
    c = httpx.Client(base_url=s.url)
    ids, after = [], None
    while True:
        q = "query($after: String) { customers(first: 17, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } totalCount } }"
        body = c.post("/graphql", json={"query": q, "variables": {"after": after}}).json()["data"][
            "customers"
        ]
        ids += [e["node"]["id"] for e in body["edges"]]
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
    assert ids == sorted(oracle.final["customers"]) and body["totalCount"] == len(ids)
    q = """{ customers(first: 3, where: {country: "DE"}) { edges { node { id country
            orders(first: 5) { totalCount edges { node { order_id customer_id customer { id }
              items { edges { node { item_id order_id } } } } } } } } } }"""
    data = c.post("/graphql", json={"query": q}).json()["data"]["customers"]["edges"]
    assert data and all(e["node"]["country"] == "DE" for e in data)
    for e in data:
        cust = e["node"]
        want = [k for k, r in oracle.final["orders"].items() if r["customer_id"] == cust["id"]]
        assert cust["orders"]["totalCount"] == len(want)
        for o in cust["orders"]["edges"]:
            assert o["node"]["customer"]["id"] == cust["id"]
            assert all(
                i["node"]["order_id"] == o["node"]["order_id"] for i in o["node"]["items"]["edges"]
            )
    one = c.post("/graphql", json={"query": f"{{ customer(id: {ids[0]}) {{ id email }} }}"}).json()
    assert one["data"]["customer"]["email"] == oracle.final["customers"][ids[0]]["email"]
    bad = c.post("/graphql", json={"query": '{ customers(sort: "nope") { totalCount } }'}).json()
    assert "cannot sort" in bad["errors"][0]["message"]


def test_grpc_lookups_pages_and_a_subscription_from_a_position(serve, tmp_path):
    sc = shop("speed: 600x\ngrpc: {port: 0}", **{"duration: 7m": "duration: 3m"})
    s = serve(sc, out_dir=tmp_path)
    proto = (tmp_path / "apishop.proto").read_text()
    assert (
        "service Apishop" in proto
        and "rpc Subscribe(SubscribeRequest) returns (stream ChangeEvent)" in proto
    )
    pb2, pb2_grpc = s.grpc.pb2, s.grpc.pb2_grpc
    with grpc.insecure_channel(s.grpc_address) as channel:
        stub = pb2_grpc.ApishopStub(channel)
        events = list(
            stub.Subscribe(pb2.SubscribeRequest(from_position=0, follow=True), timeout=30)
        )
        assert s.wait(10)
        oracle = Oracle(sc).run()
        assert [e.position for e in events] == [q for q, *_ in oracle.events]
        assert [(e.entity, e.op) for e in events] == [(en, op) for _, en, op, _ in oracle.events]
        deleted = next(e for e in events if e.op == "d")
        assert getattr(deleted, deleted.entity).ListFields()  # deletes carry the last image
        later = list(
            stub.Subscribe(
                pb2.SubscribeRequest(from_position=events[-10].position, entities=["orders"])
            )
        )
        assert (
            all(e.entity == "orders" for e in later) and later[-1].position == events[-1].position
        )
        keys, token = [], ""
        while True:
            page = stub.ListCustomers(pb2.ListRequest(page_size=40, page_token=token))
            keys += [c.id for c in page.items]
            token = page.next_page_token
            if not token:
                break
        assert keys == sorted(oracle.final["customers"])
        first = stub.GetCustomers(pb2.GetCustomersRequest(id=keys[0]))
        assert first.email == oracle.final["customers"][keys[0]]["email"]
        assert first._created_at.ToDatetime().year == 2026
        with pytest.raises(grpc.RpcError) as err:
            stub.GetCustomers(pb2.GetCustomersRequest(id=10**9))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
