"""Exporting a tenant's ledger to JSONL or CSV, page by page in ledger order, resumable from
a cursor (the last line's cursor is printed so an interrupted export can continue).

JSONL: one `schemas.relay.LedgerEvent` per line (body as JSON when interpretable, always as
base64); with `body="once"` one `schemas.relay.LedgerEventOnce` per line instead (the body once:
as JSON when interpretable, else as base64; about half the bytes and half the database's work).
CSV: the envelope columns plus `body_b64`, for spreadsheets and bulk loaders.
Parquet is not offered: it would add pyarrow (~100 MB) for a format HQ can derive from JSONL.

`export_file` writes a file through `core.files.open_atomic`: it appears only once complete
(an interrupted export leaves the previous file, or none, never half of one).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import IO

from cloud_relay import cursor, hq
from cloud_relay.storage.base import Storage
from core.files import open_atomic
from schemas.relay import LedgerEvent

PAGE_EVENTS = 5_000  # a page read (CSV), a write and a progress step
STATEMENT_EVENTS = 200_000  # the most a JSONL read streams from one snapshot
FORMATS = ("jsonl", "csv")
BODIES = ("both", "once")  # JSONL: LedgerEvent lines (the default), LedgerEventOnce lines
CSV_COLUMNS = ("ledger_seq", "store_id", "seq", "event_id", "lane_id", "stream", "type",
               "schema_version", "recorded_at_ms", "business_date", "prev_hash_hex", "hash_hex",
               "received_at_ms", "quarantine", "body_b64")


def export(storage: Storage, tenant_id: str, fmt: str, out: IO[str] | IO[bytes],
           after: str | None = None,
           on_page: Callable[[int], None] = lambda n: None,
           body: str = "both") -> tuple[int, str]:
    """Write every event after `after` to a text stream, or (JSONL only, and faster: the page
    is written as the storage encoded it) a binary one; returns (events written, cursor to
    resume from). `body` (JSONL only): "both" or "once" (see the module's docstring)."""
    assert fmt in FORMATS and body in BODIES, (fmt, body)
    binary = not isinstance(out, io.TextIOBase)
    assert fmt == "jsonl" or not binary, "CSV goes to a text stream"
    assert fmt == "jsonl" or body == "both", "CSV carries the body once already (body_b64)"
    if fmt == "jsonl":
        return _export_jsonl(storage, tenant_id, out, binary, after or "", on_page,
                             body == "once")
    writer = csv.writer(out)  # type: ignore[arg-type]
    if not after:
        writer.writerow(CSV_COLUMNS)
    written, position = 0, after or ""
    while True:
        page = hq.ledger_page(storage, tenant_id, position or None, PAGE_EVENTS)
        writer.writerows(_csv_row(ev) for ev in page.events)
        written += len(page.events)
        position = page.next_cursor
        on_page(len(page.events))
        if not page.more:
            return written, position


def _export_jsonl(storage: Storage, tenant_id: str, out: IO[str] | IO[bytes], binary: bool,
                  after: str, on_page: Callable[[int], None],
                  body_once: bool) -> tuple[int, str]:
    # The lines are written as the storage encoded them (`Storage.write_jsonl`: on PostgreSQL
    # the database writes them), nothing decoded or re-encoded; a read per STATEMENT_EVENTS,
    # until a read finds nothing after it (events stored meanwhile are exported too).
    def write(lines: bytes, events: int) -> None:
        out.write(lines if binary else lines.decode())  # type: ignore[arg-type]
        on_page(events)

    last = cursor.decode(after or None, storage.epoch)
    written = 0
    while True:
        got = storage.write_jsonl(tenant_id, last, STATEMENT_EVENTS, write, PAGE_EVENTS,
                                  body_once)
        written += got.count
        if got.last_ledger_seq is not None:
            last = got.last_ledger_seq
        if not got.more:
            return written, cursor.encode(storage.epoch, last)


def export_file(storage: Storage, tenant_id: str, fmt: str, path: Path,
                after: str | None = None,
                on_page: Callable[[int], None] = lambda n: None,
                body: str = "both") -> tuple[int, str]:
    """`export` into `path`, which appears (mode 0644) only when the export is complete."""
    with open_atomic(path, mode=0o644) as raw:
        if fmt == "jsonl":
            return export(storage, tenant_id, fmt, raw, after, on_page, body)
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            return export(storage, tenant_id, fmt, text, after, on_page)
        finally:
            text.flush()
            text.detach()  # the atomic writer owns the file: it fsyncs, renames and closes


def _csv_row(ev: LedgerEvent) -> list:
    return [getattr(ev, c) if getattr(ev, c) is not None else "" for c in CSV_COLUMNS]
