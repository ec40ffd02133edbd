"""Files per entity, as the files sink (or a pipeline) writes them: <root>/<entity>/**/*.<ext>,
or <root>/<entity>[-_.]*.<ext>. One kind per file format, each naming its data files' suffixes."""

from __future__ import annotations

import re
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from headwater.errors import VerifyError
from headwater.verify.targets._base import Target, duckdb_error, literal

# Files published beside data files, never data themselves.
SIDECARS = (".layout.json", ".xsd", ".avsc")


def compressed(*exts: str) -> tuple[str, ...]:
    """`exts` as they are written plain, gzip'd or zstd'd."""
    return tuple(e + c for e in exts for c in ("", ".gz", ".zst"))


class FolderTarget(Target):
    """A folder of one format's files (`kind:PATH`, or a folder whose files say which)."""

    typed = False
    suffixes: ClassVar[tuple[str, ...]]

    def __init__(self, spec: str, root: Path):
        super().__init__(spec)
        if not root.is_dir():
            raise VerifyError(f"--target: no folder at {root}")
        self.root = root

    @classmethod
    def is_data_file(cls, p: Path) -> bool:
        name = p.name.lower()
        return (
            p.is_file()
            and name.endswith(cls.suffixes)
            and not name.endswith(SIDECARS)
            and not name.startswith((".", "_"))
        )

    def _files(self, table: str) -> list[Path]:
        sub = next(
            (p for p in self.root.iterdir() if p.is_dir() and p.name.lower() == table.lower()), None
        )
        if sub is not None:
            found = [p for p in sub.rglob("*") if self.is_data_file(p)]
        else:
            pattern = re.compile(rf"^{re.escape(table.lower())}([-_.].*)?$")
            found = [
                p
                for p in self.root.iterdir()
                if self.is_data_file(p) and pattern.match(p.name.lower())
            ]
        return sorted(found)

    def names(self, con: Any) -> list[str]:
        out = {
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        }
        for p in self.root.iterdir():
            if self.is_data_file(p):
                out.add(re.split(r"[-_.]", p.name)[0])
        return sorted(out)

    @abstractmethod
    def read(self, con: Any, files: list[Path], view: str) -> str:
        """A query of the files (registering what Python reads as `view`_arrow)."""

    def relation(self, con: Any, table: str, view: str) -> bool:
        files = self._files(table)
        if not files:
            return False
        try:
            read = self.read(con, files, view)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {read}").fetchall()
            con.execute(f"SELECT * FROM {view} LIMIT 0").fetchall()
        except (duckdb_error(), OSError) as exc:  # unreadable files, bad data: the user's
            raise VerifyError(
                f"--target: cannot read {table} files under {self.root}: {exc}"
            ) from None
        return True

    def describe(self) -> str:
        return f"{self.kind} folder {self.root}"


def listed(files: list[Path]) -> str:
    """The files as a DuckDB list literal."""
    return "[" + ", ".join(literal(str(p)) for p in files) + "]"
