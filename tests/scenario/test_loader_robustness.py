"""Inputs that used to escape the loader as tracebacks (or pass validation and fail later) are
precise ScenarioErrors: a YAML path, a message that says what is expected, exit 2 in the CLI."""

import subprocess
import sys

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import loads

from tests.helpers import SHOP

TOTAL = 'total: {expr: "qty * price"}'
COUNTRY = "{choice: {US: 6, DE: 2, FR: 2}}"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        loads(text, file="s.yaml", env=env or {})
    return [str(p) for p in exc.value.problems]


# (YAML text, environment, expected path (after "s.yaml:L:C: "), message fragment)
CASES = [
    ("nul", SHOP.replace("name: t", "name: a\x00b"), {}, "", "character U+0000"),
    ("tag", SHOP.replace("name: t", "name: !foo bar"), {}, "name", "unsupported YAML tag '!foo'"),
    (
        "python tag",
        SHOP.replace("name: t", "name: !!python/name:os.system x"),
        {},
        "name",
        "unsupported YAML tag",
    ),
    (
        "var not yaml",  # a substituted value is text, never YAML structure
        SHOP.replace("seed: 1", "seed: ${V}"),
        {"V": "[1, 2"},
        "seed",
        "expected a whole number",
    ),
    (
        "var beyond 64 bits, not shown",
        SHOP.replace("seed: 1", "seed: ${V}"),
        {"V": "123456789012345678901234567890"},
        "seed",
        "the value of ${V} is outside the 64-bit integer range",
    ),
    ("list key", SHOP.replace("seed: 1", "? [a, b]\n: 1"), {}, "", "a key must be text"),
    (
        "expr of 5,000 terms",
        SHOP.replace(TOTAL, 'total: {expr: "' + "+".join(["qty"] * 5000) + '"}'),
        {},
        "entities.order_items.fields.total.expr",
        "too deeply nested",
    ),
    (
        "expr of nested calls",
        SHOP.replace(TOTAL, 'total: {expr: "' + "abs(" * 150 + "qty" + ")" * 150 + '"}'),
        {},
        "entities.order_items.fields.total.expr",
        "too deeply nested",
    ),
    (
        "sink kind is a mapping",
        SHOP + "sinks:\n  s: {kind: {files: 1}}\n",
        {},
        "sinks.s.kind",
        "expected a sink kind",
    ),
    (
        "object sub-field as a list",
        SHOP.replace(TOTAL, "total: {object: {a: [1, 2]}}"),
        {},
        "entities.order_items.fields.total.object.a",
        "expected a mapping with a generator",
    ),
    (
        "object sub-field error has its path",
        SHOP.replace(TOTAL, "total: {object: {a: {fake: nmae}}}"),
        {},
        "entities.order_items.fields.total.object.a.fake",
        "unknown fake kind 'nmae'",
    ),
    (
        "choice of text and numbers",
        SHOP.replace(COUNTRY, "{choice: {TH-100: 5, -200: 3}}"),
        {},
        "entities.customers.fields.country.choice",
        "values of one type",
    ),
    (
        "arrivals without a unit",
        SHOP.replace("arrivals: 0.5/s", "arrivals: 5"),
        {},
        "entities.customers.arrivals",
        "expected a rate like 5/s or {diurnal: …}, got 5",
    ),
    (
        "union member names stay out of paths",
        SHOP.replace("{uniform: {min: 1, max: 5}}", "{uniform: {min: x, max: 5}}"),
        {},
        "entities.order_items.fields.qty.uniform.min",
        "expected a number, got 'x'",
    ),
    (
        "a union's members become one message",
        SHOP.replace(COUNTRY, "{const: [1]}"),
        {},
        "entities.customers.fields.country.const",
        "expected text, a number or true/false, got [1]",
    ),
    (
        "uniform to infinity",
        SHOP.replace(COUNTRY, "{uniform: {min: 0, max: .inf}}"),
        {},
        "entities.customers.fields.country.uniform.max",
        "finite",
    ),
    (
        "integer beyond 64 bits",
        SHOP.replace(COUNTRY, "{uniform: {min: 0, max: 100000000000000000000}}"),
        {},
        "entities.customers.fields.country.uniform.max",
        "64-bit",
    ),
    (
        "uniform float range beyond a float",
        SHOP.replace(COUNTRY, "{uniform: {min: -1.0e308, max: 1.0e308}}"),
        {},
        "entities.customers.fields.country.uniform",
        "too wide",
    ),
    (
        "decimal beyond its precision",
        SHOP.replace("{decimal: {min: 1, max: 200}}", "{decimal: {min: 1, max: 1.0e30}}"),
        {},
        "entities.order_items.fields.price.decimal",
        "at most 16 digits before the point",
    ),
    (
        "integer division by zero",
        SHOP.replace(TOTAL, 'total: {expr: "qty // 0"}'),
        {},
        "entities.order_items.fields.total.expr",
        "division by zero",
    ),
    (
        "int() out of range",
        SHOP.replace(TOTAL, 'total: {expr: "int(1e300)"}'),
        {},
        "entities.order_items.fields.total.expr",
        "outside the 64-bit integer range",
    ),
    (
        "file naming placeholder",
        SHOP + "sinks:\n  f: {kind: files, naming: '{nope}.{ext}'}\n",
        {},
        "sinks.f.naming",
        "unknown placeholder '{nope}'",
    ),
    (
        "file naming positional",
        SHOP + "sinks:\n  f: {kind: files, naming: '{}.{ext}'}\n",
        {},
        "sinks.f.naming",
        "placeholder",
    ),
    (
        "file naming outside the folder",
        SHOP + "sinks:\n  f: {kind: files, naming: '../{stream}.{ext}'}\n",
        {},
        "sinks.f.naming",
        "inside the sink's folder",
    ),
    (
        "url port",
        SHOP
        + "sinks:\n  db: {kind: postgres, url: 'postgresql://u:s3cret@127.0.0.1:notaport/x'}\n",
        {},
        "sinks.db.url",
        "invalid port 'notaport'",
    ),
]


