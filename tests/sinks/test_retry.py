"""One retry vocabulary and one backoff for every sink (sinks/_retry)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from headwater.errors import ScenarioError, SinkUnavailable
from headwater.sinks._retry import Backoff, RequestRetry, Retry, SqlRetry
from headwater.sinks._stream import BrokerBackoff

from tests.helpers import SHOP, scenario

MS = timedelta(milliseconds=1)


def waits(backoff: Backoff, n: int) -> list[float | None]:
    return [backoff.next() for _ in range(n)]


def test_waits_double_up_to_max_and_start_over_after_success():
    backoff = Backoff(Retry(initial=10 * MS, max=35 * MS))
    assert waits(backoff, 4) == [0.01, 0.02, 0.035, 0.035]
    backoff.reset()
    assert backoff.next() == 0.01
    assert backoff.retries == 5


class Clock:
    """time for the backoff: sleeping moves it on, nothing else does."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_deadline_ends_the_waits_and_caps_the_last(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("headwater.sinks._retry.time", clock)
    backoff = Backoff(SqlRetry.model_validate({"for": "50ms", "initial": "20ms", "max": "1s"}))
    assert backoff.sleep() and backoff.sleep()  # 20 ms, 40 ms would pass the deadline…
    assert clock.now == pytest.approx(100.05)  # …so the second waits only what is left
    assert backoff.next() is None and backoff.sleep() is False
    assert backoff.retries == 2


def test_attempts_count_the_first_try():
    backoff = Backoff(RequestRetry(attempts=3, initial=MS, max=MS))
    assert waits(backoff, 3) == [0.001, 0.001, None]


def test_jitter_draws_between_half_and_all_of_a_wait():
    draws = iter([0.0, 0.5, 0.999])
    backoff = Backoff(RequestRetry(initial=100 * MS, max=100 * MS), jitter=lambda: next(draws))
    assert waits(backoff, 3) == pytest.approx([0.05, 0.075, 0.09995])


def test_a_broker_gives_up_naming_sink_and_address():
    retry = Retry.model_validate({"for": "30ms", "initial": "10ms"})
    backoff = BrokerBackoff("s", "Broker at x", retry)
    with pytest.raises(SinkUnavailable) as err:
        for _ in range(100):
            backoff.wait(ConnectionError("refused"))
    assert "sink 's'" in str(err.value) and "Broker at x" in str(err.value)
    assert "unreachable for 0.03 s" in str(err.value)


def test_every_sink_takes_the_same_keys():
    sc = scenario(
        sinks="""
        k: {kind: kafka, retry: {for: 30s, initial: 50ms, max: 1s}}
        db: {kind: postgres, url: 'postgresql://u@h/d', retry: {for: 5s}}
        hook: {kind: webhook, url: 'http://h/x', secret_env: S, retry: {attempts: 2, for: 1m}}
        """
    )
    configs = sc.sinks
    assert configs["k"].retry.for_ == timedelta(seconds=30)
    db = configs["db"].retry
    assert (db.for_, db.initial, db.max) == (timedelta(seconds=5), 50 * MS, 2000 * MS)
    assert configs["hook"].retry.attempts == 2


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ("{kind: nats, retry: {timeout: 30s}}", "'timeout' was renamed: use retry.for"),
        ("{kind: mqtt, retry: {backoff: 1s}}", "'backoff' was renamed: use retry.initial"),
        ("{kind: kafka, retry: {max_backoff: 1s}}", "'max_backoff' was renamed: use retry.max"),
        (
            "{kind: mysql, url: 'mysql://u@h/d', reconnect_for: 5s}",
            "'reconnect_for' was renamed: use retry: {for: …}",
        ),
    ],
)
def test_old_keys_are_refused_naming_the_new_ones(sink, message):
    with pytest.raises(ScenarioError) as err:
        scenario(sinks=f"s: {sink}")
    assert "sinks.s" in str(err.value) and message in str(err.value)


def test_an_old_key_exits_2_with_its_yaml_path(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text(
        SHOP + "sinks:\n  db: {kind: postgres, url: 'postgresql://u@h/d', reconnect_for: 5s}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "headwater", "validate", str(p)], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "sinks.db" in r.stderr and "use retry: {for: …}" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_request_gives_up_at_its_deadline_before_its_attempts(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("headwater.sinks._retry.time", clock)
    retry = RequestRetry.model_validate({"attempts": 100, "for": "1s", "initial": "300ms"})
    backoff = Backoff(retry)
    assert [backoff.sleep() for _ in range(4)] == [True, True, True, False]  # 0.3, 0.6, 0.1
    assert clock.now == pytest.approx(101.0)
