"""Every file the product writes (config, credentials, tokens, keys, `daemon.json`, exports'
manifests) is written here, atomically and durably.

`write_atomic`: the bytes go to a temporary file in the same directory, which is fsynced, then
renamed over the target, then the directory is fsynced. After a crash or a power cut at any
point the target holds either its old content or the whole new content, never an empty or a
half-written file; and once `write_atomic` returns, the new content survives a power cut.
(`rename` alone is atomic but not durable: without the fsyncs a power cut can leave a
zero-length file where the data never reached the disk.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` (file mode `mode`: secrets stay 0600 from the first byte)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def remove_durably(path: Path) -> None:
    """Delete `path` (if there) so that the deletion too survives a power cut."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return
    _fsync_dir(Path(path).parent)
