"""Verification: walk the hash chain, then rebuild every projection from the log into a scratch
database and compare it with the live read models, table by table, row by row."""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import msgspec

from core.chain import ChainReport
from core.chain import verify as chain_walk
from edge.store import eventlog
from edge.store.db import migrate, open_connection
from edge.store.layout import Layout
from edge.store.projector import Projector
from schemas.envelope import Event
from schemas.events import decode_body


@dataclass(frozen=True)
class VerifyReport:
    chain: ChainReport
    rebuilt_events: int
    mismatched_tables: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.mismatched_tables


def rebuild_into(source: apsw.Connection, target: apsw.Connection, projector: Projector,
                 *, after_seq: int = 0, through_seq: int | None = None) -> int:
    """Replay the events of `source` after `after_seq` (through `through_seq`) through the
    projections into `target`."""
    count = 0
    limit = None if through_seq is None else max(0, through_seq - after_seq)
    with target:
        for stored in eventlog.read(source, after_seq, limit):
            body = decode_body(stored.type, stored.schema_version, stored.body)
            projector.apply(target, stored, body)
            count += 1
    return count


_decode = msgspec.msgpack.Decoder().decode


def snapshot_tables(conn: apsw.Connection) -> dict[str, tuple[list[str], list[tuple]]]:
    """The read models recorded with the latest checkpoint: table -> (columns, rows)."""
    out: dict[str, tuple[list[str], list[tuple]]] = {}
    for tbl, columns, blob in conn.execute(
            "SELECT tbl, columns, rows FROM checkpoint_rows ORDER BY tbl, chunk"):
        cols, rows = out.setdefault(tbl, (columns.split(","), []))
        rows.extend(tuple(r) for r in _decode(zlib.decompress(blob)))
    return out


def seed(target: apsw.Connection, source: apsw.Connection, tables: dict[str, str]) -> int:
    """Replace the projections of a freshly migrated `target` by the read models of `source`'s
    checkpoint (by column name: a column a later migration added takes its default)."""
    count = 0
    with target:
        for tbl in tables:  # rows a migration inserted are in the checkpoint's rows already
            target.execute(f"DELETE FROM {tbl}")
        for tbl, (cols, rows) in snapshot_tables(source).items():
            if tbl not in tables or not rows:
                continue
            marks = ",".join("?" * len(cols))
            target.executemany(f"INSERT INTO {tbl} ({','.join(cols)}) VALUES ({marks})", rows)
            count += len(rows)
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
        start, digest = eventlog.checkpoint(live)
        with tempfile.TemporaryDirectory(prefix="novapos-verify-") as scratch_dir:
            scratch = open_connection(Path(scratch_dir) / "rebuild.db")
            scratch.execute("PRAGMA synchronous=OFF")  # a scratch file: nothing to keep
            try:
                migrate(scratch, layout.schema)
                if start:  # the log starts at a retention checkpoint: so do the read models
                    seed(scratch, live, dict(layout.projector.tables))
                rebuilt = 0
                projector = layout.projector

                def verified_then_replayed() -> Iterator[Event]:
                    # One pass over the log (each body read and inflated once): the chain walk
                    # asks for the next event only once it accepted this one, so only events
                    # that verified are replayed (past a break bodies may not even decode).
                    nonlocal rebuilt
                    for stored in eventlog.read(live, start):
                        yield stored
                        projector.apply(scratch, stored, decode_body(
                            stored.type, stored.schema_version, stored.body))
                        rebuilt += 1

                with scratch:
                    chain = chain_walk(verified_then_replayed(), first_seq=start + 1,
                                       prev_hash=digest)
                diffs = compare(live, scratch, dict(layout.projector.tables))
            finally:
                scratch.close()
        live.execute("COMMIT")
    finally:
        live.close()
    return VerifyReport(chain, rebuilt, diffs)
