"""The `headwater init` command: writes to stdout or -o, and whatever a user gets wrong
exits 2 with a clear message and no traceback (and never shows a password)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from headwater.testing.servers import free_port


def hw(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    import sqlite3

    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, created_at TIMESTAMP)"
        )
        emails = [(f"u{i}@x.org" if i % 4 else None,) for i in range(400)]
        conn.executemany("INSERT INTO users (email) VALUES (?)", emails)
    return path


def test_writes_a_scenario_that_validates(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "app.yaml"
    r = hw("init", "--from", f"sqlite:///{db}", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stderr
    assert hw("validate", str(out)).returncode == 0
    r = hw("init", "--from", str(db))
    assert r.returncode == 0 and "users:" in r.stdout and "email: {fake: email}" in r.stdout
    r = hw("init", "--from", str(db), "--profile", "--sample", "400")
    assert r.returncode == 0 and "initial: 400" in r.stdout
    assert "email: {fake: email, null_rate: 0.25}" in r.stdout


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sqlite:///nowhere/app.db", "no SQLite database at nowhere/app.db"),
        ("ftp://example.com/x", "unknown kind of source ftp://example.com/x"),
        ("missing.json", "no such file: missing.json"),
        ("notes.txt", "no such file: notes.txt"),
    ],
)
def test_bad_sources(source: str, message: str, tmp_path: Path) -> None:
    r = hw("init", "--from", source, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_files_that_are_not_what_they_claim(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_text("not a database, just text" * 100)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "empty.json").write_text('{"type": "string"}')
    (tmp_path / "x.avsc").write_text('{"type": "enum", "name": "E", "symbols": ["a"]}')
    for name, message in [
        ("x.db", "x.db is not a SQLite database"),
        ("broken.json", "broken.json is not valid JSON"),
        ("empty.json", "empty.json describes no object with properties"),
        ("x.avsc", "x.avsc is not an Avro record schema"),
    ]:
        r = hw("init", "--from", name, cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, name


def test_profile_needs_a_database(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"properties": {"id": {"type": "integer"}}}')
    r = hw("init", "--from", "s.json", "--profile", cwd=tmp_path)
    assert r.returncode == 2 and "--profile needs a database" in r.stderr


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_server_hides_the_password(scheme: str) -> None:
    url = f"{scheme}://app:Sup3rSecretPw@127.0.0.1:{free_port()}/shop"
    r = hw("init", "--from", url)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot connect to {scheme}://app:***@127.0.0.1" in r.stderr
    assert "Sup3rSecretPw" not in r.stderr + r.stdout


def test_password_env_that_is_not_set() -> None:
    r = hw("init", "--from", "postgresql://app@127.0.0.1/x", "--password-env", "HW_NO_SUCH_VAR")
    assert r.returncode == 2 and "--password-env: environment variable HW_NO_SUCH_VAR" in r.stderr
    assert "is not set" in r.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://app@127.0.0.1:notaport/shop",
            "invalid port in postgresql://app@127.0.0.1:notaport/shop",
        ),
        (
            "mysql://app:pw@127.0.0.1:3306",
            "name the database in the URL: mysql://app:***@127.0.0.1:3306/DATABASE",
        ),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    r = hw("init", "--from", url)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://app@127.0.0.1/x", "psycopg", "postgres"),
        ("mysql://app@127.0.0.1/x", "pymysql", "mysql"),
    ],
)
def test_a_missing_driver_names_its_extra(url: str, module: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from headwater.cli import main\n"
        f"main(['init', '--from', {url!r}])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f'pip install "headwater[{extra}]"' in r.stderr
