"""Identifier contracts shared by config files and wire bodies: a tenant, store, lane, device
or printer id is 1-64 characters of letters, digits, '.', '_' and '-'."""

from __future__ import annotations

from typing import Annotated

import msgspec

ID_PATTERN = r"^[A-Za-z0-9._-]+$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
