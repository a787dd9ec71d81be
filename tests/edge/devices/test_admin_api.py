"""The local admin API: its credential, bad input as problems, bindings, health, /metrics."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from drivers.emulators.serial_scanner import SerialScannerEmulator
from edge.api.auth import is_loopback
from tests.conftest import new_key
from tests.edge.devices.helpers import (
    SseReader,
    admin_client,
    device_config,
    start_with_devices,
    wait_for,
)


@pytest.fixture
def app(tmp_path: Path):
    app = start_with_devices(tmp_path / "store",
                             device_config(str(tmp_path / "ttyScan*"), lane_id=None))
    em = SerialScannerEmulator(tmp_path / "ttyScan0")
    try:
        wait_for(lambda: app.daemon.devices.registry.get("scanner-ttyScan0"), "attach")
        yield app
    finally:
        em.close()
        app.close()


def test_the_admin_token_is_a_private_file_and_the_only_key(app) -> None:
    path = app.service.data_dir / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("npa_")
    anonymous = httpx.get(f"{app.url}/v1/admin/devices")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    lane = app.client("lane-1").get("/v1/admin/devices")
    assert lane.status_code == 401  # a lane token is no admin credential
    wrong = httpx.get(f"{app.url}/v1/admin/devices", headers={"Authorization": "Bearer npa_x"})
    assert wrong.status_code == 401
    # ...and the admin token is no lane credential.
    token = path.read_text().strip()
    assert httpx.get(f"{app.url}/v1/devices",
                     headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert admin_client(app).get("/v1/admin/devices").status_code == 200
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("192.0.2.7") and not is_loopback(None) and not is_loopback("x")


def test_bad_binding_requests_are_problems_and_change_nothing(app) -> None:
    admin = admin_client(app)
    url = "/v1/admin/devices/scanner-ttyScan0/binding"

    def put(path: str, body, key: str | None = "fresh") -> httpx.Response:
        headers = {"Idempotency-Key": new_key()} if key == "fresh" else {}
        return admin.put(path, json=body, headers=headers)

    cases = [
        (put(url, {"lane_id": "lane-1"}, key=None), 400),
        (put(url, {"lane": "lane-1"}), 400),
        (put(url, {"lane_id": "lane 1!"}), 400),
        (put(url, {"lane_id": "lane-9"}), 422),
        (put("/v1/admin/devices/no-such-device/binding", {"lane_id": "lane-1"}), 404),
        (admin.delete(url, headers={"Idempotency-Key": new_key()}), 404),
        (admin.get("/v1/admin/devices/no-such-device"), 404),
        (admin.post("/v1/admin/devices/no-such-device/health", json={"level": "internal"},
                    headers={"Idempotency-Key": new_key()}), 404),
        (admin.post("/v1/admin/devices/scanner-ttyScan0/health", json={"level": "loud"},
                    headers={"Idempotency-Key": new_key()}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert app.daemon.devices.bindings == {}
    assert admin.get("/v1/admin/devices").json()["bindings"] == []


def test_bind_unbind_and_health(app) -> None:
    admin = admin_client(app)
    url = "/v1/admin/devices/scanner-ttyScan0/binding"
    key = new_key()
    r = admin.put(url, json={"lane_id": "lane-1"}, headers={"Idempotency-Key": key})
    assert r.status_code == 200 and r.json()["lane_id"] == "lane-1"
    again = admin.put(url, json={"lane_id": "lane-1"}, headers={"Idempotency-Key": key})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert admin.get("/v1/admin/devices/scanner-ttyScan0").json()["lane_id"] == "lane-1"
    lane_view = app.client("lane-1").get("/v1/devices").json()
    assert [d["device_id"] for d in lane_view["devices"]] == ["scanner-ttyScan0"]
    assert app.client("lane-2").get("/v1/devices").json()["devices"] == []

    health = admin.post("/v1/admin/devices/scanner-ttyScan0/health", json={"level": "internal"},
                        headers={"Idempotency-Key": new_key()})
    assert health.status_code == 200 and health.json()["ok"] is True

    r = admin.delete(url, headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200 and r.json() == {"device_id": "scanner-ttyScan0", "bound": False}
    assert app.daemon.devices.bindings == {}


def test_lane_streams_are_private_and_kept_alive(app) -> None:
    other = httpx.get(f"{app.url}/v1/lanes/lane-1/events",
                      headers={"Authorization": f"Bearer {app.tokens['lane-2']}"})
    assert other.status_code == 403
    assert httpx.get(f"{app.url}/v1/lanes/lane-1/events").status_code == 401
    stream = SseReader(f"{app.url}/v1/lanes/lane-1/events",
                       {"Authorization": f"Bearer {app.tokens['lane-1']}"}).start()
    try:
        stream.next("snapshot")
        wait_for(lambda: ": keep-alive" in stream.comments, "a keep-alive comment")
    finally:
        stream.stop()


def test_device_states_are_on_metrics(app) -> None:
    text = httpx.get(f"{app.url}/metrics").text
    assert ('novapos_device_state{device_id="scanner-ttyScan0",kind="barcode_scanner",'
            'state="idle"} 1.0') in text
    assert 'novapos_device_up{device_id="scanner-ttyScan0",kind="barcode_scanner"} 1.0' in text
