"""[tender]: cash rounding, refunds, the payment terminal, offline card policy, background
reconciliation (docs/tender.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.ids import Id


class TenderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tenders: cash rounding, refund limits, card timeouts and the offline card policy
    (docs/tender.md)."""

    # Cash due is rounded to this many minor units (5 = to 0.05); 1 = no rounding.
    cash_rounding_minor: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    # A refund above this amount needs a manager token.
    refund_manager_above_minor: Annotated[int, msgspec.Meta(ge=0)] = 5_000
    # How long a card transaction and a status enquiry may take at a terminal. The terminals
    # themselves are devices: `[[devices.terminals]]` (a lane with none takes no cards, except
    # in `serve --demo`, which starts an in-process terminal emulator).
    terminal_transaction_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 120.0
    terminal_status_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    # Offline (store-and-forward) card policy: per payment, per store in total, and age.
    offline_floor_limit_minor: Annotated[int, msgspec.Meta(ge=0)] = 5_000
    offline_cap_minor: Annotated[int, msgspec.Meta(ge=0)] = 50_000
    offline_upload_within_s: Annotated[int, msgspec.Meta(ge=60)] = 86_400
    offline_max_age_s: Annotated[int, msgspec.Meta(ge=60)] = 259_200
    # Background work: reconcile payments left pending, forward stored ones.
    reconcile_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 5.0
    forward_interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 60.0

    def __post_init__(self) -> None:
        if self.offline_upload_within_s > self.offline_max_age_s:
            raise ValueError("tender.offline_upload_within_s must not exceed offline_max_age_s")


class TerminalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One payment terminal (ZVT over TCP): where it is and which lanes take cards on it. Its
    `id` is its device id and the terminal id every payment it takes records, so reconciliation
    asks the terminal that holds the payment."""

    id: Id
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 20_007
    password: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")] = "000000"
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    lanes: list[Id] = []
