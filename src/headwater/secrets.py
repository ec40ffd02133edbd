"""Secrets: read them safely, put them into URLs without changing the URL, and keep them out
of everything headwater shows (messages, reports, `--json`, logs, the ledger).

Two defences, both here so every module masks the same way:

* `mask_url()` hides what a URL carries as credentials: the password of its userinfo and the
  values of query parameters named like a credential (token, key, secret, password,
  signature, sig, auth…), as `***`. Sinks show URLs only through it.
* `without_credentials()` is a URL for a client given its credentials apart.
* `redact()` is the last line: it masks every URL found in a text, `name=value` pairs whose
  name is credential-like, and every secret value headwater has seen (`remember()`), in the
  forms it may take in a URL (raw and percent-encoded) and not inside a longer word. The
  scenario loader remembers what `${VAR}` / `${file:PATH}` put into credential places (and
  the credentials of a whole URL in one variable) and sink settings named like one; sinks
  remember what they read from `password_env`, `secret_env` or `secret_file`. Every
  HeadwaterError passes its message through it, and so do client libraries' logs
  (`redact_logs()`).

Values shorter than `MIN_LENGTH` characters are not searched for in free text (they would
mask ordinary words); they are still masked wherever they are a URL's password or secret
parameter.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"
MIN_LENGTH = 4

#: a query parameter, YAML key or environment variable that holds a credential
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|sig|auth|credential|session", re.IGNORECASE)
_REFERENCE = re.compile(r"\$\{[^}]*\}")
_NEXT_URL = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
#: a setting or `name=value` pair that holds a credential itself (not bare "key": a field)
_CREDENTIAL = re.compile(r"passw|pwd|secret|token|api_?key|credential|signature", re.I)
_PAIR = re.compile(
    rf"\b([A-Za-z0-9_.-]*(?:{_CREDENTIAL.pattern})[A-Za-z0-9_.-]*)"
    r"(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&,;'\"]+)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_known: set[str] = set()
_forms: re.Pattern[str] | None = None  # every known value in every form, longest first


def remember(*values: str | None) -> None:
    """Scrub these values from every later message (a no-op for short or empty ones)."""
    global _forms
    with _lock:
        fresh = {v for v in values if v and len(v) >= MIN_LENGTH} - _known
        if not fresh:
            return
        _known.update(fresh)
        forms = {f for v in _known for f in (v, quote(v, safe=""), quote_plus(v), quote(v))}
        alternatives = "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))
        # not inside a word: a password "postgres" leaves "postgresql://" alone
        _forms = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def is_credential(name: object, value: object) -> bool:
    """Whether a setting `name: value` holds a credential itself (`sasl.password: …`), not
    the name of where one is kept (`password_env: PG_PASSWORD`, `secret_file: …`)."""
    return (
        isinstance(name, str)
        and isinstance(value, str)
        and bool(_CREDENTIAL.search(name))
        and not name.endswith(("_env", "_file"))
    )


def read_secret_file(path: str | Path) -> str:
    """A secret kept in a file: its text without surrounding whitespace (the trailing line
    break editors add); remembered. Raises OSError (unreadable) or ValueError (empty)."""
    value = Path(path).read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"the secret file {path} is empty")
    remember(value)
    return value


def mask_url(url: str) -> str:
    """The URL with its userinfo password and credential-named query values as ***
    (each URL of a comma-separated list of servers)."""
    return ",".join(_mask_one(u) for u in _NEXT_URL.split(url))


def _mask_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for c in "/?#" if (i := rest.find(c)) >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, _, hosts = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if colon and not _REFERENCE.fullmatch(password):  # an unset ${VAR} is shown as written
        authority = f"{user}:{MASK}@{hosts}"
    path, q, query = tail.partition("?")
    query, hash_, fragment = query.partition("#") if q else ("", "", "")
    if q:
        query = "&".join(_mask_pair(p) for p in query.split("&"))
    return f"{scheme}://{authority}{path}{q}{query}{hash_}{fragment}"


def _mask_pair(pair: str) -> str:
    name, eq, value = pair.partition("=")
    return f"{name}={MASK}" if eq and value and SECRET_NAME.search(unquote_plus(name)) else pair


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries (decoded), as mask_url() would hide them."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    out = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        out.append(unquote(userinfo.partition(":")[2]))
    for pair in parts.query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and SECRET_NAME.search(unquote_plus(name)):
            out.append(unquote_plus(value))
    return out


def without_credentials(url: str) -> str:
    """The URL without its userinfo, for a client that takes the credentials apart."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def redact(text: str, *also: str | None) -> str:
    """`text` with URLs masked, credential pairs masked and every remembered secret as ***;
    `also`: secrets in hand (a parsed URL's password), masked wherever they appear."""
    if not text:
        return text
    for value in also:
        if value:
            text = text.replace(value, MASK)
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _PAIR.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text if _forms is None else _forms.sub(MASK, text)


def redact_data(value: Any) -> Any:
    """redact() applied to every string in nested dicts/lists (reports, manifests)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


class _RedactLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_REDACT_LOG = _RedactLog()


def redact_logs(*loggers: str) -> None:
    """Redact what these client libraries log (httpx logs every request's URL, query and
    all); a logger's filter sees only its own records, so each is named."""
    for name in loggers:
        logger = logging.getLogger(name)
        if _REDACT_LOG not in logger.filters:
            logger.addFilter(_REDACT_LOG)
