"""An independent client pages through every collection while the world keeps writing,
then syncs incrementally until the world stops, and must end with exactly the world's rows
(cursor paging), or with only the anomalies offset paging is documented to have.

The world is stepped: it takes one step between any two pages and a few between sync passes,
so what the client sees is the same on any machine, however fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.serve.conftest import Oracle, shop, strip_meta

ENTITIES = {"customers": "id", "orders": "order_id", "items": "item_id"}


def position(client: httpx.Client) -> tuple[int, str]:
    h = client.get("/health").json()
    return h["position"], h["clock"]


def pages(
    client: httpx.Client,
    path: str,
    style: str,
    params: dict[str, Any],
    size: int,
    between: Callable[[], Any] = lambda: None,
) -> list[dict[str, Any]]:
    """Every item of a listing, following the style's own paging; `between` pages."""
    items: list[dict[str, Any]] = []
    n = 0
    while True:
        if style == "cursor":
            q = {**params, "limit": size}
        elif style == "offset":
            q = {**params, "limit": size, "offset": n * size}
        else:
            q = {**params, "per_page": size, "page": n + 1}
        r = client.get(path, params=q)
        r.raise_for_status()
        body = r.json()
        items += body["data"]
        n += 1
        between()
        if style == "cursor":
            assert ('rel="next"' in r.headers.get("link", "")) == body["has_more"]
            if not body["has_more"]:
                return items
            params = {**params, "cursor": body["next_cursor"]}
        elif style == "offset":
            if body["offset"] + body["limit"] >= body["total"]:
                return items
        elif body["page"] >= body["total_pages"]:
            return items


def sync(
    client: httpx.Client, path: str, style: str, since: str, state: dict[Any, Any], key: str
) -> str:
    """One incremental pass from `since`: apply changes and tombstones; the next watermark."""
    params = {"updated_since": since, "include_deleted": "true", "sort": "updated_at"}
    mark = since
    for item in pages(client, path, style, params, 100):
        if item.get("_deleted"):
            state.pop(item[key], None)
        else:
            state[item[key]] = strip_meta(item)
        mark = max(mark, item["_updated_at"])
    return mark


@pytest.mark.parametrize("style", ["cursor", "offset", "page"])
def test_paging_while_the_world_writes_then_sync_converges(serve, style):
    sc = shop(f"rest: {{pagination: {style}}}")
    oracle = Oracle(sc).run()
    s = serve(sc, stepped=True)
    states, marks, starts, lost_by = {}, {}, {}, {}
    with httpx.Client(base_url=s.url, timeout=30) as client:
        assert s.advance(19)  # the initial rows, then 1m30s of 5 s steps: orders and items
        for entity, key in ENTITIES.items():
            p0, t0 = position(client)
            # items arrive at ~10 a step: pages of 20 outpace them, so the scan ends
            seen = pages(client, f"/v1/{entity}", style, {}, 20, between=s.advance)
            p1, _ = position(client)
            assert p1 > p0, "the world did not write while the client paged"
            keys = [item[key] for item in seen]
            before, after = oracle.at(p0)[entity], oracle.at(p1)[entity]
            deleted = oracle.deleted_between(entity, p0, p1)
            created = oracle.created_between(entity, p0, p1)
            missing = (set(before) - deleted) - set(keys)
            duplicates = len(keys) - len(set(keys))
            assert set(keys) <= set(before) | set(after) | deleted  # no phantom rows
            if style == "cursor":  # keyset: no gaps, no duplicates
                assert duplicates == 0
                assert not missing
            else:  # a delete before the offset skips a row; an insert before it repeats one
                assert len(missing) <= len(deleted)
                assert duplicates <= len(created)
            changed = {k for q, e, _, k in oracle.events if e == entity and q >= p0}
            lost_by[entity] = missing - changed  # skipped, and never touched again
            states[entity] = {item[key]: strip_meta(item) for item in seen}
            marks[entity] = starts[entity] = t0
        assert not s.store.done, "the world ended before the sync started"
        while s.advance(5):  # a client polls while the world writes
            for entity, key in ENTITIES.items():
                path = f"/v1/{entity}"
                marks[entity] = sync(client, path, style, marks[entity], states[entity], key)
        for entity, key in ENTITIES.items():  # one pass from the scan's start, data still
            sync(client, f"/v1/{entity}", style, starts[entity], states[entity], key)
    for entity in ENTITIES:
        final, state = oracle.final[entity], states[entity]
        assert set(state) == set(final) - lost_by[entity]
        for k, row in state.items():
            assert row == final[k], (entity, k)
        if style == "cursor":
            assert not lost_by[entity]
    assert s.wait(30)
