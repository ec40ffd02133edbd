"""Secrets never leak: a password or token in a URL, the environment or a file appears in
no output of a run (stdout/stderr, --json, messages, every file under --out), and a
password full of URL delimiters reaches the server whole instead of changing the URL."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import pytest

from headwater.errors import SinkError, SinkUnavailable
from headwater.scenario.yamlio import interpolate
from headwater.secrets import mask_url, redact, remember, without_credentials
from headwater.serve.receive import Receiver
from headwater.testing.servers import free_port

from tests.capture._db import password_server
from tests.helpers import SHOP

pytest.importorskip("psycopg")
pytest.importorskip("httpx")

# distinctive chunks between URL delimiters, so a partly printed secret is caught too
PG_PASSWORD = "pgAAA1@pgBBB2/pgCCC3#pgDDD4?pgEEE5:pgFFF6%pgGGG7"
WRONG_PASSWORD = "wrAAA1@wrBBB2/wrCCC3#wrDDD4?wrEEE5:wrFFF6"
TOKEN = "tkAAA1:tkBBB2/tkCCC3?tkDDD4#tkEEE5&tkFFF6=tkGGG7 tkHHH8"
FILE_KEY = "fkAAA1@fkBBB2&fkCCC3"
SIGNING = "sgAAA1-signing-sgBBB2"
SECRETS = (PG_PASSWORD, WRONG_PASSWORD, TOKEN, FILE_KEY, SIGNING)

SINKS = """sinks:
  db: {{kind: postgres, url: "postgresql://app:${{HW_T_PG_PASSWORD}}@127.0.0.1:{pg_port}/postgres"}}
  hooks:
    kind: webhook
    url: "{hook}?token=${{HW_T_TOKEN}}&api_key=${{file:{key_file}}}&page=1"
    secret_file: {signing_file}
    entities: [orders]
    batch: 200
    retry: {{attempts: 2, initial: 1ms, max: 1ms}}
    timeout: 2s
