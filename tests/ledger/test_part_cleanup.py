"""A ledger part file that cannot be put in place (or is interrupted) leaves no temporary
file beside it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from headwater.ledger.writer import _write


def test_a_part_that_cannot_be_put_in_place_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sink" / "orders" / "part-000001.parquet"
    (target / "in-the-way").mkdir(parents=True)  # the final name is taken by a directory
    with pytest.raises(OSError):
        _write(target, pa.table({"seq": [1, 2, 3]}))
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
