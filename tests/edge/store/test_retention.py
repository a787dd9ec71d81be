"""Retention: acknowledged events older than the age leave the hot log at a checkpoint that
`verify` starts from; the read models stay; a cut interrupted by a crash leaves a log that
verifies; nothing else can delete an event."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from edge import compose
from edge import config as config_mod
from edge.store import eventlog, retention
from edge.store.db import open_connection
from sync import cursor
from tests.support.store import TestStore, verify
from tests.support.sync_store import START_MS, SaleFactory

DAY_MS = retention.DAY_MS


def _store(data: Path, clock: ManualClock) -> TestStore:
    svc = TestStore(data, config_mod.load(data, {}), clock)
    svc.start()
    return svc


def _sell_days(svc: TestStore, clock: ManualClock, sales: SaleFactory, days: int,
               per_day: int) -> list[int]:
    """`per_day` sales on each of `days` days; the head seq after each day."""
    heads = []
    for _ in range(days):
        heads.append(svc.writer.run_sync(sales.command(per_day)))
        clock.advance(DAY_MS)
    return heads


def _ack(svc: TestStore, seq: int) -> None:
    digest = svc.reader.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchall()[0][0]
    svc.writer.run_sync(lambda tx: cursor.rewind(tx.conn, to_seq=seq, to_hash=digest,
                                                 relay_epoch="e1", now_ms=tx.now_ms))


def _count(conn, sql: str) -> int:
    return conn.execute(sql).fetchall()[0][0]


def test_old_acked_events_leave_and_verify_starts_at_the_checkpoint(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    data = tmp_path / "store"
    svc = _store(data, clock)
    sales = SaleFactory(1)
    heads = _sell_days(svc, clock, sales, days=6, per_day=5)
    _ack(svc, heads[-1])
    orders_before = _count(svc.reader, "SELECT count(*) FROM orders")
    # Now is day 6 after the first sale; an age of 3 days makes days 0-2 old.
    out = retention.run(svc, compose.layout(), max_age_days=3)
    assert out is not None and out.checkpoint_seq == heads[2] and out.removed == heads[2]
    assert eventlog.checkpoint(svc.reader) == (heads[2], out.checkpoint_hash)
    assert _count(svc.reader, "SELECT min(seq) FROM events") == heads[2] + 1
    # What lanes and reports read stays: every order (read model) is still there.
    assert _count(svc.reader, "SELECT count(*) FROM orders") == orders_before
    # The log goes on from the checkpoint, and verify proves chain and read models.
    svc.writer.run_sync(sales.command(3))
    head = eventlog.head(svc.reader)[0]
    svc.stop()
    report = verify(data / "store.db")
    assert report.ok, (report.chain, report.mismatched_tables)
    assert report.chain.events == head - heads[2] == report.rebuilt_events
    # A second run with nothing old enough does nothing.
    svc = _store(data, clock)
    assert retention.run(svc, compose.layout(), max_age_days=3) is None
    svc.stop()


def test_nothing_the_relay_has_not_acknowledged_leaves(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    svc = _store(tmp_path / "store", clock)
    heads = _sell_days(svc, clock, SaleFactory(2), days=5, per_day=4)
    assert retention.run(svc, compose.layout(), max_age_days=1) is None  # nothing acked
    _ack(svc, heads[0] - 1)
    out = retention.run(svc, compose.layout(), max_age_days=1)
    assert out is not None and out.checkpoint_seq == heads[0] - 1
    assert _count(svc.reader, "SELECT count(*) FROM events") == heads[-1] - heads[0] + 1
    svc.stop()
    assert verify(tmp_path / "store" / "store.db").ok


def test_the_triggers_refuse_any_other_delete(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    svc = _store(tmp_path / "store", clock)
    heads = _sell_days(svc, clock, SaleFactory(3), days=3, per_day=2)
    _ack(svc, heads[-1])
    retention.run(svc, compose.layout(), max_age_days=1)
    cp = eventlog.checkpoint(svc.reader)[0]
    svc.stop()
    conn = open_connection(tmp_path / "store" / "store.db")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = ?", (cp + 1,))
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("UPDATE events SET lane_id = 'x' WHERE seq = ?", (cp + 1,))
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        conn.execute("DELETE FROM event_checkpoints")
    with pytest.raises(apsw.ConstraintError, match="only moves forward"):
        conn.execute("INSERT INTO event_checkpoints VALUES (1, zeroblob(32), 0, 0, 0, 0)")
    conn.close()


_CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from core.clock import ManualClock
    from edge import compose, config as config_mod
    from edge.store import retention
    from tests.support.store import TestStore
    data, now, stage = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    svc = TestStore(data, config_mod.load(data, {}), ManualClock(now))
    svc.start()
    p = retention.plan(svc.reader, now, 1)
    start, chunks = retention.build_snapshot(svc.db_path, compose.layout(), p.cut_seq)
    if stage == "before":
        os._exit(9)
    cut = retention.cut_command(start, p.cut_seq, chunks, p.cutoff_ms)
    def crash(tx):
        cut(tx)  # checkpoint row, read models and the DELETE are done, not committed
        os._exit(9)
    svc.writer.run_sync(crash)
""")


