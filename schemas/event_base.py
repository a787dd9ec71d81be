"""The base of every event body, in a module of its own so that a domain's event module
(`schemas/<domain>.py`) can subclass it while `schemas.events` lists the domain's events in
`EVENT_TYPES` without an import loop between the two."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class EventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
