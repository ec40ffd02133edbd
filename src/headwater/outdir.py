"""The run's output folder: one run's output at a time.

A run claims its folder with a marker file, `.headwater-run`, listing what the run put at
the top of the folder. A later run refuses a folder that is not empty, so two runs never
mix; with `overwrite` it first removes what the marker lists, and still refuses when
anything else is there (a file the user put there is not headwater's to delete).

    out = OutDir.claim(Path("out/shop"), overwrite=False, scenario="shop", seed=42)
    ...sinks open...
    out.note()          # after opening the sinks, and at the end: record what is there
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError

MARKER = ".headwater-run"
FORMAT = "headwater-out/1"


class OutDirError(HeadwaterError):
    """The output folder is in use (by an earlier run, or by something else)."""


class OutDir:
    """A claimed output folder; `note()` records its top-level entries in the marker."""

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path = path
        self.meta = meta
        self.entries: list[str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def claim(cls, path: Path, *, overwrite: bool, **meta: Any) -> OutDir:
        """Claim `path` for a run: create it, or clear an earlier run's output from it."""
        try:
            path.mkdir(parents=True, exist_ok=True)
            present = sorted(p.name for p in path.iterdir() if p.name != MARKER)
        except OSError as exc:  # a file of that name, no permission…
            raise OutDirError(f"--out: cannot use {path} as the output folder: {exc}") from None
        if present:
            earlier = _read(path / MARKER)
            if earlier is None:
                raise OutDirError(
                    f"--out: {path} is not empty and holds no headwater run ({', '.join(present[:5])}"
                    f"{', …' if len(present) > 5 else ''}); choose an empty or new folder"
                    " (--overwrite only replaces the output of an earlier headwater run)"
                )
            if not overwrite:
                raise OutDirError(
                    f"--out: {path} holds the output of an earlier run (scenario "
                    f"{earlier.get('scenario')!r}, seed {earlier.get('seed')}); pass --overwrite "
                    "to replace it, or choose another folder"
                )
            ours = set(earlier.get("entries", []))
            foreign = [n for n in present if n not in ours and not _temporary(n)]
            if foreign:
                raise OutDirError(
                    f"--out: {path} holds files no headwater run wrote ({', '.join(foreign[:5])}"
                    f"{', …' if len(foreign) > 5 else ''}); move them away or choose another "
                    "folder: --overwrite removes only an earlier run's output"
                )
            for name in present:
                _remove(path / name)
        out = cls(path, meta)
        out.note()
        return out

    def note(self) -> None:
        """Record what is at the top of the folder now (all of it this run's), if it changed.
        Safe from several threads (a served world notes from its own)."""
        with self._lock:
            entries = sorted(p.name for p in self.path.iterdir() if p.name != MARKER)
            if entries == self.entries:
                return
            self.entries = entries
            data = {"format": FORMAT, **self.meta, "entries": entries}
            tmp = self.path / f".{MARKER}.tmp-{os.getpid()}-{threading.get_ident()}"
            tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
            os.replace(tmp, self.path / MARKER)


def _read(marker: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _temporary(name: str) -> bool:
    """A file being written when a run was killed (``.name.tmp-<pid>``, ``.name.tmp``)."""
    return name.startswith(".") and ".tmp" in name


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
