"""What the composed domains give the store: the handlers and tables of their read models, and
their database schema (the baseline plus each later domain's own component). `edge.compose`
builds it from `DOMAINS`; the store uses it without knowing any domain."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.db import Schema
from edge.store.projector import Projector


@dataclass(frozen=True, slots=True)
class Layout:
    projector: Projector
    schema: Schema
