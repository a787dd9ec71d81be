"""The persisted print-job queue: one SQLite table (`print_jobs`), FIFO per printer.

A job moves queued → printing → printed, or back to queued with a backoff when the printer
refuses or fails, or to failed after `max_attempts` or when it cannot be rendered. These are
plain functions over a connection: writes run inside the store writer's transaction (`tx.conn`),
reads on any connection. The backoff schedule is a pure function.

Delivery is at least once, made as close to exactly once as a printer allows: the worker marks
a job `printing` before sending, and `printed` only after the printer accepted the bytes and its
status is fine afterwards. A job found in `printing` at start-up (the daemon died mid-send) goes
back to `queued` and prints again: the one case where a receipt can print twice.
"""

from __future__ import annotations

import apsw

from core.backoff import BackoffPolicy, envelope_s
from schemas.printing import PrintJobKind, PrintJobView, ReceiptPrint

# Explicit limits: a printer that stays down for days must not grow the queue without bound.
MAX_QUEUED_PER_PRINTER = 10_000
MAX_CAUSE_CHARS = 300

_COLS = ("job_id, printer_id, kind, order_id, state, attempts, next_attempt_at_ms, last_cause, "
         "created_at_ms, updated_at_ms")


class QueueFull(Exception):
    pass


def backoff_ms(attempts: int, initial_ms: int, max_ms: int) -> int:
    """Delay before the next attempt after `attempts` failed ones: the shared backoff's
    envelope (doubling from `initial_ms`, capped at `max_ms`) without jitter: one printer's
    retries do not need spreading, and a fixed schedule is what the CLI can show."""
    assert attempts >= 1 and 0 < initial_ms <= max_ms
    return round(1000 * envelope_s(attempts, BackoffPolicy(initial_ms / 1000, max_ms / 1000)))


def _view(row: tuple) -> PrintJobView:
    return PrintJobView(
        job_id=row[0], printer_id=row[1], kind=row[2], order_id=row[3], state=row[4],
        attempts=row[5], next_attempt_at_ms=row[6], last_cause=row[7], created_at_ms=row[8],
        updated_at_ms=row[9],
    )


def enqueue(conn: apsw.Connection, *, job_id: str, printer_id: str, kind: PrintJobKind,
            order_id: str | None, payload: bytes | None, now_ms: int) -> PrintJobView:
    if depth(conn, printer_id) >= MAX_QUEUED_PER_PRINTER:
        raise QueueFull(f"printer {printer_id} has {MAX_QUEUED_PER_PRINTER} jobs waiting")
    conn.execute(
        "INSERT INTO print_jobs (job_id, printer_id, kind, order_id, payload, state, attempts, "
        "next_attempt_at_ms, created_at_ms, updated_at_ms) "
        "VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)",
        (job_id, printer_id, kind, order_id, payload, now_ms, now_ms, now_ms),
    )
    return get(conn, job_id)


def get(conn: apsw.Connection, job_id: str) -> PrintJobView:
    rows = conn.execute(f"SELECT {_COLS} FROM print_jobs WHERE job_id = ?", (job_id,)).fetchall()
    if not rows:
        raise KeyError(job_id)
    return _view(rows[0])


def payload(conn: apsw.Connection, job_id: str) -> bytes | None:
    rows = conn.execute("SELECT payload FROM print_jobs WHERE job_id = ?", (job_id,)).fetchall()
    return rows[0][0] if rows else None


