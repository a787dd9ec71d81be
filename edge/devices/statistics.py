"""Device statistics backed by the store database, so counters survive restarts.

Drivers bump counters from their own threads, often (every printed line). A bump only adds to
an in-memory delta under a lock; `flush` writes all deltas through the store writer in one
command (the writer stays the only writer), every `[devices] statistics_flush_s` and at
shutdown. `snapshot` is what is stored plus what is pending, so readers never see a counter go
back. At most one flush interval of counts can be lost to a power cut; a clean stop loses none.
Counters are primary state (table `device_statistics`), not a projection of the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import apsw

from edge.store.writer import Tx
from schemas.devices import STATISTICS


class SqliteStatistics:
    def __init__(self) -> None:
        self._stored: dict[str, dict[str, int]] = {}
        self._pending: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def load(self, conn: apsw.Connection) -> None:
        stored: dict[str, dict[str, int]] = {}
        for device_id, name, value in conn.execute(
            "SELECT device_id, name, value FROM device_statistics"
        ):
            stored.setdefault(device_id, {})[name] = value
        with self._lock:
            self._stored = stored

    def bump(self, device_id: str, name: str, by: int = 1) -> None:
        if name not in STATISTICS:
            raise ValueError(f"unknown statistic {name!r}")
        with self._lock:
            per = self._pending.setdefault(device_id, {})
            per[name] = per.get(name, 0) + by

    def snapshot(self, device_id: str) -> dict[str, int]:
        with self._lock:
            out = dict(self._stored.get(device_id, {}))
            for name, delta in self._pending.get(device_id, {}).items():
                out[name] = out.get(name, 0) + delta
        return out

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def flush_command(self) -> tuple[Callable[[Tx], None], Callable[[bool], None]]:
        """(command for the writer, completion): the deltas move from pending to stored when
        the command committed, and back into pending when it failed (nothing is lost)."""
        with self._lock:
            taken, self._pending = self._pending, {}

        def command(tx: Tx) -> None:
            for device_id, counts in taken.items():
                for name, delta in counts.items():
                    tx.conn.execute(
                        "INSERT INTO device_statistics(device_id, name, value, updated_at_ms) "
                        "VALUES (?,?,?,?) ON CONFLICT(device_id, name) DO UPDATE SET "
                        "value = value + excluded.value, updated_at_ms = excluded.updated_at_ms",
                        (device_id, name, delta, tx.now_ms),
                    )

        def done(ok: bool) -> None:
            with self._lock:
                target = self._stored if ok else self._pending
                for device_id, counts in taken.items():
                    per = target.setdefault(device_id, {})
                    for name, delta in counts.items():
                        per[name] = per.get(name, 0) + delta

        return command, done