"""


def needles(secret: str) -> set[str]:
    """The secret, its percent-encoded forms and every distinctive chunk of it."""
    chunks = {c for c in re.split(r"[^A-Za-z0-9]", secret) if len(c) >= 6}
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), *chunks}


def leaks(text: str) -> list[str]:
    return sorted(n for s in SECRETS for n in needles(s) if n in text)


class QueryReceiver(Receiver):
    """headwater's webhook receiver, also noting each request's query string."""

    def __init__(self, secret: bytes):
        super().__init__(secret)
        self.queries: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.queries.append(scope["query_string"])
        await super().__call__(scope, receive, send)


@pytest.fixture(scope="module")
def pg():
    with password_server({"app": PG_PASSWORD}) as server:
        yield server


def hw(*args: str, env: dict[str, str | None], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=180,
    )


def files_text(folder: Path) -> str:
    """Every file under `folder` as text (Parquet parts as their decoded bytes)."""
    return "\n".join(
        f"{p}\n{p.read_bytes().decode('utf-8', 'replace')}"
        for p in folder.rglob("*")
        if p.is_file()
    )


def test_a_run_with_secrets_in_urls_env_and_files_prints_none_of_them(pg, tmp_path):
    key_file = tmp_path / "api.key"
    key_file.write_text(FILE_KEY + "\n")
    signing_file = tmp_path / "signing.secret"
    signing_file.write_text(SIGNING + "\n")
    # wide enough that no table cuts or wraps a line (a wrapped secret would evade the grep)
    env = {"HW_T_PG_PASSWORD": PG_PASSWORD, "HW_T_TOKEN": TOKEN, "COLUMNS": "1000"}
    outputs: list[str] = []

    def scenario(name: str, hook: str, pg_port: int = pg.port) -> Path:
        p = tmp_path / f"{name}.yaml"
        p.write_text(
            SHOP.replace("duration: 1h", "duration: 3m")
            + SINKS.format(pg_port=pg_port, hook=hook, key_file=key_file, signing_file=signing_file)
        )
        return p

    def cmd(*args: str, code: int, extra: dict[str, str | None] | None = None) -> str:
        r = hw(*args, env={**env, **(extra or {})}, cwd=tmp_path)
        outputs.extend([r.stdout, r.stderr])
        assert r.returncode == code, (args, r.stdout, r.stderr)
        assert ("Traceback" in r.stderr) == (args[0] == "--debug")
        return r.stdout + r.stderr

    with QueryReceiver(SIGNING.encode()) as rx:
        good = scenario("good", rx.url)
        cmd("validate", str(good), code=0)
        unset = cmd("validate", str(good), code=0, extra={"HW_T_PG_PASSWORD": None})
        assert "set HW_T_PG_PASSWORD in the environment" in unset
        report = json.loads(cmd("run", str(good), "--out", "o1", "--json", code=0))
        text = cmd("run", str(good), "--out", "o2", code=0)
    # verify's target URL carries the password too: its report must not show it
    target = f"postgresql://app:{quote(PG_PASSWORD, safe='')}@127.0.0.1:{pg.port}/postgres"
    cmd("verify", "--ledger", "o2/ledger", "--target", target, "--sink", "db", code=0)
    wrong = target.replace(quote(PG_PASSWORD, safe=""), quote(WRONG_PASSWORD, safe=""))
    cmd("verify", "--ledger", "o2/ledger", "--target", wrong, "--sink", "db", code=2)
    # the password reached PostgreSQL whole (scram checks it) and the rows landed
    assert report["sinks"]["db"]["counts"]["orders"]["c"] > 0
    # the token and the file's key reached the receiver whole, the URL's own query kept
    assert rx.queries
    for q in rx.queries:
        got = parse_qs(q.decode(), keep_blank_values=True)
        assert got == {"token": [TOKEN], "api_key": [FILE_KEY], "page": ["1"]}
    # the report still says where the webhook went, without its secrets
    assert "token=***" in json.dumps(report) and "token=***" in text

    # failures: a webhook nobody answers, a wrong password, a database nobody listens on
    down = scenario("down", f"http://127.0.0.1:{free_port()}/hooks")
    msg = cmd("run", str(down), "--out", "o3", code=2)
    assert "sink 'hooks'" in msg and "token=***" in msg
    msg = cmd("run", str(good), "--out", "o4", code=2, extra={"HW_T_PG_PASSWORD": WRONG_PASSWORD})
    assert "rejected the password of user 'app'" in msg
    cmd("--debug", "run", str(down), "--out", "o7", code=2)  # a traceback too
    msg = cmd("run", str(scenario("nodb", rx.url, free_port())), "--out", "o5", code=2)
    assert "sink 'db'" in msg and "app:***@127.0.0.1" in msg
    key_file.unlink()
    msg = cmd("run", str(good), "--out", "o6", code=2)
    assert f"cannot read the secret file {key_file}" in msg

    outputs += [files_text(out) for out in tmp_path.glob("o*")]
    assert (tmp_path / "o1" / "ledger" / "manifest.json").exists()
    assert leaks("\n".join(outputs)) == []


# -- the masker ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:s3cret@host:5672/%2F", "amqp://guest:***@host:5672/%2F"),
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("nats://u:p@h1:4222,h2:4222", "nats://u:***@h1:4222,h2:4222"),
        ("nats://u:p@h1, nats://u:q@h2/x", "nats://u:***@h1, nats://u:***@h2/x"),
        ("postgresql://app@h/db", "postgresql://app@h/db"),
        ("postgresql://app:${PG_PASSWORD}@h/db", "postgresql://app:${PG_PASSWORD}@h/db"),
        (
            "https://h/x?Token=a&page=2&api_key=b&X-Amz-Signature=c&sig=d&access_token=e#top",
            "https://h/x?Token=***&page=2&api_key=***&X-Amz-Signature=***&sig=***"
            "&access_token=***#top",
        ),
        ("http://h/x?password=&secret", "http://h/x?password=&secret"),  # nothing to hide
        ("not a url", "not a url"),
    ],
)
def test_mask_url_hides_credentials_in_every_part(url, shown):
    assert mask_url(url) == shown


def test_redact_masks_urls_pairs_and_remembered_secrets():
    assert (
        redact("cannot reach amqp://u:pw@h/ (refused)") == "cannot reach amqp://u:***@h/ (refused)"
    )
    assert redact("conninfo host=h password=xyz user=u") == "conninfo host=h password=*** user=u"
    remember("rdAAA1@rd/#?:", "abc")
    text = redact(f"x rdAAA1@rd/#?: y {quote('rdAAA1@rd/#?:', safe='')} z abc")
    assert text == "x *** y *** z abc"  # both forms; a 3-character value is too short to find
    remember("rdpostgres")
    text = redact("rdpostgresql://h rdpostgres_env rdpostgres.")
    assert text == "rdpostgresql://h rdpostgres_env ***."  # not inside words
    assert str(SinkError("s", "driver: rdAAA1@rd/#?:")) == "sink 's': driver: ***"


def test_redact_masks_a_password_in_hand_even_inside_words():
    """A parsed URL's password (never remembered when written in the YAML) is masked as is."""
    assert redact("auth failed for pw9x (xpw9xy)", "pw9x", None) == "auth failed for *** (x***y)"


