"""The active bundle, compiled once: kept in the writer's memo (forgotten when a bundle is
installed; wiped with the memo when another process changed the database).

With no bundle installed `active` is one memo look-up: a cart change costs what it did before
promotions existed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import apsw
import msgspec

from core.promotions import ActiveRules, compile_rules
from edge.store.writer import Tx
from schemas import promotions as sp

MEMO_KEY = ("promotions", "active")


@dataclass(frozen=True, slots=True)
class Book:
    """What the memo holds: the compiled active bundle, or None when there is none."""

    rules: ActiveRules | None


def _signed_active(conn: apsw.Connection) -> bytes | None:
    rows = conn.execute(
        "SELECT b.signed FROM promotion_state s JOIN promotion_bundles b "
        "ON b.version = s.active_version WHERE s.id = 1").fetchall()
    return rows[0][0] if rows else None


def _compile(signed_json: bytes, store_id: str, region: str) -> ActiveRules:
    # Verified when installed; the bytes in our own log are trusted from then on.
    signed = msgspec.json.decode(signed_json, type=sp.SignedBundle)
    bundle = msgspec.json.decode(base64.b64decode(signed.bundle_b64), type=sp.Bundle)
    return compile_rules(bundle, store_id, region or None)


def active(tx: Tx, region: str = "") -> ActiveRules | None:
    kept: Book | None = tx.memo.get(MEMO_KEY)
    if kept is None:
        signed = _signed_active(tx.conn)
        kept = Book(_compile(signed, tx.store_id, region) if signed is not None else None)
        tx.memo.put(MEMO_KEY, kept)
    return kept.rules


def forget(tx: Tx) -> None:
    tx.memo.forget(MEMO_KEY)
