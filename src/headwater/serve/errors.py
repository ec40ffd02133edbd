"""ServeError: a server could not start or a serve option is wrong (a HeadwaterError, so
the CLI prints it and exits 2)."""

from __future__ import annotations

from headwater.errors import HeadwaterError


class ServeError(HeadwaterError):
    """A server cannot start (port taken, missing secret) or a serve option is invalid."""
