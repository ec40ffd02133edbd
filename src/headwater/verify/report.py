"""The verify report: per entity results, a terminal rendering and a JSON form for CI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headwater.verify.compare import EntityResult


@dataclass
class VerifyReport:
    ledger: str
    sink: str
    target: str
    complete: bool
    strict_types: bool = False
    entities: list[EntityResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entities)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ledger": self.ledger,
            "ledger_complete": self.complete,
            "sink": self.sink,
            "target": self.target,
            "strict_types": self.strict_types,
            "notes": self.notes,
            "entities": {e.entity: e.as_dict() for e in self.entities},
        }

    def render(self, console: Any) -> None:
        """A readable summary: one table over entities, then what is wrong and why."""
        from rich.table import Table

        t = Table(title=f"verify {self.sink} → {self.target}")
        cols = ("entity", "expected", "found", "missing", "unexpected", "dupes", "wrong")
        for c in cols:
            t.add_column(c, justify="left" if c == "entity" else "right", no_wrap=True)
        for e in self.entities:
            name = f"[green]✓[/] {e.entity}" if e.ok else f"[red]✗[/] {e.entity}"
            if e.error:
                t.add_row(name, f"{e.expected:,}", "-", "-", "-", "-", "[red]error[/]")
                continue
            t.add_row(
                name,
                f"{e.expected:,}",
                f"{e.found:,}",
                _bad(e.missing),
                _bad(e.unexpected),
                _bad(e.duplicates),
                _bad(e.wrong),
            )
        console.print(t)
        for e in self.entities:
            lines = _details(e)
            if lines:
                console.print(f"[bold]{e.entity}[/]")
                for line in lines:
                    console.print(f"  {line}", soft_wrap=True, highlight=False)
        for note in self.notes:
            console.print(f"[yellow]note:[/] {note}")
        verdict = "[bold green]OK[/]" if self.ok else "[bold red]WRONG[/]"
        console.print(
            f"{verdict}: {sum(e.ok for e in self.entities)}/{len(self.entities)} entities correct"
        )


def storage_note(e: EntityResult) -> str | None:
    """The note for columns stored as another type, when that is not a failure."""
    if e.strict_types or not e.column_types:
        return None
    cols = ", ".join(
        f"{e.entity}.{c['field']} as {c['found']} (ledger: {c['expected']})" for c in e.column_types
    )
    return (
        f"stored as other types than the ledger's, compared by value: {cols}; "
        "--strict-types fails on this"
    )


def _bad(n: int) -> str:
    return f"[red]{n:,}[/]" if n else "0"


def _details(e: EntityResult) -> list[str]:
    out = []
    if e.error:
        out.append(f"[red]error:[/] {e.error}")
        return out
    s = e.samples
    if e.missing:
        out.append(f"missing {e.missing:,} rows, e.g. keys {s.get('missing')}")
    if e.unexpected:
        extra = f" ({e.not_deleted:,} deleted in the source)" if e.not_deleted else ""
        out.append(f"unexpected {e.unexpected:,} rows{extra}, e.g. keys {s.get('unexpected')}")
    if e.duplicates:
        out.append(
            f"duplicates: {e.duplicates:,} keys landed more than once "
            f"({e.duplicate_rows:,} extra rows), e.g. {s.get('duplicates')}"
        )
    if e.wrong:
        stale = f", {e.stale:,} of them an older version (stale update)" if e.stale else ""
        out.append(f"wrong final state: {e.wrong:,} rows{stale}; by field {e.diffs}")
        for sample in s.get("wrong", [])[:3]:
            out.append(f"  key {sample['key']}: {sample['fields']}")
    if any(e.type_errors.values()):
        out.append(f"values of the wrong type: {e.type_errors}")
    for c in e.column_types if e.strict_types else ():
        out.append(f"column {c['field']}: expected {c['expected']}, target has {c['found']}")
    if e.not_compared:
        out.append(f"not compared: {', '.join(f'{k} ({v})' for k, v in e.not_compared.items())}")
    d = e.delivered
    if d.get("redelivered") or d.get("delayed") or d.get("malformed"):
        out.append(
            f"source: {d['events']:,} events, {d['redelivered']:,} redelivered, "
            f"{d['delayed']:,} delayed (max {d['max_delay_s']}s), {d['malformed']:,} malformed"
        )
    if e.late:
        out.append(
            f"late past the {e.late['watermark_s']}s watermark: {e.late['late_events']:,} events; "
            f"{e.late['missing_after_watermark']:,} missing and "
            f"{e.late['wrong_after_watermark']:,} wrong rows come from them"
        )
    if e.lag:
        ev, ing = e.lag["since_event"], e.lag["since_ingest"]
        out.append(
            f"freshness ({e.lag['column']}): lag since event p50 {ev['p50_s']}s p90 {ev['p90_s']}s "
            f"p99 {ev['p99_s']}s max {ev['max_s']}s; since ingestion p50 {ing['p50_s']}s "
            f"p99 {ing['p99_s']}s"
        )
        if ev["p50_s"] > 86_400:
            out.append(
                "  (processing time is wall-clock time: lag is meaningful for runs paced at "
                "realtime, or when the pipeline stamps simulated time)"
            )
    return out
