"""Checklist read models: the current definitions (a new definition replaces the items) and
the ticks per business day."""

from __future__ import annotations

from edge.store.projector import Registrations
from schemas import checklists as ck
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {"checklists": "checklist_id", "checklist_items": "checklist_id, item_id",
          "checklist_ticks": "checklist_id, item_id, business_date"}


@PROJECTIONS.on(ck.ChecklistDefined)
def _defined(conn, stored: Event, b: ck.ChecklistDefined) -> None:
    d = b.definition
    conn.execute("INSERT INTO checklists(checklist_id, kind, title, defined_seq) VALUES "
                 "(?,?,?,?) ON CONFLICT(checklist_id) DO UPDATE SET kind = excluded.kind, "
                 "title = excluded.title, defined_seq = excluded.defined_seq",
                 (d.checklist_id, d.kind, d.title, stored.seq))
    conn.execute("DELETE FROM checklist_items WHERE checklist_id = ?", (d.checklist_id,))
    for pos, item in enumerate(d.items):
        conn.execute("INSERT INTO checklist_items(checklist_id, position, item_id, text, "
                     "due_local) VALUES (?,?,?,?,?)",
                     (d.checklist_id, pos, item.item_id, item.text, item.due_local))


@PROJECTIONS.on(ck.ChecklistItemTicked)
def _ticked(conn, stored: Event, b: ck.ChecklistItemTicked) -> None:
    conn.execute("INSERT INTO checklist_ticks(checklist_id, item_id, business_date, by, "
                 "ticked_at_ms, note, seq) VALUES (?,?,?,?,?,?,?)",
                 (b.checklist_id, b.item_id, b.business_date, b.by, b.ticked_at_ms, b.note,
                  stored.seq))
