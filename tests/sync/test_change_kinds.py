"""Change kinds a store's release does not know (a newer HQ's): held, alarmed, never wedging.

A relay that starts sending a new kind before every store is upgraded must not stop the older
stores' down-sync: the change page decodes, the known changes around the unknown one apply in
order, the unknown one is kept whole (`sync_held_changes`) with the alarm
`change_kind_unknown` naming its kind, the cursor moves past it, and a release that knows the
kind applies it later. Known kinds stay strict: a malformed payload is still rejected.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_relay.storage.publish import NewChange, PublishPlan
from edge import compose
from edge.config import load as load_config
from edge.sync_link import StoreLink
from edge.sync_link import status as sync_status
from schemas.sync import (
    CHANGE_KINDS,
    Change,
    ChangeKind,
    ChangeSet,
    ConfigSet,
    IncomingChange,
    IncomingChangeSet,
)
from sync import cursor, downsync, outbox
from sync.engine import SyncEngine
from sync.metrics import SyncMetrics
from sync.settings import SyncConfig
from tests.support.relay import start_relay
from tests.support.sync_store import make_service, running_store
from tests.sync.helpers import STORE, TENANT, metric, run

FUTURE = "promotions.rule"  # a kind a later release adds


def _config(key: str, value: str) -> NewChange:
    return NewChange("config.set", msgspec.json.encode(ConfigSet(key=key, value=value)))


def _publish(relay, *changes: NewChange) -> tuple[int, int]:
    ids = relay.storage.publish(TENANT, lambda _state: PublishPlan(changes=list(changes)),
                                relay.clock())
    assert ids is not None
    return ids


class Recorder:
    """An applier of a newer release: records what it was offered, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, bytes]] = []

    def __call__(self, tx, changes: Sequence[Change]) -> list[str]:
        self.seen.extend((c.change_id, c.kind, c.payload) for c in changes)
        return [f"{c.kind} applied" for c in changes]


def _engine(svc, cred, relay_url: str, extra=None) -> SyncEngine:
    cfg = SyncConfig(relay_url=relay_url, backoff_base_s=0.01, backoff_cap_s=0.05,
                     poll_interval_s=0.05, request_timeout_s=10.0)
    return SyncEngine(store=StoreLink(svc, {**compose.appliers(), **(extra or {})}),
                      settings=cfg, credential=cred,
                      metrics=SyncMetrics.of(svc.metrics.registry), rng=random.Random(1))


def _open_alarms(svc, reason: str) -> list[cursor.Alarm]:
    return cursor.alarms(svc.reader, open_only=True, reason=reason)


@pytest.fixture
def relay(tmp_path: Path):
    r = start_relay("sqlite", tmp_path / "relay")
    yield r
    r.close()


