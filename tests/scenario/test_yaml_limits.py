"""Hostile YAML is refused before it costs memory: size, values (aliases expanded), depth."""

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import check, loads
from headwater.scenario import yamlio
from headwater.scenario.yamlio import MAX_BYTES, MAX_DEPTH, MAX_VALUES

ENTITY = "entities:\n  a:\n    initial: 1\n    fields:\n      id: {seq: {}}\n"


def _bomb(levels: int = 9) -> str:
    lines = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*x{i - 1}"] * 9)
        lines.append(f"x{i}: &x{i} [{refs}]")
    return ENTITY + "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    with pytest.raises(ScenarioError) as exc:
        check(path)
    msg = str(exc.value)
    assert f"{path}:" in msg and "alias" in msg and f"{MAX_VALUES:,}" in msg
    line = int(msg.split(f"{path}:")[1].split(":")[0])
    assert line > 5  # one of the x<i> lines, not the top of the file


def test_a_few_aliases_are_fine():
    text = "entities:\n  a:\n    initial: 1\n    fields:\n      id: &b {seq: {}}\n      n: *b\n"
    assert loads(text).entities["a"].fields.keys() == {"id", "n"}


def test_a_huge_list_is_refused_without_building_it(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlio, "MAX_VALUES", 1000)  # the same check, quicker to reach
    path = tmp_path / "list.yaml"
    path.write_text(ENTITY + "junk: [" + "1, " * 2000 + "1]\n")
    with pytest.raises(ScenarioError, match="more than 1,000 values;"):
        check(path)


def test_a_file_beyond_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write(ENTITY + "# ")
        f.write("x" * (MAX_BYTES + 1))
    with pytest.raises(ScenarioError, match=r"MB.*at most 16 MB"):
        check(path)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text(ENTITY + "deep: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ScenarioError) as exc:
        check(path)
    assert f"{path}:6:" in str(exc.value) and f"{MAX_DEPTH} levels" in str(exc.value)


def test_aliases_cannot_nest_deeper_than_the_limit():
    half = "[" * (MAX_DEPTH - 5) + "]" * (MAX_DEPTH - 5)
    text = ENTITY + f"a: &a {half}\nb: &b {'[' * (MAX_DEPTH - 5)}*a{']' * (MAX_DEPTH - 5)}\n"
    with pytest.raises(ScenarioError, match=f"{MAX_DEPTH} levels"):
        loads(text)


def test_a_recursive_alias_is_refused():
    with pytest.raises(ScenarioError, match="contains"):
        loads(ENTITY + "a: &a [1, *a]\n")
