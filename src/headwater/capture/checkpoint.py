"""Where a capture stands, kept in a small JSON file that survives a crash of the reader.

A capture saves its position after the events up to it were delivered and before it tells
the database (PostgreSQL: advancing the slot); on restart it resumes from the file, skipping
what the database re-sends from before it. The file is replaced atomically (write, fsync,
rename), so a crash leaves either the old or the new position, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Checkpoint:
    """A JSON object in `path` (None: kept in memory only, lost with the process)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        if self.path is None:
            return self._memory
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"checkpoint {self.path} is unreadable ({exc}); delete it to start over"
            ) from None

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            self._memory = dict(state)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self._memory = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
