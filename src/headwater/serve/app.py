"""The HTTP application: REST and GraphQL behind one guard (auth, rate limit, faults)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.serve.guard import Guard, Misbehaviour
from headwater.serve.rest import RestApi

if TYPE_CHECKING:
    from headwater.serve.runtime import Serving


def build_app(serving: Serving) -> Any:
    cfg = serving.config
    rest = RestApi(serving.store, cfg, serving.scenario, serving.admission.auth, serving.entities)
    app = rest.app()
    prefixes = ["/v1"]
    if cfg.graphql.enabled:
        from headwater.serve.graphql import mount

        mount(app, serving, cfg.graphql.path)
        prefixes.append(cfg.graphql.path)
    faults = Misbehaviour(cfg.faults, serving.store, serving.seed, serving.factor)
    return Guard(app, prefixes=tuple(prefixes), admission=serving.admission, faults=faults)
