"""The store status report behind `novapos-edge status` and `GET /v1/admin/status`.

Sections: daemon, database (size, free disk, events, orders), sync, print queues, devices.
`sync` is the sync engine's own report (`edge.sync_link.status`, the same as
`novapos-edge sync status`); `configured` is false until the store is enrolled with a relay.
Print queues come from the print service. Every problem is a sentence in `problems`; any
problem makes the report degraded (CLI exit 1). Failed print jobs are shown in the queue
section but are not a problem on their own: a printer that is down is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import apsw
import structlog

import edge
from edge.devices.service import DeviceService
from edge.store import eventlog
from edge.store.db import DB_FILENAME
from edge.store.kernel import Store
from schemas.devices import DaemonState, DatabaseState, DeviceStatus, StoreStatus
from schemas.sync_status import SyncStatus

log = structlog.get_logger("novapos.status")

LOW_DISK_BYTES = 1024**3
# The sync section: the sync engine's own report over a connection (None: not configured).
SyncReport = Callable[[apsw.Connection], SyncStatus | None]


def is_down(s: DeviceStatus) -> bool:
    return s.kind != "unsupported" and (s.state == "error" or s.power in ("offline", "off_offline"))


def describe_down(s: DeviceStatus) -> str:
    why = ", ".join(c.replace("_", " ") for c in s.causes) or s.power
    return f"{s.kind.replace('_', ' ')} {s.device_id} is in {s.state}: {why}"


def _sync(report: SyncReport, conn: apsw.Connection) -> SyncStatus | None:
    try:
        return report(conn)
    except Exception:  # the status report must answer even if sync cannot
        log.exception("sync status unavailable")
        return None


async def build(store: Store, devices: DeviceService, sync_report: SyncReport) -> StoreStatus:
    readiness = await store.readiness()
    conn = store.reader
    head_seq, _ = eventlog.head(conn)
    orders = conn.execute("SELECT count(*) FROM orders").fetchall()[0][0]
    db_bytes = sum(p.stat().st_size for p in store.data_dir.glob(DB_FILENAME + "*"))
    free = shutil.disk_usage(store.data_dir).free
    sync = _sync(sync_report, conn)
    queues = devices.print_queues()
    statuses = devices.statuses()
    down = [s for s in statuses if is_down(s)]
    problems: list[str] = []
    failing = {k: v for k, v in readiness.checks.items() if v != "ok"}
    problems += [f"daemon not ready: {k} {v}" for k, v in failing.items()
                 if k not in readiness.advisory]
    problems += [f"{k.replace('_', ' ')}: {v}" for k, v in failing.items()
                 if k in readiness.advisory]
    if free < LOW_DISK_BYTES:
        problems.append(f"low disk: {free / 1024**3:.2f} GiB free in {store.data_dir}")
    problems += [describe_down(s) for s in down]
    if sync is not None and sync.open_alarms:
        problems.append(f"sync: {sync.open_alarms} open alarm(s), see `novapos-edge sync status`")
    if sync is not None and sync.changes_held:
        problems.append(f"sync: {sync.changes_held} down-sync change(s) held, of kind(s) this "
                        f"release does not know: {', '.join(sync.held_change_kinds)} "
                        "(upgrade the store; later changes still apply)")
    warnings = [f"{name} discovery: {err}" for name, err in sorted(devices.poller.errors.items())]
    ident = store.identity
    return StoreStatus(
        store_id=ident.store_id, tenant_id=ident.tenant_id,
        daemon=DaemonState(running=True, ready=readiness.ready, url=None, pid=os.getpid(),
                           version=edge.__version__, checks=readiness.checks),
        database=DatabaseState(db_bytes=db_bytes, free_disk_bytes=free, events=head_seq,
                               orders=orders),
        sync=sync, print_queues=queues, devices=statuses,
        devices_down=[s.device_id for s in down], problems=problems, degraded=bool(problems),
        warnings=warnings,
    )
