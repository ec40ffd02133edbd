"""A generator for a column from its name and type: `email` gets emails, `created_at` the
event time, `price` money, `status` its CHECK values… Only what the schema says is used
here; profiling (profile.py) replaces these guesses with what the data shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from headwater.init.model import Column, Kind, Table

Spec = dict[str, Any]

_TEXT: set[Kind] = {"text"}
_NUMBER: set[Kind] = {"int", "float", "decimal"}
_TIME: set[Kind] = {"timestamp"}


def _money(col: Column) -> Spec:
    if col.kind == "decimal":
        return _decimal(col, 1, 1000, "lognormal")
    if col.kind == "int":
        return {"uniform": {"min": 1, "max": 1000}}
    return {"lognormal": {"mu": 3.5, "sigma": 1.0}, "round": 2}


def _decimal(col: Column, lo: float, hi: float, dist: str = "uniform") -> Spec:
    scale = col.scale if col.scale is not None else 2
    precision = min(col.precision or 18, 18)
    top = 10 ** (precision - scale) - 1
    lo, hi = max(lo, -top), min(hi, top)
    spec: Spec = {"min": _num(lo), "max": _num(hi), "scale": min(scale, 9), "precision": precision}
    if dist == "lognormal" and lo > 0:
        spec["distribution"] = "lognormal"
    return {"decimal": spec}


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _range(lo: float, hi: float) -> Callable[[Column], Spec]:
    def make(col: Column) -> Spec:
        if col.kind == "decimal":
            return _decimal(col, lo, hi)
        if col.kind == "int":
            return {"uniform": {"min": int(lo), "max": int(hi)}}
        return {"uniform": {"min": lo, "max": hi}, "round": 2 if hi - lo > 1 else 6}

    return make


def _fake(kind: str) -> Callable[[Column], Spec]:
    return lambda col: {"fake": kind}


def _short_text(col: Column) -> Spec:
    if col.length is not None and col.length <= 3:
        return {"fake": "country_code" if col.length == 2 else "currency_code"}
    return {"fake": "word" if col.length is not None and col.length <= 40 else "sentence"}


# (name pattern, kinds it applies to, generator); the first match wins
_RULES: list[tuple[str, set[Kind], Callable[[Column], Spec]]] = [
    (r"e_?mail", _TEXT, _fake("email")),
    (r"first_?name|given_?name|forename", _TEXT, _fake("first_name")),
    (r"last_?name|surname|family_?name", _TEXT, _fake("last_name")),
    (r"user_?name|login|handle|nick", _TEXT, _fake("user_name")),
    (r"(full_?|display_?|customer_?|contact_?|person_?|^)name$", _TEXT, _fake("name")),
    (r"company|organi[sz]ation|employer|vendor|supplier", _TEXT, _fake("company")),
    (r"phone|mobile|fax|tel$", _TEXT, _fake("phone_number")),
    (r"street|address", _TEXT, _fake("street_address")),
    (r"city|town", _TEXT, _fake("city")),
    (r"zip|post_?code|postal", _TEXT, _fake("postcode")),
    (r"country_?code", _TEXT, _fake("country_code")),
    (r"country", _TEXT, lambda c: {"fake": "country_code" if c.length == 2 else "country"}),
    (r"^state$|province|region", _TEXT, _fake("state")),
    (r"currency", _TEXT, _fake("currency_code")),
    (r"iban", _TEXT, _fake("iban")),
    (r"user_?agent", _TEXT, _fake("user_agent")),
    (r"^ip|ip_?addr", _TEXT, _fake("ipv4")),
    (r"host", _TEXT, _fake("hostname")),
    (r"domain", _TEXT, _fake("domain_name")),
    (r"url|link|website|homepage", _TEXT, _fake("url")),
    (r"path|route|endpoint", _TEXT, _fake("uri_path")),
    (r"file_?name", _TEXT, _fake("file_name")),
    (r"mime|content_?type", _TEXT, _fake("mime_type")),
    (r"colou?r", _TEXT, _fake("color_name")),
    (r"lang", _TEXT, _fake("language_code")),
    (r"locale", _TEXT, _fake("locale")),
    (r"time_?zone|^tz$", _TEXT, _fake("timezone")),
    (r"job|occupation|position", _TEXT, _fake("job")),
    (r"isbn", _TEXT, _fake("isbn13")),
    (r"ean|barcode|gtin", _TEXT, _fake("ean13")),
    (r"plate", _TEXT, _fake("license_plate")),
    (r"card_?(number|no)", _TEXT, _fake("credit_card_number")),
    (r"http_?method|^verb$", _TEXT, _fake("http_method")),
    (r"title|headline|subject|label", _TEXT, _fake("catch_phrase")),
    (r"desc|note|comment|remark|message|body|bio|summary|text|content", _TEXT, _fake("sentence")),
    (
        r"categ|type$|kind$|group|segment|tier|level|channel|method|plan$|source$",
        _TEXT,
        _fake("word"),
    ),
    (r"status|state", _TEXT, lambda c: {"choice": {"active": 7, "pending": 2, "inactive": 1}}),
    (r"price|amount|total|cost|fee|balance|salary|revenue|subtotal|tax|discount", _NUMBER, _money),
    (r"quantity|qty|units", _NUMBER, lambda c: {"choice": {1: 70, 2: 20, 3: 7, 4: 3}}),
    (r"^age$", _NUMBER, _range(18, 90)),
    (r"rating|stars|score", _NUMBER, _range(1, 5)),
    (r"percent|pct|ratio", _NUMBER, _range(0, 100)),
    (r"^lat|latitude", _NUMBER, _range(-90, 90)),
    (r"^lon|^lng|longitude", _NUMBER, _range(-180, 180)),
    (r"year", {"int"}, _range(1990, 2026)),
]

_UPDATED = re.compile(r"updated|modified|changed|last_|_mtime|edited", re.I)
_BIRTH = re.compile(r"birth|dob", re.I)
_PEOPLE = re.compile(
    r"user|customer|person|people|employee|member|contact|author|client|patient|student|staff"
    r"|account|owner|driver|passenger|guest|subscriber",
    re.I,
)
_CODE = re.compile(r"sku|code$|_(number|no|ref)$", re.I)


def choose(col: Column, table: Table, key: str) -> Spec:
    """The generator mapping for one non-key, non-reference column."""
    name = re.sub(r"[^a-z0-9]+", "_", col.name.lower())
    if col.choices:
        return {"choice": list(dict.fromkeys(col.choices))}
    if col.unique and col.kind in ("int", "text", "uuid"):
        return _unique(col, table, key)
    if col.kind == "bool":
        return {"bool": {"p": 0.9 if re.search(r"active|enabled|valid|verified", name) else 0.5}}
    if col.kind in _TIME:
        return {"event_time": {"on_update": True}} if _UPDATED.search(name) else {"event_time": {}}
    if col.kind == "date":
        if _BIRTH.search(name):
            return {"date": {"start": "1950-01-01", "end": "2006-12-31"}}
        return {"date": {"start": "2024-01-01", "end": "2026-12-31"}}
    if col.kind == "uuid" or col.fmt == "uuid":
        return {"uuid": {}}
    by_format = {"email": "email", "uri": "url", "url": "url", "hostname": "hostname"}
    if col.fmt in by_format:
        return {"fake": by_format[col.fmt]}
    if col.fmt in ("ipv4", "ipv6"):
        return {"fake": col.fmt}
    if col.kind == "text" and name == "name" and not _PEOPLE.search(table.name):
        return {"fake": "catch_phrase"}
    for pattern, kinds, make in _RULES:
        if col.kind in kinds and re.search(pattern, name):
            return _bounded(make(col), col)
    if col.kind == "text" and _CODE.search(name):
        return _unique(col, table, key)
    return _bounded(_by_kind(col), col)


def _by_kind(col: Column) -> Spec:
    if col.kind == "decimal":
        return _decimal(col, 0, 1000)
    if col.kind == "int":
        return {"uniform": {"min": 0, "max": 1000}}
    if col.kind == "float":
        return {"uniform": {"min": 0.0, "max": 1000.0}, "round": 2}
    if col.kind == "time":
        return {"choice": ["08:00:00", "12:30:00", "17:45:00"]}
    if col.kind == "json":
        return {"const": "{}"}
    return _short_text(col)


def _bounded(spec: Spec, col: Column) -> Spec:
    """A numeric guess kept inside the column's CHECK / schema bounds."""
    if (col.minimum is None and col.maximum is None) or col.kind not in _NUMBER:
        return spec
    lo = col.minimum if col.minimum is not None else 0.0
    hi = col.maximum if col.maximum is not None else max(lo, 0.0) + 1000.0
    return _range(lo, hi)(col) if lo <= hi else spec


def _unique(col: Column, table: Table, key: str) -> Spec:
    """Values that cannot repeat: built from the row's key (which never does)."""
    if col.kind == "int":
        return {"seq": {}}
    if col.kind == "uuid" or not key.isidentifier():
        return {"uuid": {}}
    name = col.name.lower()
    numbered = key not in table.columns or table.columns[key].kind == "int"  # or a new seq key
    digits = ":08d" if numbered else ""
    if "mail" in name:
        return {"format": f"user{{{key}{digits}}}@example.com"}
    stem = re.sub(r"[^A-Za-z0-9]+", "-", col.name).strip("-")
    prefix = (re.sub(r"-?(number|no|code|ref)$", "", stem, flags=re.I) or stem or "ID").upper()[:8]
    return {"format": f"{prefix}-{{{key}{digits}}}"}


def key_spec(col: Column) -> Spec:
    """A key generator: whole numbers count up, anything else is a UUID."""
    whole = col.kind == "int" or (col.kind == "decimal" and not col.scale)
    return {"seq": {}} if whole else {"uuid": {"version": 7}}
