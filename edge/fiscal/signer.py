"""The signer interface and the software signer.

A `Signer` signs a message and says who it is (key id, algorithm, public key, serial). It is
called inside the writer's transaction, so it must be fast and never block on I/O for long;
when it cannot sign it raises `SignerUnavailable` and the journal records an outage instead
(the sale still completes). A hardware signing unit (a certified TSE, a smart card) is a
second implementation of the same interface: docs/fiscal.md says what it must do.

`SoftwareSigner`: Ed25519 (deterministic signatures: the same message always gives the same
signature). The private key lives in the data dir (`fiscal_signer.key`, mode 0600, written
once through `core.files.create_atomic` and never replaced: a store keeps its key for life; HQ
gets the public key through the log).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core import files
from core.errors import DomainError
from schemas.fiscal import ALGORITHM

KEY_FILENAME = "fiscal_signer.key"


class SignerUnavailable(DomainError):
    status, slug, title = 503, "signer-unavailable", "The fiscal signer is unavailable"


@runtime_checkable
class Signer(Protocol):
    key_id: str
    algorithm: str
    public_key_b64: str
    serial: str
    kind: str

    def sign(self, message: bytes) -> bytes:
        """The signature of `message`, or SignerUnavailable."""


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


class SoftwareSigner:
    kind = "software"
    algorithm = ALGORITHM

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        public_raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(public_raw).decode()
        self.key_id = key_id_of(public_raw)
        self.serial = f"SW-{self.key_id}"

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SoftwareSigner:
        """The store's key, made at the first start. A damaged key file is refused
        (SignerUnavailable), never replaced: signatures made with it must stay verifiable."""
        path = data_dir / KEY_FILENAME
        if not path.exists():
            fresh = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            files.create_atomic(path, fresh, mode=0o600)  # False: another process won; read it
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise SignerUnavailable(f"{path} cannot be read as the store's signing key: {exc}") \
                from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SignerUnavailable(f"{path} is not an Ed25519 key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def verify_signature(public_key_b64: str, message: bytes, signature: bytes) -> bool:
    """Offline check of an Ed25519 signature (the archive verifier, HQ)."""
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64)).verify(
            signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
