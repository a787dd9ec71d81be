"""Cash management contracts: till sessions (a cash drawer bound to a lane), the cash that
moves in and out of them, the blind close and the per-till Z report.

Money is integer minor units; a count is a list of (denomination, pieces). The cash a sale or
a refund moves is not repeated here: the tills projection reads it off `sale.completed` and
`payment.refunded` (the one fact of each), so the two can never disagree.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from schemas.eventbase import EventBody

MovementKind = Literal["drop", "pickup", "pay_in", "pay_out"]
# Kinds that need a second person to confirm them (cash leaving the drawer for the safe).
TWO_PERSON_KINDS: frozenset[str] = frozenset({"drop", "pickup"})
MAX_DENOMINATIONS = 32
MAX_PIECES = 100_000


class DenominationCount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    value_minor: Annotated[int, msgspec.Meta(ge=1)]
    pieces: Annotated[int, msgspec.Meta(ge=0, le=MAX_PIECES)]


Count = Annotated[list[DenominationCount], msgspec.Meta(max_length=MAX_DENOMINATIONS)]


class TillTotals(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The figures of one till session (an X report while open, the Z report once closed)."""

    float_minor: int
    sales_count: int  # sales rung on the till's lane during the session
    sales_total_minor: int  # Σ their totals (all tenders)
    cash_sales_minor: int  # cash tendered − change, i.e. what the sales left in the drawer
    cash_refunds_minor: int  # cash paid back out of the drawer
    rounding_minor: int  # cash rounding kept by the drawer (in cash_sales_minor)
    drops_minor: int
    pickups_minor: int
    pay_ins_minor: int
    pay_outs_minor: int
    no_sales: int
    expected_minor: int  # float + cash in − cash out


class TillOpened(EventBody, frozen=True):
    TYPE: ClassVar[str] = "till.opened"
    session_id: str
    till_id: str
    lane_id: str
    currency: str
    float_count: tuple[DenominationCount, ...]
    float_minor: int
    opened_by: str  # token id of who counted the float
    opened_at_ms: int


class TillCashMoved(EventBody, frozen=True):
    """A drop to the safe, a pickup, a pay-in or a pay-out. A drop or a pickup leaves the
    drawer at once (the cash is in the bag) and is confirmed by a second person later."""

    TYPE: ClassVar[str] = "till.cash_moved"
    session_id: str
    till_id: str
    movement_id: str
    kind: MovementKind
    amount_minor: int
    reason: str
    by: str  # token id


class TillMoveConfirmed(EventBody, frozen=True):
    TYPE: ClassVar[str] = "till.move_confirmed"
    session_id: str
    movement_id: str
    by: str  # token id of the second person (never the one who recorded the movement)


class TillNoSale(EventBody, frozen=True):
    """The drawer opened without a sale."""

    TYPE: ClassVar[str] = "till.no_sale"
    session_id: str
    till_id: str
    reason: str
    by: str
    approved_by: str | None = None


class TillClosed(EventBody, frozen=True):
    """The blind close: what was counted, what the log expected, and the till's Z report.
    `z_number` counts this till's closings (1, 2, 3, ... never reset); the report covers the
    log's events from `first_seq` (the open) to `last_seq` (the last event before this one)."""

    TYPE: ClassVar[str] = "till.closed"
    session_id: str
    till_id: str
    lane_id: str
    z_number: int
    first_seq: int
    last_seq: int
    counted: tuple[DenominationCount, ...]
    counted_minor: int
    expected_minor: int
    over_short_minor: int  # counted − expected: > 0 over, < 0 short
    totals: TillTotals
    closed_by: str
    approved_by: str | None  # the manager who approved an over/short above the threshold
    closed_at_ms: int
    note: str = ""


CASH_EVENTS = (TillOpened, TillCashMoved, TillMoveConfirmed, TillNoSale, TillClosed)


# --- requests and views ---------------------------------------------------------------------


class OpenTill(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    float_count: Count


class MoveCash(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: MovementKind
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class NoSale(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CloseTill(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    counted: Count
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class EndOfDay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The store's end of day: a blind count for every till still open (till id -> count)."""

    counts: Annotated[dict[str, Count], msgspec.Meta(max_length=256)] = {}
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class MovementView(msgspec.Struct, frozen=True):
    movement_id: str
    kind: str
    amount_minor: int
    reason: str
    by: str
    confirmed_by: str | None


class TillView(msgspec.Struct, frozen=True):
    """A till session as the lane sees it. `totals` (the expected cash) is left out while the
    session is open, for the count is blind: the X report (manager) shows it."""

    session_id: str
    till_id: str
    lane_id: str
    state: Literal["open", "closed"]
    currency: str
    float_minor: int
    opened_at_ms: int
    movements: list[MovementView]
    safe_drop_recommended: bool
    z_number: int | None = None
    counted_minor: int | None = None
    expected_minor: int | None = None
    over_short_minor: int | None = None
    approved_by: str | None = None
    totals: TillTotals | None = None


class TillReport(msgspec.Struct, frozen=True):
    """The X report (open session) or the Z report (closed) of one till."""

    kind: Literal["X", "Z"]
    session_id: str
    till_id: str
    lane_id: str
    currency: str
    z_number: int | None
    first_seq: int
    last_seq: int
    totals: TillTotals
    counted_minor: int | None = None
    over_short_minor: int | None = None
