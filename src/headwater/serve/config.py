"""The `serve:` section of a scenario: which APIs stand up over the running world, and how
they misbehave. Pure pydantic (no server library is imported here), so `headwater validate`
checks it and the JSON Schema documents it; the README's "Serving APIs" describes every key
(a test keeps it complete) and examples/shop_api.yaml uses them all.

```yaml
serve:
  port: 8000
  speed: 60x
  rest: {pagination: cursor, page_size: 50, max_page_size: 200}
  auth:
    api_keys: ["${API_KEY}"]
    oauth2: {clients: {etl: "${CLIENT_SECRET}"}, token_ttl: 1h}
  rate_limit: {rate: 10/s, burst: 20}
  faults:
    errors: {rate: 0.01, status: [500, 503]}
    timeouts: {rate: 0.005, after: 20s}
    latency: {min: 5ms, max: 80ms}
    outages: [{at: 2026-01-01T06:00:00Z, for: 15m}]
  drift: [{at: 2026-01-01T12:00:00Z, entity: orders, add: {coupon: {choice: [A, B]}}}]
  grpc: {port: 50051}
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from headwater._plugins import suggest
from headwater.core.spec import Spec
from headwater.core.units import Duration, Rate, Timestamp, parse_speed
from headwater.generators.base import FieldGen
from headwater.scenario.model import ScenarioBase

Pagination = Literal["cursor", "offset", "page"]


class Collection(Spec):
    """Per-entity overrides of the REST collection."""

    pagination: Pagination | None = None
    page_size: int | None = Field(None, ge=1)
    max_page_size: int | None = Field(None, ge=1)


class Rest(Spec):
    """REST collections under /v1: one pagination style per collection, a page-size cap."""

    enabled: bool = True
    pagination: Pagination = Field(
        "cursor", description="cursor (keyset, stable while data changes), offset or page"
    )
    page_size: int = Field(50, ge=1, description="items per page when the client gives none")
    max_page_size: int = Field(
        100, ge=1, description="a larger page request is silently capped (data-volume cap)"
    )
    collections: dict[str, Collection] = Field(
        default_factory=dict, description="per-entity overrides"
    )

    @model_validator(mode="after")
    def _sizes(self) -> Rest:
        if self.page_size > self.max_page_size:
            raise ValueError(
                f"page_size ({self.page_size}) must not exceed max_page_size ({self.max_page_size})"
            )
        return self

    def collection(self, entity: str) -> tuple[Pagination, int, int]:
        """(pagination, default page size, cap) for one entity."""
        c = self.collections.get(entity, Collection())
        cap = c.max_page_size or self.max_page_size
        return c.pagination or self.pagination, min(c.page_size or self.page_size, cap), cap


class GraphQL(Spec):
    enabled: bool = True
    path: str = Field("/graphql", pattern=r"^/[A-Za-z0-9_/-]*$")
    max_page_size: int = Field(100, ge=1, description="cap on `first` of a connection")


class Grpc(Spec):
    enabled: bool = True
    port: int = Field(50051, ge=0, le=65535, description="0 picks a free port")


class Credential(Spec):
    """A secret that may be limited to some entities (others answer 403)."""

    secret: SecretStr
    entities: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"secret": v} if isinstance(v, str) else v


class ApiKey(Credential):
    @model_validator(mode="before")
    @classmethod
    def _key(cls, v: Any) -> Any:
        if isinstance(v, dict) and "key" in v:
            v = {**v, "secret": v["key"]}
            del v["key"]
        return v


class OAuth2(Spec):
    """OAuth2 client credentials: POST /oauth/token gives bearer tokens that expire."""

    clients: dict[str, Credential] = Field(min_length=1, description="client id → secret")
    token_ttl: Duration = Field(timedelta(hours=1), description="wall-clock lifetime of a token")


class Auth(Spec):
    """Either credential works when both are configured; none configured means no auth."""

    header: str = Field("X-API-Key", description="header carrying an API key")
    api_keys: list[ApiKey] = []
    oauth2: OAuth2 | None = None

    @model_validator(mode="after")
    def _some(self) -> Auth:
        if not self.api_keys and self.oauth2 is None:
            raise ValueError("give api_keys, oauth2 or both (or remove auth)")
        return self


class RateLimit(Spec):
    """A token bucket per client (credential, else address), in wall-clock time."""

    rate: Rate
    burst: int | None = Field(None, ge=1, description="bucket size; default: one second's worth")

    @field_validator("rate")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("the rate must be positive")
        return v

    @property
    def capacity(self) -> int:
        return self.burst or max(1, round(self.rate))


class Errors(Spec):
    rate: float = Field(ge=0, le=1, description="fraction of requests answered with an error")
    status: list[int] = Field([500, 502, 503], min_length=1)

    @field_validator("status")
    @classmethod
    def _5xx(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if not 500 <= s <= 599]
        if bad:
            raise ValueError(f"injected errors are 5xx statuses, got {bad}")
        return v


class Timeouts(Spec):
    rate: float = Field(ge=0, le=1, description="fraction of requests that hang")
    after: Duration = Field(timedelta(seconds=30), description="wall time before the 504 is sent")


class Latency(Spec):
    min: Duration = timedelta(0)
    max: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class Outage(Spec):
    """A window of simulated time during which every request gets `status`."""

    at: Timestamp
    for_: Duration = Field(alias="for")
    status: int = Field(503, ge=500, le=599)


class Faults(Spec):
    errors: Errors | None = None
    timeouts: Timeouts | None = None
    latency: Latency | None = None
    outages: list[Outage] = []


class Drift(Spec):
    """From simulated time `at`, an entity's REST items change shape."""

    at: Timestamp
    entity: str
    add: dict[str, Any] = Field(
        default_factory=dict, description="new fields: name → generator, like entity fields"
    )
    rename: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = []

    @field_validator("add", mode="after")
    @classmethod
    def _generators(cls, v: dict[str, Any]) -> dict[str, FieldGen]:
        from headwater.generators import parse_field

        return {name: parse_field(spec) for name, spec in v.items()}


