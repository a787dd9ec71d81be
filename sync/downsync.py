"""Down-sync: applying the relay's change sets (catalog, prices, tax, settings, lane-token
revocations, ...) to the store, idempotently. The protocol is here; what a change does is the
applier its kind is registered with (`sync.port.ChangeApplier`, from the store's domains).

Invariants:
- One change set is applied in one writer command (one transaction). Each change id is
  recorded in `sync_inbox` in that transaction, so a change set delivered twice (a lost
  response, a restart) applies nothing the second time; the down cursor (`down_after`) moves in
  the same transaction.
- The fresh changes of one applier are applied together (a catalog publish is one import, so
  its events are one consistent step); if that is refused, each change is retried alone, so
  one bad change is isolated instead of sinking its neighbours.
- A change that cannot be applied (unknown SKU, another store's revocation, malformed payload
  of a kind this release knows) is recorded as `rejected` with the reason and skipped: it
  never blocks later changes and never vanishes (the engine raises an alarm for it).
- A change of a kind no applier of this release knows (a newer HQ's) is *held*: kept whole in
  `sync_held_changes` (kind, opaque payload) in the same transaction, not applied, and the
  cursor moves past it so later changes still apply. Held, not rejected, because it is not
  wrong: a release that knows the kind applies it. Held, not re-pulled (cursor kept behind
  it), because keeping the cursor would stop every later change until every store is upgraded,
  and rewinding later would depend on the relay still serving that page. Each change set first
  re-offers the held changes whose kind now has an applier (after an upgrade), so the changes
  of one kind still apply in change id order; a released change moves to `sync_inbox`.
- `config.set` settings are the sync engine's own (kept in `sync_settings`, newest change id
  wins); other kinds belong to the store's domains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from core.errors import DomainError
from schemas.sync import Change, ConfigSet, IncomingChange
from sync.port import ChangeApplier, ChangeRejected, StoreTx, chunks


@dataclass
class AppliedSet:
    applied: list[tuple[int, str]] = field(default_factory=list)  # (change_id, kind)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (id, kind, why)
    held: list[tuple[int, str]] = field(default_factory=list)  # (change_id, kind) newly held
    released: list[tuple[int, str]] = field(default_factory=list)  # held before, offered now
    skipped: int = 0  # already in the inbox (or held)
    events: int = 0
    down_after: int = 0


def decode(change: Change, typ: type):
    """A change's payload as its contract, or `ChangeRejected`."""
    try:
        return msgspec.json.decode(change.payload, type=typ)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ChangeRejected(f"malformed {change.kind} payload: {exc}") from exc


def apply_settings(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    """`config.set`: a setting for this store (or every store of the tenant)."""
    out = []
    for change in changes:
        cfg = decode(change, ConfigSet)
        if cfg.store_id not in (None, tx.store_id):
            out.append(f"for store {cfg.store_id}; not this one")
            continue
        tx.conn.execute(
            "INSERT INTO sync_settings (key, value, change_id, applied_at_ms) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "change_id = excluded.change_id, applied_at_ms = excluded.applied_at_ms "
            "WHERE excluded.change_id > sync_settings.change_id",
            (cfg.key, cfg.value, change.change_id, tx.now_ms),
        )
        out.append(f"{cfg.key} set")
    return out


# The kinds sync applies itself; the store's domains register the rest.
APPLIERS: Mapping[str, ChangeApplier] = {"config.set": apply_settings}


def _attempt(tx: StoreTx, applier: ChangeApplier | None,
             changes: list[Change]) -> tuple[list[str] | None, str]:
    """(details, "") when applied, (None, why) when refused; a refusal undid everything."""
    try:
        with tx.nested():
            if applier is None:
                raise ChangeRejected(f"unknown change kind {changes[0].kind!r}")
            details = applier(tx, changes)
            assert len(details) == len(changes), "one detail per change"
            return details, ""
    except DomainError as exc:
        errors = exc.extra.get("errors", [])
        why = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or exc.detail
        return None, why or type(exc).__name__


def _record(tx: StoreTx, change: Change, status: str, detail: str, first: int, last: int,
            out: AppliedSet) -> None:
    tx.conn.execute(
        "INSERT INTO sync_inbox (change_id, kind, status, detail, first_seq, last_seq, "
        "applied_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (change.change_id, change.kind, status, detail[:2000],
         first + 1 if last > first else None, last if last > first else None, tx.now_ms),
    )
    if status == "applied":
        out.applied.append((change.change_id, change.kind))
    else:
        out.rejected.append((change.change_id, change.kind, detail))


