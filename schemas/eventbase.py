"""The base of every event body, in a module of its own so that a domain's event module
(`schemas/<domain>.py`) can subclass it and `schemas.events` can register that module's types
without an import loop."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class EventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
