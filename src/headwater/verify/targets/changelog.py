"""A topic's messages applied as a change log: the rows a consumer would hold at the end.

Per message key (and `version`, for insert-only rows) the last message is the row (`rows`/
`changes` payloads, or a Debezium envelope's after/before + op); a delete (`_op`/`op` 'd',
or a tombstone: a null value) removes it. Every message counts: one that repeats an event
already in the log (same event_id header, else the same value) lands the row once more, so
verify reports it as a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from headwater.errors import VerifyError


def apply_change_log(messages: Iterable[Any], topic: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, every column seen) of Kafka `messages` of `topic`, in offset order."""
    state: dict[Any, tuple[dict[str, Any] | None, int]] = {}
    seen: dict[Any, set[Any]] = {}
    columns: dict[str, None] = {}
    for n, msg in enumerate(messages):
        key, value = msg.key(), msg.value()
        if value is None:  # a tombstone deletes the key, every version of it
            for ident in [i for i in state if i[0] == key]:
                state[ident] = (None, 0)
            continue
        try:
            data = json.loads(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerifyError(
                f"--target: {topic}/{msg.partition()}@{msg.offset()} is not JSON ({exc}); "
                "verify reads JSON messages"
            ) from None
        if not isinstance(data, dict):
            raise VerifyError(
                f"--target: {topic}/{msg.partition()}@{msg.offset()} is not a JSON object"
            )
        if "op" in data and ("after" in data or "before" in data):  # Debezium envelope
            op = data.get("op")
            row = data.get("before" if op == "d" else "after") or {}
            row = {**row, "_op": op}
        else:
            row = data
            op = row.get("_op")
        columns.update(dict.fromkeys(row))
        ident = (key, row.get("version")) if key is not None else (None, n)
        headers = dict(msg.headers() or [])
        event = headers.get("event_id") or value
        events = seen.setdefault(ident, set())
        copies = 1 if event not in events else (state.get(ident, (None, 0))[1] + 1)
        events.add(event)
        if op == "d":
            state[ident] = (None, 0)
        else:
            state[ident] = (row, copies)
    rows = [r for r, copies in state.values() if r is not None for _ in range(copies)]
    return rows, list(columns)