@pytest.mark.parametrize("stage", ["before", "inside"])
def test_a_run_killed_midway_leaves_a_log_that_verifies(tmp_path: Path, stage: str) -> None:
    clock = ManualClock(START_MS)
    data = tmp_path / "store"
    svc = _store(data, clock)
    heads = _sell_days(svc, clock, SaleFactory(4), days=4, per_day=3)
    _ack(svc, heads[-1])
    svc.stop()
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(data), str(clock.now_ms()), stage],
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    report = verify(data / "store.db")
    assert report.ok and report.chain.events == heads[-1]  # all of it, as before
    conn = open_connection(data / "store.db", readonly=True)
    assert eventlog.checkpoint(conn)[0] == 0
    conn.close()
    # The next run completes what the killed one did not.
    svc = _store(data, clock)
    assert retention.run(svc, compose.layout(), max_age_days=1).checkpoint_seq == heads[-2]
    svc.stop()
    assert verify(data / "store.db").ok


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(st.integers(1, 4), min_size=2, max_size=6),
       cuts=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       ack_back=st.integers(0, 3))
def test_any_sequence_of_runs_keeps_the_log_verifiable(tmp_path_factory, days, cuts,
                                                        ack_back) -> None:
    """Invariants, whatever runs happen: the log is contiguous from the latest checkpoint,
    nothing past the acked cursor or younger than the age leaves, the read models equal a
    rebuild from the checkpoint's rows plus the hot log."""
    data = tmp_path_factory.mktemp("ret") / "store"
    clock = ManualClock(START_MS)
    svc = _store(data, clock)
    sales = SaleFactory(5)
    heads = []
    for per_day in days:
        heads += _sell_days(svc, clock, sales, 1, per_day)
    _ack(svc, heads[max(0, len(heads) - 1 - ack_back)])
    acked = cursor.load(svc.reader).acked_seq
    for age in cuts:
        now = clock.now_ms()
        retention.run(svc, compose.layout(), max_age_days=age)
        start = eventlog.checkpoint(svc.reader)[0]
        assert start <= acked
        young = svc.reader.execute("SELECT min(seq) FROM events WHERE recorded_at_ms >= ?",
                                   (now - age * DAY_MS,)).fetchall()[0][0]
        assert young is None or start < young
        lo, hi, n = svc.reader.execute(
            "SELECT min(seq), max(seq), count(*) FROM events").fetchall()[0]
        assert n == 0 or (lo == start + 1 and hi - lo + 1 == n)
        svc.writer.run_sync(sales.command(1))
        clock.advance(DAY_MS)
    svc.stop()
    report = verify(data / "store.db")
    assert report.ok, (report.chain, report.mismatched_tables)