def test_unknown_kind_between_known_ones_is_held_alarmed_and_applied_after_upgrade(
        relay, tmp_path: Path) -> None:
    cred = relay.enroll(TENANT, STORE)
    first, last = _publish(relay, _config("receipt.footer", "Danke!"),
                           NewChange(FUTURE, b'{"rule":"3 for 2","sku":"MILK-1L"}'),
                           _config("receipt.header", "Willkommen"))
    assert last == first + 2
    unknown_id = first + 1

    async def main():
        # 1. This release does not know FUTURE: both settings apply, the rule is held.
        async with running_store(tmp_path / "edge") as svc:
            eng = _engine(svc, cred, relay.url)
            assert await eng.round() == eng.settings.poll_interval_s  # the round succeeded
            assert dict(svc.reader.execute("SELECT key, value FROM sync_settings")) == {
                "receipt.footer": "Danke!", "receipt.header": "Willkommen"}
            held = svc.reader.execute("SELECT change_id, kind, payload FROM sync_held_changes"
                                      ).fetchall()
            assert held == [(unknown_id, FUTURE, b'{"rule":"3 for 2","sku":"MILK-1L"}')]
            inbox = dict(svc.reader.execute("SELECT change_id, status FROM sync_inbox"))
            assert inbox == {first: "applied", last: "applied"}
            assert cursor.load(svc.reader).down_after == last  # the cursor moved past it
            [alarm] = _open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN)
            assert FUTURE in alarm.detail and alarm.count == 1
            assert metric(svc, "novapos_sync_alarm", {"reason": "change_kind_unknown"}) == 1
            assert metric(svc, "novapos_sync_changes_applied_total",
                          {"kind": FUTURE, "status": "held"}) == 1
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.changes_held, st.held_change_kinds, st.open_alarms) == (1, [FUTURE], 1)
            # Rounds go on without counting the same held change again.
            eng.wake()
            await eng.round()
            assert _open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN)[0].count == 1
            await eng.close()

        # 2. A restart of the same release: nothing lost, no new alarm, the gauge is back,
        #    and later changes still apply.
        (later,) = {_publish(relay, _config("receipt.footer", "Tschüss"))[0]}
        async with running_store(tmp_path / "edge") as svc:
            eng = _engine(svc, cred, relay.url)
            for _ in range(3):
                eng.wake()
                await eng.round()
            assert svc.reader.execute("SELECT value FROM sync_settings WHERE key = "
                                      "'receipt.footer'").fetchall() == [("Tschüss",)]
            assert cursor.load(svc.reader).down_after == later
            assert [r[0] for r in svc.reader.execute(
                "SELECT change_id FROM sync_held_changes")] == [unknown_id]
            [alarm] = _open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN)
            assert alarm.count == 1
            assert metric(svc, "novapos_sync_alarm", {"reason": "change_kind_unknown"}) == 1
            await eng.close()

        # 3. HQ sends more of the new kind; then the store runs a release that knows it: the
        #    held changes apply first, in change id order, then the newer one.
        (second,) = {_publish(relay, NewChange(FUTURE, b'{"rule":"second"}'))[0]}
        async with running_store(tmp_path / "edge") as svc:
            eng = _engine(svc, cred, relay.url)
            eng.wake()
            await eng.round()  # still the old release: held too
            assert svc.reader.execute("SELECT count(*) FROM sync_held_changes"
                                      ).fetchall() == [(2,)]
            await eng.close()
        (third,) = {_publish(relay, NewChange(FUTURE, b'{"rule":"third"}'))[0]}
        async with running_store(tmp_path / "edge") as svc:
            rec = Recorder()
            eng = _engine(svc, cred, relay.url, {FUTURE: rec})
            await eng.round()
            assert [c for c, _k, _p in rec.seen] == [unknown_id, second, third]
            assert rec.seen[0][2] == b'{"rule":"3 for 2","sku":"MILK-1L"}'  # kept whole
            assert svc.reader.execute("SELECT count(*) FROM sync_held_changes"
                                      ).fetchall() == [(0,)]
            inbox = dict(svc.reader.execute("SELECT change_id, status FROM sync_inbox"))
            assert inbox[unknown_id] == inbox[second] == inbox[third] == "applied"
            assert _open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN) == []
            assert metric(svc, "novapos_sync_alarm", {"reason": "change_kind_unknown"}) == 0
            st = sync_status(svc, svc.config.sync, eng)
            assert (st.changes_held, st.held_change_kinds) == (0, [])
            # Delivered again (a lost answer, a rewind): nothing applies twice.
            eng.wake()
            await eng.round()
            assert len(rec.seen) == 3
            await eng.close()
    run(main())


def test_upload_acks_do_not_clear_the_held_alarm(relay, tmp_path: Path) -> None:
    """The alarm stands for a condition (changes held), not for a link failure: an accepted
    batch does not resolve it."""
    from tests.support.sync_store import SaleFactory

    cred = relay.enroll(TENANT, STORE)
    _publish(relay, NewChange(FUTURE, b"{}"))

    async def main():
        async with running_store(tmp_path / "edge") as svc:
            eng = _engine(svc, cred, relay.url)
            await eng.round()
            await svc.writer.run(SaleFactory(1).command(5))
            eng.wake()
            await eng.round()  # uploads and acks the sales
            assert cursor.load(svc.reader).acked_seq == outbox.head_seq(svc.reader) > 0
            assert len(_open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN)) == 1
            assert metric(svc, "novapos_sync_alarm", {"reason": "change_kind_unknown"}) == 1
            await eng.close()
    run(main())


