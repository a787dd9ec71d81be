"""The partial indexes a query reads through: SQLite uses a partial index only for a query that
contains the index's own WHERE term, so each query carries it, and these plans prove the index
is what answers (not a scan of the whole log or of every payment). A Z report type added to
`ZREPORT_TYPES` fails here until a migration widens `events_zreport_day`. The indexes nothing
queried are gone from a fresh store."""

from __future__ import annotations

from pathlib import Path

from core.zreport import ZREPORT_TYPES
from edge import compose
from edge.payments import rows as payment_rows
from edge.payments.machine import PAID_STATES
from edge.reports import zreport
from edge.store.db import migrate, open_connection
from edge.tender import commands as tender
from edge.tender.service import RECONCILED_STATES


def _plan(conn, sql: str, args: tuple = ()) -> str:
    return " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))


def _store(tmp_path: Path):
    conn = open_connection(tmp_path / "store.db")
    migrate(conn, compose.layout().schema)
    return conn


def test_the_z_report_reads_one_day_through_its_index(tmp_path: Path) -> None:
    conn = _store(tmp_path)
    quoted = ", ".join(f"'{t}'" for t in ZREPORT_TYPES)
    assert zreport.DAY_INDEX_TERM == f"type IN ({quoted})"  # the index holds every Z type
    plan = _plan(conn, zreport.DAY_SQL, ("2026-03-02", *ZREPORT_TYPES))
    assert "USING INDEX events_zreport_day (business_date=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the day's rows come in seq order


def test_payments_by_waiting_state_read_the_partial_index(tmp_path: Path) -> None:
    conn = _store(tmp_path)
    for states in (RECONCILED_STATES, {"stored"}):
        where, args = payment_rows.in_states_where(states)
        plan = _plan(conn, payment_rows.many_sql(where), args)
        assert "USING INDEX payments_waiting (state=?)" in plan, (states, plan)
    assert "payments_waiting" in _plan(conn, tender.STORED_SUMMARY)
    # Another state is still answered (by a scan: nothing asks for one today).
    where, args = payment_rows.in_states_where(set(PAID_STATES))
    assert "payments_waiting" not in _plan(conn, payment_rows.many_sql(where), args)


def test_a_fresh_store_has_only_the_indexes_something_reads(tmp_path: Path) -> None:
    conn = _store(tmp_path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"events_zreport_day", "payments_waiting", "payments_order",
            "payments_request"} <= names
    assert not names & {"events_business_day", "orders_business_date", "payments_state",
                        "payments_card_ref"}
