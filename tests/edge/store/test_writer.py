"""The one writer: group commit, per-command rollback, no acknowledgement before commit."""

from __future__ import annotations

import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.clock import ManualClock
from edge.errors import InvalidInput, StoreUnavailable
from edge.store.db import open_connection, open_store
from edge.store.writer import StoreIdentity, Writer
from schemas import events as ev

IDENT = StoreIdentity("t", "s", ZoneInfo("UTC"), 0)


@pytest.fixture
def writer(tmp_path: Path):
    open_store(tmp_path).close()
    commits: list[int] = []
    w = Writer(tmp_path / "store.db", IDENT, ManualClock(0), max_batch=64,
               on_commit=lambda n, _s, _e: commits.append(n))
    w.start()
    w.commits = commits  # type: ignore[attr-defined]
    yield w
    w.stop()


def _open(tx, cart_id: str):
    return tx.append(ev.CartOpened(cart_id=cart_id, lane_id="l", currency="EUR", opened_at_ms=0),
                     stream=f"cart:{cart_id}", lane_id="l").seq


def test_a_failing_command_rolls_back_alone(writer: Writer, tmp_path: Path) -> None:
    gate = threading.Event()
    blocker = writer.submit(lambda tx: gate.wait())  # holds the thread so the next three batch up

    def bad(tx):
        _open(tx, "bad")
        raise InvalidInput("no")

    futures = [writer.submit(lambda tx: _open(tx, "a")), writer.submit(bad),
               writer.submit(lambda tx: _open(tx, "b"))]
    gate.set()
    blocker.result()
    assert futures[0].result() == 1
    with pytest.raises(InvalidInput):
        futures[1].result()
    assert futures[2].result() == 2, "seq stays gapless after a rolled-back command"
    # The three were committed by one fsync (with the blocker too, if it was still queued).
    assert writer.commits[-1] in (3, 4)  # type: ignore[attr-defined]
    conn = open_connection(tmp_path / "store.db")
    assert [r[0] for r in conn.execute("SELECT cart_id FROM carts ORDER BY cart_id")] == ["a", "b"]


def test_commit_failure_fails_every_command_of_the_batch(writer: Writer, tmp_path: Path) -> None:
    # A second connection holding the write lock makes BEGIN IMMEDIATE time out.
    other = open_connection(tmp_path / "store.db")
    other.set_busy_timeout(0)
    other.execute("BEGIN IMMEDIATE")
    writer._conn.set_busy_timeout(50)  # type: ignore[union-attr]
    fut = writer.submit(lambda tx: _open(tx, "x"))
    with pytest.raises(StoreUnavailable):
        fut.result(timeout=10)
    other.execute("ROLLBACK")
    assert writer.submit(lambda tx: _open(tx, "y")).result() == 1


def test_many_concurrent_submissions_keep_the_chain_gapless(writer: Writer, tmp_path: Path) -> None:
    futures = [writer.submit(lambda tx, i=i: _open(tx, f"c{i}")) for i in range(500)]
    seqs = sorted(f.result() for f in futures)
    assert seqs == list(range(1, 501))
    assert sum(writer.commits) == 500 and len(writer.commits) < 500  # type: ignore[attr-defined]


def test_a_command_raising_stopiteration_fails_instead_of_hanging(writer: Writer) -> None:
    import asyncio

    async def run() -> None:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(writer.run(lambda tx: next(iter(()))), timeout=5)

    asyncio.run(run())
    assert writer.submit(lambda tx: _open(tx, "after")).result() == 1
