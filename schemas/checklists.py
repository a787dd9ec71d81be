"""Store checklists: open and close checklists defined at HQ (down-synced as
"checklist.defined" changes) and their items ticked at a lane or the CLI, each tick an event
with who and when."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody
from schemas.ids import Id

ChecklistKind = Literal["open", "close"]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class ChecklistItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    item_id: Id
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # Store-local time of day by which it must be ticked (None: no deadline).
    due_local: HHMM | None = None


class ChecklistDefinition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Payload of a "checklist.defined" change: the whole checklist, replacing any before."""

    checklist_id: Id
    kind: ChecklistKind
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    items: Annotated[tuple[ChecklistItem, ...], msgspec.Meta(max_length=100)]
    store_id: str | None = None  # None: every store of the tenant


class ChecklistDefined(EventBody, frozen=True):
    TYPE: ClassVar[str] = "checklist.defined"
    definition: ChecklistDefinition


class ChecklistItemTicked(EventBody, frozen=True):
    TYPE: ClassVar[str] = "checklist.item_ticked"
    checklist_id: str
    item_id: str
    business_date: str
    by: str  # token id, or "cli:<name>"
    ticked_at_ms: int
    note: str = ""


CHECKLIST_EVENTS = (ChecklistDefined, ChecklistItemTicked)


class TickItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ItemState(msgspec.Struct, frozen=True):
    item_id: str
    text: str
    due_local: str | None
    ticked_by: str | None
    ticked_at_ms: int | None
    overdue: bool


class ChecklistView(msgspec.Struct, frozen=True):
    checklist_id: str
    kind: str
    title: str
    business_date: str
    items: list[ItemState]
