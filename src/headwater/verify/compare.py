"""One entity: the final state the ledger implies against the rows the target holds.

Expected state: every change delivered to the sink, once per event (duplicates collapse),
applied in seq order; a key deleted last is absent. Malformed deliveries are the pipeline's
to reject: the state without them is expected, the state with them is accepted too. Rows
are identified by the entity's primary key (the key, plus `version` for insert-only
entities). All of it runs in DuckDB over the ledger's Parquet parts and the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from headwater.ledger.reader import EntityInfo, LedgerReader
from headwater.verify.targets import Target

DELETED_COLUMNS = ("__deleted", "_deleted", "_is_deleted", "_op")
PROCESSING_COLUMNS = ("_processed_at", "processed_at", "_loaded_at", "loaded_at")
P = "__hw_"  # prefix of verify's own columns


@dataclass
class Options:
    watermark_s: float | None = None
    processing_time: str | None = None
    deleted_column: str | None = None
    samples: int = 5
    strict_types: bool = False  # a storage type other than the ledger's fails the entity


@dataclass
class EntityResult:
    """What verify found for one entity; `ok` when nothing is wrong.

    `column_types` lists columns stored as another type than the ledger's (values are
    compared all the same); they fail the entity only under `strict_types`.
    """

    entity: str
    table: str | None
    expected: int = 0
    found: int = 0
    matched: int = 0
    missing: int = 0
    unexpected: int = 0
    not_deleted: int = 0
    duplicates: int = 0
    duplicate_rows: int = 0
    wrong: int = 0
    stale: int = 0
    diffs: dict[str, int] = field(default_factory=dict)
    type_errors: dict[str, int] = field(default_factory=dict)
    column_types: list[dict[str, str]] = field(default_factory=list)
    strict_types: bool = False
    not_compared: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)
    delivered: dict[str, Any] = field(default_factory=dict)
    late: dict[str, Any] = field(default_factory=dict)
    lag: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not (
            self.missing
            or self.unexpected
            or self.duplicates
            or self.wrong
            or sum(self.type_errors.values())
            or (self.strict_types and self.column_types)
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["ok"] = self.ok
        return out


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- types -------------------------------------------------------------------------------------
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)


def family(t: str) -> str:
    t = t.upper()
    if t.startswith(_NUMERIC):
        return "numeric"
    if t.startswith(("TIMESTAMP", "DATE", "TIME")):
        return "temporal"
    if t.startswith(("VARCHAR", "JSON", "UUID")):
        return "string"
    if t == "BOOLEAN":
        return "boolean"
    return "nested"


# integer digits of the exact numeric types (HUGEINT capped at what DECIMAL(38) holds)
_DIGITS = {
    "TINYINT": 3,
    "SMALLINT": 5,
    "INTEGER": 10,
    "BIGINT": 19,
    "UTINYINT": 3,
    "USMALLINT": 5,
    "UINTEGER": 10,
    "UBIGINT": 20,
    "HUGEINT": 38,
    "UHUGEINT": 38,
}
_FLOATS = ("FLOAT", "DOUBLE", "REAL")


def _exact(et: str) -> str | None:
    """For an exact numeric type, a DECIMAL(38, S) that holds any of its values and any
    finer fraction a wrong value may carry (12.341 for a DECIMAL(…, 2)); else None."""
    t = et.upper()
    if t in _DIGITS:
        return f"DECIMAL(38,{38 - _DIGITS[t]})"
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    return f"DECIMAL(38,{38 - int(m[1]) + int(m[2])})" if m else None


def _compare(e: str, et: str, t: str, tt: str) -> tuple[str, str | None]:
    """SQL: expected value e (type et) equals target value t (stored as tt), nulls equal
    each other; and SQL true when t does not read as et (None when it always does).

    Values are compared, not storage: text, other widths and floats are read as the
    expected type. Exact numerics compare exactly (a float target must hold the float
    the expected value maps to), floats within 1e-9, timestamps to the millisecond.
    """
    fe, ft = family(et), family(tt)
    exact = _exact(et)
    if exact and tt.upper().startswith(_FLOATS):
        tc, same, tried = t, f"{e}::{tt} = {t}", False
    elif exact:
        tc, tried = f"TRY_CAST({t} AS {exact})", True
        same = f"{e}::{exact} = {tc}"
    elif fe == "numeric":
        tc, tried = (
            (f"{t}::DOUBLE", False) if ft == "numeric" else (f"TRY_CAST({t} AS DOUBLE)", True)
        )
        same = f"abs({e}::DOUBLE - {tc}) <= 1e-9 * greatest(1.0, abs({e}::DOUBLE))"
    elif fe == "temporal":
        goal = "DATE" if et.upper() == "DATE" else "TIMESTAMPTZ"
        tc, tried = (
            (f"{t}::{goal}", False) if ft == "temporal" else (f"TRY_CAST({t} AS {goal})", True)
        )
        same = f"{e} = {tc}" if goal == "DATE" else f"abs(epoch_us({e}) - epoch_us({tc})) < 1000"
    elif fe == "boolean":
        tc, tried = (t, False) if ft == "boolean" else (f"TRY_CAST({t} AS BOOLEAN)", True)
        same = f"{e} = {tc}"
    elif fe == "string":
        tc, tried, same = f"{t}::VARCHAR", False, f"{e} = {t}::VARCHAR"
    else:
        tc, tried = (f"to_json({t})::VARCHAR" if ft == "nested" else f"{t}::VARCHAR"), False
        same = f"to_json({e})::VARCHAR = {tc}"
    equal = (
        f"(CASE WHEN {e} IS NULL OR {tc} IS NULL THEN {e} IS NULL AND {tc} IS NULL ELSE {same} END)"
    )
    return equal, (f"({t} IS NOT NULL AND {tc} IS NULL)" if tried else None)


def _key(t: str, et: str) -> str:
    """SQL: target key t as the expected type, NULL unless it is exactly a value of that
    type (TRY_CAST rounds '12.4' to the integer key 12: a row that is not there)."""
    cast = f"TRY_CAST({t} AS {et})"
    exact = _exact(et)
    return f"CASE WHEN TRY_CAST({t} AS {exact}) = {cast} THEN {cast} END" if exact else cast


# -- drift -------------------------------------------------------------------------------------
def drift_names(
    info: EntityInfo, faults: dict[str, Any]
) -> tuple[dict[str, list[str]], set[str], set[str]]:
    """field → the names it had over time; fields whose type drifted; fields dropped."""
    names = {f: [f] for f in info.fields}
    current = {f: f for f in info.fields}  # original → current name
    retyped: set[str] = set()
    dropped: set[str] = set()
    rules = sorted(faults.get("drift") or [], key=lambda r: str(r.get("at")))
    for rule in rules:
        named = {*(rule.get("rename") or {}), *(rule.get("drop") or []), *(rule.get("type") or {})}
        named |= set(rule.get("format") or {})
        live = {v: k for k, v in current.items() if k not in dropped}
        ents = rule.get("entities")
        if ents is not None and info.name not in ents:
            continue
        if ents is None and not named <= set(live):
            continue
        for old, new in (rule.get("rename") or {}).items():
            if old in live:
                orig = live[old]
                current[orig] = new
                names[orig].append(new)
        for f in [*(rule.get("type") or {}), *(rule.get("format") or {})]:
            if f in live:
                retyped.add(live[f])
        for f in rule.get("drop") or []:
            if f in live:
                dropped.add(live[f])
    for f in (faults.get("zones") or {}).get("fields") or []:
        if f in names:
            retyped.add(f)
    return names, retyped, dropped


# -- the comparison ----------------------------------------------------------------------------
class EntityCheck:
    """Runs the comparison of one entity on a DuckDB connection (temporary tables)."""

    def __init__(
        self,
        con: Any,
        ledger: LedgerReader,
        sink: str,
        info: EntityInfo,
        target: Target,
        table: str,
        options: Options,
    ):
        self.con, self.ledger, self.sink, self.info = con, ledger, sink, info
        self.target, self.table, self.options = target, table, options
        self.faults = ledger.sinks[sink].faults
        self.ids = [f"{P}k{i}" for i in range(len(info.primary_key))]
        self.result = EntityResult(info.name, table, strict_types=options.strict_types)

    def sql(self, text: str) -> list[Any]:
        """Run a statement and fetch all of it (DuckDB wants results finished)."""
        return self.con.execute(text).fetchall()

    def one(self, text: str) -> Any:
        return self.sql(text)[0]

    def run(self) -> EntityResult:
        r = self.result
        self._expected()
        if not self.target.relation(self.con, self.table, f"{P}tv"):
            r.error = f"table '{self.table}' not found in the target"
            r.table = None
            names = self.target.names(self.con)
            if names:
                from headwater._plugins import suggest

                r.error += suggest(self.table, names)
            return r
        if not self._target():
            return r
        self._presence()
        self._fields()
        self._late_and_lag()
        return r

    # expected state from the ledger ----------------------------------------------------------
    def _expected(self) -> None:
        r, info = self.result, self.info
        events = self.ledger.events(self.sink, info.name)
        if events is None:
            fields = [pa.field(f, _arrow(t)) for f, t in info.fields.items()]
            events = pa.table(
                {
                    "seq": pa.array([], pa.int64()),
                    "op": pa.array([], pa.string()),
                    "key": pa.array(
                        [], next((f.type for f in fields if f.name == info.key), pa.int64())
                    ),
                    "event_time": pa.array([], pa.timestamp("us", tz="UTC")),
                    "ingest_time": pa.array([], pa.timestamp("us", tz="UTC")),
                    "fault": pa.array([], pa.string()),
                    "copy": pa.array([], pa.int8()),
                    "row": pa.array([], pa.struct(fields)),
                }
            )
        self.con.register(f"{P}ev_arrow", events)
        ids = ", ".join(
            f"{'key' if f == info.key else q('row') + '.' + q(f)} AS {k}"
            for f, k in zip(info.primary_key, self.ids, strict=True)
        )
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}evs AS
            SELECT {ids}, seq, any_value(op) AS op, any_value("row") AS "row",
                   min(event_time) AS event_time, min(ingest_time) AS ingest_time,
                   bool_or(fault IS NULL OR fault NOT LIKE '%malformed%') AS valid,
                   count(*) AS deliveries
            FROM {P}ev_arrow GROUP BY ALL"""
        )
        part = ", ".join(self.ids)
        for name, where in (("lv", "WHERE valid"), ("la", "")):
            self.sql(
                f"""CREATE OR REPLACE TEMP TABLE {P}{name} AS SELECT * FROM {P}evs {where}
                QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY seq DESC) = 1"""
            )
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}exp AS
            SELECT {part}, seq AS {P}seq, event_time AS {P}et, ingest_time AS {P}it, unnest("row")
            FROM {P}lv WHERE op <> 'd'"""
        )
        # the state with malformed deliveries applied, where it differs
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}alt AS
            SELECT la.* FROM {P}la la LEFT JOIN {P}lv lv USING ({part})
            WHERE lv.seq IS NULL OR la.seq <> lv.seq"""
        )
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}altexp AS
            SELECT {part}, unnest("row") FROM {P}alt WHERE op <> 'd'"""
        )
        r.expected = self.one(f"SELECT count(*) FROM {P}exp")[0]
        total, dup, bad, delayed, max_delay = self.one(
            f"""SELECT count(*), coalesce(sum(deliveries - 1), 0), count(*) FILTER (NOT valid),
                count(*) FILTER (ingest_time > event_time),
                coalesce(max(epoch_us(ingest_time) - epoch_us(event_time)), 0)
            FROM {P}evs"""
        )
        r.delivered = {
            "events": total,
            "redelivered": int(dup),
            "malformed": bad,
            "delayed": delayed,
            "max_delay_s": round(max_delay / 1e6, 3),
        }

    # the target ------------------------------------------------------------------------------
    def _target(self) -> bool:
        r, info = self.result, self.info
        cols = {c: t for c, t, *_ in self.sql(f"DESCRIBE {P}tv")}
        lower = {c.lower(): c for c in cols}
        exp_types = {c: t for c, t, *_ in self.sql(f"DESCRIBE {P}exp")}
        names, self.retyped, dropped = drift_names(info, self.faults)
        self.fields: dict[str, tuple[str, str]] = {}  # field → (target SQL, target type)
        for f in info.fields:
            found = [lower[n.lower()] for n in names[f] if n.lower() in lower]
            if f in dropped and f not in info.primary_key:
                r.not_compared[f] = "dropped by drift"
                continue
            if not found:
                r.not_compared[f] = "no such column in the target"
                continue
            if len(found) == 1:
                self.fields[f] = (q(found[0]), cols[found[0]])
            elif len({cols[c] for c in found}) == 1:  # renamed by drift, both names landed
                self.fields[f] = ("coalesce(" + ", ".join(map(q, found)) + ")", cols[found[0]])
            else:  # … with different types: compare as text
                self.fields[f] = (
                    "coalesce(" + ", ".join(f"{q(c)}::VARCHAR" for c in found) + ")",
                    "VARCHAR",
                )
                self.retyped.add(f)
        for f in info.primary_key:
            if f not in self.fields:
                r.error = f"the target table has no column for the key '{f}'"
                return False
        where = "TRUE"
        deleted = self.options.deleted_column
        if deleted is None:
            deleted = next((lower[c] for c in DELETED_COLUMNS if c in lower), None)
        elif deleted.lower() in lower:
            deleted = lower[deleted.lower()]
        else:
            r.error = f"--deleted-column: no column '{deleted}' in the target"
            return False
        if deleted is not None:
            d = q(deleted)
            where = f"coalesce(lower({d}::VARCHAR) NOT IN ('true', '1', 'd', 'delete', 'deleted', 't'), TRUE)"
        proc = self.options.processing_time
        if proc is None:
            proc = next((lower[c] for c in PROCESSING_COLUMNS if c in lower), None)
        elif proc.lower() in lower:
            proc = lower[proc.lower()]
        else:
            r.error = f"--processing-time: no column '{proc}' in the target"
            return False
        self.proc = proc
        self.exp_types = exp_types
        keys = ", ".join(
            f"{_key(self.fields[f][0], exp_types[f])} AS {k}"
            for f, k in zip(info.primary_key, self.ids, strict=True)
        )
        values = ", ".join(f"{sql} AS {q(f)}" for f, (sql, _) in self.fields.items())
        proc_sql = f", TRY_CAST({q(proc)} AS TIMESTAMPTZ) AS {P}proc" if proc else ""
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}tgt AS
            SELECT {keys}, {values}{proc_sql} FROM {P}tv WHERE {where}"""
        )
        self.target_types = {f: t for f, (_, t) in self.fields.items()}
        r.found = self.one(f"SELECT count(*) FROM {P}tgt")[0]
        return True

    # keys ------------------------------------------------------------------------------------
    def _presence(self) -> None:
        r = self.result
        part = ", ".join(self.ids)
        on = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in self.ids)
        n = self.options.samples
        r.duplicates, r.duplicate_rows = self.one(
            f"""SELECT count(*), coalesce(sum(c - 1), 0) FROM
            (SELECT {part}, count(*) AS c FROM {P}tgt GROUP BY ALL HAVING count(*) > 1)"""
        )
        r.duplicate_rows = int(r.duplicate_rows)
        missing = f"""SELECT {part} FROM {P}exp a WHERE NOT EXISTS
            (SELECT 1 FROM {P}tgt b WHERE {on})
            AND NOT EXISTS (SELECT 1 FROM {P}alt b WHERE {on} AND b.op = 'd')"""
        r.missing = self.one(f"SELECT count(*) FROM ({missing})")[0]
        unexpected = f"""SELECT DISTINCT {part} FROM {P}tgt a WHERE NOT EXISTS
            (SELECT 1 FROM {P}exp b WHERE {on})
            AND NOT EXISTS (SELECT 1 FROM {P}altexp b WHERE {on})"""
        r.unexpected = self.one(f"SELECT count(*) FROM ({unexpected})")[0]
        r.not_deleted = self.one(
            f"""SELECT count(*) FROM ({unexpected}) a
            WHERE EXISTS (SELECT 1 FROM {P}lv b WHERE {on} AND b.op = 'd')"""
        )[0]
        r.matched = self.one(
            f"SELECT count(*) FROM {P}exp a WHERE EXISTS (SELECT 1 FROM {P}tgt b WHERE {on})"
        )[0]
        order = f"ORDER BY {part} LIMIT {n}"
        if r.missing:
            r.samples["missing"] = self._keys(f"{missing} {order}")
        if r.unexpected:
            r.samples["unexpected"] = self._keys(f"{unexpected} {order}")
        if r.duplicates:
            r.samples["duplicates"] = self._keys(
                f"SELECT {part} FROM {P}tgt GROUP BY ALL HAVING count(*) > 1 {order}"
            )

    def _keys(self, sql: str) -> list[Any]:
        rows = self.sql(sql)
        return [r[0] if len(r) == 1 else list(r) for r in rows]

    # field values ----------------------------------------------------------------------------
    def _comparisons(self, e: str, t: str) -> dict[str, tuple[str, str | None]]:
        """field → (SQL equal, SQL cast failure or None) between aliases e and t."""
        out = {}
        for f, tt in self.target_types.items():
            if f in self.info.primary_key:
                continue
            out[f] = _compare(f"{e}.{q(f)}", self.exp_types[f], f"{t}.{q(f)}", tt)
        return out

    def _fields(self) -> None:
        r = self.result
        if self.target.typed:
            r.column_types = [
                {"field": f, "expected": self.exp_types[f], "found": tt}
                for f, tt in self.target_types.items()
                if tt.upper() != self.exp_types[f].upper() and f not in self.retyped
            ]
        cmp = self._comparisons("e", "t")
        if not cmp:
            return
        part = ", ".join(self.ids)
        using = f"USING ({part})"
        cols = ", ".join(f"NOT {eq} AS {q('d:' + f)}" for f, (eq, _) in cmp.items())
        fails = ", ".join(
            f"{fail} AS {q('x:' + f)}" for f, (_, fail) in cmp.items() if fail is not None
        )
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}cmp AS
            SELECT {part}, {cols}{", " + fails if fails else ""}
            FROM {P}exp e JOIN {P}tgt t {using}"""
        )
        any_diff = " OR ".join(q("d:" + f) for f in cmp)
        alt = self._comparisons("e", "t")
        alt_same = " AND ".join(eq for eq, _ in alt.values())
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}wrong AS
            SELECT DISTINCT {part} FROM {P}cmp c WHERE ({any_diff})
            AND NOT EXISTS (SELECT 1 FROM {P}altexp e JOIN {P}tgt t {using}
                            WHERE {" AND ".join(f"e.{k} IS NOT DISTINCT FROM c.{k}" for k in self.ids)}
                            AND {alt_same})"""
        )
        r.wrong = self.one(f"SELECT count(*) FROM {P}wrong")[0]
        if not r.wrong and not fails:
            return
        for f in cmp:
            n = self.one(
                f"SELECT count(DISTINCT ({part})) FROM {P}cmp JOIN {P}wrong {using} WHERE {q('d:' + f)}"
            )[0]
            if n:
                r.diffs[f] = n
            if cmp[f][1] is not None:
                x = self.one(f"SELECT count(*) FROM {P}cmp WHERE {q('x:' + f)}")[0]
                if x:
                    r.type_errors[f] = x
        if r.wrong:
            self._stale(cmp)
            self._diff_samples(cmp)

    def _stale(self, cmp: dict[str, tuple[str, str | None]]) -> None:
        """Wrong rows that equal an older version of the row: an update landed out of order."""
        part = ", ".join(self.ids)
        same = " AND ".join(eq for eq, _ in self._comparisons("o", "t").values())
        self.sql(
            f"""CREATE OR REPLACE TEMP TABLE {P}older AS
            SELECT ev.{", ev.".join(self.ids)}, ev.seq, unnest(ev."row")
            FROM {P}evs ev JOIN {P}wrong USING ({part}) WHERE ev.valid AND ev.op <> 'd'"""
        )
        self.result.stale = self.one(
            f"""SELECT count(DISTINCT ({part})) FROM {P}tgt t JOIN {P}exp e USING ({part})
            JOIN {P}older o USING ({part})
            WHERE o.seq < e.{P}seq AND {same}"""
        )[0]

    def _diff_samples(self, cmp: dict[str, tuple[str, str | None]]) -> None:
        part = ", ".join(self.ids)
        fields = [f for f in cmp if f in self.result.diffs]
        rows = self.sql(
            f"""SELECT {part}, {", ".join(f"e.{q(f)}::VARCHAR, t.{q(f)}::VARCHAR, c.{q('d:' + f)}" for f in fields)}
            FROM {P}wrong JOIN {P}cmp c USING ({part}) JOIN {P}exp e USING ({part})
            JOIN {P}tgt t USING ({part}) ORDER BY {part} LIMIT {self.options.samples}"""
        )
        k = len(self.ids)
        samples = []
        for row in rows:
            key = row[0] if k == 1 else list(row[:k])
            diffs = {}
            for i, f in enumerate(fields):
                e, t, d = row[k + 3 * i : k + 3 * i + 3]
                if d:
                    diffs[f] = {"expected": e, "found": t}
            samples.append({"key": key, "fields": diffs})
        self.result.samples["wrong"] = samples

    # late data and freshness -----------------------------------------------------------------
    def _late_and_lag(self) -> None:
        r = self.result
        part = ", ".join(self.ids)
        on = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in self.ids)
        wm = self.options.watermark_s
        if wm is not None:
            late = f"epoch_us({P}it) - epoch_us({P}et) > {int(wm * 1e6)}"
            late_events = self.one(
                f"SELECT count(*) FROM {P}evs WHERE epoch_us(ingest_time) - epoch_us(event_time) > {int(wm * 1e6)}"
            )[0]
            missing_late = self.one(
                f"""SELECT count(*) FROM {P}exp a WHERE {late}
                AND NOT EXISTS (SELECT 1 FROM {P}tgt b WHERE {on})"""
            )[0]
            wrong_late = 0
            if r.wrong:
                wrong_late = self.one(
                    f"SELECT count(*) FROM {P}exp JOIN {P}wrong USING ({part}) WHERE {late}"
                )[0]
            r.late = {
                "watermark_s": wm,
                "late_events": late_events,
                "missing_after_watermark": missing_late,
                "wrong_after_watermark": wrong_late,
            }
        if self.proc:
            rows = self.one(
                f"""SELECT quantile_cont(lag_e, [0.5, 0.9, 0.99]), max(lag_e),
                    quantile_cont(lag_i, [0.5, 0.9, 0.99]), max(lag_i), count(*)
                FROM (SELECT (epoch_us(t.{P}proc) - epoch_us(e.{P}et)) / 1e6 AS lag_e,
                             (epoch_us(t.{P}proc) - epoch_us(e.{P}it)) / 1e6 AS lag_i
                      FROM {P}exp e JOIN {P}tgt t USING ({part}) WHERE t.{P}proc IS NOT NULL)"""
            )
            if rows and rows[4]:
                pe, me, pi, mi, n = rows
                r.lag = {
                    "column": self.proc,
                    "rows": n,
                    "since_event": _pcts(pe, me),
                    "since_ingest": _pcts(pi, mi),
                }


def _pcts(p: list[float], mx: float) -> dict[str, float]:
    return {
        "p50_s": round(p[0], 3),
        "p90_s": round(p[1], 3),
        "p99_s": round(p[2], 3),
        "max_s": round(mx, 3),
    }


def _arrow(t: str) -> pa.DataType:
    """An Arrow type from its string form in the manifest (common ones; else string)."""
    simple = {
        "int64": pa.int64(),
        "int32": pa.int32(),
        "double": pa.float64(),
        "float": pa.float32(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "date32[day]": pa.date32(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    if t in simple:
        return simple[t]
    if t.startswith("decimal128("):
        p, s = t[len("decimal128(") : -1].split(",")
        return pa.decimal128(int(p), int(s))
    return pa.string()
