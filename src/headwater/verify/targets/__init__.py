"""Where a pipeline landed its data, opened read-only as DuckDB relations, one per entity.

Target specs (`--target`):
    path/to/file.duckdb, duckdb:path       a DuckDB database (tables named after entities)
    path/to/file.sqlite, sqlite:path       a SQLite database (recognized by its bytes)
    path/to/folder, parquet:/csv:/jsonl:/  a folder with one sub-folder or file group per entity
    xml:/xlsx:/avro:/fixed_width:          (<entity>/**/*.parquet, <entity>.csv, <entity>-*.jsonl…)
                                           in any format the files sink writes (see files.py)
    postgresql://user@host/db              a PostgreSQL database (needs headwater[postgres])
    kafka://host:port[/topic,topic2]       Kafka topics, read whole (needs headwater[kafka])
`--table entity=name` maps an entity to another table (`schema.table`) or file stem.

Each kind is a module registered in `TARGETS` and says how it recognizes a location
(`_base.py`); `open_target` asks them in turn.
"""

from headwater.verify.targets._base import Target
from headwater.verify.targets._open import TARGETS, open_target

__all__ = ["TARGETS", "Target", "open_target"]
