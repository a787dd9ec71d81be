"""A customer's phone or email, kept only as a keyed hash (HMAC-SHA256).

The key is 32 random bytes in the store's data directory (`returns-customer.key`, mode 0600,
written once through `core.files`). Stores of one tenant that should recognise the same customer
(HQ's velocity re-check across stores) are given the same key file at installation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from core import files
from core.errors import InvalidInput

KEY_FILENAME = "returns-customer.key"
KEY_BYTES = 32
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize(identifier: str) -> str:
    """An email lower-cased, or a phone number as its digits (a leading + kept)."""
    text = identifier.strip()
    if "@" in text:
        if not _EMAIL.match(text):
            raise InvalidInput("the customer identifier is not an email address",
                               field="customer")
        return "email:" + text.lower()
    digits = re.sub(r"[\s().-]", "", text)
    if not re.fullmatch(r"\+?[0-9]{6,15}", digits):
        raise InvalidInput("the customer identifier must be a phone number or an email",
                           field="customer")
    return "phone:" + digits


class CustomerHasher:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / KEY_FILENAME
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            if not self._path.exists():
                files.create_atomic(self._path, secrets.token_bytes(KEY_BYTES))
            key = self._path.read_bytes()
            assert len(key) == KEY_BYTES, f"{self._path} is damaged"
            self._key = key
        return self._key

    def hash(self, identifier: str) -> str:
        return hmac.new(self._load(), normalize(identifier).encode(), hashlib.sha256).hexdigest()
