"""The one writer: group commit, per-command rollback, no acknowledgement before commit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.clock import ManualClock
from core.errors import InvalidInput
from edge import compose
from edge.errors import StoreUnavailable
from edge.store.db import open_connection, open_store
from edge.store.writer import StoreIdentity, Writer
from schemas import events as ev

IDENT = StoreIdentity("t", "s", ZoneInfo("UTC"), 0)


@pytest.fixture
def writer(tmp_path: Path):
    layout = compose.layout()
    open_store(tmp_path, layout.schema).close()
    commits: list[int] = []
    w = Writer(tmp_path / "store.db", IDENT, ManualClock(0), layout.projector, max_batch=64,
               on_commit=lambda n, _s, _e: commits.append(n))
    w.open()
    w.commits = commits  # type: ignore[attr-defined]
    yield w
    w.close()


def _open(tx, cart_id: str):
    return tx.append(ev.CartOpened(cart_id=cart_id, lane_id="l", currency="EUR", opened_at_ms=0),
                     stream=f"cart:{cart_id}", lane_id="l").seq


def serving(writer: Writer, scenario):
    """Run `scenario()` on an event loop with the writer's batching task alive."""
    async def main():
        task = asyncio.create_task(writer.serve())
        await asyncio.sleep(0)
        try:
            return await scenario()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    return asyncio.run(main())


def test_a_failing_command_rolls_back_alone(writer: Writer, tmp_path: Path) -> None:
    def bad(tx):
        _open(tx, "bad")
        raise InvalidInput("no")

    async def scenario():
        return await asyncio.gather(writer.run(lambda tx: _open(tx, "a")), writer.run(bad),
                                    writer.run(lambda tx: _open(tx, "b")), return_exceptions=True)

    a, failed, b = serving(writer, scenario)
    assert (a, b) == (1, 2), "seq stays gapless after a rolled-back command"
    assert isinstance(failed, InvalidInput)
    assert writer.commits == [3], "the three were committed by one fsync"  # type: ignore[attr-defined]
    conn = open_connection(tmp_path / "store.db")
    assert [r[0] for r in conn.execute("SELECT cart_id FROM carts ORDER BY cart_id")] == ["a", "b"]


def test_commit_failure_fails_every_command_of_the_batch(writer: Writer, tmp_path: Path) -> None:
    # A second connection holding the write lock makes BEGIN IMMEDIATE time out.
    other = open_connection(tmp_path / "store.db")
    other.execute("BEGIN IMMEDIATE")
    writer._conn.set_busy_timeout(50)  # type: ignore[union-attr]
    with pytest.raises(StoreUnavailable):
        writer.run_sync(lambda tx: _open(tx, "x"))
    other.execute("ROLLBACK")
    assert writer.run_sync(lambda tx: _open(tx, "y")) == 1


def test_many_concurrent_requests_share_commits_and_keep_the_chain_gapless(writer: Writer) -> None:
    async def scenario():
        return await asyncio.gather(*(writer.run(lambda tx, i=i: _open(tx, f"c{i}")) for i in range(500)))

    seqs = sorted(serving(writer, scenario))
    assert seqs == list(range(1, 501))
    commits = writer.commits  # type: ignore[attr-defined]
    assert sum(commits) == 500 and max(commits) == 64, "batches are capped at max_batch"


def test_a_command_raising_stopiteration_fails_instead_of_hanging(writer: Writer) -> None:
    async def scenario():
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(writer.run(lambda tx: next(iter(()))), timeout=5)
        return await writer.run(lambda tx: _open(tx, "after"))

    assert serving(writer, scenario) == 1


def test_requests_fail_cleanly_when_the_writer_is_not_serving(writer: Writer) -> None:
    async def scenario():
        with pytest.raises(StoreUnavailable):
            await writer.run(lambda tx: _open(tx, "x"))

    asyncio.run(scenario())
