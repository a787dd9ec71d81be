"""What a domain plugs into the daemon: one `Domain` value per package, listed once where the
daemon is composed (`edge.compose.DOMAINS`).

A domain owns its commands (pure rules over state and a request: events, or a typed refusal),
its projection handlers and tables, its thin routes, its down-sync change kinds and its config
section (a `settings` module the root `edge.config.Config` names). Its event and wire contracts
live in `schemas/`. The store (`edge.store`) imports no domain: it gets the composed
`Projector`; the HTTP app gets the routes; the sync engine gets the change appliers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.migrations import Migration
from edge.store.projector import Handler, Projector
from schemas.events import EventBody
from sync.port import ChangeApplier


@dataclass(frozen=True)
class Domain:
    name: str
    # Read models: handlers by event type, and the tables they own (-> ORDER BY for verify).
    projections: Iterable[tuple[type[EventBody], Handler]] = ()
    tables: Mapping[str, str] = field(default_factory=dict)
    # Litestar controllers; their declared service attributes are bound at composition.
    routes: Sequence[Any] = ()
    # Route handlers (of those controllers) a lane calls on every sale: the fast lane serves
    # their common case (`edge.api.fastlane`).
    hot: Sequence[Any] = ()
    # Down-sync change kinds this domain applies (kind -> applier).
    appliers: Mapping[str, ChangeApplier] = field(default_factory=dict)
    # The domain's own tables, versioned on their own (component = name); the store's
    # baseline schema (`edge.store.migrations`) holds the tables of the first domains.
    migrations: Sequence[Migration] = ()


def projector(domains: Sequence[Domain]) -> Projector:
    return Projector.of((list(d.projections), d.tables) for d in domains)


def appliers(domains: Sequence[Domain]) -> dict[str, ChangeApplier]:
    out: dict[str, ChangeApplier] = {}
    for d in domains:
        for kind, applier in d.appliers.items():
            assert kind not in out, f"change kind {kind} applied by two domains"
            out[kind] = applier
    return out
