"""`--from`: which reader a source string names, by URL scheme or file suffix."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import HeadwaterError
from headwater.init.database import Database
from headwater.init.model import Schema
from headwater.secrets import mask_url

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
EXPECTED = (
    "expected sqlite:///PATH, postgresql://…, mysql://…, a SQLite file, "
    "a JSON Schema (.json), an Avro schema (.avsc) or an OpenAPI document (.json/.yaml)"
)


def open_database(source: str, password_env: str | None) -> Database | None:
    """The database `source` names, connected; None when it names a schema file."""
    scheme = (
        source.partition(":")[0].lower() if "://" in source or source.startswith("sqlite:") else ""
    )
    if scheme == "sqlite":
        from headwater.init.sqlite import Sqlite, sqlite_path

        return Sqlite(sqlite_path(source))
    if scheme in ("postgres", "postgresql"):
        from headwater.init.postgres import Postgres

        return Postgres(source, password_env)
    if scheme in ("mysql", "mariadb"):
        from headwater.init.mysql import Mysql

        return Mysql(source, password_env)
    if scheme:
        raise HeadwaterError(f"--from: unknown kind of source {mask_url(source)}: {EXPECTED}")
    if source.lower().endswith(_SQLITE_SUFFIXES):
        from headwater.init.sqlite import Sqlite

        return Sqlite(Path(source))
    return None


def read_file(source: str) -> Schema:
    """A schema file: Avro by its suffix, OpenAPI by its `openapi`/`swagger` key, else JSON Schema."""
    from headwater.init.schemafile import read_document

    path = Path(source)
    doc = read_document(path)
    if path.suffix.lower() == ".avsc":
        from headwater.init.avro import from_avro

        return from_avro(doc, path.name)
    if isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc):
        from headwater.init.openapi import from_openapi

        return from_openapi(doc, path.name)
    if isinstance(doc, dict) and path.suffix.lower() in (".json", ".yaml", ".yml"):
        from headwater.init.jsonschema import from_json_schema

        return from_json_schema(doc, path.name)
    raise HeadwaterError(f"--from: cannot tell what {source} is: {EXPECTED}")
