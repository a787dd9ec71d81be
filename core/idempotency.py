"""One idempotency protocol for every request that changes something (the IETF httpapi
Idempotency-Key draft), used by the store daemon's routes, by scan-to-cart and by the relay,
each over its own key storage.

- Same key, same request (same fingerprint): the stored response is replayed, nothing runs.
- Same key, another request: `IdempotencyKeyReused` (422).
- Same key while the first request is still running: `IdempotencyKeyInFlight` (409).
- Only 2xx answers are stored: a refused request changed nothing, so a retry is re-evaluated.

The effect and its stored response commit in the same transaction: `once` runs inside the
caller's transaction (the store writer's savepoint, the relay's batch transaction), so after
any crash either both exist or neither does.

Effects that talk to a device between two commits (a card payment: the intent commits before
the first byte goes to the terminal, the result after) use the two-phase form: `begin` runs in
the first transaction and answers `Done` (nothing to do outside: stored like `once`) or
`Pending(intent)`; the caller does the I/O, then commits the result and, in the same
transaction, `record`s the answer. A retry after a crash between the two phases finds the
intent through the domain (a payment remembers its request key) and is reconciled, never
executed twice.

Every outcome is a type, never a string tag or a tuple.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import msgspec

from core.errors import (
    CardNumberRefused,
    DomainError,
    IdempotencyKeyInFlight,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from schemas import text

I = TypeVar("I")

MAX_KEY_LENGTH = 255
# The key's format (documented in the OpenAPI and docs/operations.md): 1-255 characters of
# printable ASCII without spaces or quotes, so UUIDs, ULIDs, base64url and `scope:counter`
# keys fit; never a card number (a Luhn-valid run of 13-19 digits, 422 card-number-refused:
# the key is stored with the response).
KEY_PATTERN = r"^[A-Za-z0-9._:~+/=-]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: bytes
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """What an effect answers: a status and the encoded body."""

    status: int
    body: bytes

    @property
    def storable(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal decided after something was committed (a declined card is recorded, then
    refused): the caller raises `error` once its transaction has committed."""

    error: DomainError


@dataclass(frozen=True, slots=True)
class Fresh:
    """The effect ran now; `response` is what it answered (stored when 2xx)."""

    response: StoredResponse


@dataclass(frozen=True, slots=True)
class Replayed:
    """The key was used before for this very request: its stored response."""

    response: StoredResponse


@dataclass(frozen=True, slots=True)
class Done:
    """Two-phase `begin`: nothing to do outside the transaction; this is the answer."""

    answer: Answer


@dataclass(frozen=True, slots=True)
class Pending(Generic[I]):
    """Two-phase `begin`: the intent committed; do the I/O, then commit and `record`."""

    intent: I


Outcome = Fresh | Replayed


class KeyStore(Protocol):
    """Where a service keeps stored responses, scoped (a lane, a store). Called inside the
    transaction of the effect."""

    def lookup(self, scope: str, key: str) -> StoredResponse | None: ...

    def save(self, scope: str, key: str, response: StoredResponse) -> None: ...


def check_key(raw: str | None) -> str:
    """The Idempotency-Key header, validated once where a request comes in."""
    if raw is None or not raw.strip():
        raise IdempotencyKeyMissing("every mutating request needs an Idempotency-Key header",
                                    field="Idempotency-Key")
    if not _KEY_RE.match(raw):
        raise IdempotencyKeyMissing(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters of A-Z a-z 0-9 . _ : ~ + / "
            "= -", field="Idempotency-Key")
    if text.has_card_number(raw):
        raise CardNumberRefused("the Idempotency-Key looks like a card number; use a UUID",
                                field="Idempotency-Key")
    return raw


def fingerprint(method: str, path: str, payload: object) -> bytes:
    """What makes two requests "the same request": method, path and canonical body."""
    h = hashlib.sha256()
    h.update(f"{method} {path}\n".encode())
    h.update(_encoder.encode(payload))
    return h.digest()


def replay(stored: StoredResponse | None, fp: bytes) -> Replayed | None:
    """What a key already answered, if it did; another request under it is refused."""
    if stored is None:
        return None
    if stored.fingerprint != fp:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different "
                                   "request")
    return Replayed(stored)


def _store(keys: KeyStore, scope: str, key: str, fp: bytes, answer: Answer) -> StoredResponse:
    response = StoredResponse(fp, answer.status, answer.body)
    if answer.storable:
        keys.save(scope, key, response)
    return response


def once(keys: KeyStore, scope: str, key: str, fp: bytes,
         effect: Callable[[], Answer]) -> Outcome:
    """Run `effect` at most once for (scope, key), inside the caller's transaction."""
    known = replay(keys.lookup(scope, key), fp)
    if known is not None:
        return known
    return Fresh(_store(keys, scope, key, fp, effect()))


def begin(keys: KeyStore, scope: str, key: str, fp: bytes,
          start: Callable[[], Done | Pending[I]]) -> Outcome | Pending[I]:
    """Phase one of a two-phase effect, inside the intent's transaction."""
    known = replay(keys.lookup(scope, key), fp)
    if known is not None:
        return known
    step = start()
    if isinstance(step, Pending):
        return step
    return Fresh(_store(keys, scope, key, fp, step.answer))


def record(keys: KeyStore, scope: str, key: str, fp: bytes, answer: Answer) -> StoredResponse:
    """Phase two: store the answer in the result's own transaction (unless a crashed attempt
    already did; the first stored answer stands)."""
    stored = keys.lookup(scope, key)
    if stored is not None:
        return stored
    return _store(keys, scope, key, fp, answer)


class InFlight:
    """Keys being processed in this process now. One process owns a store's writer, so this
    set is the whole truth at the edge; a SQLite relay holds its keys here too, and a
    PostgreSQL relay in an advisory lock visible to every relay process. Safe across threads:
    the relay runs its requests in worker threads, and checking and taking a slot must be one
    step."""

    def __init__(self) -> None:
        self._slots: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, scope: str, key: str) -> Iterator[None]:
        slot = (scope, key)
        with self._lock:
            if slot in self._slots:
                raise IdempotencyKeyInFlight("the first request with this Idempotency-Key has "
                                             "not finished; retry shortly")
            self._slots.add(slot)
        try:
            yield
        finally:
            with self._lock:
                self._slots.discard(slot)


async def once_async(keys: KeyStore, scope: str, key: str, fp: bytes,
                     effect: Callable[[], Awaitable[Answer]]) -> Outcome:
    """`once` for an effect that is not a transaction of its own (a device action: a test
    print, a drawer kick), over a key store that lives as long as the process."""
    known = replay(keys.lookup(scope, key), fp)
    if known is not None:
        return known
    return Fresh(_store(keys, scope, key, fp, await effect()))


class RecentKeys:
    """A `KeyStore` in memory holding the last `limit` responses (device actions: a restart
    forgets them, which is right for actions that are not facts of the log)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._done: OrderedDict[tuple[str, str], StoredResponse] = OrderedDict()

    def lookup(self, scope: str, key: str) -> StoredResponse | None:
        return self._done.get((scope, key))

    def save(self, scope: str, key: str, response: StoredResponse) -> None:
        self._done[(scope, key)] = response
        while len(self._done) > self._limit:
            self._done.popitem(last=False)
