"""A server that loses commits it acknowledged: the postgres and mysql sinks must fail loudly.

With non-durable commits (PostgreSQL synchronous_commit=off, InnoDB
innodb_flush_log_at_trx_commit=0) a server crash drops the latest transactions it had
already confirmed. The run below crashes the server between steps until a crash lost
something, measured independently of the sink: `headwater_applied` read before the crash
(what the server confirmed) and after recovery (what it kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from headwater.errors import SinkError
from headwater.runner import run
from headwater.world.changes import Changes

from tests.capture._db import shop

DURATION = timedelta(minutes=16)
STEPS = 48  # of 20 s
MID_RUN = range(3, STEPS, 4)  # crashes until one loses transactions
AT_THE_END = range(STEPS - 1, STEPS)  # after the last write: only flush can tell

Applied = Callable[[], dict[int, int]]  # lane -> last ordinal the server holds


def lost_commits_fail_the_run(
    kind: str,
    url: str,
    out: Path,
    crash: Callable[[], None],
    applied: Applied,
    steps: range = MID_RUN,
) -> str:
    """Run into `url` (2 connections), crashing the server after `steps` until a crash lost
    transactions; the run must raise a SinkError saying how many the server lost on which
    connection. Returns the error's text for dialect-specific checks."""
    sc = shop(
        f"db: {{kind: {kind}, url: '{url}', connections: 2}}\n",
        **{"duration: 1h}": "duration: 1h, step: 20s}"},
    )
    lost: dict[int, int] = {}

    def on_step(changes: Changes, _report: object) -> None:
        if lost or changes.step not in steps:
            return
        confirmed = applied()
        crash()
        kept = applied()
        kept.update({lane: 0 for lane in confirmed.keys() - kept.keys()})  # row lost too
        lost.update({lane: n - kept[lane] for lane, n in confirmed.items() if n > kept[lane]})

    with pytest.raises(SinkError) as err:
        try:
            run(sc, duration=DURATION, out_dir=out, ledger=False, on_step=on_step)
        finally:
            assert lost, "no crash lost a transaction: the server's commits were durable"
    text = str(err.value)
    said = re.search(r"lost (\d+) committed transactions? of connection (\d+)", text)
    assert said is not None, text
    assert lost.get(int(said.group(2))) == int(said.group(1)), (lost, text)
    assert text.startswith("sink 'db': "), text
    return text
