"""Hypothesis: whatever mix of fiscal events, commands that fail after appending (their
savepoint rolls back, signature record included), batches of several commands, signer outages
and restarts (a new writer: nothing remembered), the journal's transaction numbers and
signature counters run 1, 2, 3 ... without a gap, one record per fiscal event. The kill -9 half
of the promise runs through a real daemon in tests/acceptance/test_cash_day.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ids import uuid7
from edge.config import Config
from edge.fiscal import journal as fj
from edge.fiscal.signer import SoftwareSigner
from edge.store.writer import _Command
from schemas import events as ev
from tests.support.store import TestStore, verify


class Boom(Exception):
    pass


def _fiscal(tx) -> None:
    tx.append(ev.CartVoided(cart_id=uuid7(), reason="x"), stream="cart:x", lane_id="lane-1")


def _plain(tx) -> None:
    tx.append(ev.VoucherIssued(code=uuid7(), currency="EUR", amount_minor=1),
              stream="voucher:x", lane_id=None)


def _failing(tx) -> None:
    _fiscal(tx)
    raise Boom


step = st.sampled_from(["fiscal", "plain", "failing", "batch", "outage", "restart"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, max_size=30))
def test_counters_are_gap_free(steps) -> None:
    with tempfile.TemporaryDirectory() as d:
        data_dir = Path(d)
        signer = SoftwareSigner.load_or_create(data_dir)
        store = TestStore(data_dir, Config())
        store.writer.sealer = fj.Journal("store-001", signer).seal
        store.start()
        try:
            for s in steps:
                if s == "restart":
                    store.stop()
                    store = TestStore(data_dir, Config())
                    store.writer.sealer = fj.Journal("store-001", signer).seal
                    store.start()
                elif s == "outage":
                    store.writer.sealer = fj.Journal("store-001", None, "unit unplugged").seal
                    store.writer.run_sync(_fiscal)
                    store.writer.sealer = fj.Journal("store-001", signer).seal
                elif s == "batch":
                    store.writer._execute([_Command(_fiscal, None), _Command(_failing, None),
                                           _Command(_plain, None), _Command(_fiscal, None)])
                else:
                    try:
                        store.writer.run_sync({"fiscal": _fiscal, "plain": _plain,
                                               "failing": _failing}[s])
                    except Boom:
                        pass
            rows = store.reader.execute(
                "SELECT transaction_number, signature_counter, event_seq FROM fiscal_journal "
                "ORDER BY transaction_number").fetchall()
            fiscal_seqs = [r[0] for r in store.reader.execute(
                "SELECT seq FROM events WHERE type = ? ORDER BY seq", (ev.CartVoided.TYPE,))]
        finally:
            store.stop()
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        counters = [r[1] for r in rows if r[1] is not None]
        assert counters == list(range(1, len(counters) + 1))
        assert [r[2] for r in rows] == fiscal_seqs
        assert verify(store.db_path).ok
