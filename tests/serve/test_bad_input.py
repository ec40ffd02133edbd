"""Whatever a client sends as a cursor, page token or number, the answer is the right page or a
400 (INVALID_ARGUMENT, a GraphQL error) with a plain message: never a server error, never
Python's words, never a page shifted by a value of the wrong type. Cursors are not signed, so
a forged cursor of the right shape must still give exactly the items after the position it
names, in the listing the caller may read anyway."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headwater.serve.params import shown
from headwater.serve.runtime import Serving

from tests.serve.conftest import Oracle, shop

grpc = pytest.importorskip("grpc")

INT64 = (-(2**63), 2**63 - 1)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PYTHON_WORDS = ("Python", "C long", "Traceback", "Error", "int()", "object", "NoneType", "<")


class Served(tuple):  # type: ignore[type-arg]
    """(server, oracle); a short repr, as hypothesis prints the test's arguments."""

    def __repr__(self) -> str:
        return "served"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serving, Oracle]]:
    sc = shop(
        """
speed: 3000x
rest: {pagination: cursor, collections: {orders: {pagination: offset}, items: {pagination: page}}}
grpc: {port: 0}
""",
        **{"duration: 7m": "duration: 2m"},
    )
    s = Serving(sc, port=0, sinks=False, out_dir=Path(tmp_path_factory.mktemp("bad")))
    s.start()
    assert s.wait(60)
    yield Served((s, Oracle(sc).run()))
    s.stop()


@pytest.fixture(scope="module")
def client(served: tuple[Serving, Oracle]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].url, timeout=30) as c:
        yield c


def plain(message: str, sent: str = "") -> None:
    """A message in the API's words (what the client sent may be quoted back)."""
    words = message.replace(shown(sent), "") if sent else message
    assert message and not any(w in words for w in PYTHON_WORDS), message


def refused(r: httpx.Response, sent: str = "") -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    plain(r.json()["error"]["message"], sent)


def list_customers(s: Serving, **request: Any) -> Any:
    """gRPC ListCustomers over a fresh channel."""
    with grpc.insecure_channel(s.grpc_address) as channel:
        stub = s.grpc.pb2_grpc.ApishopStub(channel)
        return stub.ListCustomers(s.grpc.pb2.ListRequest(**request))


