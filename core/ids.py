"""Identifiers: UUIDv7 (RFC 9562) for events, orders and carts, so ids sort by creation time."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid

_lock = threading.Lock()
# Random bits come from a PRNG seeded once from the OS: uniqueness is carried by the time and
# the counter; the random tail only separates processes, and a syscall per id is not free.
_random = random.Random(os.urandom(32))
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """A UUIDv7 string, strictly increasing within this process (12-bit counter in rand_a)."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _counter = now_ms, _random.getrandbits(10)
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted inside one ms: borrow the next ms
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
        rand_b = _random.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))
