"""gRPC passes the same admission as REST and GraphQL (auth, rate limit, readiness) and
speaks the reflection protocol. The world is stepped and the wall clock is the test's, so
nothing here depends on the machine's speed."""

from __future__ import annotations

import httpx
import pytest

from tests.serve.conftest import Clock, shop

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_reflection")

GUARDED = """
grpc: {port: 0}
auth:
  api_keys: [k1, {key: k2, entities: [orders]}]
  oauth2: {clients: {etl: s3cret}}
rate_limit: {rate: 5/s, burst: 5}
"""

# https://grpc.io/docs/guides/status-codes/
#   UNAUTHENTICATED 16: "The request does not have valid authentication credentials for
#     the operation."
#   PERMISSION_DENIED 7: "The caller does not have permission to execute the specified
#     operation."
#   RESOURCE_EXHAUSTED 8: "Some resource has been exhausted, perhaps a per-user quota, ..."
#   UNAVAILABLE 14: "The service is currently unavailable. This is most likely a transient
#     condition, which can be corrected by retrying with a backoff."


def refused(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


def test_grpc_applies_auth_rate_limit_and_readiness_like_rest(serve, tmp_path):
    clock = Clock()
    s = serve(shop(GUARDED), out_dir=tmp_path, stepped=True, clock=clock)
    pb2, pb2_grpc = s.grpc.pb2, s.grpc.pb2_grpc
    key = (("x-api-key", "k1"),)
    with grpc.insecure_channel(s.grpc_address) as channel:
        stub = pb2_grpc.ApishopStub(channel)
        page = pb2.ListRequest(page_size=5)
        # before the initial snapshot: not an empty page but UNAVAILABLE with retry-after
        early = refused(stub.ListCustomers, page, metadata=key)
        assert early.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(early.trailing_metadata())["retry-after"] == "1"
        s.advance(1)
        clock.now += 10  # a full bucket again
        assert refused(stub.ListCustomers, page).code() == grpc.StatusCode.UNAUTHENTICATED
        wrong = refused(stub.ListCustomers, page, metadata=(("x-api-key", "nope"),))
        assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "not valid" in wrong.details()
        orders_only = (("x-api-key", "k2"),)
        denied = refused(stub.ListCustomers, page, metadata=orders_only)
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        sub = pb2.SubscribeRequest(entities=["customers"])
        assert (
            refused(lambda: list(stub.Subscribe(sub, metadata=orders_only))).code()
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert len(stub.ListOrders(page, metadata=orders_only).items) == 0  # no orders yet

        # a bearer token from REST's /oauth/token works on gRPC: one authenticator
        token = httpx.post(
            f"{s.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "etl",
                "client_secret": "s3cret",
            },
        ).json()["access_token"]
        bearer = (("authorization", f"Bearer {token}"),)
        assert len(stub.ListCustomers(page, metadata=bearer).items) == 5

        # 5/s with a burst of 5: within one (test) second the 6th call is refused, as REST's
        clock.now += 10
        for _ in range(5):
            assert stub.GetCustomers(pb2.GetCustomersRequest(id=1), metadata=key).id == 1
        over = refused(stub.GetCustomers, pb2.GetCustomersRequest(id=1), metadata=key)
        assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(over.trailing_metadata())["retry-after"] == "1"
        # one budget per client across protocols
        assert httpx.get(f"{s.url}/v1/customers", headers={"X-API-Key": "k1"}).status_code == 429
        clock.now += 1  # a second later: five more calls, never sixteen
        served = 0
        for _ in range(16):
            try:
                stub.GetCustomers(pb2.GetCustomersRequest(id=1), metadata=key)
                served += 1
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert served == 5


def test_grpc_reflection_lists_and_calls_the_service_without_the_proto(serve, tmp_path):
    from google.protobuf import message_factory
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    s = serve(shop("grpc: {port: 0}\nrest: {page_size: 7}"), out_dir=tmp_path, stepped=True)
    s.advance(1)
    with grpc.insecure_channel(s.grpc_address) as channel:
        stub = s.grpc.pb2_grpc.ApishopStub(channel)  # a page is REST's default size
        assert len(stub.ListCustomers(s.grpc.pb2.ListRequest()).items) == 7
        db = ProtoReflectionDescriptorDatabase(channel)
        assert "headwater.apishop.Apishop" in db.get_services()
        pool = DescriptorPool(db)  # descriptors only from the server, not from our pb2
        service = pool.FindServiceByName("headwater.apishop.Apishop")
        method = service.FindMethodByName("GetCustomers")
        request = message_factory.GetMessageClass(method.input_type)
        reply = message_factory.GetMessageClass(method.output_type)
        get = channel.unary_unary(
            f"/{service.full_name}/GetCustomers",
            request_serializer=request.SerializeToString,
            response_deserializer=reply.FromString,
        )
        row = get(request(id=1))
        assert row.id == 1 and "@" in row.email


def test_without_credentials_the_rate_limit_is_per_client_address(serve):
    """config.RateLimit: "A token bucket per client (credential, else address)" (every
    anonymous client shared one bucket). A second client connects from 127.0.0.2."""
    clock = Clock()
    s = serve(shop("grpc: {port: 0}\nrate_limit: {rate: 1/s, burst: 2}"), stepped=True, clock=clock)
    s.advance(1)
    one = httpx.Client(base_url=s.url)
    other = httpx.Client(base_url=s.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    assert [one.get("/v1/customers").status_code for _ in range(3)] == [200, 200, 429]
    assert [other.get("/v1/customers").status_code for _ in range(3)] == [200, 200, 429]
    with grpc.insecure_channel(s.grpc_address) as channel:  # gRPC from 127.0.0.1: spent
        stub = s.grpc.pb2_grpc.ApishopStub(channel)
        over = refused(stub.ListCustomers, s.grpc.pb2.ListRequest(page_size=1))
        assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
