"""The store as the sync engine sees it: a small typed interface the store daemon implements
(`edge.sync_link`), so the engine never imports the daemon.

The engine reads the log on a read-only connection of its own, writes its own few rows (cursor,
acks, alarms, the down-sync inbox) through the store's one writer, and hands each down-sync
change to the applier registered for its kind. Appliers belong to the store's domains (the
catalog applies catalog changes, lanes apply token revocations); sync owns the protocol around
them: the inbox that makes a change set idempotent, isolation of a bad change, the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, TypeVar

import apsw

from core.clock import Clock
from core.errors import DomainError
from schemas.sync import Change

T = TypeVar("T")


class StoreTx(Protocol):
    """What a sync command sees inside the store's writer transaction."""

    conn: apsw.Connection
    now_ms: int
    head_seq: int

    @property
    def store_id(self) -> str: ...

    def nested(self) -> AbstractContextManager[None]:
        """A savepoint: an exception inside rolls back what the block did (rows and events)."""


class ChangeRejected(DomainError):
    """A down-sync change the store cannot apply: recorded as rejected with this reason."""

    slug, title = "change-rejected", "The change cannot be applied at this store"


class ChangeApplier(Protocol):
    """Applies changes of its kinds inside the store's transaction; answers one line of detail
    per change for the inbox, or raises `ChangeRejected` (or any `DomainError`). Called with
    all fresh changes of its kinds of one change set at once (a catalog publish becomes one
    import), and again one by one when that fails, so one bad change is isolated."""

    def __call__(self, tx: StoreTx, changes: Sequence[Change]) -> list[str]: ...


class StorePort(Protocol):
    tenant_id: str
    store_id: str
    db_path: Path
    clock: Clock
    appliers: Mapping[str, ChangeApplier]

    async def write(self, command: Callable[[StoreTx], T]) -> T:
        """Run `command` in the store's writer; durable when it returns."""

    def open_reader(self) -> apsw.Connection:
        """A read-only connection to the store database (the engine's own)."""


def chunks(changes: Sequence[Change], appliers: Mapping[str, ChangeApplier]
           ) -> Iterator[tuple[ChangeApplier | None, list[Change]]]:
    """Fresh changes grouped by their applier, in the order each group's first change came
    (None: no applier for the kind)."""
    groups: dict[int, tuple[ChangeApplier | None, list[Change]]] = {}
    for c in changes:
        applier = appliers.get(c.kind)
        groups.setdefault(id(applier), (applier, []))[1].append(c)
    yield from groups.values()
