"""How an event body is stored: the canonical bytes (the msgspec JSON the hash chain covers), or
those bytes deflated against a shared preset dictionary.

A stored body is either
- canonical JSON (every body ever written before compression, and any body compression would
  not shrink): it starts with `{`;
- `0x00, <dictionary version>, raw deflate of the canonical bytes` (zlib preset dictionary,
  `wbits=-15`).

The hash, the wire and every reader see the canonical bytes only: `encode` runs where the log
is written (`edge.store.eventlog.insert`), `decode` wherever a stored body is read. Dictionaries
are frozen once shipped (`core.zdict_v1`) and copied into the database
(`body_dictionaries`), so a database stays readable by the bytes it carries.

Why a dictionary: a body is a few hundred bytes of JSON whose keys and common values repeat
from event to event; deflate alone finds little to reference inside one small body, against
the dictionary it finds the keys and the catalog's words (mix of the checkout: 398 -> ~120
bytes per body).
"""

from __future__ import annotations

import zlib

from core import zdict_v1
from schemas.envelope import COLUMNS, Event

assert COLUMNS[10] == "body"

MARK = 0
CURRENT = zdict_v1.VERSION
DICTIONARIES: dict[int, bytes] = {zdict_v1.VERSION: zdict_v1.DICTIONARY}
_WBITS = -15
# Level 6 and memLevel 4: the same bytes as 9/9 on bodies this small (±1 %), and a quarter of
# the cost of copying the primed compressor's state for each body (~20 µs a body).
_LEVEL = 6
_MEM_LEVEL = 4

# One primed compressor per dictionary, copied for each body (priming costs more than
# compressing); only the store's one writer compresses.
_compressors: dict = {}


def _primed_compressor(version: int):
    c = _compressors.get(version)
    if c is None:
        c = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                             zdict=DICTIONARIES[version])
        _compressors[version] = c
    return c


def _decompressor(version: int):
    # A fresh one per body (as cheap as copying a primed one, and safe on any thread).
    try:
        zdict = DICTIONARIES[version]
    except KeyError:
        raise ValueError(f"stored body uses body dictionary v{version}, which this "
                         "release does not know (load it with `register`)") from None
    return zlib.decompressobj(_WBITS, zdict=zdict)


def encode(canonical: bytes, version: int = CURRENT) -> bytes:
    """The bytes to store for `canonical` (itself when compressing would not shrink it)."""
    if canonical[:1] == bytes((MARK,)):
        raise ValueError("a canonical body is a JSON object: it cannot start with 0x00")
    c = _primed_compressor(version).copy()
    packed = c.compress(canonical) + c.flush()
    if len(packed) + 2 >= len(canonical):
        return canonical
    return bytes((MARK, version)) + packed


def decode(stored: bytes) -> bytes:
    """The canonical bytes of a stored body."""
    if not stored or stored[0] != MARK:
        return stored
    d = _decompressor(stored[1])
    canonical = d.decompress(stored[2:]) + d.flush()
    if not d.eof:
        raise ValueError("stored body is truncated (compressed stream does not end)")
    return canonical


def register(version: int, dictionary: bytes) -> None:
    """Make a dictionary the database carries known to this process (`body_dictionaries`)."""
    known = DICTIONARIES.get(version)
    if known is not None and known != dictionary:
        raise ValueError(f"body dictionary v{version} in the database differs from this "
                         "release's: refusing to read bodies with either")
    DICTIONARIES[version] = dictionary


_BODY = 10  # index of `body` in `schemas.envelope.COLUMNS`


def event_of(row) -> Event:
    """An `Event` (canonical body) from a stored row of `schemas.envelope.COLUMNS`.

    A stored body that does not inflate (a flipped bit on disk) is handed out as stored: it
    cannot match its hash, so the chain walk names the event as corrupt instead of the read
    failing with a zlib error."""
    body = row[_BODY]
    if body and body[0] == MARK:
        try:
            body = decode(body)
        except (zlib.error, ValueError):
            return Event(*row)
        row = (*row[:_BODY], body, *row[_BODY + 1:])
    return Event(*row)
