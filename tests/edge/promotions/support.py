"""A signing key, a bundle signed with it, and a store that pins it."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import bodycodec
from core.promotions.bundle import public_key_b64, sign
from edge.promotions import install
from schemas import events as ev
from schemas import promotions as sp
from tests.support.live_app import LiveApp

HQ_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PINNED = {"NOVAPOS_PROMOTIONS__HQ_PUBLIC_KEY": public_key_b64(HQ_KEY)}

THREE_FOR_TWO_MILK = sp.Rule("milk-3for2", "Milk 3 for 2", sp.BuyXGetY(2, 1),
                             sp.Target(skus=("MILK-1L",)))


def signed(*rules: sp.Rule, version: int = 1) -> sp.SignedBundle:
    return sign(sp.Bundle(version, 0, tuple(rules)), HQ_KEY)


def deliver(live: LiveApp, bundle: sp.SignedBundle) -> str:
    """The bundle as down-sync hands it to the store's applier."""
    return live.service.writer.run_sync(
        lambda tx: install.install(tx, bundle, PINNED["NOVAPOS_PROMOTIONS__HQ_PUBLIC_KEY"]))


def sales(live: LiveApp) -> list[ev.SaleCompleted]:
    rows = live.service.reader.execute(
        "SELECT body FROM events WHERE type = 'sale.completed' ORDER BY seq").fetchall()
    return [msgspec.json.decode(bodycodec.decode(r[0]), type=ev.SaleCompleted) for r in rows]
