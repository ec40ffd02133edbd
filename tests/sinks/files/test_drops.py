"""Drops of several files (sinks/files/drops.py): only the last rename proves the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.sinks.base import SinkStats
from headwater.sinks.files.drops import Intervals, Publisher, runs
from headwater.sinks.files.publish import PublishedFile

ROWS = pa.table({"v": [1, 2]})


class Announcing:
    """What a Publisher needs of a sink: `announce` and `stats`."""

    def __init__(self) -> None:
        self.proofs: list[dict[str, Any]] = []
        self.stats = SinkStats()

    def announce(self, proof: dict[str, Any]) -> None:
        self.proofs.append(proof)


def opener(path: Path) -> PublishedFile:
    return PublishedFile(path, "jsonl", ROWS.schema)


def test_a_drop_of_two_files_is_announced_once_by_its_last_file(tmp_path: Path) -> None:
    sink = Announcing()
    publisher = Publisher(sink)  # type: ignore[arg-type]
    drops = Intervals(publisher, tmp_path, "{stream}-{index}.{ext}", 10, {"a": "a", "b": "b"})
    drops.file("t", 0, "a", opener).write(ROWS)
    drops.file("t", 0, "b", opener).write(ROWS)
    publisher.take("t", 4)
    assert publisher.published() == {}
    drops.advance(9)  # the interval has not ended
    assert sink.proofs == [] and not list(tmp_path.glob("t-*"))
    drops.file("t", 1, "a", opener).write(ROWS)  # a later interval publishes the earlier drop
    assert [p["file"].name for p in sink.proofs] == ["t-1.b"]
    assert sink.proofs[0]["rows"] == {"t": 4} and publisher.published() == {"t": 4}
    assert sorted(p.name for p in tmp_path.glob("t-1.*")) == ["t-1.a", "t-1.b"]
    drops.abort()
    assert not list(tmp_path.glob("t-2.*")) and not list(tmp_path.glob(".*"))
    assert sink.stats.extra["files"] == 2


def test_runs_cut_equal_neighbours() -> None:
    import numpy as np

    assert list(runs(np.array([3, 3, 4, 4, 4, 6]))) == [(3, 0, 2), (4, 2, 5), (6, 5, 6)]
    assert list(runs(np.array([], dtype=np.int64))) == []
