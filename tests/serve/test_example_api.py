"""examples/shop_api.yaml serves as its comments say, and a pipeline that pulls the REST API
is verified against the ledger's `_serve` sink, as the README's "Serving APIs" says:

    "`headwater verify --ledger out/shop_api/ledger --sink _serve --target landing/` checks
    what a pipeline pulled from the APIs against what was served."
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx

from headwater.resolve.load import load
from headwater.serve.config import Faults
from headwater.serve.runtime import Serving
from headwater.verify import verify

from tests.serve.conftest import Clock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop_api.yaml"


def test_the_example_serves_and_a_pull_verifies_against_the_serve_sink(tmp_path, monkeypatch):
    for var in ("API_KEY", "PARTNER_KEY", "CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    sc = load(EXAMPLE)
    assert sc.serve is not None
    quiet = sc.serve.model_copy(update={"faults": Faults()})  # no 20 s hangs in a test
    clock = Clock()
    out = tmp_path / "out"
    s = Serving(
        sc,
        quiet,
        port=0,
        grpc_port=0,
        duration=timedelta(minutes=10),
        out_dir=out,
        stepped=True,
        clock=clock,
    )
    with s:
        while s.advance(40):
            pass
        c = httpx.Client(base_url=s.url, headers={"X-API-Key": "dev-key"})
        landing = tmp_path / "landing"
        landing.mkdir()
        for entity in s.entities:
            items, url = [], f"/v1/{entity}?include_deleted=true"
            while url:  # every pagination style sends Link rel="next"
                clock.now += 1  # within the rate limit, whatever the machine's speed
                r = c.get(url)
                assert r.status_code == 200, r.text
                items += r.json()["data"]
                url = r.links.get("next", {}).get("url")
            (landing / f"{entity}.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
        assert c.get("/v1/customers", headers={"X-API-Key": "partner-key"}).status_code == 403
    assert (out / "shop_api.proto").exists()
    report = verify(out / "ledger", str(landing), sink="_serve")
    assert report.ok, report.as_dict()
    entities = report.as_dict()["entities"]
    assert set(entities) == set(s.entities)
    assert all(e["matched"] == e["expected"] > 0 for e in entities.values())
    # a pull that lost one row must fail against the same ledger
    lines = (landing / "orders.jsonl").read_text().splitlines(keepends=True)
    live = next(i for i, x in enumerate(lines) if '"_deleted"' not in x)
    (landing / "orders.jsonl").write_text("".join(lines[:live] + lines[live + 1 :]))
    lost = verify(out / "ledger", str(landing), sink="_serve")
    assert not lost.ok and lost.as_dict()["entities"]["orders"]["missing"] == 1
