"""The public API is exactly what __init__ exports, and it works end to end."""

import pyarrow as pa

import headwater
from headwater.generators import GENERATORS
from headwater.sinks import SINKS


def test_all_is_sorted_and_complete():
    assert headwater.__all__ == sorted(headwater.__all__)
    for name in headwater.__all__:
        assert hasattr(headwater, name)


def test_every_registered_plugin_loads():
    for name in GENERATORS.names():
        assert GENERATORS.get(name).name == name
    for name in SINKS.names():
        cls = SINKS.get(name)
        assert cls.kind == name and "kind" in cls.Config.model_fields


def test_every_sink_docstring_example_validates():
    import re

    for name in SINKS.names():
        doc = SINKS.get(name).__module__
        module_doc = __import__(doc, fromlist=["_"]).__doc__ or ""
        blocks = re.findall(r"```yaml\n(.*?)```", module_doc, re.S)
        assert blocks, f"sink {name} has no YAML example in its module docstring"
        text = "entities:\n  a:\n    initial: 1\n    fields:\n      id: {seq: {}}\n" + blocks[0]
        text = re.sub(r"entities: \[[^\]]*\]", "entities: [a]", text)
        headwater.loads(text)


def test_python_api_round_trip(tmp_path):
    sc = headwater.loads(
        "entities:\n  a:\n    initial: 5\n    arrivals: 1/s\n    fields:\n      id: {seq: {}}\n      v: {uniform: {min: 1, max: 3}}\n"
    )
    t = headwater.sample(sc, "a", 10)
    assert isinstance(t, pa.Table) and t.num_rows == 10
    assert t.to_pandas().shape == (10, 2)
    report = headwater.run(sc, duration="1m", out_dir=tmp_path)
    assert report.entities["a"]["r"] == 5
