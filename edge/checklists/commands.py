"""Checklist commands: the down-sync applier (HQ defines a checklist: one event), ticking an
item (one event, once per business day), and the reads the views, alarms and the store's end
of day use."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import apsw

from core.errors import Conflict, NotFound
from edge.checklists.rules import overdue
from edge.store.writer import Tx
from schemas import checklists as ck
from schemas.sync import Change
from sync.downsync import decode
from sync.port import StoreTx


def apply_definitions(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    """Down-sync "checklist.defined": the checklist becomes an event of the store's log."""
    out = []
    for change in changes:
        d = decode(change, ck.ChecklistDefinition)
        if d.store_id is not None and d.store_id != tx.store_id:
            out.append(f"for store {d.store_id}; not this one")
            continue
        tx.append(ck.ChecklistDefined(definition=d),  # type: ignore[attr-defined]
                  stream=f"checklist:{d.checklist_id}", lane_id=None)
        out.append(f"checklist {d.checklist_id}: {len(d.items)} item(s)")
    return out


def tick(tx: Tx, checklist_id: str, item_id: str, by: str, lane_id: str | None,
         note: str = "") -> None:
    rows = tx.conn.execute("SELECT 1 FROM checklist_items WHERE checklist_id = ? AND "
                           "item_id = ?", (checklist_id, item_id)).fetchall()
    if not rows:
        raise NotFound(f"no item {item_id} in checklist {checklist_id}")
    done = tx.conn.execute("SELECT by FROM checklist_ticks WHERE checklist_id = ? AND "
                           "item_id = ? AND business_date = ?",
                           (checklist_id, item_id, tx.business_date)).fetchall()
    if done:
        raise Conflict(f"{checklist_id}/{item_id} is already ticked today (by {done[0][0]})")
    tx.append(ck.ChecklistItemTicked(checklist_id=checklist_id, item_id=item_id,
                                     business_date=tx.business_date, by=by,
                                     ticked_at_ms=tx.now_ms, note=note),
              stream=f"checklist:{checklist_id}", lane_id=lane_id)


def views(conn: apsw.Connection, business_date: str, now_ms: int,
          tz: ZoneInfo) -> list[ck.ChecklistView]:
    out = []
    for cid, kind, title in conn.execute("SELECT checklist_id, kind, title FROM checklists "
                                         "ORDER BY kind DESC, checklist_id").fetchall():
        items = []
        for item_id, text, due, by, at in conn.execute(
                "SELECT i.item_id, i.text, i.due_local, t.by, t.ticked_at_ms FROM "
                "checklist_items i LEFT JOIN checklist_ticks t ON t.checklist_id = "
                "i.checklist_id AND t.item_id = i.item_id AND t.business_date = ? "
                "WHERE i.checklist_id = ? ORDER BY i.position", (business_date, cid)):
            items.append(ck.ItemState(item_id, text, due, by, at,
                                      overdue(due, by is not None, business_date, now_ms, tz)))
        out.append(ck.ChecklistView(cid, kind, title, business_date, items))
    return out


def open_closing_items(conn: apsw.Connection, business_date: str) -> list[str]:
    """Items of the close checklists not ticked on `business_date` ("checklist/item")."""
    return [f"{c}/{i}" for c, i in conn.execute(
        "SELECT i.checklist_id, i.item_id FROM checklist_items i JOIN checklists c USING "
        "(checklist_id) WHERE c.kind = 'close' AND NOT EXISTS (SELECT 1 FROM checklist_ticks t "
        "WHERE t.checklist_id = i.checklist_id AND t.item_id = i.item_id AND "
        "t.business_date = ?) ORDER BY i.checklist_id, i.position", (business_date,))]
