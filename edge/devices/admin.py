"""The local admin credential: how `novapos-edge devices|status` talks to the running daemon.

At start the daemon writes a fresh random token to `<data dir>/admin-token` (mode 0600,
atomically and durably: `core.files.write_atomic`, so a reader or a power cut never leaves
half a token) and deletes it on a clean stop. Admin routes (`/v1/admin/...`) accept it as `Authorization: Bearer <token>`
only from a loopback peer (`edge.api.auth` checks it): reading the file proves local access to
the store's data directory (root or the service user), and a leaked token is useless from
another host.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from core.files import write_atomic

ADMIN_TOKEN_FILENAME = "admin-token"
TOKEN_PREFIX = "npa_"


def issue(data_dir: Path) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    write_atomic(data_dir / ADMIN_TOKEN_FILENAME, (token + "\n").encode(), mode=0o600)
    return token


def read(data_dir: Path) -> str | None:
    try:
        return (data_dir / ADMIN_TOKEN_FILENAME).read_text().strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def revoke(data_dir: Path, token: str) -> None:
    """Delete the file if it still holds our token (a newer daemon may have replaced it)."""
    if read(data_dir) == token:
        (data_dir / ADMIN_TOKEN_FILENAME).unlink(missing_ok=True)
