"""Local contracts between the daemon and tools on the same store PC."""

from __future__ import annotations

import msgspec


class DaemonInfo(msgspec.Struct, frozen=True):
    """`daemon.json` in the data dir: where the running daemon listens, for the CLI."""

    pid: int
    url: str
    host: str
    port: int
    store_id: str
    tenant_id: str
