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
    """Each sink module's YAML example validates against the shipped examples' entities."""
    import re
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    world = (examples / "shop.yaml").read_text().split("\nsinks:")[0]
    iot = (examples / "iot.yaml").read_text().split("\nsinks:")[0]
    world += "\n" + iot.split("entities:\n", 1)[1]  # devices and readings beside the shop
    for name in SINKS.names():
        module_doc = __import__(SINKS.get(name).__module__, fromlist=["_"]).__doc__ or ""
        blocks = re.findall(r"```yaml\n(.*?)```", module_doc, re.S)
        assert blocks, f"sink {name} has no YAML example in its module docstring"
        headwater.loads(world + "\n" + blocks[0])


def test_python_api_round_trip(tmp_path):
    sc = headwater.loads(
        "entities:\n  a:\n    initial: 5\n    arrivals: 1/s\n    fields:\n      id: {seq: {}}\n      v: {uniform: {min: 1, max: 3}}\n"
    )
    t = headwater.sample(sc, "a", 10)
    assert isinstance(t, pa.Table) and t.num_rows == 10
    assert t.to_pandas().shape == (10, 2)
    report = headwater.run(sc, duration="1m", out_dir=tmp_path)
    assert report.entities["a"]["r"] == 5
