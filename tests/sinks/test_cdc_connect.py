"""The cdc sink's Kafka Connect options: JsonConverter's schema wrapper, Debezium's keys,
transaction metadata events (https://debezium.io/documentation/reference/stable/
connectors/postgresql.html, "Data change events" and "Transaction metadata")."""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from headwater.errors import ScenarioError
from headwater.ledger import LedgerReader
from headwater.runner import run
from headwater.verify import verify

from tests.capture._flows import cdc_events
from tests.helpers import scenario

CDC = (
    "db: {kind: sqlite, path: shop.db}\n"
    "changes: {kind: cdc, from: db, server_name: shop, %s"
    "to: {kind: files, format: jsonl, path: cdc}}\n"
)

# Debezium's documented value schema of a create event (PostgreSQL connector, table
# customers of server PostgreSQL_server), abridged to what our check reads:
#   "schema": {"type": "struct", "fields": [
#       {"type": "struct", "fields": [
#           {"type": "int32", "optional": false, "field": "id"},
#           {"type": "string", "optional": false, "field": "first_name"}, ...],
#        "optional": true, "name": "PostgreSQL_server.inventory.customers.Value", "field": "before"},
#       {... the same ..., "field": "after"},
#       {"type": "struct", "fields": [
#           {"type": "string", "optional": false, "field": "version"},
#           {"type": "string", "optional": false, "field": "connector"},
#           {"type": "string", "optional": false, "field": "name"},
#           {"type": "int64", "optional": false, "field": "ts_ms"},
#           {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
#            "parameters": {"allowed": "true,last,false,incremental"}, "default": "false",
#            "field": "snapshot"},
#           {"type": "string", "optional": false, "field": "db"}, ...,
#           {"type": "int64", "optional": true, "field": "txId"},
#           {"type": "int64", "optional": true, "field": "lsn"}, ...],
#        "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source"},
#       {"type": "string", "optional": false, "field": "op"},
#       {"type": "int64", "optional": true, "field": "ts_ms"},
#       {"type": "struct", "fields": [
#           {"type": "string", "optional": false, "field": "id"},
#           {"type": "int64", "optional": false, "field": "total_order"},
#           {"type": "int64", "optional": false, "field": "data_collection_order"}],
#        "optional": true, "name": "event.block", "version": 1, "field": "transaction"}],
#    "optional": false, "name": "PostgreSQL_server.inventory.customers.Envelope", "version": 1}
DOCUMENTED = [
    ("before", "struct", True),
    ("after", "struct", True),
    ("source", "struct", False),
    ("op", "string", False),
    ("ts_ms", "int64", True),
    ("transaction", "struct", True),
]


def _run(tmp_path, options: str = "", minutes: int = 2):
    sc = scenario(sinks=CDC % options)
    report = run(sc, duration=timedelta(minutes=minutes), out_dir=tmp_path, ledger=False)
    return report, cdc_events(tmp_path)


def test_json_schemas_wrap_each_envelope_in_its_connect_schema(tmp_path):
    _, plain = _run(tmp_path / "plain")
    _, wrapped = _run(tmp_path / "wrapped", "converter: json_schemas, ")
    assert [m["payload"] for m in wrapped] == plain
    by_table = {m["payload"]["source"]["table"]: m["schema"] for m in wrapped}
    assert set(by_table) == {"customers", "orders", "order_items"}
    for table, schema in by_table.items():
        assert schema["type"] == "struct" and schema["name"] == f"shop.{table}.Envelope"
        fields = {f["field"]: f for f in schema["fields"]}
        for name, kind, optional in DOCUMENTED:
            assert (fields[name]["type"], fields[name]["optional"]) == (kind, optional), name
        assert fields["transaction"]["name"] == "event.block"
        assert fields["after"]["name"] == f"shop.{table}.Value"
        source = {f["field"]: f for f in fields["source"]["fields"]}
        assert fields["source"]["name"] == "io.debezium.connector.sqlite.Source"
        assert [source[n]["type"] for n in ("version", "ts_ms", "txId", "lsn")] == [
            "string",
            "int64",
            "int64",
            "int64",
        ]
        assert source["snapshot"]["name"] == "io.debezium.data.Enum"
    orders = {f["field"]: f for f in by_table["orders"]["fields"]}["after"]["fields"]
    types = {f["field"]: (f["type"], f["optional"], f.get("name")) for f in orders}
    assert types["order_id"] == ("int64", False, None)  # the key is never null
    assert types["amount"][0] == "float64"
    assert types["updated_at"] == ("string", True, "io.debezium.time.ZonedTimestamp")
    # every payload value has the type its schema says
    sample = next(m for m in wrapped if m["payload"]["source"]["table"] == "orders")
    after = sample["payload"]["after"]
    assert isinstance(after["order_id"], int) and isinstance(after["status"], str)


