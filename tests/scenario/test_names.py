"""Entity and sink names become folder and file names (files and logs sinks, the ledger):
one that is not a single plain path component is refused where it is written."""

import json

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import loads


def one(entity: str = "things", sink: str = "db") -> str:
    return f"""
entities:
  {entity}: {{initial: 2, fields: {{id: {{seq: {{}}}}}}}}
sinks:
  {sink}: {{kind: memory}}
"""


def quoted(name: str) -> str:
    return json.dumps(name)  # JSON strings are YAML strings


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "a\\b", "..", ".", "", "a\x00b"])
def test_an_entity_name_that_is_not_one_path_component_is_refused(name):
    with pytest.raises(ScenarioError) as err:
        loads(one(entity=quoted(name)))
    assert f"entities.{name}: the name {name!r} becomes a folder and file name" in str(err.value)


def test_a_sink_name_that_is_not_one_path_component_is_refused():
    with pytest.raises(ScenarioError) as err:
        loads(one(sink=quoted("../up")))
    assert "sinks.../up: the name '../up' becomes a folder and file name" in str(err.value)


def test_names_with_dots_spaces_and_quotes_are_fine():
    loads(one(entity=quoted('it\'s a.b "c"'), sink=quoted("my db")))
