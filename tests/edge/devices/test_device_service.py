"""The device service in a live daemon: a pty scanner plugged into a configured glob is
attached, scans reach the bound lane's SSE stream and its open cart, unplugging detaches it,
and bindings and counters survive a restart."""

from __future__ import annotations

from pathlib import Path

from drivers.emulators.serial_scanner import SerialScannerEmulator
from core import bodycodec
from schemas import events as ev
from schemas.devices import Scan
from tests.conftest import new_key
from tests.edge.devices.helpers import (
    SseReader,
    admin_client,
    device_config,
    on_loop,
    start_with_devices,
    wait_for,
)
from tests.support.store import verify

MILK_BARCODE = "4006381333931"


def _demo_barcode(app) -> str:
    rows = app.service.reader.execute("SELECT code FROM barcodes ORDER BY code LIMIT 1").fetchall()
    return rows[0][0]


def _log(app, event_type: str) -> list:
    rows = app.service.reader.execute(
        "SELECT type, schema_version, body FROM events WHERE type = ? ORDER BY seq", (event_type,)
    ).fetchall()
    return [ev.decode_body(t, v, bodycodec.decode(b)) for t, v, b in rows]


def _cart_lines(app, cart_id: str) -> list[tuple]:
    return app.service.reader.execute(
        "SELECT sku, qty_milli, scanned_code FROM cart_lines WHERE cart_id = ? ORDER BY line_id",
        (cart_id,),
    ).fetchall()


def test_hotplugged_pty_scanner_scans_into_the_bound_lanes_cart(tmp_path: Path) -> None:
    app = start_with_devices(tmp_path / "store", device_config(str(tmp_path / "ttyScan*")))
    stream = None
    try:
        code = _demo_barcode(app)
        stream = SseReader(f"{app.url}/v1/lanes/lane-1/events",
                           {"Authorization": f"Bearer {app.tokens['lane-1']}"}).start()
        assert stream.next("snapshot")["devices"] == []
        with SerialScannerEmulator(tmp_path / "ttyScan0") as em:
            attached = stream.next("device.attached")
            assert attached["device_id"] == "scanner-ttyScan0"
            assert attached["kind"] == "barcode_scanner"
            state = stream.next("device.state", where=lambda d: d["state"] == "idle")
            assert state["lane_id"] == "lane-1"

            em.scan(code)
            notice = stream.next("scan")
            assert notice["outcome"] == "added" and notice["scan"]["code"] == code
            assert notice["scan"]["symbology"] == "ean13"
            cart_id = notice["cart_id"]
            em.scan(code)
            assert stream.next("scan")["cart_id"] == cart_id  # the same open cart
            lines = _cart_lines(app, cart_id)
            assert [(qty, scanned) for _, qty, scanned in lines] == [(1000, code), (1000, code)]
            # The lane sees the cart through its own API like any other.
            cart = app.client("lane-1").get(f"/v1/carts/{cart_id}").json()
            assert cart["lane_id"] == "lane-1" and len(cart["lines"]) == 2

            em.unplug()
            detached = stream.next("device.detached")
            assert detached["device_id"] == "scanner-ttyScan0"
        assert [e.device_id for e in _log(app, "device.attached")] == ["scanner-ttyScan0"]
        assert [e.device_id for e in _log(app, "device.detached")] == ["scanner-ttyScan0"]
        # Device events are in the hash chain and replay cleanly (`novapos-edge verify`).
        report = verify(app.service.db_path)
        assert report.ok, (report.chain, report.mismatched_tables)
        # The binding made from configuration stays for when the scanner comes back.
        binding = app.daemon.devices.bindings["scanner-ttyScan0"]
        assert binding.lane_id == "lane-1"
    finally:
        if stream:
            stream.stop()
        app.close()


def test_a_scan_delivered_twice_adds_one_line_and_an_unknown_code_leaves_no_cart(
    tmp_path: Path,
) -> None:
    app = start_with_devices(tmp_path / "store", device_config(str(tmp_path / "ttyScan*")))
    try:
        with SerialScannerEmulator(tmp_path / "ttyScan1"):
            wait_for(lambda: "scanner-ttyScan1" in app.daemon.devices.bindings, "attach")
            devices = app.daemon.devices
            scan = Scan("scan-0001", "scanner-ttyScan1", _demo_barcode(app), "ean13", 0)
            first = on_loop(app, devices.handle_scan(scan))
            again = on_loop(app, devices.handle_scan(scan))
            assert (first.outcome, again.outcome) == ("added", "duplicate")
            assert again.cart_id == first.cart_id
            assert len(_cart_lines(app, first.cart_id)) == 1

            carts_before = app.service.reader.execute("SELECT count(*) FROM carts").fetchall()
            unknown = on_loop(app, devices.handle_scan(
                Scan("scan-0002", "scanner-ttyScan1", "0000000000000", None, 0)))
            assert unknown.outcome == "unknown_item"
            # Close the open cart: a refused scan must not open an empty one either.
            app.client("lane-1").post(f"/v1/carts/{first.cart_id}/void", json={},
                                      headers={"Idempotency-Key": new_key()})
            refused = on_loop(app, devices.handle_scan(
                Scan("scan-0003", "scanner-ttyScan1", "0000000000000", None, 0)))
            assert refused.outcome == "unknown_item"
            carts_after = app.service.reader.execute("SELECT count(*) FROM carts").fetchall()
            assert carts_after == carts_before

            unbound = on_loop(app, devices.handle_scan(
                Scan("scan-0004", "no-such-scanner", "1", None, 0)))
            assert unbound.outcome == "no_lane"
    finally:
        app.close()


def test_bindings_and_counters_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    config = device_config(str(tmp_path / "ttyScan*"), lane_id=None)
    with SerialScannerEmulator(tmp_path / "ttyScan2") as em:
        app = start_with_devices(data_dir, config)
        try:
            admin = admin_client(app)
            wait_for(lambda: admin.get("/v1/admin/devices/scanner-ttyScan2").status_code == 200,
                     "attach")
            r = admin.put("/v1/admin/devices/scanner-ttyScan2/binding",
                          json={"lane_id": "lane-2", "scan_adds_to_cart": False},
                          headers={"Idempotency-Key": new_key()})
            assert r.status_code == 200, r.text
            em.scan("ABC-1", aim=None)
            em.scan("ABC-2", aim=None)
            wait_for(lambda: app.daemon.devices.statistics.snapshot("scanner-ttyScan2")
                     .get("scans") == 2, "two scans counted")
        finally:
            app.close()
        app = start_with_devices(data_dir, config)
        try:
            admin = admin_client(app)
            status = wait_for(lambda: (r := admin.get("/v1/admin/devices/scanner-ttyScan2"))
                              .status_code == 200 and r.json(), "re-attach")
            assert status["lane_id"] == "lane-2"
            assert status["statistics"]["scans"] == 2
            assert status["statistics"]["online_transitions"] == 2
            binding = app.daemon.devices.bindings["scanner-ttyScan2"]
            assert binding.scan_adds_to_cart is False
            # Not added to a cart by this binding: the lane only hears of the scan.
            em.scan("ABC-3", aim=None)
            wait_for(lambda: app.daemon.devices.statistics.snapshot("scanner-ttyScan2")
                     .get("scans") == 3, "third scan")
            assert app.service.reader.execute(
                "SELECT count(*) FROM carts WHERE lane_id = 'lane-2'").fetchall() == [(0,)]
        finally:
            app.close()
