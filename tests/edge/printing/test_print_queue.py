"""The print-job queue on a real SQLite file: states, FIFO order, backoff, failure after the
attempt limit, and recovery of a job the daemon was printing when it died."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as s

from edge import compose
from edge.printing import queue
from edge.store.db import DB_FILENAME, open_connection, open_store


@settings(max_examples=300, deadline=None)
@given(initial=s.integers(1, 60_000), cap_factor=s.integers(1, 1_000),
       attempts=s.integers(1, 10_000))
def test_backoff_doubles_from_initial_and_never_passes_the_cap(
    initial: int, cap_factor: int, attempts: int,
) -> None:
    cap = initial * cap_factor
    delay = queue.backoff_ms(attempts, initial, cap)
    assert initial <= delay <= cap
    assert queue.backoff_ms(1, initial, cap) == initial
    nxt = queue.backoff_ms(attempts + 1, initial, cap)
    assert nxt == min(cap, 2 * delay)  # doubles until it reaches the cap, then stays


def _enqueue(conn, job_id: str, printer: str = "front", now_ms: int = 1_000):
    with conn:
        return queue.enqueue(conn, job_id=job_id, printer_id=printer, kind="receipt",
                             order_id=f"order-{job_id}", payload=None, now_ms=now_ms)


def test_jobs_survive_a_restart_and_an_interrupted_print_is_queued_again(tmp_path: Path) -> None:
    conn = open_store(tmp_path, compose.layout().schema)
    _enqueue(conn, "a")
    _enqueue(conn, "b")
    with conn:
        queue.mark_printing(conn, "a", 2_000)
    conn.close()  # the daemon dies while sending job a

    conn = open_connection(tmp_path / DB_FILENAME)
    assert queue.head(conn, "front").job_id == "a"
    with conn:
        assert queue.recover(conn, 3_000) == 1
    a = queue.get(conn, "a")
    assert (a.state, a.attempts, a.next_attempt_at_ms) == ("queued", 1, 3_000)
    assert a.last_cause.startswith("interrupted")
    assert queue.depth(conn, "front") == 2 and queue.depths(conn) == {"front": 2}
    with conn:
        queue.mark_printing(conn, "a", 4_000)
        queue.mark_printed(conn, "a", 4_100)
    assert queue.head(conn, "front").job_id == "b"  # FIFO: b only after a
    assert queue.for_order(conn, "order-a").state == "printed"
    conn.close()


def test_retry_backs_off_and_fails_after_the_attempt_limit(tmp_path: Path) -> None:
    conn = open_store(tmp_path, compose.layout().schema)
    _enqueue(conn, "a")
    now = 10_000
    states = []
    for _ in range(3):
        with conn:
            queue.mark_printing(conn, "a", now)
            job = queue.mark_retry(conn, "a", cause="paper_out: no paper", now_ms=now,
                                   initial_ms=1_000, max_ms=3_000, max_attempts=3)
        states.append((job.state, job.next_attempt_at_ms - now if job.state == "queued" else None))
        now += 5_000
    assert states == [("queued", 1_000), ("queued", 2_000), ("failed", None)]
    assert queue.depth(conn, "front") == 0 and queue.head(conn, "front") is None
    with pytest.raises(RuntimeError, match="no longer queued"), conn:
        queue.mark_printing(conn, "a", now)
    conn.close()


def test_only_a_waiting_job_can_be_made_due_and_old_finished_jobs_are_pruned(
    tmp_path: Path,
) -> None:
    conn = open_store(tmp_path, compose.layout().schema)
    _enqueue(conn, "a", now_ms=1_000)
    with conn:
        queue.mark_printing(conn, "a", 1_000)
        queue.mark_retry(conn, "a", cause="cover_open", now_ms=1_000, initial_ms=60_000,
                         max_ms=60_000, max_attempts=10)
        queue.due_now(conn, "a", 2_000)
    assert queue.get(conn, "a").next_attempt_at_ms == 2_000
    with conn:
        queue.mark_printing(conn, "a", 2_000)
        queue.mark_printed(conn, "a", 2_000)
        assert queue.prune(conn, before_ms=2_001) == 1
    assert queue.jobs(conn) == []
    conn.close()


def test_a_full_queue_refuses_more_jobs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(queue, "MAX_QUEUED_PER_PRINTER", 2)
    conn = open_store(tmp_path, compose.layout().schema)
    _enqueue(conn, "a")
    _enqueue(conn, "b")
    with pytest.raises(queue.QueueFull):
        _enqueue(conn, "c")
    _enqueue(conn, "d", printer="back")  # the limit is per printer
    conn.close()
