"""headwater's pytest plugin: run a scenario into the sinks a pipeline reads, then verify.

    @pytest.mark.headwater(scenario="cdc.yaml", duration="30m")
    def test_pipeline(headwater_run, tmp_path):
        result = headwater_run()                      # the run's report and ledger
        my_pipeline(result.out_dir / "cdc", tmp_path / "land.duckdb")
        result.verify(tmp_path / "land.duckdb", sink="changes")  # fails with verify's report

Seed and duration come from, first to last: the call, the `headwater` marker, the command
line (`--headwater-seed`, `--headwater-duration`), the ini file (`headwater_seed`,
`headwater_duration`), the scenario. Registered through the `pytest11` entry point, so it
is loaded in every session: it imports only pytest here, headwater when a fixture runs.
"""

from __future__ import annotations

import copy
import io
import itertools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from headwater.ledger.reader import LedgerReader
    from headwater.resolve.scenario import Scenario
    from headwater.runner import RunReport
    from headwater.verify import VerifyReport

MARKER = "headwater(scenario=None, *, seed=None, duration=None, overrides=None, speed=None)"
MARKER_ARGS = {"scenario", "seed", "duration", "overrides", "speed"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("headwater", "headwater scenario runs")
    group.addoption(
        "--headwater-seed",
        type=int,
        default=None,
        help="seed of every headwater run that neither its call nor its marker seeds "
        "(ini: headwater_seed); default: the scenario's",
    )
    group.addoption(
        "--headwater-duration",
        default=None,
        help="simulated span of every headwater run that neither its call nor its marker "
        "sets, e.g. 30m (ini: headwater_duration); default: the scenario's clock",
    )
    parser.addini("headwater_seed", "default seed of headwater runs", default="")
    parser.addini("headwater_duration", "default simulated span of headwater runs", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: the scenario (file or dict), seed, simulated span and "
        "overrides ({'sinks.db.path': ...}) the headwater_run fixture uses",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    seed, duration = _configured(config)
    if seed is None and duration is None:
        return None
    default = "the scenario's"
    return f"headwater: seed {default if seed is None else seed}, duration {duration or default}"


@dataclass
class HeadwaterResult:
    """A finished run: its report, output folder and ledger, and a check of a landing."""

    report: RunReport
    scenario: Scenario
    out_dir: Path
    _reader: LedgerReader | None = field(default=None, repr=False)

    @property
    def seed(self) -> int:
        return self.report.seed

    @property
    def ledger(self) -> Path:
        """The ledger folder, what `headwater verify --ledger` takes."""
        return self.out_dir / "ledger"

    @property
    def reader(self) -> LedgerReader:
        """The ledger opened for reading (what each sink published, per entity)."""
        if self._reader is None:
            from headwater.ledger.reader import LedgerReader

            self._reader = LedgerReader(self.ledger)
        return self._reader

    def verify(self, target: str | Path, **options: Any) -> VerifyReport:
        """Run headwater's verify on what a pipeline landed; a wrong landing fails the test
        with verify's report. `options` are headwater.verify's (sink=, watermark_s=, …)."""
        from headwater import HeadwaterError
        from headwater import verify as check

        try:
            report = check(self.ledger, target, **options)
        except HeadwaterError as exc:
            _fail(f"headwater verify could not check {target}: {exc}")
        if not report.ok:
            _fail(f"{self.describe()}\n{render(report)}")
        return report

    def describe(self) -> str:
        """One line to reproduce the run by: scenario, seed, span, output folder."""
        r = self.report
        return (
            f"headwater: scenario {r.scenario!r}, seed {r.seed}, simulated {r.simulated}, "
            f"output {self.out_dir}"
        )


def render(report: VerifyReport) -> str:
    """verify's terminal report as plain text (no colours, no markup), for a failure message."""
    from rich.console import Console

    buffer = io.StringIO()
    report.render(Console(file=buffer, width=120, color_system=None, highlight=False))
    return buffer.getvalue().rstrip()


RunFixture = Callable[..., HeadwaterResult]


@pytest.fixture
def headwater_run(request: pytest.FixtureRequest, tmp_path: Path) -> RunFixture:
    """Run a scenario into its sinks, by default under the test's tmp_path; returns a
    HeadwaterResult. Call it with the marker's arguments to override them; `overrides`
    maps dotted scenario paths to values, e.g. {"sinks.app_db.url": server.url}."""
    marker = request.node.get_closest_marker("headwater")
    marked: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        marked.setdefault("scenario", marker.args[0])
    unknown = sorted(set(marked) - MARKER_ARGS)
    if unknown:
        _fail(
            f"@pytest.mark.headwater: unknown argument {', '.join(unknown)} "
            f"(expected {', '.join(sorted(MARKER_ARGS))})"
        )
    seed, duration = _configured(request.config)
    calls = itertools.count(1)

    def start(
        scenario: str | os.PathLike[str] | Mapping[str, Any] | Scenario | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> HeadwaterResult:
        from headwater import HeadwaterError
        from headwater import run as run_scenario

        given = {k: v for k, v in {**marked, **kwargs}.items() if v is not None}
        chosen = {"seed": seed, "duration": duration, **given}
        source = scenario if scenario is not None else chosen.pop("scenario", None)
        chosen.pop("scenario", None)
        if source is None:
            _fail(
                "headwater_run: no scenario; pass one or mark the test "
                "@pytest.mark.headwater(scenario=...)"
            )
        n = next(calls)
        out = Path(out_dir) if out_dir is not None else tmp_path / f"headwater-{n}"
        try:
            loaded = _load(source, chosen.pop("overrides", None) or {}, request.path.parent)
            report = run_scenario(loaded, out_dir=out, **chosen)
        except (HeadwaterError, OverrideError) as exc:
            _fail(f"headwater run failed: {exc}")
        result = HeadwaterResult(report, loaded, report.out_dir)
        request.node.add_report_section("call", "headwater", result.describe())
        return result

    return start


def _fail(message: str) -> NoReturn:
    """Fail the test with `message` alone: no traceback, no chained headwater exception."""
    raise pytest.fail.Exception(message, pytrace=False) from None


def _configured(config: pytest.Config) -> tuple[int | None, str | None]:
    """The seed and duration from the command line, else the ini file."""
    seed = config.getoption("headwater_seed")
    if seed is None and str(config.getini("headwater_seed")).strip():
        try:
            seed = int(config.getini("headwater_seed"))
        except ValueError:
            raise pytest.UsageError(
                f"headwater_seed: expected an integer, got {config.getini('headwater_seed')!r}"
            ) from None
    duration = config.getoption("headwater_duration") or config.getini("headwater_duration")
    return seed, (str(duration).strip() or None)


def _load(source: Any, overrides: Mapping[str, Any], here: Path) -> Scenario:
    """A scenario from a file (relative: next to the test file, else the working folder), a
    dict or a Scenario, with `overrides` applied to its data before validation."""
    from headwater.resolve.load import from_document
    from headwater.resolve.scenario import Scenario
    from headwater.scenario.yamlio import Document, load_yaml_file

    if isinstance(source, Scenario):
        if overrides:
            raise OverrideError("overrides need a scenario file or dict, not a loaded Scenario")
        return source
    if isinstance(source, Mapping):
        doc = Document(copy.deepcopy(dict(source)))
    else:
        path = Path(source)
        if not path.is_absolute() and (here / path).exists():
            path = here / path
        doc = load_yaml_file(path)
    for dotted, value in overrides.items():
        _set(doc.data, dotted, value)
    return from_document(doc)


class OverrideError(ValueError):
    """An override names a path the scenario's data cannot hold."""


def _set(data: Any, dotted: str, value: Any) -> None:
    """Set data[a][b]… for "a.b…" (a number indexes a list), creating missing mappings."""
    *parents, last = dotted.split(".")
    node = data
    for i, part in enumerate([*parents, last]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            index: int | str = int(part)
        elif isinstance(node, dict):
            index = part
        else:
            where = ".".join(parents[:i]) or "the scenario"
            raise OverrideError(f"overrides: {where} has no '{part}' to set {dotted}")
        if i == len(parents):
            node[index] = os.fspath(value) if isinstance(value, os.PathLike) else value
        elif isinstance(index, str):
            node = node.setdefault(index, {})
        else:
            node = node[index]