def test_a_malformed_payload_of_a_known_kind_is_still_rejected(relay, tmp_path: Path) -> None:
    cred = relay.enroll(TENANT, STORE)
    first, last = _publish(relay, NewChange("config.set", b'{"key": 5}'),
                           _config("receipt.footer", "ok"))

    async def main():
        async with running_store(tmp_path / "edge") as svc:
            eng = _engine(svc, cred, relay.url)
            await eng.round()
            rows = svc.reader.execute("SELECT change_id, status, detail FROM sync_inbox "
                                      "ORDER BY change_id").fetchall()
            assert [(r[0], r[1]) for r in rows] == [(first, "rejected"), (last, "applied")]
            assert "malformed config.set payload" in rows[0][2]
            assert svc.reader.execute("SELECT count(*) FROM sync_held_changes"
                                      ).fetchall() == [(0,)]
            assert len(_open_alarms(svc, "change_rejected")) == 1
            assert _open_alarms(svc, cursor.CHANGE_KIND_UNKNOWN) == []
            await eng.close()
    run(main())


def test_a_page_that_is_not_a_change_page_is_still_unreadable() -> None:
    """Only the kind is tolerant; a change without an id, a kind that is not a name (nor
    safe to print), or a payload that is not bytes is a malformed page, as before."""
    ok = {"change_id": 1, "kind": "loyalty.tenant_key", "payload": b"{}", "created_at_ms": 0}
    page = {"tenant_id": TENANT, "store_id": STORE, "next_after": 1, "more": False}
    dec = msgspec.msgpack.Decoder(IncomingChangeSet)
    assert dec.decode(msgspec.msgpack.encode({**page, "changes": [ok]})).changes[0].kind == (
        "loyalty.tenant_key")
    for bad in ({**ok, "kind": 5}, {**ok, "kind": "[red]boom[/red]"}, {**ok, "kind": ""},
                {**ok, "kind": "x" * 30 + "." + "y" * 40}, {**ok, "change_id": "1"},
                {k: v for k, v in ok.items() if k != "change_id"}, {**ok, "payload": 7}):
        with pytest.raises(msgspec.ValidationError):
            dec.decode(msgspec.msgpack.encode({**page, "changes": [bad]}))


def test_the_relay_contract_names_exactly_the_kinds_this_release_sends_and_applies(
        tmp_path: Path) -> None:
    """The page the relay sends is still `ChangeSet` with `ChangeKind`; the store's tolerant
    reading of it has the same fields; and a store of this release applies every kind its
    relay sends (so nothing this release publishes is ever held by a store of this release)."""
    (ref,), defs = msgspec.json.schema_components((ChangeSet,))
    assert set(defs["Change"]["properties"]["kind"]["enum"]) == set(get_args(ChangeKind))
    assert CHANGE_KINDS == set(get_args(ChangeKind))
    assert ChangeSet.__struct_fields__ == IncomingChangeSet.__struct_fields__
    assert Change.__struct_fields__ == IncomingChange.__struct_fields__
    applied = {**downsync.APPLIERS, **compose.appliers_for(load_config(tmp_path, {}), tmp_path)}
    assert set(applied) == CHANGE_KINDS
    sent = ChangeSet(TENANT, STORE, [Change(7, "catalog.price_set", b"{}", 1)], 7, False)
    got = msgspec.msgpack.decode(msgspec.msgpack.encode(sent), type=IncomingChangeSet)
    assert got.changes[0].as_change() == sent.changes[0]


# --- the invariant, over any interleaving --------------------------------------------------

KNOWN, UNKNOWN = ("known.alpha", "known.beta"), ("future.gamma", "future.delta")


