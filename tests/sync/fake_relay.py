"""A minimal relay speaking the upload/down-sync wire contract, as an httpx transport, for
unit-level protocol cases of the engine (refusal handling, lost answers, rewinds) that the
real relay cannot be told to produce on demand. End-to-end proofs run against the real relay
(`cloud_relay`, `tests/support/relay.py`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import msgspec

from core import signing
from core.chain import GENESIS_HASH
from schemas.envelope import Event
from schemas.sync import (
    BatchAck,
    Change,
    ChangeSet,
    QuarantinedEvent,
    StoreWatermark,
    decode_batch,
)


@dataclass
class FakeRelay:
    credential: signing.StoreCredential
    events: list[Event] = field(default_factory=list)
    fingerprints: dict[str, bytes] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    epoch: str = "epoch-1"
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    # Per-request interference: return a Response to answer instead, or raise.
    hook: Callable[[httpx.Request, int], httpx.Response | None] | None = None
    # Called after a batch was stored, before the answer: may raise to "lose" it.
    after_commit: Callable[[str], None] | None = None
    quarantine_types: set[str] = field(default_factory=set)
    reported: list[tuple[int, int]] = field(default_factory=list)

    @property
    def high(self) -> int:
        return len(self.events)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _problem(self, status: int, **body) -> httpx.Response:
        return httpx.Response(status, json={"status": status, "detail": body.get("detail", ""),
                                            **body},
                              headers={"content-type": "application/problem+json"})

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        path_qs = request.url.raw_path.decode()
        self.requests.append((request.method, path_qs, body))
        if self.hook is not None:
            answer = self.hook(request, len(self.requests))
            if answer is not None:
                return answer
        why = signing.verify(self.credential.secret, self.credential.key_id, request.method,
                             path_qs, body, request.headers,
                             now_ms=int(request.headers.get(signing.HEADER_TIMESTAMP, "0")))
        if why or request.headers.get(signing.HEADER_KEY_ID) != self.credential.key_id:
            return self._problem(401, detail=why or "unknown key")
        path = request.url.path
        if path.endswith("/watermark"):
            q = request.url.params
            self.reported.append((int(q.get("head_seq", 0)), int(q.get("applied_change_id", 0))))
            last = self.events[-1].hash if self.events else GENESIS_HASH
            wm = StoreWatermark(self.credential.tenant_id, self.credential.store_id, self.high,
                                last.hex(), self.epoch)
            return httpx.Response(200, content=msgspec.json.encode(wm),
                                  headers={"content-type": "application/json"})
        if path.endswith("/changes"):
            after = int(request.url.params["after"])
            limit = int(request.url.params.get("limit", 500))
            todo = [c for c in self.changes if c.change_id > after]
            page = todo[:limit]
            cs = ChangeSet(self.credential.tenant_id, self.credential.store_id, page,
                           page[-1].change_id if page else after, len(todo) > limit)
            return httpx.Response(200, content=msgspec.msgpack.encode(cs),
                                  headers={"content-type": "application/x-msgpack"})
        if path.endswith("/batches"):
            return self._batch(request, body)
        return self._problem(404, detail="no route")

    def _batch(self, request: httpx.Request, body: bytes) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        fp = hashlib.sha256(body).digest()
        if key in self.fingerprints and self.fingerprints[key] != fp:
            return self._problem(422, reason="bad_fingerprint", detail="other bytes")
        batch = decode_batch(body)
        acked = int(request.headers.get("X-NovaPOS-Acked-Through", "0"))
        if batch.first_seq > self.high + 1:
            reason = "relay_behind" if acked > self.high else "gap"
            return self._problem(409, reason=reason, detail="resend", expected_seq=self.high + 1)
        prev = self.events[batch.first_seq - 2].hash if batch.first_seq > 1 else GENESIS_HASH
        if batch.prev_hash != prev:
            return self._problem(409, reason="chain_mismatch", detail="prev_hash",
                                 expected_seq=batch.first_seq)
        quarantined = []
        for e in batch.events:
            if e.seq <= self.high:
                if self.events[e.seq - 1].hash != e.hash:
                    return self._problem(409, reason="chain_mismatch", detail="overlap differs",
                                         expected_seq=e.seq)
                continue
            self.events.append(e)
            if e.type in self.quarantine_types:
                quarantined.append(QuarantinedEvent(e.seq, e.event_id, "unknown type"))
        self.fingerprints[key] = fp
        if self.after_commit is not None:
            self.after_commit(key)
        ack = BatchAck(batch.batch_id, batch.last_seq, batch.last_hash.hex(),
                       stored=len(quarantined), quarantined=quarantined, relay_epoch=self.epoch,
                       fingerprint_hex=fp.hex())
        return httpx.Response(201, content=msgspec.json.encode(ack),
                              headers={"content-type": "application/json"})