def test_json_schemas_needs_a_json_transport():
    bad = CDC.replace("format: jsonl", "format: parquet") % "converter: json_schemas, "
    with pytest.raises(ScenarioError, match=r"sinks\.changes\.to\.format: converter json_schemas"):
        scenario(sinks=bad)


def _kafka_keys(kafka_server, tmp_path, prefix: str, options: str) -> list[tuple[dict, dict]]:
    """(key, value) of every message a cdc run with `options` sent to Kafka, decoded."""
    from tests.sinks.test_kafka import consume

    to = (
        f"to: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"topic: '{prefix}.{{entity}}', partitions: 1}}"
    )
    sc = scenario(
        sinks="db: {kind: sqlite, path: shop.db}\n"
        f"changes: {{kind: cdc, from: db, server_name: shop, {options}{to}}}\n"
    )
    report = run(sc, duration=timedelta(minutes=1), out_dir=tmp_path)
    sent = report.sinks["changes"]["acknowledged"]
    assert LedgerReader(tmp_path / "ledger").manifest.get("acknowledged", {}).get("changes") == sent
    topics = {f"{prefix}.{t}": 1 for t in ("customers", "orders", "order_items")}
    msgs = consume(kafka_server, topics, sent)
    assert len(msgs) == sent
    return [(json.loads(m.key()), json.loads(m.value())) for m in msgs]


def _row_key(envelope: dict, key: str) -> int:
    return (envelope["after"] or envelope["before"])[key]


KEYS = {"customers": "id", "orders": "order_id", "order_items": "item_id"}


def test_keys_are_the_primary_key_struct_as_debezium_writes_them(kafka_server, tmp_path):
    """Debezium's key of a customers row is {"id": 1001} (schemas off)."""
    pairs = _kafka_keys(kafka_server, tmp_path, "plainkeys", "key: struct, ")
    for key, value in pairs:
        name = KEYS[value["source"]["table"]]
        assert key == {name: _row_key(value, name)}


def test_keys_carry_their_connect_schema_with_json_schemas(kafka_server, tmp_path):
    """Debezium's documented key of the customers table, with schemas:
    {"schema": {"type": "struct", "name": "PostgreSQL_server.public.customers.Key",
     "optional": false, "fields": [{"field": "id", "type": "int32", "optional": false}]},
     "payload": {"id": 1}}"""
    pairs = _kafka_keys(
        kafka_server,
        tmp_path,
        "schemakeys",
        "key: struct, converter: json_schemas, transaction_metadata: true, ",
    )
    for key, value in pairs:
        table = value["payload"]["source"]["table"]
        name = KEYS[table]
        assert key["payload"] == {name: _row_key(value["payload"], name)}
        assert key["schema"] == {
            "type": "struct",
            "fields": [{"type": "int64", "optional": False, "field": name}],
            "optional": False,
            "name": f"shop.{table}.Key",
        }

    # the metadata went to <server_name>.transaction, keyed by its id, and is no world change
    from tests.sinks.test_kafka import consume

    txns = {v["payload"]["transaction"]["id"] for _, v in pairs if v["payload"]["op"] != "r"}
    assert txns
    meta = consume(kafka_server, {"shop.transaction": 1}, 2 * len(txns))
    assert len(meta) == 2 * len(txns)
    for m in meta:
        key, value = json.loads(m.key()), json.loads(m.value())
        assert key["payload"] == {"id": value["payload"]["id"]}
        assert value["schema"]["name"] == "io.debezium.connector.common.TransactionMetadataValue"
    assert {json.loads(m.value())["payload"]["id"] for m in meta} == txns


