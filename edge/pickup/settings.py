"""[pickup]: the SLA timers of pickup orders and how the store decides them."""

from __future__ import annotations

from typing import Annotated

import msgspec


class PickupConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Accept or reject a received order within this many minutes (an alarm after).
    accept_within_min: Annotated[int, msgspec.Meta(ge=1, le=10_080)] = 15
    # Have an accepted order ready for pickup within this many minutes (an alarm after).
    ready_within_min: Annotated[int, msgspec.Meta(ge=1, le=100_800)] = 240
    # An order not collected this many days after it was accepted is a no-show: released.
    no_show_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7
    # The store decides received orders itself (reserve every line, or reject with the short
    # lines) on its next sweep; false leaves that to POST /v1/pickup-orders/{id}/accept.
    auto_accept: bool = True
    # How often the store's sweeper looks at timers, expiries and held units.
    sweep_interval_s: Annotated[float, msgspec.Meta(ge=0.01, le=3600)] = 1.0
