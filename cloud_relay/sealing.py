"""Store secrets at rest: sealed with a relay key (Fernet: AES-128-CBC + HMAC-SHA256) when one
is configured, so a copy of the database alone does not yield store credentials.

The relay needs each store's secret itself to verify HMAC signatures, so hashing is not an
option. With `NOVAPOS_RELAY_SECRET_KEY` set (a Fernet key: `novapos-relay secret-key`), new
secrets are stored as `fernet:<token>`; secrets stored before the key was set stay readable.
Every relay process serving one database needs the same key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from core.errors import Unavailable

PREFIX = b"fernet:"
ENV_KEY = "NOVAPOS_RELAY_SECRET_KEY"


class SealedSecretUnreadable(Unavailable):
    slug, title = "relay-misconfigured", "The relay cannot read a sealed store credential"


class Sealer:
    def __init__(self, key: bytes | str | None) -> None:
        self._fernet = Fernet(key) if key else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: bytes) -> bytes:
        return PREFIX + self._fernet.encrypt(secret) if self._fernet else secret

    def unseal(self, stored: bytes) -> bytes:
        if not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise SealedSecretUnreadable(f"store secrets are sealed but {ENV_KEY} is not set "
                                         "on this relay process")
        try:
            return self._fernet.decrypt(stored[len(PREFIX):])
        except InvalidToken:
            raise SealedSecretUnreadable(f"{ENV_KEY} on this relay process is not the key the "
                                         "store secrets were sealed with") from None


def new_key() -> str:
    return Fernet.generate_key().decode()
