"""APIs as sources: REST, GraphQL and gRPC over the world's live state while it runs.

    config.py   the `serve:` section of a scenario (pure; validated by `headwater validate`)
    store.py    the live state, fed by the change stream: rows, timestamps, tombstones, log
    query.py    filters, sorting, cursor/offset/page pagination over a snapshot
    rest.py     the FastAPI app; openapi.py writes its document from the scenario
    graphql.py  strawberry schema: entities, relations, Relay connections
    rpc.py      gRPC: a .proto generated from the scenario, unary lookups, change streams
    guard.py    auth (API key, OAuth2 client credentials), rate limit, injected faults
    runtime.py  `Serving`: world thread + servers; receive.py: the webhook receiver

Server libraries are the `api` extra and are imported only when serving starts. This
package imports nothing itself: resolution (headwater.resolve) reads config.py while loading,
below the rest of serve (tests/test_layers.py).
"""
