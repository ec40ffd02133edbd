"""Realistic values drawn from pools that Faker fills once per (kind, locale, seed).

Faker is slow per call (~20 µs), so it never runs per row: a pool of a few thousand values is
built once and rows are vectorized takes from it. Composite values (full names, emails that
match the name, IPs) are assembled with Arrow string kernels.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.generators.base import FieldGen, GenContext, TypeEnv, take_pool

POOL_SIZE = 2000
_COMPOSED = {"name", "email", "ipv4", "ipv6", "user_name", "address"}
# Faker providers that take no argument and return a string, usable as pools.
_POOLED = {
    "first_name",
    "last_name",
    "street_address",
    "city",
    "postcode",
    "country",
    "country_code",
    "state",
    "phone_number",
    "company",
    "job",
    "user_agent",
    "url",
    "uri_path",
    "domain_name",
    "free_email_domain",
    "sentence",
    "paragraph",
    "word",
    "text",
    "color_name",
    "currency_code",
    "iban",
    "license_plate",
    "file_name",
    "mime_type",
    "catch_phrase",
    "bs",
    "isbn13",
    "ean13",
    "credit_card_number",
    "language_code",
    "locale",
    "timezone",
    "http_method",
    "hostname",
}
KINDS = sorted(_COMPOSED | _POOLED)
# 60% of addresses carry no number, the rest 0..99, as people pick them
_DIGITS = pa.array([""] * 150 + [str(i) for i in range(100)])


@lru_cache(maxsize=256)
def pool(kind: str, locale: str, seed: int, size: int = POOL_SIZE) -> pa.Array:
    """Distinct-ish values of one Faker provider, reproducible from the seed."""
    from faker import Faker

    try:
        fake = Faker(locale)
    except AttributeError:
        raise ValueError(f"unknown locale '{locale}'") from None
    fake.seed_instance(seed)
    provider = getattr(fake, kind)
    if kind == "http_method":
        return pa.array(
            ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
        )
    return pa.array([str(provider()) for _ in range(size)], pa.string())


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", ".", ascii_text.lower()).strip(".") or "user"


@lru_cache(maxsize=32)
def email_halves(locale: str, seed: int) -> tuple[pa.Array, pa.Array]:
    """'first.' heads and 'last42@domain' tails: emails that look like the person's name."""
    from headwater.core.random import stream

    rng = stream(seed, "email-halves", locale)
    heads = pc.binary_join_element_wise(slugify(pool("first_name", locale, seed)), ".", "")
    m = 1 << 16
    last = take_pool(slugify(pool("last_name", locale, seed)), rng, m)
    digits = _DIGITS.take(pa.array(rng.integers(0, len(_DIGITS), m)))
    domains = take_pool(pool("free_email_domain", locale, seed), rng, m)
    return heads, pc.binary_join_element_wise(last, digits, "@", domains, "")


def slugify(values: pa.Array) -> pa.Array:
    """Names → email-safe local parts; Python only for the distinct non-ASCII names."""
    values = pc.fill_null(values, "user")
    lowered = pc.utf8_lower(values)
    slug = pc.utf8_trim(pc.replace_substring_regex(lowered, r"[^a-z0-9]+", "."), ".")
    non_ascii = pc.invert(pc.string_is_ascii(values))
    if not pc.any(non_ascii).as_py():
        return slug
    encoded = pc.dictionary_encode(pc.filter(values, non_ascii))
    mapped = pa.array([_slug(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.replace_with_mask(slug, non_ascii, mapped.take(encoded.indices))


class Fake(FieldGen):
    """`{fake: email}`: a realistic value; `name:` ties an email or user name to a name field."""

    name = "fake"
    fake: str
    locale: str | None = Field(
        None, description="Faker locale, e.g. de_DE; default: the scenario's"
    )
    name_field: str | None = Field(
        None, alias="name", description="field holding the person's name (email, user_name)"
    )

    @field_validator("fake")
    @classmethod
    def _known(cls, v: str) -> str:
        if v in KINDS:
            return v
        from faker import Faker

        if callable(getattr(Faker("en_US"), v, None)) and not v.startswith("_"):
            return v
        from headwater._plugins import suggest

        raise ValueError(f"unknown fake kind '{v}'{suggest(v, KINDS)}")

    def depends(self) -> set[str]:
        return {self.name_field} if self.name_field else set()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.string()

    def _pool(self, kind: str, ctx: GenContext) -> pa.Array:
        return pool(kind, self.locale or ctx.locale, ctx.seed)

    def _name_parts(
        self, ctx: GenContext, transform: Callable[[pa.Array], pa.Array] | None = None
    ) -> tuple[pa.Array, pa.Array]:
        parts = []
        for kind in ("first_name", "last_name"):
            values = self._pool(kind, ctx)
            if transform is not None:
                values = transform(values)
            parts.append(take_pool(values, ctx.rng, ctx.n))
        return parts[0], parts[1]

    def _full_names(self, ctx: GenContext) -> pa.Array:
        return pc.binary_join_element_wise(*self._name_parts(ctx), " ")

    def generate(self, ctx: GenContext) -> pa.Array:
        kind, n, rng = self.fake, ctx.n, ctx.rng
        if kind == "name":
            return self._full_names(ctx)
        if kind == "email" and not self.name_field:
            # first name + (last name, number, domain): 2,000 x 65,536 combinations, one join
            locale = self.locale or ctx.locale
            heads, tails = email_halves(locale, ctx.seed)
            return pc.binary_join_element_wise(
                take_pool(heads, rng, n), take_pool(tails, rng, n), ""
            )
        if kind in ("email", "user_name"):
            sep = "_" if kind == "user_name" else "."
            if self.name_field:
                local: list[pa.Array | str] = [
                    pc.replace_substring(slugify(ctx.columns[self.name_field]), ".", sep)
                ]
            else:
                first, last = self._name_parts(ctx, slugify)
                local = [first, sep, last]
            digits = _DIGITS.take(pa.array(rng.integers(0, len(_DIGITS), n)))
            if kind == "user_name":
                return pc.binary_join_element_wise(*local, digits, "")
            domains = take_pool(self._pool("free_email_domain", ctx), rng, n)
            return pc.binary_join_element_wise(*local, digits, "@", domains, "")
        if kind == "address":
            street = take_pool(self._pool("street_address", ctx), rng, n)
            code = take_pool(self._pool("postcode", ctx), rng, n)
            city = take_pool(self._pool("city", ctx), rng, n)
            return pc.binary_join_element_wise(street, ", ", code, " ", city, "")
        if kind == "ipv4":
            octets = rng.integers(1, 255, (4, n))
            return pc.binary_join_element_wise(
                *(pa.array(o).cast(pa.string()) for o in octets), "."
            )
        if kind == "ipv6":
            groups = rng.integers(0, 65536, (8, n))
            return pc.binary_join_element_wise(
                *(pa.array(np.char.mod("%x", g)) for g in groups), ":"
            )
        return take_pool(self._pool(kind, ctx), rng, n)
