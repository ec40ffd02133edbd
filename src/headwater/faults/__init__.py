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
delivered; see base.py for the stages and the in-flight frame.
"""

from headwater import _plugins
from headwater.faults.base import Fault, FaultContext
from headwater.faults.config import FaultsConfig, check_faults
from headwater.faults.malformed import corrupt, kinds_of

FAULTS: _plugins.Registry[type[Fault]] = _plugins.Registry(
    "fault",
    {
        "late": "headwater.faults.late:Late",
        "reorder": "headwater.faults.reorder:Reorder",
        "duplicate": "headwater.faults.duplicate:Duplicate",
        "drift": "headwater.faults.drift:Drift",
        "malformed": "headwater.faults.malformed:Malformed",
        "outage": "headwater.faults.outage:Outage",
        "skew": "headwater.faults.skew:Skew",
        "zones": "headwater.faults.zones:Zones",
    },
)

__all__ = [
    "FAULTS",
    "Fault",
    "FaultContext",
    "FaultsConfig",
    "check_faults",
    "corrupt",
    "kinds_of",
]
