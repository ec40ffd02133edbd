"""Checks of one sink's configuration that need no scenario and no connection: its URLs parse
(a port is a number) and its output folder can be created. Found at validate, not mid-run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from headwater.scenario.yamlio import Loc
from headwater.secrets import mask_url


def check_config(config: Any, *, files: bool) -> list[tuple[Loc, str]]:
    """(path under the sink, message) for every problem found; `files`: the sink declares
    the capability, so its `path` is a folder it creates."""
    problems: list[tuple[Loc, str]] = []
    url = getattr(config, "url", None)
    if isinstance(url, str):
        problems += [(("url",), m) for m in url_problems(url)]
    path = getattr(config, "path", None)
    if files and isinstance(path, str):
        problems += [(("path",), m) for m in folder_problems(Path(path))]
    return problems


def url_problems(url: str) -> list[str]:
    """A URL (or comma-separated URLs) that does not parse, or whose port is not a number;
    the password is never shown."""
    out = []
    for one in (u.strip() for u in url.split(",")):
        if "${" in one:  # expanded when the sink opens; validation does not need secrets
            continue
        try:
            parts = urlsplit(one)
        except ValueError as exc:  # an unclosed [IPv6 address
            out.append(f"invalid URL: {exc}")
            continue
        try:
            _ = parts.port
        except ValueError:
            port = parts.netloc.rpartition("@")[2].rpartition(":")[2]
            out.append(
                f"invalid port '{port}' in {mask_url(one)}: a port is a number from 1 to 65535"
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
