"""Kafka's default partitioner, vectorized: murmur2 of the key bytes, like the Java client.

The sink chooses each message's partition itself (the same one librdkafka's
`murmur2_random` or the Java client would) so it knows, before the broker answers, which
partition every message goes to: delivery reports then come back per partition in the
order the messages were produced, and the offset of each one is known without a callback
per message (see kafka/_producer.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

M = np.uint64(0x5BD1E995)
SEED = 0x9747B28C
MASK = np.uint64(0xFFFFFFFF)


def _mul(a: np.ndarray) -> np.ndarray:
    return (a * M) & MASK


def murmur2(keys: pa.Array) -> np.ndarray:
    """The 32-bit murmur2 hash of every value of a binary array (as uint64; nulls hash b"")."""
    if not pa.types.is_binary(keys.type):
        keys = keys.cast(pa.binary())
    n = len(keys)
    _, offsets_buffer, data_buffer = keys.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, n + 1, keys.offset * 4).astype(np.int64)
    data = (
        np.frombuffer(data_buffer, np.uint8).astype(np.uint64)
        if data_buffer is not None
        else np.zeros(0, np.uint64)
    )
    data = np.concatenate([data, np.zeros(4, np.uint64)])  # reads past a tail stay in bounds
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    if keys.null_count:
        lengths = np.where(keys.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    h = (np.uint64(SEED) ^ lengths.astype(np.uint64)) & MASK
    blocks = lengths // 4
    for b in range(int(blocks.max(initial=0))):
        rows = np.nonzero(blocks > b)[0]
        at = starts[rows] + 4 * b
        k = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24)
        k = _mul(k)
        k ^= k >> np.uint64(24)
        k = _mul(k)
        h[rows] = _mul(h[rows]) ^ k
    tail = lengths % 4
    base = starts + 4 * blocks
    three = tail == 3
    h[three] ^= data[base[three] + 2] << np.uint64(16)
    two = tail >= 2
    h[two] ^= data[base[two] + 1] << np.uint64(8)
    one = tail >= 1
    h[one] = _mul(h[one] ^ data[base[one]])
    h ^= h >> np.uint64(13)
    h = _mul(h)
    h ^= h >> np.uint64(15)
    return h


def partitions(keys: pa.Array, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The partition of each message: murmur2(key) & 0x7fffffff modulo its topic's partition
    count (`counts`, per message); a null key goes to a random partition, as librdkafka's
    murmur2_random does (seeded here, so runs repeat)."""
    chosen = ((murmur2(keys) & np.uint64(0x7FFFFFFF)) % counts.astype(np.uint64)).astype(np.int32)
    if keys.null_count:
        nulls = keys.is_null().to_numpy(zero_copy_only=False)
        chosen[nulls] = rng.integers(0, counts[nulls]).astype(np.int32)
    return chosen
