"""A server database's URL: connection arguments for the driver, the password from the URL
or an environment variable (never shown), and the masked URL for messages."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from headwater.errors import HeadwaterError
from headwater.secrets import mask_url, remember


@dataclass(frozen=True)
class ServerUrl:
    host: str
    port: int | None
    user: str | None
    password: str | None = field(repr=False)
    database: str | None
    params: dict[str, str]
    masked: str

    @classmethod
    def parse(cls, url: str, password_env: str | None) -> ServerUrl:
        parts = urlsplit(url)
        masked = mask_url(url)
        try:
            port = parts.port
        except ValueError:
            raise HeadwaterError(f"--from: invalid port in {masked}") from None
        password = unquote(parts.password) if parts.password is not None else None
        if password_env is not None:
            if password_env not in os.environ:
                raise HeadwaterError(
                    f"--password-env: environment variable {password_env} is not set"
                )
            password = os.environ[password_env]
        remember(password)
        database = unquote(parts.path.lstrip("/")) or None
        return cls(
            parts.hostname or "localhost",
            port,
            unquote(parts.username) if parts.username else None,
            password,
            database,
            dict(parse_qsl(parts.query)),
            masked,
        )

    def failed(self, exc: Exception) -> HeadwaterError:
        """A connection error as the user's message: where, and the driver's reason, without the password."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.password:
            reason = reason.replace(self.password, "***")
        return HeadwaterError(f"--from: cannot connect to {self.masked}: {reason}")
