"""`headwater init`: a scenario bootstrapped from what already exists: a live database's
schema (SQLite, PostgreSQL, MySQL/MariaDB), optionally profiled, or a JSON Schema, Avro
schema or OpenAPI document.

    text = init_scenario("sqlite:///shop.db", profile=True)

The result is YAML that `headwater validate` accepts; its generators are starting points
chosen from names, types and (with profiling) the data, to be reviewed.
"""

DEFAULT_SAMPLE = 10_000

__all__ = ["DEFAULT_SAMPLE", "init_scenario"]


def init_scenario(
    source: str,
    *,
    profile: bool = False,
    sample: int = DEFAULT_SAMPLE,
    password_env: str | None = None,
) -> str:
    """The scenario YAML for `source`; HeadwaterError when it cannot be read."""
    from headwater.errors import HeadwaterError
    from headwater.init.compose import compose
    from headwater.init.sources import open_database, read_file
    from headwater.init.write import to_yaml

    db = open_database(source, password_env)
    if db is None:
        if profile:
            raise HeadwaterError("--profile needs a database to sample; a schema file has no data")
        schema = read_file(source)
        fits = None
    else:
        with db:
            schema = db.schema()
            if profile and schema.tables:
                from headwater.init.profile import profile as fit

                fits = fit(db, schema, sample)
            else:
                fits = None
    if not schema.tables:
        raise HeadwaterError(f"{schema.label}: no tables found")
    scenario = compose(schema, fits)
    header = [
        f"Written by `headwater init` from {schema.label}"
        + (f" (profiled: up to {sample:,} sampled rows per table)" if profile else "."),
        "The generators are guesses from names, types and constraints"
        + (" and the sampled data" if profile else "")
        + ": review them, then `headwater validate` and `headwater run`.",
        *(f"note: {n}" for n in schema.notes),
    ]
    return to_yaml(scenario, header)
