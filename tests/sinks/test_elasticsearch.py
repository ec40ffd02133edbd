"""The elasticsearch sink's `_bulk` files, read as the bulk API reads them (no server here).

`actions` parses a file by the bulk grammar (an action line naming exactly one of index,
create, update, delete with `_index` and `_id`, then a source line except for delete; every
line JSON; the file ends with a newline) and `replay` applies the actions as Elasticsearch
does; the contract harness reads back through them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import ScenarioError

from tests.capture._db import world_final
from tests.contract._harness import DURATION, NAME, cell, scenario
from tests.sinks._streams import run_world

ACTIONS = ("index", "create", "update", "delete")
TYPES = {"keyword", "text", "long", "double", "scaled_float", "date", "boolean", "binary"}

Action = tuple[str, str, str, Any]  # (action, _index, _id, source line or None)


def actions(path: Path) -> Iterator[Action]:
    """The actions of one bulk file, each checked against the grammar."""
    data = path.read_text(encoding="utf-8")
    assert data.endswith("\n"), f"{path}: the bulk body must end with a newline"
    lines = iter(data[:-1].split("\n"))
    for line in lines:
        action = json.loads(line)
        assert isinstance(action, dict) and len(action) == 1, line
        [(name, meta)] = action.items()
        assert name in ACTIONS, line
        assert set(meta) == {"_index", "_id"}, line
        assert isinstance(meta["_index"], str) and isinstance(meta["_id"], str), line
        if name == "delete":
            yield name, meta["_index"], meta["_id"], None
            continue
        source = json.loads(next(lines))
        assert isinstance(source, dict), f"{path}: {name} needs a source object"
        assert name not in ACTIONS[:2] or not set(source) & set(ACTIONS), source
        if name == "update":
            assert set(source) == {"doc"}, source
        yield name, meta["_index"], meta["_id"], source


def bulk_files(folder: Path) -> list[Path]:
    """Files in the order they were written: by stream, then interval number."""
    return sorted(folder.rglob("*.ndjson"), key=lambda p: (p.name.rsplit("-", 1)[0], p.name))


def replay(folder: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The documents per index after applying every bulk file in order."""
    indices: dict[str, dict[str, dict[str, Any]]] = {}
    for path in bulk_files(folder):
        for name, index, doc_id, source in actions(path):
            docs = indices.setdefault(index, {})
            if name == "delete":
                assert docs.pop(doc_id, None) is not None, f"delete of a missing {doc_id}"
            elif name == "update":
                assert doc_id in docs, f"update of a missing {index}/{doc_id}"
                docs[doc_id] = {**docs[doc_id], **source["doc"]}
            else:
                docs[doc_id] = source
    return indices


def check_mappings(out: Path, folder: str, columns: dict[str, list[str]]) -> None:
    """Every field of every entity has a mapping of a valid type, strict (no dynamic guess)."""
    for entity, cols in columns.items():
        found = list((out / folder / "_mappings").glob(f"{entity}*.json"))
        assert len(found) == 1, found
        body = json.loads(found[0].read_text(encoding="utf-8"))
        mappings = body["template"]["mappings"] if "template" in body else body["mappings"]
        assert mappings["dynamic"] == "strict"
        assert set(mappings["properties"]) == set(cols)
        for field, spec in mappings["properties"].items():
            assert spec["type"] in TYPES, (field, spec)
            if spec["type"] == "scaled_float":
                assert spec["scaling_factor"] > 0


def _columns(out: Path) -> dict[str, list[str]]:
    from tests.contract.harnesses import columns

    return columns()


@pytest.mark.parametrize(
    "options",
    ["", ', date_suffix: "%Y.%m.%d", text: [note]', ", updates: index, decimals: keyword"],
    ids=["plain", "dated", "full-images"],
)
def test_replayed_bulk_files_hold_the_worlds_final_documents(tmp_path: Path, options: str) -> None:
    sc = scenario(f"{NAME}: {{kind: elasticsearch, path: es, every: 20s{options}}}\n")
    run_world(sc, tmp_path, ledger=True)
    cols = _columns(tmp_path)
    indices = replay(tmp_path / "es")
    got: dict[str, set[tuple[Any, ...]]] = {e: set() for e in cols}
    for index, docs in indices.items():
        entity = index.split("-")[0]
        if "date_suffix" in options:
            assert index.startswith(f"{entity}-2026.01.01"), index
        for doc_id, doc in docs.items():
            row = tuple(cell(doc[c]) for c in cols[entity])
            assert doc_id == str(row[0])
            got[entity].add(row)
    want = {
        e: {tuple(cell(v) for v in r) for r in rows}
        for e, rows in world_final(sc, DURATION).items()
    }
    assert got == want
    check_mappings(tmp_path, "es", cols)
    assert list((tmp_path / "es").rglob("_SUCCESS")), "no interval was marked complete"


