"""Each fault does what it says at the configured rate, exactly when configured, reproducibly."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.core.micros import US
from headwater.faults import corrupt, kinds_of
from headwater.faults.base import FaultContext
from headwater.faults.pipeline import VERSION_KEY, Delivery, FaultPipeline
from headwater.resolve.load import loads
from headwater.runner import run
from headwater.sinks.memory import MemorySink
from headwater.world.engine import World

WORLD = """
name: f
seed: 7
clock: {start: 2026-01-01T00:00:00Z, duration: 30m, step: 1m}
entities:
  accounts:
    key: id
    initial: 200
    arrivals: 2/s
    fields:
      id: {seq: {}}
      plan: {choice: [free, pro]}
      amount: {uniform: {min: 1, max: 100}}
      created_at: {event_time: {}}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 6/s, fields: [plan, amount]}
    deletes: {rate: 0.5/s}
  clicks:
    key: click_id
    arrivals: 15/s
    fields:
      click_id: {seq: {}}
      account_id: {ref: accounts.id}
      at: {event_time: {}}
"""
T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * US


def deliver(faults: str, seed: int | None = None) -> tuple[list[Delivery], FaultPipeline]:
    sinks = "sinks:\n  s:\n    kind: memory\n    faults:\n" + textwrap.indent(
        textwrap.dedent(faults), "      "
    )
    sc = loads(WORLD + sinks)
    world = World(sc, seed=seed)
    cfg = sc.sinks["s"]
    ctx = FaultContext("s", world.seed, world.schemas, world.start_us, world.end_us)
    pipe = FaultPipeline("s", cfg.faults, ctx)
    out = [d for ch in world.steps() for d in pipe.deliver(ch)]
    out += pipe.drain()
    return out, pipe


def events(deliveries: list[Delivery], entity: str = "clicks") -> pa.Table:
    parts = [d.events[entity] for d in deliveries if entity in d.events]
    return pa.concat_tables(parts)


def share(table: pa.Table, label: str) -> float:
    fault = table["fault"].fill_null("")
    hit = pc.match_substring(fault, label)
    originals = pc.equal(table["copy"], 0)
    return pc.sum(pc.and_(hit, originals)).as_py() / pc.sum(originals).as_py()


def world_events() -> int:
    sc = loads(WORLD)
    return sum(len(ch) for ch in World(sc).steps())


@pytest.fixture(scope="module")
def total() -> int:
    return world_events()


def test_late_rate_delay_and_every_event_delivered_once(total):
    ds, pipe = deliver("late: {rate: 0.1, delay: {mean: 2m}}")
    ev = pa.concat_tables([events(ds, e).drop_columns(["row"]) for e in ("clicks", "accounts")])
    assert ev.num_rows == total  # nothing lost, nothing added
    assert share(ev, "late") == pytest.approx(0.1, abs=0.01)
    late = ev.filter(pc.equal(ev["fault"], "late"))
    delay = pc.subtract(
        pc.cast(late["ingest_time"], pa.int64()), pc.cast(late["event_time"], pa.int64())
    )
    assert pc.mean(delay).as_py() / US == pytest.approx(120, rel=0.1)
    clean = ev.filter(pc.is_null(ev["fault"]))
    assert pc.all(pc.equal(clean["ingest_time"], clean["event_time"])).as_py()
    # each delivery holds only what was due in its window; late ones moved past their step
    for d in ds:
        for t in d.tables.values():
            ingest = pc.cast(t["ingest_time"], pa.int64()).to_numpy()
            assert ((ingest >= d.start_us) & ((ingest < d.end_us) | (d.start_us == d.end_us))).all()
    assert ds[-1].start_us == pipe.ctx.end_us  # the tail beyond the end came in a final drain
    assert (
        pipe.summary()["late"]["events"]
        == pc.sum(pc.match_substring(ev["fault"].fill_null(""), "late")).as_py()
    )


def test_same_seed_same_faults_other_seed_other_faults():
    spec = "late: {rate: 0.05, delay: 30s}\nduplicate: 0.02\nreorder: {rate: 0.3, window: 10s}"
    a, _ = deliver(spec)
    b, _ = deliver(spec)
    c, _ = deliver(spec, seed=8)
    ea, eb, ec = events(a), events(b), events(c)
    assert ea.equals(eb)
    assert [d.tables.keys() for d in a] == [d.tables.keys() for d in b]
    assert not ea.select(["seq", "fault"]).equals(ec.select(["seq", "fault"]))


def test_duplicate_rate_same_event_id(total):
    ds, _ = deliver("duplicate: 0.05")
    ev = pa.concat_tables([events(ds, e).drop_columns(["row"]) for e in ("clicks", "accounts")])
    copies = ev.filter(pc.equal(ev["copy"], 1))
    assert copies.num_rows / total == pytest.approx(0.05, abs=0.006)
    assert ev.num_rows == total + copies.num_rows
    assert pc.all(pc.equal(copies["fault"], "duplicate")).as_py()
    assert pc.all(
        pc.is_in(copies["seq"], value_set=ev.filter(pc.equal(ev["copy"], 0))["seq"])
    ).as_py()
    delivered = pa.concat_tables([d.tables["clicks"] for d in ds if "clicks" in d.tables])
    assert delivered.num_rows - pc.count_distinct(delivered["seq"]).as_py() > 0


def test_reorder_stays_within_its_window():
    ds, _ = deliver("reorder: {rate: 0.5, window: 20s}")
    ev = events(ds)
    assert share(ev, "reorder") == pytest.approx(0.5, abs=0.02)
    moved = pc.subtract(
        pc.cast(ev["ingest_time"], pa.int64()), pc.cast(ev["event_time"], pa.int64())
    ).to_numpy()
    assert moved.min() >= 0 and moved.max() < 20 * US
    delivered = pa.concat_tables([d.tables["clicks"] for d in ds if "clicks" in d.tables])
    seq = delivered["seq"].to_numpy()
    assert (np.diff(seq) < 0).sum() > 100  # delivered out of seq order


def test_outage_delivers_nothing_then_a_backlog():
    ds, pipe = deliver("outage: [{at: 2026-01-01T00:10:00Z, length: 5m}]")
    start, end = T0 + 10 * 60 * US, T0 + 15 * 60 * US
    inside = [d for d in ds if d.start_us >= start and d.end_us <= end]
    assert inside and all(not d.tables for d in inside) and all(d.outage for d in inside)
    after = next(d for d in ds if d.start_us == end)
    held = after.events["clicks"].filter(pc.equal(after.events["clicks"]["fault"], "outage"))
    assert held.num_rows > 3000  # ~15/s for 5 minutes
    assert pc.all(pc.equal(pc.cast(held["ingest_time"], pa.int64()), end)).as_py()
    assert pipe.summary()["outage"]["windows"] == 1


def test_drift_switches_schema_exactly_at_its_time():
    ds, pipe = deliver(
        """
        drift:
          - at: 2026-01-01T00:12:30Z
            entities: [accounts]
            rename: {amount: total}
            add: {channel: {choice: [web, app]}}
            drop: [plan]
            format: {created_at: epoch_ms}
        """
    )
    cut = T0 + 12 * 60 * US + 30 * US
    old, new = [], []
    for d in ds:
        t = d.tables.get("accounts")
        if t is None:
            continue
        ingest = pc.cast(t["ingest_time"], pa.int64()).to_numpy()
        names = [f.name for f in t.schema.field("after").type]
        if "total" in names:
            new.append(ingest.min())
            assert names == ["id", "total", "created_at", "updated_at", "channel"]
            assert t.schema.field("after").type.field("created_at").type == pa.int64()
            assert t.schema.metadata[VERSION_KEY] == b"2" and d.versions["accounts"] == 2
        else:
            old.append(ingest.max())
            assert "plan" in names and d.versions["accounts"] == 1
        # clicks are not affected
        if "clicks" in d.tables:
            assert d.versions["clicks"] == 1
    assert max(old) < cut <= min(new)
    assert any(d.start_us == cut for d in ds)  # the step was split at the drift time
    ev = events(ds, "accounts")
    assert "amount" in [f.name for f in ev.schema.field("row").type]  # the ledger keeps names
    assert sorted(set(ev["version"].to_pylist())) == [1, 2]
    assert pipe.summary()["drift"]["rules"] == [
        "2026-01-01T00:12:30Z accounts: rename amount→total, drop plan, add channel, "
        "format created_at:epoch_ms"
    ]


def test_malformed_rate_kinds_and_text_hook():
    ds, pipe = deliver(
        "malformed: {rate: 0.04, kinds: {missing: 1, truncate: 1, type: 1, encoding: 1}}"
    )
    ev = events(ds)
    assert share(ev, "malformed") == pytest.approx(0.04, abs=0.005)
    kinds = pipe.summary()["malformed"]["kinds"]
    assert set(kinds) == {"missing", "truncate", "type", "encoding"}
    table = next(
        d.tables["clicks"] for d in ds if "clicks" in d.tables and d.tables["clicks"].num_rows > 500
    )
    marks = kinds_of(table)
    assert marks is not None and 0 < marks.null_count < len(marks)
    missing = table.filter(pc.equal(table["fault"], "malformed:missing"))
    if missing.num_rows:
        row = missing["after"].to_pylist()[0]
        assert None in row.values()
    lines = [
        f'{{"click_id":{s},"account_id":{s % 7},"at":"2026-01-01T00:00:00Z"}}'.encode()
        for s in table["seq"].to_pylist()
    ]
    broken = corrupt(lines, marks, table["seq"], seed=1)
    again = corrupt(lines, marks, table["seq"], seed=1)
    assert broken == again
    for line, out, kind in zip(lines, broken, marks.to_pylist(), strict=True):
        if kind is None:
            assert out == line
        elif kind == "truncate":
            assert len(out) < len(line) and line.startswith(out)
        elif kind == "encoding":
            with pytest.raises(UnicodeDecodeError):
                out.decode("utf-8")
        elif kind == "type":
            assert b'"click_id":"' in out


def test_corrupt_delimited_type():
    out = corrupt([b"1,abc,2.5"], ["type"], [3], format="delimited")
    assert out == [b"N/A,abc,2.5"]


def test_skew_shifts_stamped_times_but_not_the_ledger_event_time():
    ds, _ = deliver("skew: -90s")
    d = next(d for d in ds if "clicks" in d.tables and d.tables["clicks"].num_rows)
    t, ev = d.tables["clicks"], d.events["clicks"]
    shift = pc.subtract(pc.cast(t["event_time"], pa.int64()), pc.cast(ev["event_time"], pa.int64()))
    assert set(shift.to_pylist()) == {-90 * US}
    at = pc.cast(t["after"].combine_chunks().field("at"), pa.int64())
    assert pc.all(pc.equal(at, pc.cast(t["event_time"], pa.int64()))).as_py()
    assert ev["row"].combine_chunks().field("at").equals(t["after"].combine_chunks().field("at"))


def test_zones_mixed_and_missing():
    ds, pipe = deliver('zones: {offsets: ["+02:00", Z], missing: 0.25, fields: [at]}')
    t = pa.concat_tables([d.tables["clicks"] for d in ds if "clicks" in d.tables])
    text = t["after"].combine_chunks().field("at").to_pylist()
    plus2 = sum(s.endswith("+02:00") for s in text)
    utc = sum(s.endswith("Z") for s in text)
    bare = len(text) - plus2 - utc
    assert bare / len(text) == pytest.approx(0.25, abs=0.02)
    assert plus2 / len(text) == pytest.approx(0.375, abs=0.02)
    one = next(i for i, s in enumerate(text) if s.endswith("+02:00"))
    real = t["event_time"][one].as_py()
    assert datetime.fromisoformat(text[one]) == real
    assert pipe.summary()["zones"]["without_zone"] == bare


def test_runner_report_summarizes_faults_and_sink_sees_extra_columns(tmp_path):
    sc = loads(
        WORLD
        + """
