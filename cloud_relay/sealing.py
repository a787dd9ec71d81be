"""Store secrets at rest: always sealed with the relay's key (Fernet: AES-128-CBC +
HMAC-SHA256), stored as `fernet:<token>`, so a copy of the database alone does not yield store
credentials. The relay needs each store's secret itself to verify HMAC signatures, so hashing
is not an option.

Where the key comes from (`load_key`), first found wins:
1. `$NOVAPOS_RELAY_SECRET_KEY` (a Fernet key: `novapos-relay secret-key`);
2. the key file: `--secret-key-file`, else `relay-secret.key` in the relay's data directory.

At the first start (no key anywhere, and no secret in the database sealed yet) the key file is
created, mode 0600, through `core.files.create_atomic` (the atomic writer that never replaces:
two processes starting together on one data directory end up with one key). A database whose
secrets are already sealed is never given a new key: without the one they were sealed with the
relay refuses to start (`KeyMissing`, exit 4), and with another one too (`WrongKey`): the
database records a check value of its key in `meta`. Every relay process of one database
needs the same key (copy the key file, or set the variable, on each host). A damaged key file is
refused, never replaced: a new key could not open the secrets the old one sealed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

from core.errors import Refused, Unavailable
from core.files import create_atomic

PREFIX = b"fernet:"
ENV_KEY = "NOVAPOS_RELAY_SECRET_KEY"
KEY_FILENAME = "relay-secret.key"
KEY_CHECK = "secret_key_check"  # meta row: a token of CHECK_PLAINTEXT under the key
_CHECK_PLAINTEXT = b"novapos-relay secret key check"

log = structlog.get_logger("novapos.relay")


class SealedSecretUnreadable(Unavailable):
    slug, title = "relay-misconfigured", "The relay cannot read a sealed store credential"


class KeyMissing(Refused):
    slug, title = "secret-key-missing", "The relay has no key for its sealed store secrets"


class WrongKey(Refused):
    slug, title = "secret-key-wrong", "The relay's key did not seal this database's secrets"


def is_sealed(stored: bytes) -> bool:
    return stored.startswith(PREFIX)


class Sealer:
    def __init__(self, key: bytes | str) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: bytes) -> bytes:
        return PREFIX + self._fernet.encrypt(secret)

    def unseal(self, stored: bytes) -> bytes:
        if not is_sealed(stored):
            raise SealedSecretUnreadable("a store secret is stored in clear; restart the relay "
                                         "to seal it")
        try:
            return self._fernet.decrypt(stored[len(PREFIX):])
        except InvalidToken:
            raise SealedSecretUnreadable("this relay process's key is not the key the store "
                                         "secrets were sealed with") from None

    def opens(self, stored: bytes) -> bool:
        try:
            self._fernet.decrypt(stored[len(PREFIX):])
        except InvalidToken:
            return False
        return True

    def check_value(self) -> str:
        return self._fernet.encrypt(_CHECK_PLAINTEXT).decode()

    def opens_check(self, value: str) -> bool:
        return self.opens(PREFIX + value.encode())


def new_key() -> str:
    return Fernet.generate_key().decode()


def _parse(raw: bytes, where: str) -> bytes:
    key = raw.strip()
    try:
        Fernet(key)
    except ValueError:
        raise KeyMissing(f"{where} does not hold a relay secret key (damaged?). Restore it from "
                         "your backup or another relay host; it is never replaced, since a new "
                         "key cannot open the secrets the old one sealed") from None
    return key


def load_key(key_file: Path, *, may_create: bool, environ: dict[str, str] | None = None
             ) -> bytes:
    """The relay's key: `$NOVAPOS_RELAY_SECRET_KEY`, else the key file, else (only when
    `may_create`: nothing in the database is sealed yet) a new key written to the key file."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY):
        return _parse(env[ENV_KEY].encode(), f"${ENV_KEY}")
    try:
        raw = key_file.read_bytes()
    except FileNotFoundError:
        if not may_create:
            raise KeyMissing(
                f"the store secrets in this database are sealed, and this relay has no key: "
                f"no {key_file} and no ${ENV_KEY}. Copy the key file from the relay that "
                f"created it (or set ${ENV_KEY} to its content)") from None
        key = new_key().encode()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        if create_atomic(key_file, key + b"\n", mode=0o600):
            log.warning("created the relay secret key: back it up; every relay process of "
                        "this database needs it", path=str(key_file))
            return key
        raw = key_file.read_bytes()  # a process starting beside us made it first: use theirs
    if key_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the relay secret key file is readable by others: chmod 600 it",
                    path=str(key_file))
    return _parse(raw, str(key_file))