class Serve(Spec):
    """APIs that serve the world's current state while it runs."""

    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 exposes it")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port (REST, GraphQL); 0: free")
    speed: str = Field("realtime", description="world speed while serving: realtime or 60x")
    entities: list[str] | None = Field(None, description="entities served; default: all")
    rest: Rest = Rest()
    graphql: GraphQL = GraphQL()
    grpc: Grpc | None = Field(None, description="a gRPC service (off unless given)")
    auth: Auth | None = None
    rate_limit: RateLimit | None = None
    faults: Faults = Faults()
    drift: list[Drift] = []
    tombstones: Duration = Field(
        timedelta(days=7), description="simulated time a deleted row stays visible as tombstone"
    )
    changes_kept: int = Field(
        100_000, ge=0, description="latest changes kept for gRPC subscribers to resume from"
    )

    @field_validator("speed")
    @classmethod
    def _speed(cls, v: str) -> str:
        v = parse_speed(v)
        if v == "max":
            raise ValueError("serve needs a paced world: 'realtime' or a factor like '60x'")
        return v

    def check(self, scenario: ScenarioBase) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-checks against the scenario's entities as declared: (path under serve,
        message)."""
        names = list(scenario.entities)
        out: list[tuple[tuple[str | int, ...], str]] = []

        def entity(loc: tuple[str | int, ...], name: str) -> bool:
            if name not in names:
                out.append((loc, f"unknown entity '{name}'{suggest(name, names)}"))
                return False
            return True

        for i, e in enumerate(self.entities or []):
            entity(("entities", i), e)
        for e in self.rest.collections:
            entity(("rest", "collections", e), e)
        creds: list[tuple[tuple[str | int, ...], Credential]] = [
            (("auth", "api_keys", i), k)
            for i, k in enumerate(self.auth.api_keys if self.auth else [])
        ]
        if self.auth and self.auth.oauth2:
            creds += [
                (("auth", "oauth2", "clients", c), v) for c, v in self.auth.oauth2.clients.items()
            ]
        for loc, cred in creds:
            for j, e in enumerate(cred.entities or []):
                entity((*loc, "entities", j), e)
        for i, d in enumerate(self.drift):
            if not entity(("drift", i, "entity"), d.entity):
                continue
            fields = list(scenario.entities[d.entity].fields)
            for f in [*d.rename, *d.remove]:
                if f not in fields:
                    out.append(
                        (
                            (("drift", i, "rename" if f in d.rename else "remove")),
                            f"unknown field '{f}'{suggest(f, fields)}",
                        )
                    )
            for f, gen in d.add.items():
                if f in fields:
                    out.append((("drift", i, "add", f), f"'{f}' already exists"))
                elif gen.depends() - set(fields) or gen.references():
                    out.append(
                        (("drift", i, "add", f), "a drift field may only read the entity's fields")
                    )
        return out
