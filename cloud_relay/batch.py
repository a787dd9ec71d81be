"""Checking an uploaded batch: the pure part of ingest.

`check_batch` runs before any database work: shape, limits, ownership (the batch and every
event in it name the credential's tenant and store) and the batch's own hash chain (every
event's hash recomputes from its envelope by `core.chain.hash_of` and links to its
predecessor).
`plan_tail` runs inside the ingest transaction with the store's high watermark: it decides
whether the batch continues the stored chain and which suffix is new.

Invariants:
- A batch is stored only if `first_seq <= high + 1` and `prev_hash` equals the stored hash of
  `first_seq - 1` (genesis: 32 zero bytes); a mismatch is never skipped.
- Overlap with what is stored must be byte-identical: the chain makes one hash comparison (at
  the last overlapping seq) prove the whole overlap equal.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from cloud_relay.errors import refuse
from core.chain import GENESIS_HASH, hash_of
from schemas.envelope import Event
from schemas.events import decode_body
from schemas.sync import MAX_BATCH_EVENTS, PROTOCOL_VERSION, Batch, batch_id


def check_batch(batch: Batch, *, tenant_id: str, store_id: str, key: str) -> None:
    """Raises `Refused` unless the batch is well-formed, belongs to this store and chains."""
    if batch.store_id != store_id or batch.tenant_id != tenant_id:
        raise refuse("store_mismatch", f"the batch names {batch.tenant_id}/{batch.store_id}; this "
                     f"credential writes only {tenant_id}/{store_id}")
    if batch.protocol != PROTOCOL_VERSION:
        raise refuse("malformed", f"protocol {batch.protocol} is not spoken here "
                     f"(this relay speaks {PROTOCOL_VERSION})")
    n = len(batch.events)
    if n == 0:
        raise refuse("malformed", "a batch carries at least one event")
    if n > MAX_BATCH_EVENTS:
        raise refuse("malformed", f"{n} events; the limit is {MAX_BATCH_EVENTS}", status=413)
    if batch.first_seq < 1 or batch.last_seq != batch.first_seq + n - 1:
        raise refuse("malformed", f"seq range {batch.first_seq}-{batch.last_seq} does not match "
                     f"its {n} events")
    expected_id = batch_id(store_id, batch.first_seq, batch.last_seq)
    if batch.batch_id != expected_id:
        raise refuse("malformed", f"batch id {batch.batch_id!r} should be {expected_id!r}")
    if key != batch.batch_id:
        raise refuse("malformed", f"Idempotency-Key {key!r} must equal the batch id "
                     f"{batch.batch_id!r}")
    if batch.first_seq == 1 and batch.prev_hash != GENESIS_HASH:
        raise refuse("chain_mismatch", "seq 1 must follow the genesis hash (32 zero bytes)",
                     expected_seq=1)
    verify_links(batch.events, batch.first_seq, batch.prev_hash, tenant_id, store_id)
    if batch.events[-1].hash != batch.last_hash:
        raise refuse("chain_mismatch", "last_hash is not the hash of the last event")


def verify_links(events: list[Event], first_seq: int, prev_hash: bytes, tenant_id: str,
                 store_id: str) -> None:
    """Each event is the next of this store's log, links to its predecessor and carries the
    hash its envelope recomputes to (`core.chain.hash_of`, over its own tenant and store ids,
    which must be the batch's: the relay stores them under the credential's)."""
    prev = prev_hash
    seq = first_seq
    for ev in events:
        if ev.seq != seq:
            raise refuse("malformed", f"event {seq - first_seq} has seq {ev.seq}, expected {seq}")
        if ev.store_id != store_id or ev.tenant_id != tenant_id:
            raise refuse("malformed", f"seq {seq} names {ev.tenant_id}/{ev.store_id}; every "
                         f"event of this batch must name {tenant_id}/{store_id}")
        if ev.prev_hash != prev:
            raise refuse("chain_mismatch", f"seq {seq}: prev_hash does not link to seq {seq - 1}",
                          expected_seq=seq)
        if hash_of(ev) != ev.hash:
            raise refuse("chain_mismatch", f"seq {seq}: the hash does not recompute from the "
                         "event's fields (altered in transit or at the store)", expected_seq=seq)
        prev = ev.hash
        seq += 1


def plan_tail(batch: Batch, high_seq: int, hash_at: Callable[[int], bytes | None],
              acked_through: int | None) -> int:
    """Index of the first event not yet stored (== len(events) when all are). Raises `Refused`.

    `hash_at(seq)` returns the stored hash of `seq` (None if absent); `acked_through` is what
    the edge says this relay already acknowledged (header), used to tell a restored relay from
    an edge that skipped ahead.
    """
    if batch.first_seq > high_seq + 1:
        if acked_through is not None and acked_through > high_seq:
            raise refuse("relay_behind", f"the store holds acks through seq {acked_through} but "
                         f"this relay has only {high_seq} (restored from a backup?); resend from "
                         f"seq {high_seq + 1}", expected_seq=high_seq + 1)
        raise refuse("gap", f"the relay has seq 1-{high_seq}; this batch starts at "
                     f"{batch.first_seq}", expected_seq=high_seq + 1)
    if batch.first_seq > 1:
        stored_prev = hash_at(batch.first_seq - 1)
        if stored_prev != batch.prev_hash:
            raise refuse("chain_mismatch", f"prev_hash does not match the stored hash of seq "
                         f"{batch.first_seq - 1}: the store's log diverged from the ledger",
                         expected_seq=batch.first_seq)
    overlap_end = min(high_seq, batch.last_seq)
    if overlap_end >= batch.first_seq:
        ev = batch.events[overlap_end - batch.first_seq]
        if hash_at(overlap_end) != ev.hash:
            raise refuse("chain_mismatch", f"seq {overlap_end} differs from the stored event: "
                         "the store's log diverged from the ledger", expected_seq=overlap_end)
    return overlap_end - batch.first_seq + 1 if overlap_end >= batch.first_seq else 0


def quarantine_reason(ev: Event) -> str | None:
    """Why the relay cannot interpret this event's body (None if it can). Such an event is
    stored and reported, never refused: it must not block the queue nor vanish."""
    try:
        decode_body(ev.type, ev.schema_version, ev.body)
    except msgspec.DecodeError as exc:  # also ValidationError: a known type, a bad body
        return f"undecodable {ev.type} body: {exc}"
    except ValueError as exc:  # unknown type or schema version
        return str(exc)
    return None
