"""Loopback ports that stay ours across a restart.

A process restarted "on the same port" can find it taken: a port the kernel handed out for
`bind(("127.0.0.1", 0))` comes from the ephemeral range, and so does the source port of every
outgoing connection any other test worker makes meanwhile. A listener that must come back on its
address (a daemon or relay restarted by a crash test, an emulator revived after an outage) takes
its port from `stable_port()` instead: below the ephemeral range, where the kernel never picks,
and from a block of its own per xdist worker, so parallel workers never meet."""

from __future__ import annotations

import itertools
import os
import socket

_BASE = 20000
_BLOCK = 1000          # ports per worker; 12 workers fit below 32768 (the ephemeral range's start)
_WORKERS = 12


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) % _WORKERS if digits.isdigit() else 0


_block_start = _BASE + _worker_index() * _BLOCK
# Start each process at a different point of its block: a worker that restarts (xdist replaces
# a crashed one) does not hand out the ports its predecessor left in TIME_WAIT first.
_offsets = itertools.count(os.getpid() % _BLOCK)


def stable_port() -> int:
    """A free loopback port outside the ephemeral range, not handed out before by this process."""
    for _ in range(_BLOCK):
        port = _block_start + next(_offsets) % _BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free loopback port in {_block_start}..{_block_start + _BLOCK - 1}")
