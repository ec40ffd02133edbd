"""What a sink does, as typed data: the engine, faults, checks and tests ask these fields
instead of a sink's kind or class (as dlt's DestinationCapabilitiesContext). A sink built on a
shared base derives its value with `dataclasses.replace(Base.capabilities, …)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Ordering(Enum):
    """The order a reader sees one sink's changes in."""

    NONE = "none"  # no promise (a store's final state)
    PER_KEY = "per_key"  # each row's changes in order (per topic, partition, file)
    TOTAL = "total"  # every change in the world's order


@dataclass(frozen=True)
class Capabilities:
    """Every field defaults to "does not"; a sink declares only what it does."""

    #: later versions of a row land (op u), not only its creation
    updates: bool = False
    #: deletions land (op d, a tombstone, a row removed)
    deletes: bool = False
    #: a step's changes land as the world's transactions, all or nothing
    transactions: bool = False
    ordering: Ordering = Ordering.NONE
    #: every change lands once, even after a reconnect
    exactly_once: bool = False
    #: a change may land twice after a failure (resent, counted in the report)
    at_least_once: bool = False
    #: the destination confirms each message; take_acks() hands them to the ledger
    acks: bool = False
    #: the destination drops a resent message by its id
    deduplication: bool = False
    #: write_records() takes projected Records, so CDC events can travel through it
    carries_records: bool = False
    #: writes files into the folder `path`
    files: bool = False
    #: writes text lines (log files)
    lines: bool = False
    #: groups records into batches (a file per interval)
    batches: bool = False
    #: holds the world's final state by key (a database's tables, a key-value store's keys):
    #: a later change overwrites an earlier one, so stream faults would break it
    store: bool = False
    #: a SQL database whose tables hold the world's final state (a store)
    sql: bool = False
    #: declares the entities' references as foreign keys
    foreign_keys: bool = False
    #: messages carry a key
    keys: bool = False
    #: messages carry headers
    headers: bool = False
    #: messages go to partitions chosen by key
    partitions: bool = False
    #: a deletion is followed by a null-valued message under its key
    tombstones: bool = False
    #: emits the change stream of another sink (`from:`)
    cdc: bool = False
    #: the database's own change log can be captured (the sink class names its `capture`)
    log_capture: bool = False

    def __post_init__(self) -> None:
        if self.exactly_once and self.at_least_once:
            raise ValueError("a sink delivers exactly once or at least once, not both")
        if self.sql and not self.store:
            raise ValueError("a SQL database is a store: declare store too")


#: a SQL database holding the world's tables: sqlite and the server databases (_sql_sink.py)
SQL_DATABASE = Capabilities(
    transactions=True,
    updates=True,
    deletes=True,
    exactly_once=True,
    store=True,
    sql=True,
    foreign_keys=True,
)
