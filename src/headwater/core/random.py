"""Deterministic random streams: (seed, names…) → an independent numpy Generator.

No global RNG: every stream is derived from the scenario seed and stable names (entity,
field, purpose, batch number), so the same scenario and seed give the same data however the
work is split or ordered.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_key(name: object) -> int:
    digest = hashlib.blake2b(repr(name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def stream(seed: int, *names: object) -> np.random.Generator:
    """A Generator for one purpose; different names give statistically independent streams."""
    seq = np.random.SeedSequence(
        entropy=int(seed) & (2**63 - 1), spawn_key=tuple(_name_key(n) for n in names)
    )
    return np.random.Generator(np.random.PCG64(seq))


def mix(seed: int, seqs: np.ndarray) -> np.ndarray:
    """splitmix64 of (seed, seq): a per-record random number independent of batching."""
    with np.errstate(over="ignore"):
        z = seqs.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & (2**64 - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
