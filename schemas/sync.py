"""Sync protocol contracts between a store's edge daemon and the cloud relay.

Upload: a `Batch` is a contiguous `seq` range of one store's log, frozen before its first send,
carrying the log's own envelopes (`schemas.envelope.Event`, every field the chain hash covers,
tenant and store ids included).
Its bytes on the wire are `zlib(msgpack(Batch))`, content type `application/x-novapos-batch`;
`batch_id = "<store_id>:<first_seq>-<last_seq>"` is also the request's Idempotency-Key and the
SHA-256 of the compressed bytes is its fingerprint, so a retry resends identical bytes.

The relay accepts a batch only if it continues the store's chain: `first_seq` = high watermark
+ 1 (or overlaps what it has, which is acked again without storing twice) and `prev_hash`
equals the hash of event `first_seq - 1`. Anything else is a `SyncRefusal` with a
machine-readable `reason`. Down-sync delivers `ChangeSet`s by a monotonic `change_id` cursor.

Limits are explicit (`MAX_BATCH_EVENTS`, `MAX_BATCH_BYTES`); a relay refuses larger batches.
Every event of a batch names the batch's tenant and store; a relay refuses ("malformed") one
that names another.

Relay conventions (see docs/relay.md):
- The edge may send `X-NovaPOS-Acked-Through: <seq>` (the highest seq it holds an ack for) with
  a batch; when that is above the relay's high watermark the relay was restored from a backup and
  refuses with reason "relay_behind" (otherwise a too-high `first_seq` is a "gap"). Both carry
  `expected_seq`: resend from there.
- `GET /v1/stores/{store}/watermark?head_seq=N&applied_change_id=M` reports the store's own log
  head and the last down-sync change it applied (both optional); HQ sees them in sync status.
- `GET /v1/stores/{store}/changes?after=N&limit=L` answers a `ChangeSet` as msgspec JSON
  (`Change.payload` is then base64), or as msgpack when the request says
  `Accept: application/x-msgpack`. Payloads: `schemas.catalog.TaxClass` / `Product` /
  `PriceVersion`, `ConfigSet`, `LaneTokenRevoked`, each msgspec JSON.

Change kinds, forward-compatibly: what this release's relay sends is exactly `ChangeSet` with
`Change.kind` one of `ChangeKind` (the relay's contract, unchanged). A store reads the page as
an `IncomingChangeSet`, whose kind is any well-formed name (`ChangeKindName`), because a newer
relay sends kinds an older store does not know yet; such a change is held, not applied, and
never wedges the page (docs/sync.md "Change kinds this release does not know"). Every other
field is as strict as ever: a page that does not decode is unreadable, whatever its kinds.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any, Literal, get_args

import msgspec

from schemas.envelope import Event

# 2: events are the 13-field envelope (tenant and store ids in each), no longer an 11-field copy.
PROTOCOL_VERSION = 2
BATCH_CONTENT_TYPE = "application/x-novapos-batch"
MAX_BATCH_EVENTS = 5000
MAX_BATCH_BYTES = 8 * 1024 * 1024  # uncompressed msgpack size
MAX_DOWN_CHANGES = 500
HEADER_ACKED_THROUGH = "X-NovaPOS-Acked-Through"
MSGPACK_CONTENT_TYPE = "application/x-msgpack"


class Batch(msgspec.Struct, frozen=True):
    protocol: int
    batch_id: str
    tenant_id: str
    store_id: str
    first_seq: int
    last_seq: int
    prev_hash: bytes  # hash of event first_seq - 1 (32 zero bytes for seq 1)
    last_hash: bytes
    events: list[Event]


class QuarantinedEvent(msgspec.Struct, frozen=True):
    seq: int
    event_id: str
    reason: str


class BatchAck(msgspec.Struct, frozen=True):
    batch_id: str
    accepted_through_seq: int
    last_hash_hex: str
    stored: int  # events newly stored by this request (0 on a replay)
    quarantined: list[QuarantinedEvent] = []
    relay_epoch: str = ""
    # SHA-256 of the request bytes this ack answers: the edge completes a batch only when it
    # matches the fingerprint of the bytes it sent.
    fingerprint_hex: str = ""


RefusalReason = Literal[
    "gap",              # first_seq > high watermark + 1: resend from `expected_seq`
    "chain_mismatch",   # prev_hash or an event hash does not match: alarm, never skip
    "relay_behind",     # relay restored from backup: resend from `expected_seq`
    "store_mismatch",   # the batch names a store other than the credential's
    "malformed",        # not a decodable batch, or limits exceeded
    "bad_fingerprint",  # same batch id, different bytes
]


class SyncRefusal(msgspec.Struct, frozen=True):
    reason: RefusalReason
    detail: str
    expected_seq: int | None = None


class StoreWatermark(msgspec.Struct, frozen=True):
    """The relay's view of a store: the single truth the edge resumes from."""

    tenant_id: str
    store_id: str
    high_seq: int
    last_hash_hex: str
    relay_epoch: str
    last_seen_ms: int | None = None
    applied_catalog_change_id: int = 0