def held_kinds(conn) -> dict[str, tuple[int, int]]:
    """Kinds of the held changes: kind -> (count, first change id)."""
    return {kind: (n, first) for kind, n, first in conn.execute(
        "SELECT kind, count(*), min(change_id) FROM sync_held_changes GROUP BY kind "
        "ORDER BY min(change_id)")}


def held_summary(held: Mapping[str, tuple[int, int]]) -> str:
    """The alarm's detail: which kinds are held, how many, since which change."""
    parts = [f"{kind} ({n} change{'s' if n != 1 else ''}, first {first})"
             for kind, (n, first) in held.items()]
    return (f"down-sync changes of a kind this release does not know are held: "
            f"{', '.join(parts)}; later changes still apply; they are applied once the store "
            "runs a release that knows the kind (upgrade the store)")


def releasable(conn, appliers: Mapping[str, ChangeApplier]) -> bool:
    """Some held change has an applier now (the store was upgraded)."""
    return any(kind in appliers for kind in held_kinds(conn))


def _release(tx: StoreTx, appliers: Mapping[str, ChangeApplier]) -> list[Change]:
    """Held changes whose kind now has an applier, taken out of the held table (the caller
    records each in the inbox in the same transaction)."""
    kinds = [k for k in held_kinds(tx.conn) if k in appliers]
    if not kinds:
        return []
    marks = ",".join("?" * len(kinds))
    rows = tx.conn.execute(
        "SELECT change_id, kind, payload, created_at_ms FROM sync_held_changes "
        f"WHERE kind IN ({marks}) ORDER BY change_id", kinds).fetchall()
    tx.conn.execute(f"DELETE FROM sync_held_changes WHERE kind IN ({marks})", kinds)
    return [Change(cid, kind, bytes(payload), created) for cid, kind, payload, created in rows]


def _hold(tx: StoreTx, change: IncomingChange | Change, out: AppliedSet) -> None:
    tx.conn.execute(
        "INSERT INTO sync_held_changes (change_id, kind, payload, created_at_ms, held_at_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        (change.change_id, change.kind, change.payload, change.created_at_ms, tx.now_ms),
    )
    out.held.append((change.change_id, change.kind))


def _known(change: IncomingChange | Change) -> Change:
    return change.as_change() if isinstance(change, IncomingChange) else change


def apply_change_set(tx: StoreTx, changes: Sequence[IncomingChange | Change],
                     appliers: Mapping[str, ChangeApplier], *, next_after: int = 0
                     ) -> AppliedSet:
    """The writer command for one change set (see the module invariants). `next_after` is the
    relay's cursor after this set (it may pass change ids meant for other stores). An empty
    set only re-offers the held changes an applier now knows."""
    out = AppliedSet()
    start = tx.head_seq
    ids = msgspec.json.encode([c.change_id for c in changes]).decode()
    seen = {row[0] for row in tx.conn.execute(
        "SELECT change_id FROM sync_inbox WHERE change_id IN (SELECT value FROM json_each(?)) "
        "UNION SELECT change_id FROM sync_held_changes "
        "WHERE change_id IN (SELECT value FROM json_each(?))", (ids, ids),
    )}
    fresh = sorted((c for c in changes if c.change_id not in seen), key=lambda c: c.change_id)
    out.skipped = len(changes) - len(fresh)
    released = _release(tx, appliers)
    out.released = [(c.change_id, c.kind) for c in released]
    for c in fresh:
        if c.kind not in appliers:
            _hold(tx, c, out)
    todo = sorted([*released, *(_known(c) for c in fresh if c.kind in appliers)],
                  key=lambda c: c.change_id)
    for applier, group in chunks(todo, appliers):
        first = tx.head_seq
        details, _why = _attempt(tx, applier, group)
        if details is not None:
            for c, detail in zip(group, details):  # each inbox row names the group's events
                _record(tx, c, "applied", detail, first, tx.head_seq, out)
            continue
        for c in group:
            first = tx.head_seq
            one, why = _attempt(tx, applier, [c])
            _record(tx, c, "rejected" if one is None else "applied", why if one is None
                    else one[0], first, tx.head_seq, out)
    out.events = tx.head_seq - start
    out.down_after = max([next_after, *(c.change_id for c in changes)])
    tx.conn.execute("UPDATE sync_state SET down_after = max(down_after, ?) WHERE id = 1",
                    (out.down_after,))
    return out
