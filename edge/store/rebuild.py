"""Verification: walk the hash chain, then rebuild every projection from the log into a scratch
database and compare it with the live read models, table by table, row by row."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import apsw

from core.chain import ChainReport
from edge.store import eventlog
from edge.store.db import migrate, open_connection
from edge.store.layout import Layout
from edge.store.projector import Projector
from schemas.events import decode_body


@dataclass(frozen=True)
class VerifyReport:
    chain: ChainReport
    rebuilt_events: int
    mismatched_tables: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.mismatched_tables


def rebuild_into(source: apsw.Connection, target: apsw.Connection, projector: Projector) -> int:
    """Replay every event of `source` through the projections into an empty `target`."""
    count = 0
    with target:
        for stored in eventlog.read(source):
            body = decode_body(stored.type, stored.schema_version, stored.body)
            projector.apply(target, stored, body)
            count += 1
    return count


def table_rows(conn: apsw.Connection, table: str, order: str) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def compare(live: apsw.Connection, rebuilt: apsw.Connection,
            tables: dict[str, str]) -> dict[str, str]:
    diffs: dict[str, str] = {}
    for table, order in tables.items():
        a, b = table_rows(live, table, order), table_rows(rebuilt, table, order)
        if a == b:
            continue
        if len(a) != len(b):
            diffs[table] = f"live has {len(a)} rows, rebuild has {len(b)}"
            continue
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        diffs[table] = f"row {first} differs: live {a[first]!r} vs rebuilt {b[first]!r}"
    return diffs


def verify(db_path: Path, layout: Layout) -> VerifyReport:
    live = open_connection(db_path)
    try:
        # One read transaction: the chain, the replay and the comparison see the same snapshot.
        live.execute("BEGIN")
        chain = eventlog.verify_chain(live)
        with tempfile.TemporaryDirectory(prefix="novapos-verify-") as scratch_dir:
            scratch = open_connection(Path(scratch_dir) / "rebuild.db")
            try:
                migrate(scratch, layout.schema)
                rebuilt = rebuild_into(live, scratch, layout.projector)
                diffs = compare(live, scratch, dict(layout.projector.tables))
            finally:
                scratch.close()
        live.execute("COMMIT")
    finally:
        live.close()
    return VerifyReport(chain, rebuilt, diffs)
