"""Property-based testing against the OpenAPI document: schemathesis generates requests for
every operation and checks every response (status documented, body and headers conform,
no server error) while the world writes. Faults are off, so any 5xx is a real bug."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from headwater.serve.runtime import Serving

from tests.serve.conftest import shop

KEY = "test-key"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    sc = shop(
        f"""
speed: 120x
rest: {{pagination: cursor, collections: {{orders: {{pagination: offset}}, items: {{pagination: page}}}}}}
auth: {{api_keys: [{KEY}], oauth2: {{clients: {{etl: s3cret}}}}}}
faults: {{drift: [{{at: 2026-01-01T00:01:00Z, entities: customers, add: {{tier: {{choice: [a, b]}}}}, drop: [country]}}]}}
""",
        **{"duration: 7m": "duration: 1h"},
    )
    s = Serving(sc, port=0, sinks=False, out_dir=Path(tmp_path_factory.mktemp("openapi")))
    s.start()
    s.wait_ready(60)  # before it, every answer is the documented 503
    yield s
    s.stop()


def test_no_server_errors_and_responses_conform(served: Serving) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        _fuzz(operation, served.url)


def _fuzz(operation: Any, url: str) -> None:
    headers = {} if operation.path == "/oauth/token" else {"X-API-Key": KEY}

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        # a cursor (or a date far outside the world) can match its schema and still be
        # refused with the documented 400, so "schema-valid means accepted" is not checked
        case.call_and_validate(
            base_url=url,
            headers=headers,
            excluded_checks=[schemathesis.checks.positive_data_acceptance],
        )

    check()


def test_the_document_is_openapi_31(served: Serving) -> None:
    import httpx

    doc = httpx.get(f"{served.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {
        "/v1/customers",
        "/v1/customers/{id}",
        "/v1/customers/{id}/orders",
        "/v1/orders/{id}/items",
        "/oauth/token",
    }
    params = {p["name"] for p in doc["paths"]["/v1/orders"]["get"]["parameters"]}
    assert {"limit", "offset", "sort", "updated_since", "include_deleted", "status"} <= params
    assert "cursor" not in params
