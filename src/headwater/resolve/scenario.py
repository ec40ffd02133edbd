"""The resolved Scenario: every section validated by its owner's model.

Built by load() (headwater.resolve.load) from a scenario document, never from raw mappings
directly: fields are FieldGen, sinks are their kinds' Config models, serve is Serve.
"""

from __future__ import annotations

from pydantic import Field

from headwater.serve.config import Serve
from headwater.sinks.base import SinkConfig
from headwater.world.model import WorldSpec


class Scenario(WorldSpec):
    """A simulated world and the sinks it writes into, ready to run."""

    sinks: dict[str, SinkConfig] = {}
    serve: Serve | None = Field(None, description="APIs serving the world while it runs")