@pytest.mark.parametrize(
    ("url", "bare"),
    [
        ("nats://u:p%40w@h:4222", "nats://h:4222"),
        ("nats://tok@h", "nats://h"),
        ("http://u:p@[::1]:8081/x?a=1", "http://[::1]:8081/x?a=1"),
        ("http://h:1", "http://h:1"),
    ],
)
def test_without_credentials_keeps_the_rest_of_the_url(url, bare):
    assert without_credentials(url) == bare


# -- clients that take credentials from the URL ---------------------------------------------------


def test_a_nats_password_with_url_delimiters_logs_in(tmp_path, monkeypatch):
    """nats-py sends a URL's password as written: the sink decodes what ${VAR} encoded."""
    pytest.importorskip("nats")
    from headwater.testing.servers import NatsServer

    from tests.conftest import start_or_skip
    from tests.sinks._streams import run_world, world

    server = start_or_skip(NatsServer(user="app", password=PG_PASSWORD))
    try:
        monkeypatch.setenv("HW_T_NATS_PASSWORD", PG_PASSWORD)
        url = f"nats://app:${{HW_T_NATS_PASSWORD}}@127.0.0.1:{server.port}"
        r = run_world(world(f"n: {{kind: nats, url: '{url}', connect_timeout: 5s}}"), tmp_path)
        assert r.report.sinks["n"]["counts"]["orders"]["c"] > 0
        monkeypatch.setenv("HW_T_NATS_PASSWORD", WRONG_PASSWORD)
        with pytest.raises(SinkUnavailable) as err:
            run_world(world(f"n: {{kind: nats, url: '{url}', connect_timeout: 2s}}"), tmp_path)
        assert "app:***@127.0.0.1" in str(err.value) and leaks(str(err.value)) == []
    finally:
        server.stop()


def test_schema_registry_basic_auth_is_the_decoded_password():
    import base64

    from headwater.sinks.kafka._registry import SchemaRegistry

    url = interpolate("http://app:${HW_T_REG}@127.0.0.1:1", {"HW_T_REG": PG_PASSWORD})
    registry = SchemaRegistry(url, "k")
    assert registry._auth == "Basic " + base64.b64encode(f"app:{PG_PASSWORD}".encode()).decode()
    assert registry.where == "http://app:***@127.0.0.1:1" and registry.base == "http://127.0.0.1:1"


def test_logs_of_a_run_hold_no_secret(tmp_path, monkeypatch, caplog):
    """Client libraries log what they do (httpx: every request's URL, query included)."""
    from headwater.resolve.load import loads
    from headwater.runner import run

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HW_T_TOKEN", TOKEN)
    (tmp_path / "signing").write_text(SIGNING)
    with Receiver(SIGNING.encode()) as rx:
        sinks = (
            f'sinks:\n  hooks: {{kind: webhook, url: "{rx.url}?token=${{HW_T_TOKEN}}", '
            f"secret_file: {tmp_path / 'signing'}, entities: [orders], batch: 500}}\n"
        )
        run(loads(SHOP.replace("duration: 1h", "duration: 2m") + sinks), out_dir=tmp_path / "out")
    assert "HTTP Request" in caplog.text and leaks(caplog.text) == []