@pytest.mark.parametrize(
    ("options", "to", "error"),
    [
        ("key: struct, ", "kind: files", r"sinks\.changes\.key: a files transport carries no"),
        (
            "key: struct, ",
            "kind: kafka, bootstrap_servers: '127.0.0.1:9', key: order_id",
            r"sinks\.changes\.to\.key: key: struct makes the keys",
        ),
        (
            "converter: json_schemas, ",
            "kind: kafka, bootstrap_servers: '127.0.0.1:9', encoding: avro",
            r"sinks\.changes\.to\.encoding: converter json_schemas writes JSON",
        ),
    ],
)
def test_connect_options_are_checked_where_they_are_written(options, to, error):
    bad = (
        "db: {kind: sqlite, path: shop.db}\n"
        f"changes: {{kind: cdc, from: db, {options}to: {{{to}}}}}\n"
    )
    with pytest.raises(ScenarioError, match=error):
        scenario(sinks=bad)


# Debezium's documented transaction metadata events (topic <topic.prefix>.transaction):
#   {"status": "BEGIN", "id": "571:53195829", "ts_ms": 1486500577125,
#    "event_count": null, "data_collections": null}
#   {"status": "END", "id": "571:53195832", "ts_ms": 1486500577691, "event_count": 2,
#    "data_collections": [{"data_collection": "s1.a", "event_count": 1},
#                         {"data_collection": "s2.a", "event_count": 1}]}
def _metadata_run(out, metadata: bool):
    sc = scenario(sinks=CDC % ("transaction_metadata: true, " if metadata else ""))
    return run(sc, duration=timedelta(minutes=2), out_dir=out)


def check_metadata(out) -> int:
    """BEGIN and END of every transaction of the events under out/cdc, in order, with their
    counts; returns how many transactions."""
    meta = [
        json.loads(line)
        for path in sorted((out / "cdc" / "transaction").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    shutil.rmtree(out / "cdc" / "transaction")
    events = [ev for ev in cdc_events(out) if ev["transaction"] is not None]
    per_txn: dict[str, Counter] = defaultdict(Counter)
    for ev in events:
        per_txn[ev["transaction"]["id"]][ev["source"]["table"]] += 1
    begins = [m for m in meta if m["status"] == "BEGIN"]
    ends = {m["id"]: m for m in meta if m["status"] == "END"}
    assert [m["id"] for m in begins] == list(ends) and set(ends) == set(per_txn)
    assert all(m["event_count"] is None and m["data_collections"] is None for m in begins)
    for txn, tables in per_txn.items():
        end = ends[txn]
        assert end["event_count"] == sum(tables.values())
        assert {d["data_collection"]: d["event_count"] for d in end["data_collections"]} == tables
        assert set(end) == {"status", "id", "ts_ms", "event_count", "data_collections"}
    assert all(b["ts_ms"] <= ends[b["id"]]["ts_ms"] for b in begins)
    return len(per_txn)


def test_transaction_metadata_begins_and_ends_every_transaction(tmp_path):
    _metadata_run(tmp_path, True)
    assert check_metadata(tmp_path) > 1


def test_transaction_metadata_of_a_captured_log(pg_server, tmp_path):
    """PostgreSQL: the transactions are the database's own (ids `<txId>:<LSN>`)."""
    from tests.capture._db import TINY, pg_database, shop

    url = pg_database(pg_server, "hw_cap_txmeta")
    sc = shop(
        f"db: {{kind: postgres, url: '{url}', connections: 2}}\n"
        "changes: {kind: cdc, from: db, transaction_metadata: true, "
        "to: {kind: files, format: jsonl, path: cdc}}\n"
    )
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    assert check_metadata(tmp_path) > 1


def test_transaction_metadata_is_no_world_change(tmp_path):
    """The ledger, the report and verify say the same with and without the metadata."""
    from tests.verify.test_reference_pipeline import pipeline

    results = []
    for metadata in (False, True):
        out = tmp_path / str(metadata)
        report = _metadata_run(out, metadata)
        assert (out / "cdc" / "transaction").exists() == metadata
        shutil.rmtree(out / "cdc" / "transaction", ignore_errors=True)  # a consumer of the tables
        pipeline().load(out / "cdc", out / "land.duckdb")
        checked = verify(out / "ledger", out / "land.duckdb", sink="changes")
        assert checked.ok, checked.as_dict()
        book = LedgerReader(out / "ledger")
        results.append(
            (
                report.sinks["changes"]["counts"],
                book.published("changes"),
                [(e.entity, e.expected, e.found) for e in checked.entities],
            )
        )
    assert results[0] == results[1]