def head(conn: apsw.Connection, printer_id: str) -> PrintJobView | None:
    """The printer's oldest unfinished job. Receipts print in order: a job that waits for
    paper holds back the ones behind it, as the paper roll would anyway."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM print_jobs WHERE printer_id = ? AND state IN ('queued', 'printing') "
        "ORDER BY rowid LIMIT 1", (printer_id,),
    ).fetchall()
    return _view(rows[0]) if rows else None


def _transition(conn: apsw.Connection, job_id: str, expect: str, sets: str, args: tuple) -> None:
    conn.execute(f"UPDATE print_jobs SET {sets} WHERE job_id = ? AND state = ?",
                 (*args, job_id, expect))
    if conn.changes() != 1:
        raise RuntimeError(f"print job {job_id} is no longer {expect}")


def mark_printing(conn: apsw.Connection, job_id: str, now_ms: int) -> None:
    _transition(conn, job_id, "queued", "state = 'printing', attempts = attempts + 1, "
                "updated_at_ms = ?", (now_ms,))


def mark_printed(conn: apsw.Connection, job_id: str, now_ms: int) -> None:
    _transition(conn, job_id, "printing", "state = 'printed', last_cause = NULL, "
                "updated_at_ms = ?", (now_ms,))


def mark_retry(conn: apsw.Connection, job_id: str, *, cause: str, now_ms: int,
               initial_ms: int, max_ms: int, max_attempts: int) -> PrintJobView:
    """The attempt failed with `cause`: back to queued after the backoff, or failed for good
    once `max_attempts` were made."""
    job = get(conn, job_id)
    cause = cause[:MAX_CAUSE_CHARS]
    if job.attempts >= max_attempts:
        _transition(conn, job_id, "printing", "state = 'failed', last_cause = ?, "
                    "updated_at_ms = ?", (cause, now_ms))
    else:
        due = now_ms + backoff_ms(max(job.attempts, 1), initial_ms, max_ms)
        _transition(conn, job_id, "printing", "state = 'queued', last_cause = ?, "
                    "next_attempt_at_ms = ?, updated_at_ms = ?", (cause, due, now_ms))
    return get(conn, job_id)


def mark_failed(conn: apsw.Connection, job_id: str, *, cause: str, now_ms: int) -> None:
    """A job that can never print (its order cannot be rendered): no retry."""
    conn.execute("UPDATE print_jobs SET state = 'failed', last_cause = ?, updated_at_ms = ? "
                 "WHERE job_id = ? AND state IN ('queued', 'printing')",
                 (cause[:MAX_CAUSE_CHARS], now_ms, job_id))


def due_now(conn: apsw.Connection, job_id: str, now_ms: int) -> None:
    """The printer is ready again: the waiting job need not sit out the rest of its backoff."""
    conn.execute("UPDATE print_jobs SET next_attempt_at_ms = ?, updated_at_ms = ? "
                 "WHERE job_id = ? AND state = 'queued' AND next_attempt_at_ms > ?",
                 (now_ms, now_ms, job_id, now_ms))


def recover(conn: apsw.Connection, now_ms: int) -> int:
    """At start-up: jobs left `printing` by a dead daemon go back to the queue (at least once)."""
    conn.execute("UPDATE print_jobs SET state = 'queued', next_attempt_at_ms = ?, "
                 "last_cause = 'interrupted: the daemon stopped while printing', "
                 "updated_at_ms = ? WHERE state = 'printing'", (now_ms, now_ms))
    return conn.changes()


def depth(conn: apsw.Connection, printer_id: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM print_jobs WHERE printer_id = ? AND state IN ('queued', 'printing')",
        (printer_id,),
    ).fetchall()[0][0]


def depths(conn: apsw.Connection) -> dict[str, int]:
    return dict(conn.execute(
        "SELECT printer_id, count(*) FROM print_jobs WHERE state IN ('queued', 'printing') "
        "GROUP BY printer_id").fetchall())


def jobs(conn: apsw.Connection, printer_id: str | None = None, *,
         states: tuple[str, ...] = ("queued", "printing", "printed", "failed"),
         limit: int = 100) -> list[PrintJobView]:
    """Newest first."""
    assert 1 <= limit <= 1_000
    marks = ", ".join("?" * len(states))
    where = f"state IN ({marks})" + (" AND printer_id = ?" if printer_id else "")
    args = (*states, printer_id) if printer_id else states
    return [_view(r) for r in conn.execute(
        f"SELECT {_COLS} FROM print_jobs WHERE {where} ORDER BY rowid DESC LIMIT ?",
        (*args, limit))]


def for_order(conn: apsw.Connection, order_id: str) -> ReceiptPrint | None:
    """The order's latest receipt job, as the lane sees it."""
    rows = conn.execute(
        "SELECT job_id, printer_id, state FROM print_jobs WHERE order_id = ? "
        "ORDER BY rowid DESC LIMIT 1", (order_id,)).fetchall()
    return ReceiptPrint(*rows[0]) if rows else None


def prune(conn: apsw.Connection, before_ms: int) -> int:
    conn.execute("DELETE FROM print_jobs WHERE state IN ('printed', 'failed') "
                 "AND updated_at_ms < ?", (before_ms,))
    return conn.changes()
