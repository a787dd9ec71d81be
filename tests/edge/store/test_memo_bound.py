"""The writer's memo is bounded: what a day of sales leaves in it (carts remembered open, then
completed) ages out, least recently used first, while what every command reads (the catalog,
an open cart being rung) stays remembered."""

from __future__ import annotations

import contextlib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from edge import compose
from edge.store import writer as writer_mod
from edge.store.db import open_store
from edge.store.writer import Memo, StoreIdentity, Writer


@pytest.fixture
def writer(tmp_path: Path):
    layout = compose.layout()
    open_store(tmp_path, layout.schema).close()
    w = Writer(tmp_path / "store.db", StoreIdentity("t", "s", ZoneInfo("UTC"), 0),
               ManualClock(0), layout.projector, max_batch=64)
    w.open()
    yield w
    w.close()


def test_a_day_of_carts_does_not_stay_in_the_writers_memory(writer: Writer) -> None:
    """2,500 sales each leave a cart behind; the catalog is read by every one of them."""
    catalog = object()
    writer.run_sync(lambda tx: tx.memo.put(("catalog",), catalog))
    seen = []

    def sale(tx, n: int) -> None:
        seen.append(tx.memo.get(("catalog",)))
        tx.memo.put(("cart", f"cart-{n}"), {"cart": n})

    for n in range(2_500):
        writer.run_sync(lambda tx, n=n: sale(tx, n))
    kept = writer.memo._committed
    assert len(kept) <= writer_mod.MEMO_MAX_ENTRIES
    assert all(c is catalog for c in seen)  # never evicted, never read back from the database
    # The most recent carts are still there, the oldest are gone.
    assert writer.run_sync(lambda tx: tx.memo.get(("cart", "cart-2499"))) == {"cart": 2499}
    assert writer.run_sync(lambda tx: tx.memo.get(("cart", "cart-0"))) is None


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["put", "get", "forget"]),
                              st.integers(0, 12), st.booleans()), max_size=80),
       bound=st.integers(1, 6))
def test_memo_is_a_bounded_lru_that_never_answers_a_wrong_value(ops, bound):
    """Against a model: a hit is always the last value put for the key (never a forgotten or
    failed one); the memo never holds more than the bound after a batch."""
    with _bound(bound):
        _run(ops, bound)


def _run(ops, bound) -> None:
    memo, truth = Memo(), {}
    for op, key, commit in ops:
        if op == "put":
            memo.put(key, ("v", key, len(truth)))
            pending = ("v", key, len(truth))
        elif op == "forget":
            memo.forget(key)
            pending = None
        else:
            got = memo.get(key)
            assert got is None or got == truth.get(key)
            continue
        memo.command_done(True)
        memo.batch_done(commit)
        if commit:
            if pending is None:
                truth.pop(key, None)
            else:
                truth[key] = pending
        else:
            truth.clear()  # a failed batch wipes what was committed (the model may be stricter)
        assert len(memo._committed) <= bound
        assert all(truth.get(k) == v for k, v in memo._committed.items())


@contextlib.contextmanager
def _bound(n: int):
    saved, writer_mod.MEMO_MAX_ENTRIES = writer_mod.MEMO_MAX_ENTRIES, n
    try:
        yield
    finally:
        writer_mod.MEMO_MAX_ENTRIES = saved


def test_the_entry_read_last_outlives_those_put_before_it() -> None:
    memo = Memo()
    with _bound(3):
        for key in ("catalog", "a", "b"):
            memo.put(key, key)
            memo.command_done(True)
            memo.batch_done(True)
        assert memo.get("catalog") == "catalog"  # read: now the most recently used
        memo.put("c", "c")
        memo.command_done(True)
        memo.batch_done(True)
    assert (memo.get("catalog"), memo.get("a"), memo.get("c")) == ("catalog", None, "c")
