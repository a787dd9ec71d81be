"""The HQ ledger cursor: opaque to clients, it names the relay epoch and the last ledger_seq.

A cursor from another epoch (the relay database was recreated or replaced) cannot be trusted to
mean the same position, so it is refused with 409 "resync" rather than silently reinterpreted.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

from cloud_relay.errors import Resync
from core.errors import BadRequest


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    epoch: str
    ledger_seq: int


def encode(epoch: str, ledger_seq: int) -> str:
    raw = msgspec.msgpack.encode(_Cursor(epoch, ledger_seq))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, epoch: str) -> int:
    """The ledger_seq to read after; "" or None means from the start."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = msgspec.msgpack.decode(base64.urlsafe_b64decode(padded), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise BadRequest(f"cursor {cursor[:64]!r} is not one this relay issued: {exc}",
                         field="after") from None
    if value.epoch != epoch:
        raise Resync(f"cursor is from relay epoch {value.epoch}; this relay is epoch {epoch}. "
                     "Start again without `after` (and drop what was pulled from the old epoch, "
                     "or dedupe it by event_id)")
    if value.ledger_seq < 0:
        raise BadRequest("cursor position is negative", field="after")
    return value.ledger_seq
