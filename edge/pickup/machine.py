"""A pickup order's states, as a pure fold of its events.

    received --accepted--> accepted --item_picked--> picking --packed--> packed --ready--> ready
        |                     |                         |                  |                |
        +--rejected--> rejected                         +------------------+--cancelled-----+--handed_over--> handed_over
        +--cancelled--> cancelled <---------------------------------------------------------+

`flagged_short` keeps the state (a lane sold a held unit; the order goes on, HQ is told).
Terminal: rejected, handed_over, cancelled. Commands call `step` before appending, the
projection calls it when applying, so an event the machine refuses is never recorded.
"""

from __future__ import annotations

from core.errors import Conflict

TERMINAL = frozenset({"rejected", "handed_over", "cancelled"})
OPEN = ("received", "accepted", "picking", "packed", "ready")

_NEXT: dict[tuple[str, str], str] = {
    ("received", "pickup.accepted"): "accepted",
    ("received", "pickup.rejected"): "rejected",
    ("accepted", "pickup.item_picked"): "picking",
    ("picking", "pickup.item_picked"): "picking",
    ("picking", "pickup.packed"): "packed",
    ("packed", "pickup.ready"): "ready",
    ("ready", "pickup.handed_over"): "handed_over",
}


class WrongState(Conflict):
    slug, title = "pickup-wrong-state", "The pickup order is not in a state that allows this"


def step(state: str, event_type: str) -> str:
    if event_type == "pickup.cancelled" and state not in TERMINAL:
        return "cancelled"
    if event_type == "pickup.flagged_short" and state not in TERMINAL:
        return state
    nxt = _NEXT.get((state, event_type))
    if nxt is None:
        raise WrongState(f"a {state} pickup order cannot take {event_type.split('.')[1]}",
                         state=state)
    return nxt