sinks:
  s:
    kind: memory
    entities: [clicks]
    faults: {late: {rate: 0.1, delay: 1m}, duplicate: 0.01}
  clean: {kind: memory, entities: [clicks]}
"""
    )
    report = run(sc, out_dir=tmp_path, duration=None)
    faults = report.as_dict()["sinks"]["s"]["faults"]
    assert faults["late"]["events"] > 0 and faults["duplicate"]["events"] > 0
    assert "faults" not in report.as_dict()["sinks"]["clean"]


def test_clean_sink_gets_the_world_tables_untouched(tmp_path):
    sc = loads(WORLD + "sinks:\n  m: {kind: memory}\n")
    sink = MemorySink("m", sc.sinks["m"], None)  # type: ignore[arg-type]
    from headwater.runner import build_sinks

    world = World(sc)
    sinks = build_sinks(sc, world, tmp_path)
    run(sc, out_dir=tmp_path, sinks=sinks)
    got = sinks["m"].table("clicks")  # type: ignore[attr-defined]
    assert got.column_names == ["seq", "txn", "op", "event_time", "key", "before", "after"]
    del sink


def test_an_outage_before_the_epoch_starts_at_its_exact_microsecond():
    """Fault times come from micros.epoch_us like the world's clock, not int(timestamp())."""
    from headwater.faults.outage import OutageWindow, windows

    w = OutageWindow.model_validate({"at": "1969-12-31T23:59:59.5Z", "length": "1s"})
    assert windows([w], -1_000_000, 1_000_000).tolist() == [[-500_000, 500_000]]
