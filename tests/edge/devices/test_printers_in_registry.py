"""Receipt printers from [printing] are devices of the registry: listed with their state,
test-printed and drawer-kicked through the admin API, and routed by lane bindings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from drivers.registry import best_driver
from edge.devices import printers
from schemas.devices import DeviceAddress, DeviceDescriptor
from tests.conftest import new_key
from tests.edge.devices.helpers import admin_client, device_config, start_with_devices, wait_for

MILK_EAN = "4006381333931"


@pytest.fixture
def emu() -> Iterator[EscposPrinterEmulator]:
    with EscposPrinterEmulator() as e:
        yield e


@pytest.fixture
def app(tmp_path: Path, emu: EscposPrinterEmulator):
    config = device_config() + (
        "\n[printing]\nstatus_poll_s = 0.1\nidle_status_poll_s = 0.3\nretry_initial_s = 0.2\n"
        "retry_max_s = 1.0\nkick_drawer_on_cash = false\n"
        "[[printing.printers]]\nid = \"front\"\nhost = \"127.0.0.1\"\n"
        f"port = {emu.port}\nlanes = [\"lane-1\"]\nstatus_timeout_s = 0.5\n")
    app = start_with_devices(tmp_path / "store", config)
    try:
        yield app
    finally:
        app.close()


def _post(client: httpx.Client, path: str, body=None) -> httpx.Response:
    return client.post(path, json=body if body is not None else {},
                       headers={"Idempotency-Key": new_key()})


def test_a_configured_printer_is_listed_test_printed_and_kicks_the_drawer(app, emu) -> None:
    admin = admin_client(app)
    front = wait_for(lambda: (r := admin.get("/v1/admin/devices/front")).status_code == 200
                     and r.json()["state"] == "idle" and r.json(), "printer attached and idle")
    assert (front["kind"], front["driver"], front["lane_id"]) == ("receipt_printer", "escpos",
                                                                  "lane-1")
    assert front["address"] == {"transport": "tcp", "host": "127.0.0.1", "port": emu.port,
                                "path": None, "vendor_id": None, "product_id": None,
                                "serial_number": None}
    r = _post(admin, "/v1/admin/devices/front/test-print")
    assert r.status_code == 202 and r.json()["kind"] == "test"
    emu.wait_for(lambda rec: "NovaPOS Edge test print" in rec.text() and rec.cuts)
    r = _post(admin, "/v1/admin/devices/front/kick-drawer")
    assert r.status_code == 200 and r.json()["device_id"] == "front"
    emu.wait_for(lambda rec: len(rec.pulses) == 1)
    metrics = httpx.get(f"{app.url}/metrics").text
    assert 'novapos_device_state{device_id="front",kind="receipt_printer",state="idle"} 1.0' in metrics

    # A silent printer cannot kick: 409 with the cause, and it shows as down.
    emu.set_state(offline=True)
    r = _post(admin, "/v1/admin/devices/front/kick-drawer")
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "cannot kick the drawer" in r.json()["detail"]
    status = admin.get("/v1/admin/status").json()
    assert status["devices_down"] == ["front"] and status["degraded"] is True
    emu.set_state(offline=False)
    # Not a printer / not a device: refused, nothing queued.
    assert _post(admin, "/v1/admin/devices/nope/test-print").status_code == 404


def test_binding_a_printer_to_a_lane_routes_that_lanes_receipts(app, emu) -> None:
    admin = admin_client(app)
    wait_for(lambda: admin.get("/v1/admin/devices/front").status_code == 200, "printer")
    lane2 = app.client("lane-2")

    def sell() -> dict:
        cart = _post(lane2, "/v1/carts").json()["cart_id"]
        assert _post(lane2, f"/v1/carts/{cart}/lines", {"barcode": MILK_EAN}).status_code == 201
        total = lane2.get(f"/v1/carts/{cart}").json()["total_minor"]
        _post(lane2, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": total})
        r = _post(lane2, f"/v1/carts/{cart}/complete")
        assert r.status_code == 201, r.text
        return r.json()

    assert sell()["receipt_print"] is None  # lane-2 has no printer yet
    r = admin.put("/v1/admin/devices/front/binding", json={"lane_id": "lane-2"},
                  headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200, r.text
    order = sell()
    assert order["receipt_print"]["printer_id"] == "front"
    emu.wait_for(lambda rec: any(order["receipt_number"] in t for t in rec.receipts()))


def test_usb_printer_class_devices_are_claimed_by_the_escpos_driver() -> None:
    usb_printer = DeviceDescriptor("usb", DeviceAddress("usb", path="1-4", vendor_id=0x0416,
                                                        product_id=0x5011), usb_class=0x07)
    webcam = DeviceDescriptor("usb", DeviceAddress("usb", path="1-5", vendor_id=0x046D,
                                                   product_id=0x0825), usb_class=0xEF)
    spec = printers.spec(printing=None)  # type: ignore[arg-type] - create is not called here
    assert best_driver([spec], usb_printer) is spec
    assert best_driver([spec], webcam) is None
