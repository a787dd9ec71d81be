"""Retention: events the relay has acknowledged and that are older than the configured age
leave the store's hot log; the log then continues from a recorded checkpoint (seq, hash).

What lanes still need is in the read models (returnable lines, open vouchers, payments), which
retention never touches: it removes raw events only. So that `verify` can still prove every read
model, the checkpoint carries the read models *as of the checkpoint* (`checkpoint_rows`): the
previous checkpoint's rows with the removed events replayed on top, in a scratch database,
through the very projections the live path runs. `verify` seeds its rebuild with them and
replays the hot log after the checkpoint.

Power-cut safety: the checkpoint row, its read-model rows and the DELETE are one writer
transaction (one COMMIT under `synchronous=FULL`): a cut before the commit leaves the old log
and the old checkpoint, after it the new ones; either verifies. The triggers of the event log
let a DELETE through only at or below the latest checkpoint (`edge.store.log_migrations`), so
this is the only way an event leaves the log.

Never removed: anything after the relay's acknowledged cursor (`sync_state.acked_seq`), any
event younger than the age, and everything from the first young event on (the log stays one
contiguous range).

When: `novapos-edge store compact` by hand, and the daemon itself once a store-local day
(`RetentionTimer`, `[retention] daily_at`), at most `max_events_per_run` events a run. The
daemon's run replays in a worker thread on its own connections and commits through the writer
like any command, so lanes keep selling meanwhile (they wait only for the one commit).
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import apsw
import msgspec
import structlog

from core.clock import from_ms
from core.errors import DomainError
from edge.store import eventlog
from edge.store.db import migrate, open_connection
from edge.store.layout import Layout
from edge.store.rebuild import rebuild_into, seed
from edge.store.settings import RetentionConfig
from edge.store.writer import Tx

log = structlog.get_logger("edge.store.retention")

DAY_MS = 86_400_000
CHUNK_ROWS = 5_000
_encode = msgspec.msgpack.Encoder().encode


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would do: cut the log at `cut_seq` (None: nothing to remove)."""

    checkpoint_seq: int
    cut_seq: int | None
    acked_seq: int
    cutoff_ms: int
    removable: int


@dataclass(frozen=True, slots=True)
class Outcome:
    checkpoint_seq: int
    checkpoint_hash: bytes
    removed: int
    snapshot_rows: int


def plan(conn: apsw.Connection, now_ms: int, max_age_days: int,
         max_events: int | None = None) -> Plan:
    """The cut a run would make now: the last event before the first one that is either past
    the relay's acknowledged cursor or younger than `max_age_days`; at most `max_events`
    after the latest checkpoint."""
    cutoff_ms = now_ms - max_age_days * DAY_MS
    start, _ = eventlog.checkpoint(conn)
    acked = conn.execute("SELECT acked_seq FROM sync_state WHERE id = 1").fetchall()
    acked_seq = acked[0][0] if acked else 0
    young = conn.execute(
        "SELECT min(seq) FROM events WHERE seq > ? AND seq <= ? AND recorded_at_ms >= ?",
        (start, acked_seq, cutoff_ms)).fetchall()[0][0]
    cut = (young - 1) if young is not None else acked_seq
    head = eventlog.head(conn)[0]
    cut = min(cut, head)
    if max_events is not None:
        cut = min(cut, start + max_events)
    if cut <= start:
        return Plan(start, None, acked_seq, cutoff_ms, 0)
    return Plan(start, cut, acked_seq, cutoff_ms, cut - start)


# --- the read models as of a checkpoint -------------------------------------------------


def _chunks(conn: apsw.Connection, tables: dict[str, str]):
    for tbl, order in tables.items():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({tbl})")]
        cur = conn.execute(f"SELECT * FROM {tbl} ORDER BY {order}")
        chunk = 0
        while True:
            rows = list(itertools.islice(cur, CHUNK_ROWS))
            if not rows:
                break
            yield tbl, chunk, ",".join(cols), zlib.compress(_encode(rows), 6), len(rows)
            chunk += 1


def build_snapshot(db_path: Path, layout: Layout, cut_seq: int) -> tuple[int, list[tuple]]:
    """The read models as of `cut_seq`: the latest checkpoint's, with the events after it
    through `cut_seq` replayed on top (in a scratch database). Returns (checkpoint seq it
    started from, chunk rows for `checkpoint_rows`)."""
    live = open_connection(db_path, readonly=True)
    try:
        live.execute("BEGIN")
        start, _ = eventlog.checkpoint(live)
        tables = dict(layout.projector.tables)
        with tempfile.TemporaryDirectory(prefix="novapos-retention-") as scratch_dir:
            scratch = open_connection(Path(scratch_dir) / "snapshot.db")
            scratch.execute("PRAGMA synchronous=OFF")
            try:
                migrate(scratch, layout.schema)
                if start:
                    seed(scratch, live, tables)
                rebuild_into(live, scratch, layout.projector, after_seq=start,
                             through_seq=cut_seq)
                chunks = list(_chunks(scratch, tables))
            finally:
                scratch.close()
        live.execute("COMMIT")
    finally:
        live.close()
    return start, chunks


# --- the run ---------------------------------------------------------------------------


class RetentionRaced(RuntimeError):
    """The log's checkpoint or the relay cursor moved between planning and committing."""