ChangeKind = Literal[
    "catalog.tax_class_set",
    "catalog.product_upserted",
    "catalog.price_set",
    "config.set",
    "lane.token_revoked",
    "inventory.delivery", "inventory.transfer", "inventory.safety_stock", "pickup.order",
    "promotions.bundle", "promotions.key",
    "loyalty.customer",
    "loyalty.erasure", "loyalty.tenant_key",
    "checklist.defined",
]


CHANGE_KINDS: frozenset[str] = frozenset(get_args(ChangeKind))

# A change kind as a store accepts it from any relay release: a dotted lower-case name
# (`domain.what`). Anything else is not a kind but a malformed page (refused as a whole, as
# before); the bound keeps a kind safe to show in alarms, logs, metrics labels and the console.
ChangeKindName = Annotated[str, msgspec.Meta(
    pattern=r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$", max_length=64)]


class Change(msgspec.Struct, frozen=True):
    change_id: int  # monotonic per tenant: the down-sync cursor
    kind: ChangeKind
    payload: bytes  # msgspec JSON of the matching contract (schemas.catalog / events)
    created_at_ms: int


class IncomingChange(msgspec.Struct, frozen=True):
    """A `Change` as a store reads it: the same fields, the kind any `ChangeKindName` (a newer
    relay's kind this release does not know is held, its payload kept opaque, not refused)."""

    change_id: int
    kind: ChangeKindName
    payload: bytes
    created_at_ms: int

    def as_change(self) -> Change:
        """For an applier of this release (which registered the kind, so it is a known one)."""
        kind: Any = self.kind  # a kind some applier registered: one of this release's
        return Change(self.change_id, kind, self.payload, self.created_at_ms)


class ConfigSet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Payload of a "config.set" change: one setting for every store of the tenant, or one."""

    key: str
    value: str
    store_id: str | None = None


class LaneTokenRevoked(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Payload of a "lane.token_revoked" change: every token of the lane, or one token id."""

    store_id: str
    lane_id: str
    token_id: str | None = None


class ChangeSet(msgspec.Struct, frozen=True):
    tenant_id: str
    store_id: str
    changes: list[Change]
    next_after: int
    more: bool


class IncomingChangeSet(msgspec.Struct, frozen=True):
    """A `ChangeSet` page as a store decodes it (see `IncomingChange`)."""

    tenant_id: str
    store_id: str
    changes: list[IncomingChange]
    next_after: int
    more: bool


_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(Batch)


def encode_batch(batch: Batch, level: int = 1) -> bytes:
    return zlib.compress(_encoder.encode(batch), level)


def decode_batch(data: bytes, max_bytes: int = MAX_BATCH_BYTES) -> Batch:
    """Decompress with a hard cap (a zip bomb is refused, not inflated) and decode."""
    d = zlib.decompressobj()
    raw = d.decompress(data, max_bytes + 1)
    if len(raw) > max_bytes or d.unconsumed_tail:
        raise ValueError(f"batch exceeds {max_bytes} bytes uncompressed")
    return _batch_decoder.decode(raw)


def batch_id(store_id: str, first_seq: int, last_seq: int) -> str:
    return f"{store_id}:{first_seq}-{last_seq}"
