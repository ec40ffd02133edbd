"""Fixtures of the contract suite: the harness's server, a webhook receiver, shared runs.

The delivery run of each sink kind is made once per session (`landings`) and read back
right away; several checks then look at it from their side (delivery, final state, report
against ledger).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.serve.receive import Receiver

from tests.contract._harness import Harness, Landing, land
from tests.contract.harnesses import SECRET_ENV

SECRET = "whsec-contract"

#: (check, sink kind) → a bug the check finds outside this suite's area, until it is fixed.
KNOWN: dict[tuple[str, str], str] = {
    ("test_report_counts_equal_ledger_counts", "webhook"): (
        "the webhook sink sends no snapshot event (snapshot: false) but the ledger records"
        " the snapshot rows as published (the runner ledgers what a sink is handed)"
    ),
    ("test_report_counts_equal_ledger_counts", "logs"): (
        "the logs sink writes no line for the snapshot (ops: [c, u, d]) but the ledger records"
        " the snapshot rows as published (the runner ledgers what a sink is handed)"
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


def server_for(request: pytest.FixtureRequest, h: Harness) -> Any:
    """The harness's server (a session fixture), or None for sinks that need none."""
    return request.getfixturevalue(h.server) if h.server else None


class Landings:
    """The one delivery run per sink kind, made on first use."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[str, Landing] = {}

    def get(self, h: Harness, server: Any) -> Landing:
        if h.kind not in self.done:
            self.done[h.kind] = land(h, server, f"contract_{h.kind}", self.root / h.kind)
        return self.done[h.kind]


@pytest.fixture(scope="session")
def landings(tmp_path_factory: pytest.TempPathFactory) -> Landings:
    return Landings(tmp_path_factory.mktemp("landings"))