def test_updates_send_only_the_changed_fields(tmp_path: Path) -> None:
    sc = scenario(f"{NAME}: {{kind: elasticsearch, path: es, every: 1m}}\n")
    run_world(sc, tmp_path, ledger=True)
    docs = [
        s["doc"]
        for path in bulk_files(tmp_path / "es")
        for a, _, _, s in actions(path)
        if a == "update"
    ]
    assert docs and all(set(d) <= {"email", "vip"} for d in docs)  # the world updates those


def test_text_names_string_fields_only() -> None:
    with pytest.raises(ScenarioError, match=r"sinks\.s\.text\[0\].*amount"):
        scenario(f"{NAME}: {{kind: elasticsearch, text: [amount]}}\n")


def test_index_names_follow_elasticsearch_rules() -> None:
    with pytest.raises(ScenarioError, match="valid index name"):
        scenario(f"{NAME}: {{kind: elasticsearch, index: 'Shop_{{entity}}'}}\n")


BAD = {
    "no final newline": '{"delete":{"_index":"a","_id":"1"}}',
    "two actions": '{"index":{"_index":"a","_id":"1"},"delete":{"_index":"a","_id":"1"}}\n{}\n',
    "no _id": '{"index":{"_index":"a"}}\n{}\n',
    "unknown action": '{"upsert":{"_index":"a","_id":"1"}}\n{}\n',
    "update without doc": '{"update":{"_index":"a","_id":"1"}}\n{"x":1}\n',
    "source not JSON": '{"index":{"_index":"a","_id":"1"}}\n{x}\n',
    "index without source": '{"index":{"_index":"a","_id":"1"}}\n',
    "delete with a source": '{"delete":{"_index":"a","_id":"1"}}\n{"a":1,"b":2}\n',
}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_the_grammar_check_rejects_what_the_bulk_api_does(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises((AssertionError, ValueError, RuntimeError)):
        list(actions(path))


# -- the contract harness's read-back (tests/contract/harnesses.py) ----------------------------


def contract_landed(out: Path, folder: str) -> list[tuple[str, str, str, str]]:
    """(entity, action, _id, source) of every action in the order written."""
    from tests.contract._harness import canon

    return [
        (index.split("-")[0], name, doc_id, canon(source))
        for path in bulk_files(out / folder)
        for name, index, doc_id, source in actions(path)
    ]


def contract_expected(events: list[Any]) -> list[tuple[str, str, str, str]]:
    """The action each world change becomes: index its image, update with the fields it
    changed, delete."""
    from tests.contract._harness import canon

    last: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for e in events:
        row = {k: v for k, v in e.row.items() if k not in ("_op", "_ingest_time")}
        before = last.get((e.entity, e.key))
        last[(e.entity, e.key)] = row
        if e.op == "d":
            out.append((e.entity, "delete", e.key, canon(None)))
        elif e.op == "u" and before is not None:
            doc = {k: v for k, v in row.items() if before.get(k) != v}
            out.append((e.entity, "update", e.key, canon({"doc": doc})))
        else:
            out.append((e.entity, "index", e.key, canon(row)))
    return out


def test_the_shops_decimals_and_nulls_replay_to_its_final_documents(tmp_path: Path) -> None:
    from headwater.resolve.load import loads
    from headwater.world.engine import World

    shop = Path(__file__).resolve().parents[2] / "examples" / "shop.yaml"
    world = shop.read_text(encoding="utf-8").split("\nsinks:")[0]
    sc = loads(world + "\nsinks:\n  s: {kind: elasticsearch, path: es, every: 1m}\n")
    run_world(sc, tmp_path, ledger=True, duration=DURATION)
    cols = {e: [f.name for f in s.row_type] for e, s in World(sc).schemas.items()}
    got = {
        index: {tuple(cell(d[c]) for c in cols[index]) for d in docs.values()}
        for index, docs in replay(tmp_path / "es").items()
    }
    want = {
        e: {tuple(cell(v) for v in r) for r in rows}
        for e, rows in world_final(sc, DURATION).items()
    }
    assert {e: got.get(e, set()) for e in want} == want
    check_mappings(tmp_path, "es", cols)