def grpc_refused(s: Serving, **request: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list_customers(s, **request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    plain(err.value.details())


def forge(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signature(client: httpx.Client, sort: str) -> str:
    """The query binding of a real cursor (forged ones must carry it to get past it)."""
    cursor = client.get("/v1/customers", params={"sort": sort, "limit": 1}).json()["next_cursor"]
    return json.loads(base64.urlsafe_b64decode(cursor + "==="))[0]


def order(oracle: Oracle, sort: str) -> list[tuple[tuple[Any, ...], int]]:
    """(sort tuple, id) of every customer, ascending, as the cursor names positions."""
    name = sort.removeprefix("-")
    rows = oracle.final["customers"]
    if name == "id":
        return sorted(((0, 0, k), k) for k in rows)
    return sorted(((0, r[name], k), k) for k, r in rows.items())


def expected(oracle: Oracle, sort: str, after: tuple[Any, ...], limit: int) -> list[int]:
    items = order(oracle, sort)
    if sort.startswith("-"):
        return [k for t, k in reversed(items) if t < after][:limit]
    return [k for t, k in items if t > after][:limit]


ints = st.integers(*INT64)
# values that are never of a cursor slot's type (int64 or str)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(min_value=2**63),
    st.integers(max_value=-(2**63) - 1),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
SORTS = ["id", "-id", "email", "-email"]


@st.composite
def positions(draw: Any, sort: str) -> tuple[Any, ...]:
    """A position of the right shape for a sort: what a forger can name validly."""
    if sort.removeprefix("-") == "id":
        return (0, 0, draw(ints | st.integers(-3, 400)))
    return (draw(st.sampled_from([0, 1])), draw(st.text(max_size=12)), draw(ints))


@st.composite
def wrong(draw: Any, sig: str, after: tuple[Any, ...], sort: str) -> Any:
    """A cursor payload that is wrong in one way."""
    how = draw(st.sampled_from(["slot", "arity", "sig", "flag", "key-sort", "shape"]))
    body = [sig, *after]
    if how == "slot":
        body[draw(st.integers(0, 3))] = draw(junk)
    elif how == "arity":
        body = body + [draw(ints)] if draw(st.booleans()) else body[: draw(st.integers(0, 3))]
    elif how == "sig":
        body[0] = draw(st.text(max_size=12).filter(lambda t: t != sig))
    elif how == "flag":
        body[1] = draw(st.integers().filter(lambda i: i not in (0, 1)))
    elif how == "key-sort" and sort.removeprefix("-") == "id":
        body[2] = draw(st.integers().filter(lambda i: i != 0) | st.text(max_size=3))
    elif how == "key-sort":
        body[2] = draw(st.integers(*INT64))  # a number where the sort value is text
    else:
        body = {"sig": sig, "after": list(after)}
    return body


def nested(depth: int) -> str:
    return forge(b"[" * depth + b"]" * depth)


@given(
    sort=st.sampled_from(SORTS),
    limit=st.integers(1, 60),
    data=st.data(),
)
@SETTINGS
def test_forged_rest_cursors_give_the_right_page_or_400(served, client, sort, limit, data):
    _, oracle = served
    sig = signature(client, sort)
    after = data.draw(positions(sort))
    if data.draw(st.booleans()):
        r = client.get(
            "/v1/customers", params={"sort": sort, "limit": limit, "cursor": forge([sig, *after])}
        )
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()["data"]] == expected(oracle, sort, after, limit)
    else:
        bad = forge(data.draw(wrong(sig, after, sort)))
        refused(client.get("/v1/customers", params={"sort": sort, "cursor": bad}))


@pytest.mark.parametrize(
    "cursor",
    [
        nested(1_000),
        nested(20_000),
        forge(b'{"a":' * 5000 + b"1" + b"}" * 5000),
        "x" * 12_000,
        "garbage",
        "!!!!",
        forge(b"\xff\xfe"),
        forge(["s", 0, 0, 10**30]),
        forge(b'["s", 0, 0, NaN]'),
        forge(b'["s", 0, 0, 1e999]'),
    ],
    ids=[
        "deep-1k",
        "deep-20k",
        "deep-object",
        "huge",
        "garbage",
        "bang",
        "binary",
        "big",
        "nan",
        "inf",
    ],
)
def test_malformed_cursors_are_400_everywhere(served, client, cursor):
    s, _ = served
    refused(client.get("/v1/customers", params={"cursor": cursor}))
    q = "query($after: String) { customers(first: 3, after: $after) { totalCount } }"
    r = client.post("/graphql", json={"query": q, "variables": {"after": cursor}})
    assert r.status_code == 200 and r.json()["data"] is None
    plain(r.json()["errors"][0]["message"])
    grpc_refused(s, page_token=cursor)


def test_a_cursor_with_the_overflowing_id_of_the_report(served, client):
    sig = signature(client, "id")
    for key in (2**63, -(2**63) - 1, 10**30, True, 1.5, "5"):
        refused(client.get("/v1/customers", params={"cursor": forge([sig, 0, 0, key])}))


@given(data=st.data())
@SETTINGS
def test_forged_graphql_and_grpc_cursors_give_the_right_page_or_an_error(served, client, data):
    s, oracle = served
    sig = signature(client, "id")
    after = data.draw(positions("id"))
    good = data.draw(st.booleans())
    cursor = forge([sig, *after] if good else data.draw(wrong(sig, after, "id")))
    q = "query($after: String) { customers(first: 5, after: $after) { edges { node { id } } } }"
    body = client.post("/graphql", json={"query": q, "variables": {"after": cursor}}).json()
    if good:
        want = expected(oracle, "id", after, 5)
        assert [e["node"]["id"] for e in body["data"]["customers"]["edges"]] == want
        assert [c.id for c in list_customers(s, page_size=5, page_token=cursor).items] == want
    else:
        plain(body["errors"][0]["message"])
        grpc_refused(s, page_size=5, page_token=cursor)


numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**62).map(str),
    st.integers(max_value=-(2**62)).map(str),
    st.just("9" * 5000),
    st.text(max_size=8),
    st.floats().map(str),
)


