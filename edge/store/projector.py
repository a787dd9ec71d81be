"""The projector: which read-model handlers an event goes through.

Domains register their handlers (`edge.domain.Domain.projections`); the store knows none of
them. The live path (`edge.store.writer.Tx.append`) and the rebuild (`edge.store.rebuild`) call
the same `apply`, in the event's own savepoint, so a rebuild equals the live state by
construction.

Invariants: a handler writes only its own domain's tables and depends on the event alone (never
on the clock or on config). An event type may have handlers in several domains (a sale closes
the cart, creates the order and settles its payments); they run in the order the domains are
composed. Every event type the log can hold has at least one handler (a domain that keeps no
read model of it registers `audit_only`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import apsw

from schemas.envelope import Event
from schemas.events import EventBody

Handler = Callable[[apsw.Connection, Event, EventBody], None]


def audit_only(_conn: apsw.Connection, _stored: Event, _body: EventBody) -> None:
    """For events that are an audit trail only: no read model is built from them."""


@dataclass(frozen=True, slots=True)
class Projector:
    handlers: Mapping[type[EventBody], tuple[Handler, ...]]
    tables: Mapping[str, str]  # projection table -> ORDER BY that makes its rows comparable

    @classmethod
    def of(cls, parts: Iterable[tuple[Iterable[tuple[type[EventBody], Handler]],
                                      Mapping[str, str]]]) -> Projector:
        handlers: dict[type[EventBody], list[Handler]] = {}
        tables: dict[str, str] = {}
        for registrations, owned in parts:
            for body_type, handler in registrations:
                handlers.setdefault(body_type, []).append(handler)
            for table, order in owned.items():
                assert table not in tables, f"projection table {table} owned twice"
                tables[table] = order
        return cls({k: tuple(v) for k, v in handlers.items()}, tables)

    def apply(self, conn: apsw.Connection, stored: Event, body: EventBody) -> None:
        found = self.handlers.get(type(body))
        assert found, f"no projection for {stored.type}"
        for handler in found:
            handler(conn, stored, body)


class Registrations:
    """A domain's handlers, collected with a decorator: `@on(ev.CartOpened)`."""

    def __init__(self) -> None:
        self._items: list[tuple[type[EventBody], Handler]] = []

    def on(self, *body_types: type[EventBody]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for t in body_types:
                self._items.append((t, fn))
            return fn
        return register

    def __iter__(self):
        return iter(self._items)
