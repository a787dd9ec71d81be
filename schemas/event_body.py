"""The base of every event body (`schemas.events` re-exports it). A module of its own so that
a domain's event module (`schemas/approvals.py`, ...) can subclass it while `schemas.events`
imports that module to register its types, with no import loop between the two."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class EventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
