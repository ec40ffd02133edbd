"""open_capture's choice of log reader, without a server."""

from __future__ import annotations

import pytest

from headwater.capture import open_capture
from headwater.errors import SinkError
from headwater.sinks.sqlite import SqliteConfig


def test_a_sink_without_a_change_log_is_refused_naming_the_capture(tmp_path):
    config = SqliteConfig(kind="sqlite", path=str(tmp_path / "shop.db"))
    with pytest.raises(SinkError) as err:
        open_capture(config, {}, name="changes", checkpoint=tmp_path / "cp.json")
    assert "changes" in str(err.value)
    assert "a sqlite sink has no change log to capture (mysql or postgres do)" in str(err.value)
