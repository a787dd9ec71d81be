"""One print worker per printer: a thread that drains that printer's queue in order.

Invariants:
- The queue in SQLite is the truth; the worker holds no job only in memory. Every state change
  goes through the store writer (joining its group commit when the daemon's loop runs), so it
  commits durably before the next step: `printing` before bytes are sent, `printed` only after the printer took them and
  reported a good status afterwards.
- A refused job (paper out, cover open, offline) stays queued with a backoff; while it waits,
  the printer's status is polled every `status_poll_s`, so loading paper prints at once.
- Drawer kicks are immediate and not persisted: a drawer that opens minutes after the sale is a
  surprise, not a service. A kick older than `KICK_DEADLINE_S` is dropped and logged.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import apsw
import structlog

from core.clock import Clock
from drivers.device import DeviceFault
from drivers.escpos import EscposPrinter
from drivers.escpos.status import BLOCKING
from edge.printing import queue
from edge.store.db import open_connection
from edge.store.writer import Tx, Writer
from schemas.printing import Document, PrintJobView

log = structlog.get_logger("novapos.printing")

KICK_DEADLINE_S = 10.0
_COMMIT_TIMEOUT_S = 30.0
T = TypeVar("T")
_MAX_PENDING_KICKS = 16


class RenderError(Exception):
    """The job can never print (its order is gone, its payload unreadable)."""


class PrintWorker:
    def __init__(
        self,
        printer: EscposPrinter,
        *,
        db_path: Path,
        writer: Writer,
        clock: Clock,
        document_for: Callable[[apsw.Connection, PrintJobView], Document],
        retry_initial_s: float,
        retry_max_s: float,
        max_attempts: int,
        status_poll_s: float,
        idle_status_poll_s: float,
        on_change: Callable[[str, apsw.Connection, str | None], None] = lambda *_: None,
    ) -> None:
        self.printer = printer
        self._db_path = db_path
        self._writer = writer
        self._clock = clock
        self._document_for = document_for
        self._initial_ms = max(1, int(retry_initial_s * 1000))
        self._max_ms = max(self._initial_ms, int(retry_max_s * 1000))
        self._max_attempts = max_attempts
        self._status_poll_s = status_poll_s
        self._idle_poll_s = idle_status_poll_s
        self._on_change = on_change
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._kicks: collections.deque[float] = collections.deque(maxlen=_MAX_PENDING_KICKS)
        self._thread: threading.Thread | None = None
        self._last_poll = 0.0
        self._last_idle_poll = 0.0
        # The daemon's event loop, set while its writer task serves (see `_commit`).
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- control from other threads ------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"print-{self.printer.device_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def request_kick(self) -> None:
        self._kicks.append(time.monotonic())
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        conn = open_connection(self._db_path)
        try:
            self.printer.open()
            self._last_idle_poll = time.monotonic()
            while not self._stop.is_set():
                try:
                    self._step(conn)
                except Exception:  # e.g. the writer stopping under us: the
                    # queue in SQLite is intact, so log, pause and carry on from it.
                    log.exception("print worker step failed", printer=self.printer.device_id)
                    self._sleep(self._status_poll_s)
        finally:
            conn.close()
            self.printer.close()

    def _step(self, conn: apsw.Connection) -> None:
        self._do_kicks()
        job = queue.head(conn, self.printer.device_id)
        self._on_change(self.printer.device_id, conn, None)
        if job is None:
            if time.monotonic() - self._last_idle_poll >= self._idle_poll_s:
                self._last_idle_poll = time.monotonic()
                self._poll()
            self._sleep(self._idle_poll_s)
            return
        if job.next_attempt_at_ms > self._clock.now_ms() and not self._ready_again(job):
            self._sleep(self._status_poll_s)
            return
        self._attempt(conn, job)
        self._last_idle_poll = time.monotonic()

    def _commit(self, fn: Callable[[Tx], T]) -> T:
        """Through the writer's group commit when the daemon's event loop runs it (a thread's
        own `run_sync` would hold the writer lock, and so stall the loop, for a whole fsync);
        directly otherwise (no loop: tools, start-up, shutdown)."""
        loop = self.loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._writer.run(fn), loop)
            return future.result(timeout=_COMMIT_TIMEOUT_S)
        return self._writer.run_sync(fn)

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _poll(self) -> bool:
        try:
            return self.printer.query_status().can_print
        except DeviceFault:
            return False

    def _ready_again(self, job: PrintJobView) -> bool:
        """A job refused by the printer's state may go before its backoff ends once that state
        is fixed; a job that failed while the printer said it was fine sits out its backoff."""
        cause = (job.last_cause or "").split(":", 1)[0]
        if cause not in BLOCKING or cause == "communication_error":
            return False
        # Every commit wakes the worker; the printer is asked at most once per status_poll_s.
        if time.monotonic() - self._last_poll < self._status_poll_s:
            return False
        self._last_poll = time.monotonic()
        if not self._poll():
            return False
        self._commit(lambda tx: queue.due_now(tx.conn, job.job_id, tx.now_ms))
        return True

    def _do_kicks(self) -> None:
        while self._kicks:
            asked = self._kicks.popleft()
            if time.monotonic() - asked > KICK_DEADLINE_S:
                log.warning("drawer kick dropped: not done in time", printer=self.printer.device_id,
                            deadline_s=KICK_DEADLINE_S)
                continue
            try:
                self.printer.kick_drawer()
            except DeviceFault as fault:
                log.warning("drawer kick failed", printer=self.printer.device_id, fault=str(fault))

    def _attempt(self, conn: apsw.Connection, job: PrintJobView) -> None:
        job_id = job.job_id
        try:
            document = self._document_for(conn, job)
        except RenderError as exc:
            log.error("print job cannot be rendered", job_id=job_id, error=str(exc))
            cause = f"render: {exc}"
            self._commit(lambda tx: queue.mark_failed(
                tx.conn, job_id, cause=cause, now_ms=tx.now_ms))
            self._on_change(self.printer.device_id, conn, "failed")
            return
        if job.state == "queued":
            self._commit(lambda tx: queue.mark_printing(tx.conn, job_id, tx.now_ms))
        try:
            self.printer.print_document(document)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the job queued
            cause = str(exc) if isinstance(exc, DeviceFault) else f"error: {exc!r}"
            after = self._commit(lambda tx: queue.mark_retry(
                tx.conn, job_id, cause=cause, now_ms=tx.now_ms, initial_ms=self._initial_ms,
                max_ms=self._max_ms, max_attempts=self._max_attempts))
            log.info("print job not printed", job_id=job_id, printer=self.printer.device_id,
                     cause=cause, state=after.state)
            self._on_change(self.printer.device_id, conn,
                            "failed" if after.state == "failed" else "retried")
            return
        self._commit(lambda tx: queue.mark_printed(tx.conn, job_id, tx.now_ms))
        self._on_change(self.printer.device_id, conn, "printed")
