"""The faults a sink may declare, one line each, in the order `faults:` documents them.

A fault's module brings everything else (its YAML model, whether database sinks refuse it, its
cross-checks), so adding a fault is that module plus its line here.
"""

from headwater._plugins import Registry
from headwater.faults.base import Fault

FAULTS: Registry[type[Fault]] = Registry(
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
