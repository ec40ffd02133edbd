"""${VAR} and ${file:PATH} substitution: a value goes into a URL as data (percent-encoded for
its part), never as URL structure; secrets it carries are remembered for redaction."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from headwater.errors import ScenarioError
from headwater.scenario.yamlio import load_yaml
from headwater.secrets import redact, remember
from headwater.sinks._sql import DbUrl

NASTY = "subAAA1@subBBB2/subCCC3#subDDD4?subEEE5:subFFF6%subGGG7 &x=y"


def value(text: str, env: dict[str, str] | None = None, keep_unset: bool = False) -> object:
    """The value of `v`; problems found while reading it raised as the loader reports them."""
    doc = load_yaml(f"v: {text}\n", env=env or {}, keep_unset=keep_unset)
    if doc.problems:
        raise ScenarioError(doc.problems)
    return doc.data["v"]


def test_a_password_with_url_delimiters_stays_the_password():
    url = value('"postgresql://app:${PW}@127.0.0.1:5432/shop"', {"PW": NASTY})
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port == 5432 and parts.path == "/shop"
    assert unquote(parts.password) == NASTY and parts.username == "app"
    db = DbUrl.parse(url)
    assert (db.host, db.port, db.user, db.password, db.database) == (
        "127.0.0.1",
        5432,
        "app",
        NASTY,
        "shop",
    )
    assert NASTY not in redact(f"failed: {NASTY}")  # remembered


def test_each_url_part_keeps_its_structure():
    env = {"U": "a@b", "T": "t&k=v#f", "P": "x?y#z", "F": "p#q", "H": "h1:4222,h2:4222"}
    url = value("nats://${U}@${H}/base/${P}?token=${T}&page=${T}#${F}", env)
    parts = urlsplit(url)
    assert parts.netloc == "a%40b@h1:4222,h2:4222"  # a host list goes in as written
    assert unquote(parts.path) == "/base/x?y#z"
    assert parse_qs(parts.query) == {"token": ["t&k=v#f"], "page": ["t&k=v#f"]}
    assert unquote(parts.fragment) == "p#q"


def test_outside_urls_and_whole_urls_values_go_in_as_written():
    assert value('"a ${T} b"', {"T": "x&y=#"}) == "a x&y=# b"
    whole = "postgresql://app:subWHOLE9@127.0.0.1/db"
    assert value("${DATABASE_URL}", {"DATABASE_URL": whole}) == whole
    assert "subWHOLE9" not in redact("driver said: subWHOLE9")  # the URL's password


def test_defaults_go_in_encoded_and_plain_scalars_keep_their_type_not_structure():
    url = value('"postgresql://postgres:${PW:-pg@pw}@127.0.0.1/db"')
    assert urlsplit(url).password == "pg%40pw" and urlsplit(url).hostname == "127.0.0.1"
    remember("pgword")
    assert redact("at pgwordsql://h/db pgword") == "at pgwordsql://h/db ***"  # not in words
    assert value("${N}", {"N": "42"}) == 42 and value("${B}", {"B": "true"}) is True
    for raw in ("[1", "a: b", "{x", "- y"):  # substituted text is never parsed as YAML
        assert value("${X}", {"X": raw}) == raw


def test_a_secret_from_a_file(tmp_path):
    secret = tmp_path / "key.txt"
    secret.write_text("subFILE1@x/y\n")
    url = value(f'"http://127.0.0.1/h?api_key=${{file:{secret}}}"')
    assert parse_qs(urlsplit(url).query) == {"api_key": ["subFILE1@x/y"]}
    assert "subFILE1" not in redact("got subFILE1@x/y")
    assert value(f"${{file:{secret}}}", keep_unset=True) == f"${{file:{secret}}}"  # validate
    missing = tmp_path / "nope.txt"
    with pytest.raises(ScenarioError, match=rf"line 1: v: cannot read the secret file {missing}"):
        value(f"${{file:{missing}}}")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ScenarioError, match="is empty"):
        value(f"${{file:{tmp_path / 'empty'}}}")


def test_sink_settings_holding_a_credential_are_remembered_not_where_one_is_kept():
    text = (
        "sinks:\n  k:\n    producer: {sasl.password: subKAFKA7}\n"
        "    password_env: SUB_PG_PASSWORD_NAME\n    key: subKEYFIELD\n"
    )
    load_yaml(text, env={})
    assert redact("subKAFKA7 SUB_PG_PASSWORD_NAME subKEYFIELD") == (
        "*** SUB_PG_PASSWORD_NAME subKEYFIELD"
    )


def test_each_url_of_a_server_list_is_its_own_url():
    text = '"nats://u:${PW}@h1:4222, nats://u:${PW}@h2:4222,nats://h3:4222/${PW}"'
    urls = [s.strip() for s in value(text, {"PW": NASTY}).split(",")]
    assert [urlsplit(u).hostname for u in urls] == ["h1", "h2", "h3"]
    assert [unquote(urlsplit(u).password or "") for u in urls] == [NASTY, NASTY, ""]
    assert unquote(urlsplit(urls[2]).path) == f"/{NASTY}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"price of $${price:.0f}"', "price of ${price:.0f}"),  # the seed's `$100` before `{`
        ('"$${HOME} is ${V}"', "${HOME} is v"),
        ('"$${V}"', "${V}"),
        ('"pa$$word"', "pa$$word"),  # `$$` elsewhere is kept: only `$${` is an escape
        ('"$$${V}"', "$${V}"),  # `$` then the escaped `${`
    ],
)
def test_a_doubled_dollar_before_a_brace_is_a_literal(text, expected):
    assert value(text, {"V": "v"}) == expected


def test_validation_keeps_unset_variables_but_still_unescapes():
    assert value('"$${x} ${V}"', {}, keep_unset=True) == "${x} ${V}"
