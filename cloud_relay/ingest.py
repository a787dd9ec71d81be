"""Ingesting one uploaded batch: the order of checks between the HTTP edge and storage.

1. Idempotency-Key present and well-formed (`core.idempotency.check_key`, 400) and equal to
   the batch id (400 "malformed").
2. Size within limits (413), decodable (400 "malformed"), names the caller's store (403).
3. The batch's own chain verifies (409 "chain_mismatch"), before any database work.
4. In one transaction (`Storage.ingest`): key in flight (409) / completed (replay) / reused with
   other bytes (422); continuation of the stored chain (409 "gap" / "relay_behind" /
   "chain_mismatch"); store the new tail; ack.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor

import msgspec

from cloud_relay.auth import StorePrincipal
from cloud_relay.batch import check_batch
from cloud_relay.errors import refuse
from cloud_relay.storage.base import Storage
from core.errors import BadRequest
from core.idempotency import check_key
from schemas.sync import MAX_BATCH_BYTES, BatchAck, decode_batch

# Compressed bytes on the wire; the uncompressed limit is enforced while inflating.
MAX_BATCH_WIRE_BYTES = MAX_BATCH_BYTES
# Uploads run in threads of their own: one of a tenant's uploads stores the group while the
# others wait for its commit (`storage.ingest`), so a group holds at most this many batches
# per process, and waiting uploads never take the threads other routes need (the event
# loop's default pool has cores + 4).
INGEST_THREADS = 64
_executor = ThreadPoolExecutor(max_workers=INGEST_THREADS, thread_name_prefix="relay-ingest")


def fingerprint(raw: bytes) -> bytes:
    """What makes two uploads "the same request": their exact bytes. Not
    `core.idempotency.fingerprint` (method, path and a canonical body): the ack names this
    digest (`fingerprint_hex`) and the edge completes a batch only when it equals the SHA-256
    of the bytes it sent, so it is part of the wire protocol."""
    return hashlib.sha256(raw).digest()


def parse_acked_through(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        seq = int(value)
    except ValueError:
        raise BadRequest(f"X-NovaPOS-Acked-Through must be an integer, not {value[:32]!r}",
                         field="X-NovaPOS-Acked-Through") from None
    if seq < 0:
        raise BadRequest("X-NovaPOS-Acked-Through must be >= 0",
                         field="X-NovaPOS-Acked-Through")
    return seq


def ingest(storage: Storage, who: StorePrincipal, raw: bytes, key: str | None,
           acked_through: int | None, now_ms: int) -> BatchAck:
    key = check_key(key)
    if len(raw) > MAX_BATCH_WIRE_BYTES:
        raise refuse("malformed", f"batch is {len(raw)} bytes; the limit is "
                     f"{MAX_BATCH_WIRE_BYTES}", status=413)
    try:
        batch = decode_batch(raw)
    except ValueError as exc:  # zlib.error is not a ValueError; handled below
        status = 413 if "exceeds" in str(exc) else 400
        raise refuse("malformed", f"not a decodable batch: {exc}", status=status) from None
    except Exception as exc:  # noqa: BLE001 - zlib.error and friends: the bytes are garbage
        raise refuse("malformed", f"not a decodable batch: {exc}") from None
    check_batch(batch, tenant_id=who.tenant_id, store_id=who.store_id, key=key)
    return storage.ingest(batch, fingerprint(raw), now_ms, acked_through)


async def ingest_async(storage: Storage, who: StorePrincipal, raw: bytes, key: str | None,
                       acked_through: int | None, now_ms: int) -> BatchAck:
    """`ingest` in one of the upload threads."""
    return await asyncio.get_running_loop().run_in_executor(
        _executor, ingest, storage, who, raw, key, acked_through, now_ms)


_ack_encoder = msgspec.json.Encoder()


def encode_ack(ack: BatchAck) -> bytes:
    return _ack_encoder.encode(ack)
