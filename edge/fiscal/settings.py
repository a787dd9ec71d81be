"""[fiscal]: whether the store signs its fiscal events, and with what (docs/fiscal.md)."""

from __future__ import annotations

from typing import Literal

import msgspec


class FiscalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Sign every fiscally relevant event (sales, voids, refunds, drawer opens, reprints, till
    # closings). Off: no journal is kept (a country without a signing duty).
    enabled: bool = True
    # "software": Ed25519 with a key in the data dir. A hardware signing unit is a second
    # implementation of `edge.fiscal.signer.Signer` (docs/fiscal.md), not shipped yet.
    signer: Literal["software"] = "software"
    # The register's id in exports (DSFinV-K KASSE_ID); default: the store id.
    cash_register_id: str = ""
    # Master data of the DSFinV-K export (the company and the location).
    company_name: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "DEU"  # ISO 3166 alpha-3
    tax_number: str = ""
    vat_id: str = ""