@pytest.mark.parametrize(
    ("text", "env", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_precise_errors(text, env, path, fragment):
    msgs = problems(text, env)
    wanted = f"{path}: " if path else ""
    assert any(f": {wanted}" in m and fragment in m for m in msgs) or any(
        not path and fragment in m for m in msgs
    ), msgs
    assert all(m.startswith("s.yaml:") for m in msgs), msgs
    assert not any("s3cret" in m or "1234567890" in m for m in msgs), msgs


def test_a_plain_equals_sign_is_text():
    assert loads(SHOP.replace("name: t", "name: =")).name == "="


def test_a_ref_to_a_missing_entity_on_a_sink_with_faults():
    text = SHOP.replace("ref: customers.id", "ref: nobody.id")
    text += "sinks:\n  f: {kind: files, faults: {duplicate: 0.1}}\n"
    msgs = problems(text)
    assert any("unknown entity 'nobody'" in m for m in msgs), msgs


def test_a_very_long_name_is_named_and_clipped():
    long = "c" * 10_000
    msgs = problems(SHOP.replace("  customers:\n", f"  {long}:\n", 1))
    assert len(msgs) == 1 and len(msgs[0]) < 400, msgs
    assert "longer than 1024 characters" in msgs[0] and "10000 characters" in msgs[0], msgs
    quoted = SHOP.replace("ref: customers.id", f"ref: '{long}.id'")
    msgs = problems(quoted)
    assert any("unknown entity 'cccc" in m for m in msgs), msgs
    assert all(len(m) < 400 for m in msgs), msgs


def test_every_stage_reports_at_once():
    text = (
        SHOP.replace("duration: 1h", "duration: 1 hour")  # the scenario model
        .replace("{fake: name}", "{fake: nmae}")  # a field generator
        .replace("ref: orders.order_id", "ref: order.order_id")  # a cross-check
    )
    text += "sinks:\n  db: {kind: sqlit}\n"  # a sink
    msgs = problems(text)
    for fragment in (
        "clock.duration",
        "unknown fake kind 'nmae'",
        "unknown sink kind 'sqlit'",
    ):
        assert any(fragment in m for m in msgs), (fragment, msgs)


def test_fields_and_cross_checks_report_together():
    text = SHOP.replace("{fake: name}", "{fake: nmae}").replace(
        "ref: orders.order_id", "ref: order.order_id"
    )
    msgs = problems(text)
    assert any("unknown fake kind 'nmae'" in m for m in msgs), msgs
    assert any("unknown entity 'order'" in m for m in msgs), msgs


def test_a_long_chain_of_derived_fields_loads_and_orders():
    from headwater.generators.base import field_order

    # declared last-first, so each field reads one declared after it
    chain = "\n".join(f'      d{i}: {{expr: "d{i - 1} + 1"}}' for i in range(3000, 0, -1))
    text = SHOP.replace(TOTAL, TOTAL + "\n" + chain + "\n      d0: {expr: qty}")
    text += "sinks:\n  f: {kind: files, faults: {duplicate: 0.1}}\n"  # fault checks need types
    gens = loads(text).entities["order_items"].fields
    order = field_order(gens)
    assert order.index("d0") < order.index("d1") < order.index("d3000")


@pytest.mark.parametrize("kind", ["files", "logs"])
def test_an_output_folder_that_is_a_file(tmp_path, kind):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    for path in (blocker, blocker / "sub"):
        msgs = problems(SHOP + f"sinks:\n  f: {{kind: {kind}, path: '{path}'}}\n")
        assert any("sinks.f.path: " in m and "is a file" in m for m in msgs), msgs
    loads(SHOP + f"sinks:\n  f: {{kind: {kind}, path: '{tmp_path / 'new' / 'dir'}'}}\n")


@pytest.mark.parametrize(
    ("replace", "fragment"),
    [
        (("name: t", "name: a\x00b"), "character U+0000"),
        (("seed: 1", "seed: 1\nsinks:\n  s: {kind: {files: 1}}"), "sinks.s.kind"),
    ],
)
def test_cli_validate_exits_2_without_a_traceback(tmp_path, replace, fragment):
    f = tmp_path / "s.yaml"
    f.write_text(SHOP.replace(*replace))
    r = subprocess.run(
        [sys.executable, "-m", "headwater", "validate", str(f)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and fragment in r.stderr, r.stderr


def test_a_bug_inside_the_loader_is_not_reported_as_the_users_mistake(monkeypatch):
    """Only user errors become ScenarioErrors; anything else keeps its traceback."""
    import headwater.generators

    def broken(spec):
        raise RuntimeError("a bug")

    text = SHOP + (
        "sinks:\n  f: {kind: files, faults: {drift: "
        "{at: 2026-01-01T00:30:00Z, add: {channel: {const: web}}}}}\n"
    )
    loads(text)  # sound as written
    monkeypatch.setattr(headwater.generators, "parse_field", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        loads(text)
