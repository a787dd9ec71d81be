"""[promotions]: the HQ key bundles must be signed with, and the store's region."""

from __future__ import annotations

import msgspec


class PromotionsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # HQ's Ed25519 public key, base64 of the 32 raw bytes (`novapos-relay promotions key`).
    # Empty: no bundle is trusted; every one is refused with an alarm saying so.
    hq_public_key: str = ""
    # The store's region, for rules scoped to regions; empty: region-scoped rules never apply.
    region: str = ""