def test_any_interleaving_applies_exactly_the_known_changes_in_order(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.start()
    recorders = {k: Recorder() for k in (*KNOWN, *UNKNOWN)}
    old = {k: recorders[k] for k in KNOWN}
    base = [0]

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(kinds=st.lists(st.sampled_from(KNOWN + UNKNOWN), min_size=1, max_size=25),
           gaps=st.lists(st.integers(1, 3), min_size=25, max_size=25),
           cuts=st.lists(st.integers(1, 25), max_size=4),
           redeliver=st.lists(st.booleans(), min_size=5, max_size=5))
    def check(kinds, gaps, cuts, redeliver):
        for r in recorders.values():
            r.seen.clear()
        svc.writer.run_sync(lambda tx: tx.conn.execute("DELETE FROM sync_held_changes"))
        start = base[0]
        ids, cid = [], start
        for gap in gaps[:len(kinds)]:
            cid += gap
            ids.append(cid)
        base[0] = cid + 100
        changes = [IncomingChange(i, k, f"{k}:{i}".encode(), 0) for i, k in zip(ids, kinds)]
        bounds = sorted({0, len(changes), *(c for c in cuts if c < len(changes))})
        pages = [changes[a:b] for a, b in zip(bounds, bounds[1:])]
        held_ids: list[int] = []
        for n, page in enumerate(pages):
            for _ in range(2 if redeliver[n % len(redeliver)] else 1):
                out = svc.writer.run_sync(lambda tx, p=page: downsync.apply_change_set(
                    tx, p, old, next_after=p[-1].change_id))
                held_ids += [c for c, _k in out.held]
        for k in KNOWN:  # each known kind: every change once, in change id order
            assert [c for c, _kind, _p in recorders[k].seen] == [
                c.change_id for c in changes if c.kind == k]
        assert sorted(held_ids) == [c.change_id for c in changes if c.kind in UNKNOWN]
        assert [r[0] for r in svc.reader.execute(
            "SELECT change_id FROM sync_held_changes ORDER BY change_id")] == sorted(held_ids)
        assert cursor.load(svc.reader).down_after == ids[-1]
        # A release that knows the new kinds applies what was held, in order, payload intact.
        svc.writer.run_sync(lambda tx: downsync.apply_change_set(tx, [], recorders))
        for k in UNKNOWN:
            assert [(c, p) for c, _kind, p in recorders[k].seen] == [
                (c.change_id, c.payload) for c in changes if c.kind == k]
        assert svc.reader.execute("SELECT count(*) FROM sync_held_changes").fetchall() == [(0,)]

    try:
        check()
    finally:
        svc.stop()


def test_the_daemon_status_names_the_held_kind(tmp_path: Path) -> None:
    """`novapos-edge status` (the daemon's /v1/admin/status) lists the held kind as a problem."""
    from edge.store.db import open_connection
    from tests.edge.devices.helpers import admin_client, device_config, start_with_devices

    app = start_with_devices(tmp_path / "store", device_config())
    try:
        admin = admin_client(app)
        assert not any("held" in p for p in admin.get("/v1/admin/status").json()["problems"])
        conn = open_connection(app.service.db_path)
        try:
            with conn:  # what the engine's down-sync command leaves behind
                conn.execute("INSERT INTO sync_held_changes VALUES (41, ?, x'7b7d', 0, 0)",
                             (FUTURE,))
                cursor.raise_alarm(conn, cursor.CHANGE_KIND_UNKNOWN,
                                   downsync.held_summary(downsync.held_kinds(conn)), None, 0)
        finally:
            conn.close()
        status = admin.get("/v1/admin/status").json()
        assert status["degraded"] is True
        assert any("1 down-sync change(s) held" in p and FUTURE in p
                   for p in status["problems"]), status["problems"]
        assert status["sync"]["held_change_kinds"] == [FUTURE]
        admin.close()
    finally:
        app.close()


def test_sync_status_cli_names_the_held_kind_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edge.cli import app as cli_app

    runner = CliRunner()
    store = tmp_path / "store"
    assert runner.invoke(cli_app, ["init", "--data-dir", str(store)]).exit_code == 0
    svc = make_service(store)
    svc.start()
    out = svc.writer.run_sync(lambda tx: downsync.apply_change_set(
        tx, [IncomingChange(3, "loyalty.tier_rule", b"{}", 0)], compose.appliers()))
    assert out.held == [(3, "loyalty.tier_rule")]
    svc.writer.run_sync(lambda tx: cursor.raise_alarm(
        tx.conn, cursor.CHANGE_KIND_UNKNOWN, downsync.held_summary(downsync.held_kinds(tx.conn)),
        None, tx.now_ms))
    svc.stop()
    r = runner.invoke(cli_app, ["sync", "status", "--data-dir", str(store)])
    assert r.exit_code == 1, r.output
    assert "1 held" in r.output and "loyalty.tier_rule" in r.output
    assert "change_kind_unknown" in r.output
    r = runner.invoke(cli_app, ["sync", "status", "--json", "--data-dir", str(store)])
    st = msgspec.json.decode(r.output)
    assert (st["changes_held"], st["held_change_kinds"]) == (1, ["loyalty.tier_rule"])
