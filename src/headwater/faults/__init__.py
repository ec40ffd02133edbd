"""Faults: seeded transforms of a sink's change stream, declared under the sink.

    late       a fraction of events is delivered after a delay (event time stays)
    reorder    events are shuffled within a window of delivery time
    duplicate  at-least-once redelivery of the same event
    drift      the schema changes at a moment of delivery time
    malformed  broken records (missing fields here; truncated/mistyped/mis-encoded text
               through the `corrupt` hook of text transports)
    outage     windows where nothing is delivered, then a backlog
    skew       the source's clock is off
    zones      timestamps as text with mixed or missing time zones
`pipeline.FaultPipeline` applies a sink's faults step by step and tells the ledger what it
delivered; see base.py for the stages and the in-flight frame. registry.py lists the faults;
config.py builds the `faults:` model from it.
"""

from headwater.faults.base import Fault, FaultContext
from headwater.faults.config import FaultsConfig, check_faults
from headwater.faults.malformed import corrupt, kinds_of
from headwater.faults.registry import FAULTS

__all__ = [
    "FAULTS",
    "Fault",
    "FaultContext",
    "FaultsConfig",
    "check_faults",
    "corrupt",
    "kinds_of",
]
