"""The replay cache: every verified store signature is remembered until its timestamp has left
the skew window (`core.signing.MAX_SKEW_MS`), so one signed request is accepted once.

It lives in the database (`seen_signatures`, unique on the signature), not in a process: with
several relay processes on one PostgreSQL database a request replayed to another process is
refused as well; on SQLite the cache is per database file.

Invariants:
- `first_use` inserts the signature under its unique key in its own committed transaction: of
  any number of requests carrying one signature, on any relay process of the database, exactly
  one is told True.
- A row is deleted only once its `expires_at_ms` is `PRUNE_MARGIN_MS` in the past: a replay of
  it is then refused by the skew check on every relay whose clock is within that margin of the
  pruning one's. Pruning runs inside an insert, at most every `PRUNE_EVERY_MS` per process.
- Bounded: only signatures that verified (an enrolled store's) are stored, each for at most
  the window plus the margin, so the table holds the signed requests of the last ~11 minutes.
"""

from __future__ import annotations

from cloud_relay.storage.backend import Backend

PRUNE_MARGIN_MS = 60_000
PRUNE_EVERY_MS = 10_000


class Replays(Backend):
    _next_prune_ms = 0

    def first_use(self, signature: bytes, expires_at_ms: int, now_ms: int) -> bool:
        """True the first time `signature` is seen (and remember it), False for a replay."""
        with self._write() as tx:
            if now_ms >= self._next_prune_ms:
                self._next_prune_ms = now_ms + PRUNE_EVERY_MS
                tx.rows("DELETE FROM seen_signatures WHERE expires_at_ms < ?",
                        (now_ms - PRUNE_MARGIN_MS,))
            return bool(tx.rows(
                "INSERT INTO seen_signatures (signature, expires_at_ms) VALUES (?, ?) "
                "ON CONFLICT (signature) DO NOTHING RETURNING expires_at_ms",
                (signature, expires_at_ms)))

    def remembered_signatures(self) -> int:
        with self._read() as tx:
            row = tx.one("SELECT count(*) FROM seen_signatures")
        return int(row[0]) if row else 0
