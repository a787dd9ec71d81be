"""Signed bundles: what HQ signs the store verifies; anything else is refused with a reason."""

from __future__ import annotations

import base64

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.promotions.bundle import BundleRefused, public_key_b64, sign, verify
from schemas import promotions as sp

BUNDLE = sp.Bundle(3, 0, (sp.Rule("r1", "10 % off A", sp.PercentOff(1000), sp.Target(("A",))),))


def test_a_signed_bundle_verifies_against_the_pinned_key():
    key = Ed25519PrivateKey.generate()
    assert verify(sign(BUNDLE, key), public_key_b64(key)) == BUNDLE


def test_an_altered_bundle_is_refused():
    key = Ed25519PrivateKey.generate()
    signed = sign(BUNDLE, key)
    data = base64.b64decode(signed.bundle_b64).replace(b"1000", b"9000")
    altered = msgspec.structs.replace(signed, bundle_b64=base64.b64encode(data).decode())
    with pytest.raises(BundleRefused, match="does not verify"):
        verify(altered, public_key_b64(key))


def test_unsigned_and_foreign_bundles_are_refused():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = sign(BUNDLE, key)
    with pytest.raises(BundleRefused, match="unsigned"):
        verify(msgspec.structs.replace(signed, signature_b64=""), public_key_b64(key))
    with pytest.raises(BundleRefused, match="not the pinned"):
        verify(sign(BUNDLE, other), public_key_b64(key))
    with pytest.raises(BundleRefused, match="no HQ public key"):
        verify(signed, "")
    # The other key's signature under this key's id: the signature itself fails.
    forged = msgspec.structs.replace(sign(BUNDLE, other), key_id=signed.key_id)
    with pytest.raises(BundleRefused, match="does not verify"):
        verify(forged, public_key_b64(key))
