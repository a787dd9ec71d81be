"""The hash chain over a store's event log: genesis, the per-event hash, and the walk that
checks a sequence of events.

The same rule serves the store (which appends and verifies its own log) and the relay (which
verifies every batch it ingests), so it lives here, once.

Invariants:
- `seq` is gapless and strictly increasing (1, 2, 3, ...); the first event's `prev_hash` is
  `GENESIS_HASH` (32 zero bytes), or the hash a retained log's checkpoint recorded.
- `hash = SHA-256(prev_hash || header || 0x0A || body)` where `header` is the canonical JSON of
  the envelope fields and `body` the stored msgspec bytes. Changing any stored byte of any
  event breaks the chain from that event on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from schemas.envelope import Event

GENESIS_HASH = bytes(32)

_encode_header = msgspec.json.Encoder().encode
_sha256 = hashlib.sha256
_astuple = msgspec.structs.astuple
# The header is the envelope's fields before `body`, in the envelope's order.
_HEADER_FIELDS = Event.__struct_fields__.index("body")
assert Event.__struct_fields__[:_HEADER_FIELDS] == (
    "seq", "event_id", "tenant_id", "store_id", "lane_id", "stream", "type", "schema_version",
    "recorded_at_ms", "business_date")


def chain_hash(
    prev_hash: bytes, *, seq: int, event_id: str, tenant_id: str, store_id: str,
    lane_id: str | None, stream: str, type: str, schema_version: int, recorded_at_ms: int,
    business_date: str, body: bytes,
) -> bytes:
    """The hash of an event about to be written (its envelope does not exist yet)."""
    header = _encode_header(
        [seq, event_id, tenant_id, store_id, lane_id, stream, type, schema_version,
         recorded_at_ms, business_date]
    )
    return _digest(prev_hash, header, body)


def hash_of(ev: Event) -> bytes:
    """The hash `ev` must carry, given its own `prev_hash`. The same rule as `chain_hash`,
    reading the header straight off the envelope: the relay recomputes every event of every
    batch, and a keyword call per event cost as much as the hashing itself."""
    return _digest(ev.prev_hash, _encode_header(_astuple(ev)[:_HEADER_FIELDS]), ev.body)


def hashed_bytes(ev: Event) -> bytes:
    """The exact bytes `hash_of` hashes for `ev` (what a fiscal signature covers)."""
    return ev.prev_hash + _encode_header(_astuple(ev)[:_HEADER_FIELDS]) + b"\n" + ev.body


def _digest(prev_hash: bytes, header: bytes, body: bytes) -> bytes:
    # The body (often a kilobyte) is fed to the hash, not copied into one more bytes object.
    h = _sha256(prev_hash + header + b"\n")
    h.update(body)
    return h.digest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    head_seq: int
    ok: bool
    broken_at_seq: int | None = None
    reason: str = ""


def verify(events: Iterable[Event], *, first_seq: int = 1,
           prev_hash: bytes = GENESIS_HASH) -> ChainReport:
    """Walk `events` (in seq order) from `first_seq`/`prev_hash` and name the first break."""
    expected_prev, expected_seq, count = prev_hash, first_seq, 0
    for ev in events:
        if ev.seq != expected_seq:
            return ChainReport(count, ev.seq, False, expected_seq,
                               f"gap: expected seq {expected_seq}, found {ev.seq}")
        if ev.prev_hash != expected_prev:
            return ChainReport(count, ev.seq, False, ev.seq,
                               "prev_hash does not match the previous event's hash")
        if hash_of(ev) != ev.hash:
            return ChainReport(count, ev.seq, False, ev.seq,
                               "event bytes do not match its hash (tampered or corrupt)")
        expected_prev, expected_seq, count = ev.hash, ev.seq + 1, count + 1
    return ChainReport(count, expected_seq - 1, True)