def test_the_store_compact_command(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from edge.cli import app as edge_cli

    clock = ManualClock(START_MS - 500 * DAY_MS)  # sales from 2024: past the default 400 days
    data = tmp_path / "store"
    svc = _store(data, clock)
    heads = _sell_days(svc, clock, SaleFactory(6), days=2, per_day=3)
    _ack(svc, heads[-1])
    svc.stop()
    cli = CliRunner()
    # The command reads the wall clock: every event is older than 30 days.
    dry = cli.invoke(edge_cli, ["store", "compact", "--data-dir", str(data), "--dry-run",
                                "--json", "--max-age-days", "30"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["removable"] == heads[-1]
    assert verify(data / "store.db").chain.events == heads[-1]
    done = cli.invoke(edge_cli, ["store", "compact", "--data-dir", str(data), "--json",
                                 "--vacuum"])
    assert done.exit_code == 0, done.output
    got = json.loads(done.stdout)
    assert (got["removed"], got["checkpoint_seq"], got["max_age_days"]) == (heads[-1],) * 2 + (400,)
    report = verify(data / "store.db")
    assert report.ok and report.chain.events == 0
    bad = cli.invoke(edge_cli, ["store", "compact", "--data-dir", str(data), "--max-age-days", "3"])
    assert bad.exit_code == 2


def test_upload_continues_from_the_checkpoint(tmp_path: Path) -> None:
    from sync import outbox

    clock = ManualClock(START_MS)
    svc = _store(tmp_path / "store", clock)
    sales = SaleFactory(7)
    heads = _sell_days(svc, clock, sales, days=3, per_day=2)
    _ack(svc, heads[-1])
    clock.advance(DAY_MS)
    out = retention.run(svc, compose.layout(), max_age_days=1)
    assert out.checkpoint_seq == heads[-1]  # every event left: the log is empty
    assert eventlog.head(svc.reader) == (out.checkpoint_seq, out.checkpoint_hash)
    svc.writer.run_sync(sales.command(2))  # the writer goes on from the checkpoint
    batch = outbox.next_batch(svc.reader, "demo-tenant", "store-001", heads[-1],
                              max_events=10, max_bytes=10**6)
    assert (batch.first_seq, batch.prev_hash) == (heads[-1] + 1, out.checkpoint_hash)
    svc.stop()
    assert verify(tmp_path / "store" / "store.db").ok


def _local_ms(text: str) -> int:
    """Epoch ms of a Europe/Berlin wall-clock time (the default store's zone)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))
               .timestamp() * 1000)


def test_the_daemon_runs_retention_once_a_store_local_day_in_its_window(tmp_path: Path) -> None:
    import asyncio

    from edge.store.settings import RetentionConfig

    clock = ManualClock(START_MS)
    data = tmp_path / "store"
    svc = _store(data, clock)
    heads = _sell_days(svc, clock, SaleFactory(5), days=4, per_day=20)  # one event a sale
    _ack(svc, heads[-1])
    # Constructed directly (not decoded from the TOML), so a run may be capped below the
    # configurable minimum and the test stays small.
    cfg = RetentionConfig(max_age_days=30, daily_at="03:30", window_minutes=60,
                          max_events_per_run=25)
    timer = retention.RetentionTimer(svc, compose.layout(), cfg)
    removed = svc.metrics.retention_removed_total

    async def scenario() -> list:
        serving = asyncio.create_task(svc.writer.serve())
        await asyncio.sleep(0)
        try:
            seen = []
            for moment in ("2026-04-20T03:29", "2026-04-20T03:30", "2026-04-20T03:31",
                           "2026-04-20T04:30", "2026-04-21T04:29", "2026-04-22T03:45"):
                clock._now_ms = _local_ms(moment)  # noqa: SLF001 - the test moves time both ways
                out = await timer.tick()
                seen.append((moment, out.checkpoint_seq if out else None,
                             removed._value.get()))  # noqa: SLF001
            return seen
        finally:
            serving.cancel()
            with __import__("contextlib").suppress(asyncio.CancelledError):
                await serving

    seen = asyncio.run(scenario())
    assert seen == [
        ("2026-04-20T03:29", None, 0),    # before the window
        ("2026-04-20T03:30", 25, 25),     # in it: one run, capped at 25 events
        ("2026-04-20T03:31", None, 25),   # once a day, however often it looks
        ("2026-04-20T04:30", None, 25),   # the window has closed
        ("2026-04-21T04:29", 50, 50),     # the next day, late in the window
        ("2026-04-22T03:45", 75, 75),
    ]
    assert eventlog.checkpoint(svc.reader)[0] == 75
    assert _count(svc.reader, "SELECT min(seq) FROM events") == 76
    svc.stop()
    report = verify(data / "store.db")
    assert report.ok, (report.chain, report.mismatched_tables)


def test_the_daemon_never_removes_what_is_young_or_unacknowledged(tmp_path: Path) -> None:
    import asyncio

    from edge.store.settings import RetentionConfig

    clock = ManualClock(START_MS)
    svc = _store(tmp_path / "store", clock)
    heads = _sell_days(svc, clock, SaleFactory(6), days=3, per_day=2)
    _ack(svc, heads[0])  # only the first day is at HQ
    off = retention.RetentionTimer(svc, compose.layout(), RetentionConfig(daily_at=""))
    timer = retention.RetentionTimer(svc, compose.layout(), RetentionConfig(max_age_days=30))

    async def scenario() -> tuple:
        serving = asyncio.create_task(svc.writer.serve())
        await asyncio.sleep(0)
        try:
            clock._now_ms = _local_ms("2026-03-10T03:40")  # noqa: SLF001 - 8 days on: all young
            young = await timer.tick()
            clock._now_ms = _local_ms("2026-05-10T03:40")  # noqa: SLF001
            never = await off.tick()
            old = await timer.tick()
            return young, never, old
        finally:
            serving.cancel()
            with __import__("contextlib").suppress(asyncio.CancelledError):
                await serving

    young, never, old = asyncio.run(scenario())
    assert young is None and never is None
    assert old is not None and old.checkpoint_seq == heads[0]  # no further than the ack
    assert svc.metrics.retention_runs_total.labels("nothing")._value.get() == 1  # noqa: SLF001
    svc.stop()
    assert verify(tmp_path / "store" / "store.db").ok


def test_a_bad_daily_at_is_refused_in_the_config(tmp_path: Path) -> None:
    from core.errors import ConfigError

    data = tmp_path / "store"
    data.mkdir()
    (data / config_mod.CONFIG_FILENAME).write_text('[retention]\ndaily_at = "25:00"\n')
    with pytest.raises(ConfigError, match="daily_at"):
        config_mod.load(data)
