"""A capture process the kill test starts, SIGKILLs mid-stream, and starts again.

    python -m tests.capture._child KIND URL CHECKPOINT OUT_DIR STOP_FILE

Delivers every batch as Arrow IPC files named by their first seq (a re-delivered batch
overwrites its own files), fsyncs, then acknowledges. When STOP_FILE appears it catches up
with the log and exits.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyarrow as pa

from headwater.capture import CaptureBatch, open_capture
from headwater.resolve.load import loads
from headwater.world.schema import world_schemas

from tests.helpers import SHOP


def deliver(out: Path, batch: CaptureBatch) -> None:
    for entity, table in batch.tables.items():
        if not table.num_rows:
            continue
        path = out / f"{entity}-{table['seq'][0].as_py():09d}.arrow"
        tmp = path.with_suffix(".tmp")
        with pa.OSFile(str(tmp), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
            w.write_table(table)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)


def main(kind: str, url: str, checkpoint: str, out_dir: str, stop_file: str) -> None:
    sc = loads(SHOP + f"sinks:\n  db: {{kind: {kind}, url: '{url}'}}\n")
    config = sc.sinks["db"]
    out = Path(out_dir)
    cap = open_capture(
        config,
        world_schemas(sc),
        name="kill-test",
        checkpoint=checkpoint,
        resume=True,
        committed_by="db",
    )
    for batch in cap.snapshot():
        deliver(out, batch)
        cap.ack(batch.position)
    print("ready", flush=True)
    while not Path(stop_file).exists():
        batch = cap.poll(timeout=0.2)
        deliver(out, batch)
        cap.ack(batch.position)
        time.sleep(0.01)
    for batch in cap.catch_up():
        deliver(out, batch)
        cap.ack(batch.position)
    cap.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
