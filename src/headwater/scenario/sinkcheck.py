"""Checks of one sink's configuration that need no scenario and no connection: its URLs parse
(a port is a number) and its output folder can be created. Found at validate, not mid-run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from headwater.scenario.yamlio import Loc


def check_config(config: Any, capabilities: frozenset[str]) -> list[tuple[Loc, str]]:
    """(path under the sink, message) for every problem found."""
    problems: list[tuple[Loc, str]] = []
    url = getattr(config, "url", None)
    if isinstance(url, str):
        problems += [(("url",), m) for m in url_problems(url)]
    path = getattr(config, "path", None)
    if "files" in capabilities and isinstance(path, str):
        problems += [(("path",), m) for m in folder_problems(Path(path))]
    return problems


def url_problems(url: str) -> list[str]:
    """A URL (or comma-separated URLs) whose port is not a number; passwords never shown."""
    from headwater.sinks._stream import address

    out = []
    for one in url.split(","):
        one = one.strip()
        if "${" in one:  # expanded when the sink opens; validation does not need secrets
            continue
        try:
            urlsplit(one).port
        except ValueError:
            port = urlsplit(one).netloc.rpartition("@")[2].rpartition(":")[2]
            shown = address(one.replace(f":{port}", "", 1)) if port else address(one)
            out.append(
                f"invalid port '{port}' in {shown}: a port is a number from 1 to 65535"
                if port
                else f"invalid address {shown}"
            )
    return out


def folder_problems(path: Path) -> list[str]:
    """An absolute output folder that cannot be created: it, or a parent, is a file, or the
    nearest existing parent is not writable. (Relative folders live under --out, checked by run.)"""
    if not path.is_absolute():
        return []
    for parent in (path, *path.parents):
        if not parent.exists():
            continue
        if not parent.is_dir():
            where = "is a file" if parent == path else f"cannot be created: {parent} is a file"
            return [f"{path} {where}; give a folder"]
        if not os.access(parent, os.W_OK | os.X_OK):
            return [f"{path} cannot be created: {parent} is not writable"]
        return []
    return []