def cut_command(start_seq: int, cut_seq: int, chunks: list[tuple],
                cutoff_ms: int) -> Callable[[Tx], Outcome]:
    """The writer command: checkpoint, read models as of it, and the delete, in one
    transaction (the writer's). Refuses if anything it planned on changed meanwhile."""

    def run(tx: Tx) -> Outcome:
        conn = tx.conn
        if eventlog.checkpoint(conn)[0] != start_seq:
            raise RetentionRaced("another retention run moved the checkpoint")
        acked = conn.execute("SELECT acked_seq FROM sync_state WHERE id = 1").fetchall()[0][0]
        if cut_seq > acked:
            raise RetentionRaced(f"the relay cursor moved back to {acked} (below {cut_seq})")
        row = conn.execute("SELECT hash FROM events WHERE seq = ?", (cut_seq,)).fetchall()
        if not row:
            raise RetentionRaced(f"event {cut_seq} is not in the log")
        digest = row[0][0]
        conn.execute(
            "INSERT INTO event_checkpoints (seq, hash, recorded_at_ms, removed, acked_seq, "
            "cutoff_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (cut_seq, digest, tx.now_ms, cut_seq - start_seq, acked, cutoff_ms))
        conn.execute("DELETE FROM checkpoint_rows")
        conn.executemany(
            "INSERT INTO checkpoint_rows (tbl, chunk, columns, rows) VALUES (?, ?, ?, ?)",
            [c[:4] for c in chunks])
        conn.execute("DELETE FROM events WHERE seq > ? AND seq <= ?", (start_seq, cut_seq))
        return Outcome(cut_seq, digest, cut_seq - start_seq, sum(c[4] for c in chunks))

    return run


def run(store, layout: Layout, max_age_days: int,
        after_snapshot: Callable[[], None] | None = None,
        max_events: int | None = None) -> Outcome | None:
    """One retention run on a `Store` (its writer); None when nothing is old and acked enough.
    `after_snapshot` is a test hook (between the scratch replay and the commit)."""
    p = plan(store.reader, store.clock.now_ms(), max_age_days, max_events)
    if p.cut_seq is None:
        return None
    start, chunks = build_snapshot(store.db_path, layout, p.cut_seq)
    if after_snapshot is not None:
        after_snapshot()
    return store.writer.run_sync(cut_command(start, p.cut_seq, chunks, p.cutoff_ms))


def vacuum(db_path: Path) -> tuple[int, int]:
    """Give the pages retention freed back to the file system (VACUUM: needs free disk about
    the database's size while it runs, and excludes writers meanwhile). Returns bytes before
    and after. Without it SQLite reuses the freed pages for new events."""
    before = db_path.stat().st_size
    conn = open_connection(db_path)
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    return before, db_path.stat().st_size


# --- the daemon's daily run ------------------------------------------------------------


def _plan_fresh(db_path: Path, now_ms: int, max_age_days: int, max_events: int) -> Plan:
    conn = open_connection(db_path, readonly=True)
    try:
        return plan(conn, now_ms, max_age_days, max_events)
    finally:
        conn.close()


class RetentionTimer:
    """Runs retention once a store-local day, at `[retention] daily_at` or later within the
    window; the planning and the scratch replay in a worker thread, the cut through the
    writer. A failed run is logged and counted, and tried again the next day."""

    def __init__(self, store, layout: Layout, config: RetentionConfig,
                 check_s: float = 60.0) -> None:
        self._store = store
        self._layout = layout
        self._config = config
        self._check_s = check_s
        self._done_day: date | None = None

    def due(self, now_ms: int) -> date | None:
        """The store-local day a run is due for now, or None."""
        if not self._config.daily_at:
            return None
        local = from_ms(now_ms).astimezone(self._store.identity.tz)
        hour, minute = (int(x) for x in self._config.daily_at.split(":"))
        opens = datetime(local.year, local.month, local.day, hour, minute,
                         tzinfo=local.tzinfo)
        within = opens <= local < opens + timedelta(minutes=self._config.window_minutes)
        if not within or self._done_day == local.date():
            return None
        return local.date()

    async def tick(self) -> Outcome | None:
        """Run now if a run is due (once per day, whatever the outcome)."""
        now_ms = self._store.clock.now_ms()
        day = self.due(now_ms)
        if day is None:
            return None
        self._done_day = day
        metrics = self._store.metrics
        cfg = self._config
        try:
            p = await asyncio.to_thread(_plan_fresh, self._store.db_path, now_ms,
                                        cfg.max_age_days, cfg.max_events_per_run)
            if p.cut_seq is None:
                metrics.retention_runs_total.labels("nothing").inc()
                log.info("retention: nothing to remove", acked_seq=p.acked_seq,
                         checkpoint_seq=p.checkpoint_seq, max_age_days=cfg.max_age_days)
                return None
            start, chunks = await asyncio.to_thread(build_snapshot, self._store.db_path,
                                                    self._layout, p.cut_seq)
            outcome = await self._store.writer.run(
                cut_command(start, p.cut_seq, chunks, p.cutoff_ms))
        except (RetentionRaced, apsw.Error, OSError, DomainError) as exc:
            metrics.retention_runs_total.labels("failed").inc()
            log.error("retention run failed; tried again tomorrow", error=str(exc))
            return None
        metrics.retention_runs_total.labels("removed").inc()
        metrics.retention_removed_total.inc(outcome.removed)
        log.info("retention: events left the hot log", removed=outcome.removed,
                 checkpoint_seq=outcome.checkpoint_seq, max_age_days=cfg.max_age_days)
        return outcome

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self._check_s)
