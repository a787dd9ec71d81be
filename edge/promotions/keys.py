"""The HQ key promotion bundles must verify against.

It is pinned once, in the log (`promotions.key_pinned`): from the enrollment document
(`novapos-edge sync enroll`, which the relay fills with the key HQ registered) or, for a store
enrolled before HQ registered one, from the first down-sync change `promotions.key`. From then
on another key is refused, whoever offers it: a `promotions.key_refused` event, a sync alarm
`promotion_key_changed` naming both keys, and the pinned key stays. `[promotions]
hq_public_key`, when set, overrides the pinned key (an operator's deliberate choice, e.g.
after HQ rotated its key).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import apsw
import msgspec

from core.promotions.bundle import key_id_of
from edge.promotions.settings import PromotionsConfig
from edge.store.writer import Tx
from schemas import promotion_events as pe
from schemas import promotions as sp
from schemas.sync import Change
from sync.cursor import NOT_CLEARED_BY_UPLOAD, raise_alarm
from sync.port import ChangeRejected

KIND = "promotions.key"
ALARM = "promotion_key_changed"
assert ALARM in NOT_CLEARED_BY_UPLOAD  # open until a bundle verifies again
STREAM = "promotions"


class KeyInvalid(ValueError):
    """Not an Ed25519 public key (base64 of 32 bytes)."""


def checked(public_b64: str) -> str:
    try:
        raw = base64.b64decode(public_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyInvalid("the HQ promotions key is not base64") from exc
    if len(raw) != 32:
        raise KeyInvalid(f"the HQ promotions key is {len(raw)} bytes, not 32")
    return base64.b64encode(raw).decode()


def pinned(conn: apsw.Connection) -> str | None:
    rows = conn.execute("SELECT public_key_b64 FROM promotion_key WHERE id = 1").fetchall()
    return rows[0][0] if rows else None


@dataclass(frozen=True, slots=True)
class VerifyKey:
    public_key_b64: str  # "" when there is none: every bundle is refused
    source: str | None  # "config", "pinned", None


def effective(conn: apsw.Connection, config: PromotionsConfig) -> VerifyKey:
    if config.hq_public_key:
        return VerifyKey(config.hq_public_key, "config")
    key = pinned(conn)
    return VerifyKey(key, "pinned") if key else VerifyKey("", None)


@dataclass(frozen=True, slots=True)
class Pinning:
    outcome: str  # "pinned", "unchanged", "refused"
    detail: str


def pin(tx: Tx, public_b64: str, source: str) -> Pinning:
    """Pin `public_b64` if no key is pinned; the same key again changes nothing; another key
    is refused (recorded, alarmed) and the pinned one stays. Raises `KeyInvalid` (nothing
    recorded) for a value that is not a key."""
    key = checked(public_b64)
    key_id = key_id_of(key)
    current = pinned(tx.conn)
    if current == key:
        return Pinning("unchanged", f"HQ key {key_id} is pinned already")
    if current is not None:
        was = key_id_of(current)
        detail = (f"HQ promotions key {key_id} offered by {source} refused: key {was} is "
                  "pinned (set [promotions] hq_public_key to accept another key)")
        tx.append(pe.PromotionKeyRefused(key_id=key_id, pinned_key_id=was, source=source),
                  stream=STREAM, lane_id=None)
        raise_alarm(tx.conn, ALARM, detail, None, tx.now_ms)
        return Pinning("refused", detail)
    tx.append(pe.PromotionKeyPinned(key_id=key_id, public_key_b64=key, source=source),
              stream=STREAM, lane_id=None)
    return Pinning("pinned", f"HQ promotions key {key_id} pinned ({source})")


def apply_keys(tx: Tx, changes: Sequence[Change]) -> list[str]:
    out = []
    for change in changes:
        try:
            offered = msgspec.json.decode(change.payload, type=sp.HqPublicKey)
            out.append(pin(tx, offered.public_key_b64, "down-sync").detail)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyInvalid) as exc:
            raise ChangeRejected(f"malformed {KIND} payload: {exc}") from exc
    return out


APPLIERS = {KIND: apply_keys}
