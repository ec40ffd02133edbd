"""RotatingWriter: every line lands once, whole and in order, in files that rotate by size
and by simulated time, with logrotate-style names that sort in write order."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sinks.logs.rotation import RotatingWriter

T0 = dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def times_of(*offsets_s: float) -> pa.Array:
    return pa.array(
        [T0 + dt.timedelta(seconds=float(s)) for s in offsets_s], pa.timestamp("us", tz="UTC")
    )


def read(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def all_files(writer: RotatingWriter) -> list[Path]:
    """Rotated files then the active one: the order a reader would take them in."""
    files = writer.rotated
    assert files == sorted(files), "names must sort in write order"
    return files + ([writer.path] if writer.path.exists() else [])


def all_lines(writer: RotatingWriter) -> list[str]:
    lines: list[str] = []
    for path in all_files(writer):
        content = read(path).decode()
        assert content.endswith("\n"), f"{path.name} ends inside a line"
        lines += content.split("\n")[:-1]
    return lines


def test_rotates_by_size_without_splitting_lines(tmp_path: Path) -> None:
    lines = [f"line {i} " + "x" * (i % 37) for i in range(500)]
    writer = RotatingWriter(tmp_path, "access.log", max_bytes=1000)
    for start in range(0, 500, 70):
        batch = lines[start : start + 70]
        writer.write_lines(pa.array(batch), times_of(*range(start, start + len(batch))))
    writer.close()
    assert all_lines(writer) == lines
    assert len(writer.rotated) > 10
    for path in all_files(writer):
        assert 0 < path.stat().st_size <= 1000
    first = writer.rotated[0].name
    assert first == "access-20260101T123000.log"
    assert writer.lines_written == 500
    assert writer.bytes_written == sum(len(x) + 1 for x in lines)


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "app.log", max_bytes=10)
    writer.write_lines(pa.array(["a", "b" * 50, "c"]), times_of(0, 0, 0))
    writer.close(rotate=True)
    assert [read(p) for p in writer.rotated] == [b"a\n", b"b" * 50 + b"\n", b"c\n"]
    # Same second: the stamp repeats and a counter keeps the names in order.
    assert [p.name for p in writer.rotated] == [
        "app-20260101T123000.log",
        "app-20260101T123000_001.log",
        "app-20260101T123000_002.log",
    ]
    assert not writer.path.exists()


def test_rotates_at_simulated_time_boundaries(tmp_path: Path) -> None:
    offsets = np.arange(0, 4 * 3600, 97)  # 12:30 .. 16:28, every 97 s
    lines = [f"t={s}" for s in offsets]
    with RotatingWriter(tmp_path, "access.log", every=HOUR) as writer:
        for chunk in np.array_split(np.arange(len(lines)), 7):
            writer.write_lines(pa.array([lines[i] for i in chunk]), times_of(*offsets[chunk]))
    assert [p.name for p in writer.rotated] == [
        "access-20260101T120000.log",
        "access-20260101T130000.log",
        "access-20260101T140000.log",
        "access-20260101T150000.log",
    ]
    assert all_lines(writer) == lines
    for hour, path in enumerate(all_files(writer)):
        for line in read(path).decode().splitlines():
            minute_of_run = 30 + int(line[2:]) // 60
            assert minute_of_run // 60 == hour, (path.name, line)


def test_late_lines_stay_in_the_current_file(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "app.log", every=HOUR)
    writer.write_lines(pa.array(["a", "b", "late", "c"]), times_of(0, 1800, 10, 1900))
    writer.write_lines(pa.array(["late again"]), times_of(5))
    writer.close(rotate=True)
    assert [read(p) for p in writer.rotated] == [b"a\n", b"b\nlate\nc\nlate again\n"]


def test_time_and_size_together(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "app.log", every=HOUR, max_bytes=8)
    writer.write_lines(
        pa.array(["aaa", "bbb", "ccc", "dddd", "e"]), times_of(0, 1, 1800, 1801, 1802)
    )
    writer.close(rotate=True)
    assert [p.name for p in writer.rotated] == [
        "app-20260101T120000.log",
        "app-20260101T130000.log",
        "app-20260101T130000_001.log",
    ]
    assert [read(p) for p in writer.rotated] == [b"aaa\nbbb\n", b"ccc\n", b"dddd\ne\n"]


def test_gzip_rotated_files_are_complete_and_reproducible(tmp_path: Path) -> None:
    runs = []
    for run in ("one", "two"):
        writer = RotatingWriter(tmp_path / run, "access.log", every=HOUR, compress="gzip")
        writer.write_lines(pa.array(["a", "b", "c"]), times_of(0, 3600, 7200))
        writer.close()
        assert [p.name for p in writer.rotated] == [
            "access-20260101T120000.log.gz",
            "access-20260101T130000.log.gz",
        ]
        assert all_lines(writer) == ["a", "b", "c"]
        assert sorted(p.name for p in (tmp_path / run).iterdir()) == [
            "access-20260101T120000.log.gz",
            "access-20260101T130000.log.gz",
            "access.log",
        ]
        runs.append([p.read_bytes() for p in writer.rotated])
    assert runs[0] == runs[1]


def test_appends_to_an_existing_active_file(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("old\n")
    writer = RotatingWriter(tmp_path, "app.log", max_bytes=10, every=HOUR)
    writer.write_lines(pa.array(["new", "newer"]), times_of(0, 1))
    writer.close()
    assert all_lines(writer) == ["old", "new", "newer"]
    assert [read(p) for p in writer.rotated] == [b"old\nnew\n"]


def test_batches_from_chunks_and_other_units(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "syslog", every=dt.timedelta(days=1))
    lines = pa.chunked_array([["a", "b"], ["c"]], pa.large_string())
    day = 86_400_000_000_000
    times = pa.chunked_array(
        [pa.array([0, day], pa.timestamp("ns")), pa.array([day + 1], pa.timestamp("ns"))]
    )
    writer.write_lines(lines, times)
    writer.close()
    assert [p.name for p in writer.rotated] == ["syslog-19700101T000000"]
    assert all_lines(writer) == ["a", "b", "c"]


def test_memory_is_released_after_each_batch(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "big.log", max_bytes=5_000_000)
    batch = pa.array(["y" * 200] * 20_000)
    when = pa.array(np.full(20_000, 1_767_225_600_000_000), pa.timestamp("us"))
    writer.write_lines(batch, when)
    baseline = pa.total_allocated_bytes()
    for _ in range(10):
        writer.write_lines(batch, when)
        assert pa.total_allocated_bytes() <= baseline
    writer.close()
    assert writer.bytes_written == 11 * 20_000 * 201


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"basename": "a/b.log"}, "basename must be a file name"),
        ({"basename": ""}, "basename must be a file name"),
        ({"max_bytes": 0}, "max_bytes must be positive"),
        ({"every": dt.timedelta(0)}, "every must be a positive"),
        ({"every": dt.timedelta(microseconds=0.4)}, "every must be a positive"),
        ({"compress": "zip"}, "compress must be None or 'gzip'"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"basename": "app.log", **kwargs}
    basename = args.pop("basename")
    with pytest.raises(ValueError, match=message):
        RotatingWriter(tmp_path, basename, **args)  # type: ignore[arg-type]


def test_invalid_batches(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path, "app.log")
    with pytest.raises(ValueError, match="2 lines but 1 times"):
        writer.write_lines(pa.array(["a", "b"]), times_of(0))
    with pytest.raises(ValueError, match="nulls"):
        writer.write_lines(pa.array(["a", None]), times_of(0, 1))
    with pytest.raises(TypeError, match="timestamps"):
        writer.write_lines(pa.array(["a"]), pa.array([1]))
    writer.write_lines(pa.array([], pa.string()), times_of())
    assert not writer.path.exists()


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=120),
    steps=st.lists(st.integers(-600, 1800), min_size=1, max_size=120),
    batch=st.integers(1, 50),
    max_bytes=st.one_of(st.none(), st.integers(1, 200)),
    every=st.one_of(st.none(), st.sampled_from([dt.timedelta(minutes=15), HOUR])),
)
def test_every_line_lands_once_whole_and_in_order(
    tmp_path_factory: pytest.TempPathFactory,
    lengths: list[int],
    steps: list[int],
    batch: int,
    max_bytes: int | None,
    every: dt.timedelta | None,
) -> None:
    directory = tmp_path_factory.mktemp("rot")
    lines = [f"{i}:" + "é" * n for i, n in enumerate(lengths)]
    seconds = np.cumsum([steps[i % len(steps)] for i in range(len(lines))])
    writer = RotatingWriter(directory, "app.log", max_bytes=max_bytes, every=every)
    for start in range(0, len(lines), batch):
        end = start + batch
        writer.write_lines(pa.array(lines[start:end]), times_of(*seconds[start:end]))
    writer.close()
    assert all_lines(writer) == lines
    files = all_files(writer)
    for path in files:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            assert read(path).count(b"\n") == 1  # only a single oversized line may overflow
    if every is not None:
        # The period a line's file stands for never exceeds the line's (running max) time.
        period_us = every // dt.timedelta(microseconds=1)
        running = np.maximum.accumulate(seconds)
        stamps = [
            dt.datetime.strptime(p.stem.split("-", 1)[1][:15], "%Y%m%dT%H%M%S").replace(
                tzinfo=dt.UTC
            )
            for p in writer.rotated
        ]
        firsts = [int(read(p).split(b":", 1)[0]) for p in writer.rotated]
        for stamp, first in zip(stamps, firsts, strict=True):
            when = T0 + dt.timedelta(seconds=int(running[first]))
            epoch_us = (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
                microseconds=1
            )
            start = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                microseconds=epoch_us // period_us * period_us
            )
            assert stamp == start
