"""headwater: simulate the source systems data engineers ingest from.

The public API is what `__all__` lists; everything else is internal.
"""

from headwater._api import run, validate, verify
from headwater.errors import (
    HeadwaterError,
    MissingExtra,
    PluginError,
    ScenarioError,
    SinkError,
    SinkUnavailable,
    VerifyError,
)
from headwater.resolve.load import load, loads
from headwater.resolve.scenario import Scenario
from headwater.runner import RunReport
from headwater.world.changes import Changes
from headwater.world.engine import World
from headwater.world.sample import sample

__all__ = [
    "Changes",
    "HeadwaterError",
    "MissingExtra",
    "PluginError",
    "RunReport",
    "Scenario",
    "ScenarioError",
    "SinkError",
    "SinkUnavailable",
    "VerifyError",
    "World",
    "load",
    "loads",
    "run",
    "sample",
    "validate",
    "verify",
]
