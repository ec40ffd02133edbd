"""A server database's URL for `init --from`, parsed as the sinks parse theirs
(`sinks._sql.DbUrl`: `${VAR}` expanded, the password never shown), with the user's errors
named after the command's options."""

from __future__ import annotations

from headwater.errors import HeadwaterError
from headwater.secrets import redact, remember
from headwater.sinks._sql import DbUrl


def server_url(url: str, password_env: str | None) -> DbUrl:
    try:
        parsed = DbUrl.parse(url, password_env=password_env)
    except ValueError as exc:
        option = "--password-env" if password_env and password_env in str(exc) else "--from"
        raise HeadwaterError(f"{option}: {exc}") from None
    remember(parsed.password)
    return parsed


def connect_failed(url: DbUrl, exc: Exception) -> HeadwaterError:
    """A connection error as the user's message: where, and the driver's first line of
    reason, without the password."""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return HeadwaterError(f"--from: cannot connect to {url.masked}: {redact(reason, url.password)}")
