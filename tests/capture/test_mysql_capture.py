"""MariaDB row-binlog capture against a real server."""

from __future__ import annotations

import pytest

from headwater.capture import open_capture
from headwater.errors import SinkUnavailable

from tests.capture._db import my_database, my_query
from tests.capture._flows import kill_flow, open_sink, replica_flow

pytest.importorskip("pymysqlreplication")


def test_replica_from_the_captured_stream_equals_the_source(mariadb_server, tmp_path):
    src = my_database(mariadb_server, "hw_cap_src")
    rep = my_database(mariadb_server, "hw_cap_rep")
    replica_flow("mysql", src, rep, tmp_path)


def test_killed_capture_resumes_without_loss(mariadb_server, tmp_path):
    kill_flow("mysql", my_database(mariadb_server, "hw_cap_kill"), tmp_path)


def test_binlog_settings_and_privileges_say_what_to_change(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_bad")
    sink, _ = open_sink("mysql", "db", url, tmp_path)
    sink.close()
    my_query(url, "CREATE USER IF NOT EXISTS 'nobinlog'@'%' IDENTIFIED BY 'pw'")
    my_query(url, "GRANT ALL ON hw_cap_bad.* TO 'nobinlog'@'%'")
    weak = sink.config.model_copy(update={"url": url.replace("root@", "nobinlog:pw@")})
    with pytest.raises(SinkUnavailable, match=r"GRANT REPLICATION SLAVE, BINLOG MONITOR"):
        open_capture(weak, sink.schemas(), name="weak")
    my_query(url, "SET GLOBAL binlog_row_image = MINIMAL")
    try:
        with pytest.raises(
            SinkUnavailable, match="binlog_row_image = MINIMAL; binlog CDC needs FULL"
        ):
            open_capture(sink.config, sink.schemas(), name="minimal")
    finally:
        my_query(url, "SET GLOBAL binlog_row_image = FULL")
