"""A promotion bundle as it travels from HQ to the stores: signed by HQ with Ed25519 over the
exact JSON bytes of the bundle, verified by the store against the key it pinned.

`sign` is HQ's side, `verify` the store's: it answers the bundle, or raises `BundleRefused`
whose message names why (no signature, another key, altered bytes, not a bundle, invalid
rules). Nothing in a refused bundle is trusted or kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.promotions.rules import validate_bundle
from schemas import promotions as sp

MAX_SIGNED_BYTES = 16 * 1024 * 1024


class BundleRefused(ValueError):
    """The store will not run this bundle; the message is the alarm's detail."""


def public_key_b64(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id_of(public_b64: str) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def sign(bundle: sp.Bundle, private: Ed25519PrivateKey) -> sp.SignedBundle:
    validate_bundle(bundle)
    data = msgspec.json.encode(bundle)
    return sp.SignedBundle(
        key_id=key_id_of(public_key_b64(private)),
        bundle_b64=base64.b64encode(data).decode(),
        signature_b64=base64.b64encode(private.sign(data)).decode(),
    )


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleRefused(f"the bundle's {what} is not base64") from exc


def verify(signed: sp.SignedBundle, pinned_public_b64: str) -> sp.Bundle:
    if not pinned_public_b64:
        raise BundleRefused("no HQ public key is pinned (enroll the store, or set "
                            "[promotions] hq_public_key): no bundle can be trusted")
    if not signed.signature_b64:
        raise BundleRefused("the bundle is unsigned")
    if signed.key_id != key_id_of(pinned_public_b64):
        raise BundleRefused(f"the bundle is signed with key {signed.key_id}, not the pinned "
                            f"HQ key {key_id_of(pinned_public_b64)}")
    data = _b64(signed.bundle_b64, "body")
    if len(data) > MAX_SIGNED_BYTES:
        raise BundleRefused(f"the bundle is over {MAX_SIGNED_BYTES} bytes")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(pinned_public_b64))
    try:
        key.verify(_b64(signed.signature_b64, "signature"), data)
    except InvalidSignature as exc:
        raise BundleRefused("the bundle's signature does not verify: it was altered or "
                            "signed by another key") from exc
    try:
        bundle = msgspec.json.decode(data, type=sp.Bundle)
        validate_bundle(bundle)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise BundleRefused(f"the signed bundle is not valid: {exc}") from exc
    return bundle