@given(name=st.sampled_from(["limit", "offset", "id", "customer_id", "order_id"]), value=numbers)
@SETTINGS
@example(name="customer_id", value=str(2**63))
@example(name="offset", value=str(2**70))
def test_numbers_in_offset_params_give_the_right_page_or_400(served, client, name, value):
    _, oracle = served
    r = client.get(
        "/v1/orders", params={name: value, "limit": 10} if name != "limit" else {name: value}
    )
    if r.status_code != 200:
        refused(r, value)
        return
    rows = oracle.final["orders"]
    keys = sorted(rows)
    if name in ("customer_id", "order_id"):
        keys = [k for k in keys if rows[k][name] == int(value)]
    start = int(value) if name == "offset" else 0
    size = min(int(value), 100) if name == "limit" else 10
    assert [x["order_id"] for x in r.json()["data"]] == keys[start : start + size]


@given(name=st.sampled_from(["page", "per_page"]), value=numbers)
@SETTINGS
@example(name="page", value=str(2**63))
@example(name="page", value=str(-(2**63)))
def test_numbers_in_page_params_give_the_right_page_or_400(served, client, name, value):
    _, oracle = served
    r = client.get("/v1/items", params={name: value})
    if r.status_code != 200:
        refused(r, value)
        return
    keys = sorted(oracle.final["items"])
    page = int(value) if name == "page" else 1
    size = min(int(value), 100) if name == "per_page" else 50
    assert [x["item_id"] for x in r.json()["data"]] == keys[(page - 1) * size : page * size]


@given(
    name=st.sampled_from(["updated_since", "created_since", "include_deleted", "country"]),
    value=st.text(max_size=40) | st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01", "+10"]),
)
@SETTINGS
def test_other_list_params_never_fail(served, client, name, value):
    r = client.get("/v1/customers", params={name: value})
    if r.status_code != 200:
        refused(r, value)


@given(value=numbers.filter(lambda v: v.strip(".") and "/" not in v))  # one path segment
@SETTINGS
@example(value=str(2**63))
@example(value="9223372036854775807")
def test_ids_in_paths_give_the_item_404_or_400(served, client, value):
    _, oracle = served
    for path in (
        f"/v1/customers/{quote(value, safe='')}",
        f"/v1/customers/{quote(value, safe='')}/orders",
    ):
        r = client.get(path)
        assert r.status_code in (200, 400, 404), (path, r.status_code, r.text)
        if r.status_code == 200 and not path.endswith("orders"):
            assert r.json()["id"] in oracle.final["customers"]
        elif r.status_code != 200:
            plain(r.json()["error"]["message"], value)


@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), str(10**30)])
def test_overflowing_ids_in_graphql_and_grpc(served, client, value):
    s, _ = served
    for q in (
        f"{{ customer(id: {value}) {{ id }} }}",
        f"{{ customers(where: {{id: {value}}}) {{ totalCount }} }}",
    ):
        body = client.post("/graphql", json={"query": q}).json()
        assert body["errors"], body
        plain(body["errors"][0]["message"])
    q = "query($id: Long!) { customer(id: $id) { id } }"
    body = client.post("/graphql", json={"query": q, "variables": {"id": int(value)}}).json()
    plain(body["errors"][0]["message"])
    grpc_refused(s, page_size=-1)


def test_a_clients_mistakes_are_its_answer_not_the_servers_log(served, client, caplog):
    """A bad cursor, sort, id or date in GraphQL is answered as an error and logged nowhere
    (strawberry printed a traceback per request on the server's stderr)."""
    queries = [
        ("query($a: String) { customers(after: $a) { totalCount } }", {"a": "garbage"}),
        ('{ customers(sort: "nope") { totalCount } }', {}),
        ("{ customers(first: -1) { totalCount } }", {}),
        (f"{{ customer(id: {2**63}) {{ id }} }}", {}),
        ("query($id: Long!) { customer(id: $id) { id } }", {"id": 2**64}),
        ("query($t: DateTime) { customers(updated_since: $t) { totalCount } }", {"t": "then"}),
        ("{ customers { nope } }", {}),
    ]
    with caplog.at_level(logging.DEBUG, logger="strawberry"):
        for q, variables in queries:
            body = client.post("/graphql", json={"query": q, "variables": variables}).json()
            plain(body["errors"][0]["message"])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("strawberry")] == []
