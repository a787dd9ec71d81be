"""Personal data at rest: keyed look-up hashes and envelope encryption, shared by the store and
HQ (the relay).

- A tenant has one 32-byte master key. From it, by HKDF-SHA256 with distinct labels, come the
  look-up key (HMAC-SHA256 of a normalised card number, phone or email: a customer is found by
  hash, never by clear text) and the wrapping key.
- A customer has its own random 256-bit data key. Its personal fields are sealed with it
  (AES-256-GCM, a fresh 96-bit nonce, the customer id as associated data, so a ciphertext
  cannot be passed off as another customer's). The data key is stored only wrapped by the
  tenant's wrapping key (AES-256-GCM, customer id as associated data).
- Erasure destroys the wrapped data key: every copy of the ciphertext (log, ledger, exports,
  backups of those) becomes noise, and nothing that holds it has to change, so a hash chain
  over it stays valid (crypto-shredding).

Invariant: nothing here logs, and no function returns a clear personal value except `open_pii`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import Unavailable

KEY_BYTES = 32
NONCE_BYTES = 12
_NON_DIGITS = re.compile(r"[^0-9]")


class PiiUnreadable(Unavailable):
    """A ciphertext did not open under the key given (erased, or the wrong tenant key)."""

    slug, title = "pii-unreadable", "The customer's personal data cannot be read"


def new_tenant_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def normalise(kind: str, value: str) -> str:
    """The one spelling a value is hashed in: digits of a phone (a leading + kept as 00),
    the lower-cased trimmed email, the card number without spaces."""
    v = value.strip()
    if kind == "phone":
        return _NON_DIGITS.sub("", "00" + v[1:] if v.startswith("+") else v)
    if kind == "email":
        return v.lower()
    if kind == "card":
        return v.replace(" ", "").upper()
    raise ValueError(f"unknown look-up kind {kind}")


class TenantKey:
    """A tenant's master key and what derives from it. Holds key material: never log it."""

    __slots__ = ("_lookup", "_wrap")

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise ValueError(f"a tenant key is {KEY_BYTES} bytes")
        self._lookup = _derive(master, b"novapos loyalty lookup v1")
        self._wrap = AESGCM(_derive(master, b"novapos loyalty wrap v1"))

    def __repr__(self) -> str:
        return "TenantKey(<secret>)"

    def lookup_hash(self, kind: str, value: str) -> str:
        msg = f"{kind}:{normalise(kind, value)}".encode()
        return hmac.new(self._lookup, msg, hashlib.sha256).hexdigest()

    def wrap(self, customer_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrap.encrypt(nonce, data_key, customer_id.encode())

    def unwrap(self, customer_id: str, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                                      customer_id.encode())
        except InvalidTag:
            raise PiiUnreadable("the customer's data key does not open under this tenant's "
                                "key") from None


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(master)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal_pii(data_key: bytes, customer_id: str, clear: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, clear, customer_id.encode())


def open_pii(data_key: bytes, customer_id: str, sealed: bytes) -> bytes:
    try:
        return AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                        customer_id.encode())
    except InvalidTag:
        raise PiiUnreadable("the personal data does not open under this customer's key") from None


def lookups(key: TenantKey, personal) -> tuple[str, ...]:
    """The keyed hashes a customer is found by: of its card, phone and email (those it has)."""
    return tuple(key.lookup_hash(kind, value) for kind, value in (
        ("card", personal.card), ("phone", personal.phone), ("email", personal.email)) if value)


def seal_customer(key: TenantKey, customer_id: str, clear: bytes) -> tuple[bytes, bytes]:
    """A new data key for the customer: (its personal data sealed, the key wrapped)."""
    dek = new_data_key()
    return seal_pii(dek, customer_id, clear), key.wrap(customer_id, dek)


# --- the tenant key on its way to a store -------------------------------------------------
# HQ sends each store the tenant key by down-sync, sealed for that store alone: AES-256-GCM
# under a key derived (HKDF-SHA256) from the store's relay credential secret, which only the
# relay and the store hold, bound (associated data) to the tenant, the store and the
# credential's key id. The change payload, the wire and every log see only ciphertext; a
# revoked credential's copy opens for nobody.

_STORE_WRAP = b"novapos loyalty tenant key for a store v1"


def _for_store(secret: bytes, tenant_id: str, store_id: str, key_id: str
               ) -> tuple[AESGCM, bytes]:
    bound = f"{tenant_id}|{store_id}|{key_id}".encode()
    return AESGCM(_derive(secret, _STORE_WRAP + b"|" + bound)), bound


def wrap_for_store(tenant_key: bytes, secret: bytes, tenant_id: str, store_id: str,
                   key_id: str) -> bytes:
    aead, bound = _for_store(secret, tenant_id, store_id, key_id)
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, tenant_key, bound)


def unwrap_for_store(wrapped: bytes, secret: bytes, tenant_id: str, store_id: str,
                     key_id: str) -> bytes:
    aead, bound = _for_store(secret, tenant_id, store_id, key_id)
    try:
        key = aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], bound)
    except InvalidTag:
        raise PiiUnreadable("the tenant key does not open under this store's credential") \
            from None
    if len(key) != KEY_BYTES:
        raise PiiUnreadable(f"the tenant key is {len(key)} bytes, not {KEY_BYTES}")
    return key
