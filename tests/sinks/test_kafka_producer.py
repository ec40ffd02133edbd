"""The Kafka producer's command loop (kafka/_producer.py) when the client library fails.

confluent_kafka's Producer.flush() was seen raising SystemError ("returned NULL without
setting an exception", or KafkaError.str "returned a result with an exception set") while
a Tansu broker was killed and restarted mid-run: a failure in its C code, not ours. It
comes and goes with the timing of the crash, so here a stand-in producer raises it."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.sinks._retry import Retry
from headwater.sinks.kafka._producer import _Producer

pytest.importorskip("confluent_kafka")


class Failing:
    """librdkafka's producer whose flush() and poll() raise `exc`."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __len__(self) -> int:
        return 3  # messages in flight

    def flush(self, timeout: float | None = None) -> int:
        raise self.exc

    def poll(self, timeout: float | None = None) -> int:
        raise self.exc


def producer(exc: BaseException) -> tuple[_Producer, list[tuple[Any, ...]]]:
    answers: list[tuple[Any, ...]] = []
    options = {"headers": True, "tombstones": False, "max_in_flight": 10, "retry": Retry()}
    p = _Producer.start(answers.append, "k", "Kafka at 127.0.0.1:1", {}, options)
    assert p is not None and answers == [("ready",)]
    answers.clear()
    p.producer = Failing(exc)
    return p, answers


@pytest.mark.parametrize("command", [("flush",), ("poll",), ("close", 1.0)])
def test_a_client_library_failure_is_the_producers_fatal_error(command):
    p, answers = producer(
        SystemError("<method 'flush'> returned NULL without setting an exception")
    )
    assert p.handle(command) is (command[0] != "close")
    assert answers[0] == (
        "fatal",
        "confluent_kafka failed: SystemError: <method 'flush'> returned NULL without setting "
        "an exception",
    )
    assert answers[1:] == ([("closed",)] if command[0] == "close" else [])


def test_a_bug_in_our_code_stays_a_bug():
    p, _ = producer(AttributeError("'NoneType' object has no attribute 'partition'"))
    with pytest.raises(AttributeError):
        p.handle(("flush",))
