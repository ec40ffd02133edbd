"""Identifiers: sequences and UUIDs (v4 random, v7 time-ordered)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from headwater.core.spec import Spec
from headwater.generators.base import FieldGen, GenContext, TypeEnv


class SeqArgs(Spec):
    start: int = 1
    step: int = Field(1, ge=1)


class Seq(FieldGen):
    """start, start+step, …: the world hands each entity's rows consecutive positions."""

    name = "seq"
    seq: SeqArgs = SeqArgs()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.int64()

    def generate(self, ctx: GenContext) -> pa.Array:
        pos = np.arange(ctx.position, ctx.position + ctx.n, dtype=np.int64)
        return pa.array(self.seq.start + pos * self.seq.step)


class UuidArgs(Spec):
    version: Literal[4, 7] = 4


_HEX = np.array([ord(c) for c in "0123456789abcdef"], dtype=np.uint8)
_DASHES = (8, 13, 18, 23)


def uuid_strings(raw: np.ndarray) -> pa.Array:
    """(n, 16) uint8 → canonical 36-char UUID strings, built as one byte buffer."""
    n = raw.shape[0]
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, [i for i in range(36) if i not in _DASHES]] = hexed
    out[:, list(_DASHES)] = ord("-")
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out.tobytes())]
    )


class Uuid(FieldGen):
    """RFC 9562 UUIDs; v7 embeds the row's event time in ms so keys sort by creation."""

    name = "uuid"
    uuid: UuidArgs = UuidArgs()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.string()

    def generate(self, ctx: GenContext) -> pa.Array:
        raw = ctx.rng.integers(0, 256, (ctx.n, 16), dtype=np.uint8)
        if self.uuid.version == 7:
            ms = pc.divide(pc.cast(ctx.event_time, pa.int64()), 1000).to_numpy(zero_copy_only=False)
            ms_bytes = ms.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 2:]
            raw[:, :6] = ms_bytes
        raw[:, 6] = (raw[:, 6] & 0x0F) | (self.uuid.version << 4)
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        return uuid_strings(raw)
