"""Reading an event body at any schema version it ever had.

A body is stored as the msgspec JSON of its `EventBody` at the version current when it was
written, and those bytes are what the hash chain covers: they are never rewritten. When a
shape changes, the new version's class replaces the old one and an upcaster per step
(v1 -> v2 -> ...) turns an older body's JSON object into the next version's; `EventCodec`
chains them on read. The current version decodes straight into its Struct (the fast path);
an older one is decoded to a dict, upcast, then read as the current version's JSON (so an
upcaster that forgets or misnames a field is caught like a malformed body). A version newer than this build, or a step without an upcaster, is a
`ValueError` naming the type and versions: the relay quarantines such an event (and releases
it after an upgrade), `verify` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventCodec:
    def __init__(self, types: Mapping[str, type], upcasters: Mapping[tuple[str, int], Upcaster]
                 ) -> None:
        self._types = types
        self._upcasters = upcasters
        self._decoders = {name: msgspec.json.Decoder(cls) for name, cls in types.items()}
        self._encoder = msgspec.json.Encoder()
        for (name, version), _fn in upcasters.items():
            cls = types.get(name)
            assert cls is not None, f"upcaster for unknown event type {name}"
            assert 1 <= version < cls.SCHEMA_VERSION, f"upcaster {name} v{version} out of range"

    def encode(self, body: Any) -> bytes:
        return self._encoder.encode(body)

    def decode(self, event_type: str, schema_version: int, data: bytes) -> Any:
        cls = self._types.get(event_type)
        if cls is None:
            raise ValueError(f"unknown event type {event_type!r}")
        current = cls.SCHEMA_VERSION
        if schema_version == current:
            return self._decoders[event_type].decode(data)
        if not 1 <= schema_version < current:
            raise ValueError(f"{event_type} schema version {schema_version} is not readable "
                             f"here (this build reads 1-{current})")
        raw = msgspec.json.decode(data)
        if not isinstance(raw, dict):
            raise msgspec.ValidationError(f"{event_type} v{schema_version} body is not an object")
        for version in range(schema_version, current):
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise ValueError(f"{event_type} v{version} has no upcaster to v{version + 1}")
            raw = step(raw)
        # Through JSON again: the current Struct reads the upcast object exactly as it reads a
        # body written at its own version (dates, bytes, unknown fields all by the same rules).
        return self._decoders[event_type].decode(self._encoder.encode(raw))

    def versions(self, event_type: str) -> range:
        """Every schema version of `event_type` this build reads."""
        return range(1, self._types[event_type].SCHEMA_VERSION + 1)
