"""Manager PINs, kept only as a slow, salted hash (scrypt, RFC 7914, from the standard
library). A PIN has few digits, so the hash alone does not protect it: the lockout after
`pin_max_failures` wrong PINs in a row does (commands.approve_by_pin), and the hashes never
leave the store's database (they are not in the event log, so never synced)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# ~16 MiB and tens of milliseconds per check on a store PC.
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
SCHEME = "scrypt"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_pin(pin: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def check_pin(pin: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    assert scheme == SCHEME, f"unknown PIN hash scheme {scheme}"
    got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                         p=int(p), dklen=32)
    return hmac.compare_digest(got, base64.b64decode(digest))
