"""Every file the product writes (config, credentials, tokens, keys, `daemon.json`, exports)
is written here, atomically and durably.

`write_atomic`: the bytes go to a temporary file in the same directory, which is fsynced, then
renamed over the target, then the directory is fsynced. After a crash or a power cut at any
point the target holds either its old content or the whole new content, never an empty or a
half-written file; and once `write_atomic` returns, the new content survives a power cut.
`open_atomic` is the same for content written piece by piece; `create_atomic` the same for a
file that must never be replaced once made (it links instead of renaming);
`write_directory_atomic` the same for a directory of files (an export), renamed into place whole.
(`rename` alone is atomic but not durable: without the fsyncs a power cut can leave a
zero-length file where the data never reached the disk.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _staged(path: Path, mode: int) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside `path` (mode `mode` from the first byte), removed if it is
    still there when the block ends (the caller fsyncs it and renames or links it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` (file mode `mode`: secrets stay 0600 from the first byte)."""
    with open_atomic(path, mode=mode) as fh:
        fh.write(data)


@contextlib.contextmanager
def open_atomic(path: Path, *, mode: int = 0o600) -> Iterator[BinaryIO]:
    """`write_atomic` for content written piece by piece (an export): `path` appears, whole,
    only when the block ends without an exception; until then it keeps its old content."""
    path = Path(path)
    with _staged(path, mode) as (fh, tmp):
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        os.replace(tmp, path)
    _fsync_dir(path.parent)


def create_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Write `path` atomically only if it does not exist (a key two processes starting together
    might both make): True if this call created it, False if it was there already (its content
    untouched: read it)."""
    path = Path(path)
    with _staged(path, mode) as (fh, tmp):
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and unlike rename it never replaces
        except FileExistsError:
            return False
    _fsync_dir(path.parent)
    return True


def remove_durably(path: Path) -> None:
    """Delete `path` (if there) so that the deletion too survives a power cut."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return
    _fsync_dir(Path(path).parent)


def write_directory_atomic(directory: Path, content: dict[str, bytes], *,
                           mode: int = 0o644) -> None:
    """`directory` with exactly `content` (file name -> bytes), atomically and durably: every
    file is written into a staging directory beside it, which is fsynced and then renamed onto
    `directory` (a rename replaces only an empty directory). A failure at any point leaves no
    directory and no staging behind."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    staging.mkdir(mode=0o755)
    try:
        for name in sorted(content):
            write_atomic(staging / name, content[name], mode=mode)
        _fsync_dir(staging)
        os.replace(staging, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
