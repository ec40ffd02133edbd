"""The command line: each command works, and user errors exit 2 with a message, no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SHOP

EXE = [sys.executable, "-m", "headwater"]


def hw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def shop_file(tmp_path):
    p = tmp_path / "shop.yaml"
    p.write_text(SHOP + "sinks:\n  db: {kind: sqlite, path: shop.db}\n")
    return p


@pytest.mark.parametrize("cmd", [[], ["run"], ["validate"], ["preview"], ["schema"]])
def test_help(cmd):
    r = hw(*cmd, "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_validate_ok(shop_file):
    r = hw("validate", str(shop_file))
    assert r.returncode == 0 and "ok (3 entities, 1 sinks)" in r.stdout


def test_run_prints_a_summary_and_json(shop_file, tmp_path):
    r = hw(
        "run",
        str(shop_file),
        "--duration",
        "10m",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["seed"] == 3 and report["simulated_seconds"] == 600
    assert report["entities"]["customers"]["r"] == 300
    assert (tmp_path / "o" / "shop.db").exists()
    r = hw("run", str(shop_file), "--duration", "5m", "--out", str(tmp_path / "o2"))
    assert r.returncode == 0 and "events/s" in r.stdout and "customers" in r.stdout


def test_preview_shows_rows(shop_file):
    r = hw("preview", str(shop_file), "--entity", "orders", "-n", "5", "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 5 and {"order_id", "customer_id", "amount", "status"} <= set(rows[0])


def test_schema_is_valid_json_schema_and_validates_examples():
    import jsonschema
    import yaml

    class EditorLoader(yaml.SafeLoader):
        """Like an editor's YAML: timestamps stay strings."""

    EditorLoader.yaml_implicit_resolvers = {
        k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    r = hw("schema")
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    examples = sorted(Path("examples").glob("*.yaml"))
    assert examples
    for example in examples:
        jsonschema.validate(yaml.load(example.read_text(), Loader=EditorLoader), schema)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SHOP.replace("ref: customers.id", "ref: customer.id"),
            "unknown entity 'customer' — did you mean 'customers'?",
        ),
        (SHOP.replace("duration: 1h", "duration: 1 hour"), "invalid duration '1 hour'"),
        (
            SHOP.replace("{fake: name}", "{fakee: name}"),
            "unknown generator 'fakee' — did you mean 'fake'?",
        ),
        (SHOP.replace('"qty * price"', '"total * 2"'), "cycle in derived fields"),
    ],
)
def test_bad_scenarios_exit_2_without_traceback(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    for cmd in (["validate", str(p)], ["run", str(p), "--out", str(tmp_path / "o")]):
        r = hw(*cmd)
        assert r.returncode == 2
        assert message in r.stderr
        assert "Traceback" not in r.stderr


def test_missing_file_and_bad_options(tmp_path, shop_file):
    r = hw("run", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "scenario file not found" in r.stderr
    r = hw("run", str(shop_file), "--speed", "fast")
    assert r.returncode == 2 and "invalid speed" in r.stderr
    r = hw("preview", str(shop_file), "--entity", "order")
    assert r.returncode == 2 and "did you mean 'orders'" in r.stderr


def test_validate_needs_no_secrets(tmp_path):
    p = tmp_path / "pg.yaml"
    p.write_text(
        SHOP
        + "sinks:\n  db: {kind: postgres, url: 'postgresql://app:${HW_TEST_PG_PASSWORD}@127.0.0.1:5432/app'}\n"
    )
    r = hw("validate", str(p))
    assert r.returncode == 0, r.stderr
    assert "set HW_TEST_PG_PASSWORD in the environment" in r.stdout
    r = hw("run", str(p), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "environment variable HW_TEST_PG_PASSWORD is not set" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_bug_is_not_a_user_error(shop_file, tmp_path):
    """An exception a sink did not translate is a bug: traceback, a request to report it,
    exit 70, not the exit 2 and one-line message of a user error."""
    bug = (
        "import headwater.sinks.sqlite as s\n"
        "def write(self, changes): raise ZeroDivisionError('a bug in the sink')\n"
        "s.SqliteSink.write = write\n"
        "from headwater.cli import main\n"
        "main()\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", bug, "run", str(shop_file), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 70, r.stderr
    assert "Traceback" in r.stderr and "ZeroDivisionError: a bug in the sink" in r.stderr
    assert "this is a bug in headwater; please report it" in r.stderr
    assert "error: sink" not in r.stderr


def test_a_used_output_folder_is_refused_unless_overwritten(shop_file, tmp_path):
    """A rerun never mixes with an earlier run's output: refused (exit 2, naming the folder
    and --overwrite), or with --overwrite the earlier output is replaced whole; a folder
    holding anything headwater did not write is refused even then."""
    out = tmp_path / "o"
    args = ["run", str(shop_file), "--duration", "5m", "--out", str(out)]
    assert hw(*args, "--seed", "1").returncode == 0
    first = sorted(p.relative_to(out) for p in out.rglob("*"))
    r = hw(*args, "--seed", "2")
    assert r.returncode == 2 and str(out) in r.stderr and "--overwrite" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == first  # untouched
    (out / "ledger" / "stray.txt").write_text("inside a run's folder: the run's to remove")
    r = hw(*args, "--seed", "2", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "ledger" / "manifest.json").read_text())["seed"] == 2
    assert not (out / "ledger" / "stray.txt").exists()
    (out / "notes.txt").write_text("mine")
    r = hw(*args, "--overwrite")
    assert r.returncode == 2 and "notes.txt" in r.stderr and (out / "notes.txt").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("a,b\n")
    r = hw("run", str(shop_file), "--duration", "5m", "--out", str(foreign), "--overwrite")
    assert r.returncode == 2 and "data.csv" in r.stderr and (foreign / "data.csv").exists()


def test_an_output_folder_that_cannot_be_made_is_a_user_error(shop_file, tmp_path):
    (tmp_path / "taken").write_text("a file")
    r = hw("run", str(shop_file), "--duration", "5m", "--out", str(tmp_path / "taken" / "o"))
    assert r.returncode == 2 and "cannot use" in r.stderr and "Traceback" not in r.stderr
