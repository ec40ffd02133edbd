"""Fixtures of the contract suite: a webhook receiver, a durable Redis, shared runs, known bugs.

The delivery run of each sink kind is made once per session (`landings`) and read back
right away; several checks then look at it from their side (delivery, final state, report
against ledger).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence

import pytest

from headwater.serve.receive import Receiver
from headwater.testing.servers import RedisServer

from tests.conftest import served
from tests.contract._harness import Landings
from tests.contract.harnesses import SECRET_ENV

SECRET = "whsec-contract"

#: (check, sink kind) → a bug the check finds outside this suite's area, until it is fixed.
KNOWN: dict[tuple[str, str], str] = {
    ("test_the_ledger_marks_every_faulted_record", "mongodb"): (
        "a keyed store applies what arrives: a `late` update delivered after its document's "
        "delete matches nothing, so MongoDB changes nothing and its change stream shows "
        "nothing, as with a real application; the check lets only `malformed` changes go "
        "missing (seen: 17 missing, 15 malformed, the other 2 late customer updates)"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A known bug is a strict xfail of that one check, with its reason."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        h = callspec.params.get("h") if callspec else None
        reason = KNOWN.get((getattr(item, "originalname", ""), getattr(h, "kind", "")))
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    with Receiver(SECRET.encode()) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def landings(tmp_path_factory: pytest.TempPathFactory) -> Landings:
    return Landings(tmp_path_factory.mktemp("landings"))


class DurableRedis(RedisServer):
    """Redis that keeps every entry it acknowledged through a kill -9 (append-only file,
    fsync on every write): the durable setup the redis_streams sink asks for."""

    def _spawn(self, cmd: Sequence[str], **env: str) -> subprocess.Popen[bytes]:
        # later options win: the base class turns persistence off
        return super()._spawn([*cmd, "--appendonly", "yes", "--appendfsync", "always"], **env)


@pytest.fixture(scope="session")
def durable_redis_server() -> Iterator[RedisServer]:
    yield from served(DurableRedis())
