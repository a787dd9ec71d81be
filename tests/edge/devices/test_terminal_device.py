"""The payment terminal as a device: listed, watched, health-checked and counted like the
printers and scanners, on the very driver the payments use (one ECR connection).

Against the ZVT terminal emulator over real TCP: a live in-process daemon for the listing,
/metrics and the shared driver; a daemon process with the CLI as a subprocess for the outage
(the terminal goes away → `status` exits 1 with the cause; it comes back → green) and for the
counters surviving a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from tests.conftest import new_key
from tests.edge.api.helpers import open_cart, post
from tests.edge.devices.helpers import admin_client, start_with_devices, wait_for
from tests.edge.devices.test_devices_cli import cli, cli_process
from tests.support.daemon import DaemonProcess
from tests.support.ports import stable_port

TERMINAL = "payment-terminal"
LINK_CAUSES = {"not_connected", "communication_error", "timeout"}


def terminal_config(port: int) -> str:
    return (
        "[devices]\npoll_interval_s = 0.2\nusb = false\nhid = false\n"
        "serial_system_ports = false\nstatistics_flush_s = 0.2\nmdns = false\n"
        "terminal_poll_s = 0.3\n"
        "[tender]\nterminal_host = \"127.0.0.1\"\n"
        f"terminal_port = {port}\nterminal_connect_timeout_s = 2.0\n"
        "terminal_transaction_timeout_s = 5.0\nterminal_status_timeout_s = 2.0\n"
    )


@pytest.fixture
def emulator() -> Iterator[ZvtTerminalEmulator]:
    with ZvtTerminalEmulator(busy_wait_s=0.5) as emu:
        yield emu


def card_sale(client) -> dict:
    cart = open_cart(client)
    view = post(client, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).json()
    r = post(client, f"/v1/carts/{cart}/tenders",
             {"tender_type": "card", "amount_minor": view["total_minor"]})
    assert r.status_code == 201, r.text
    card = next(t for t in r.json()["tenders"] if t["tender_type"] == "card")
    assert card["state"] == "captured"
    return card


def test_the_terminal_is_a_device_on_the_payments_own_driver(
        tmp_path: Path, emulator: ZvtTerminalEmulator) -> None:
    app = start_with_devices(tmp_path / "store", terminal_config(emulator.port))
    try:
        admin = admin_client(app)

        def listed() -> dict | None:
            r = admin.get("/v1/admin/devices")
            assert r.status_code == 200, r.text
            found = [d for d in r.json()["devices"] if d["device_id"] == TERMINAL]
            return found[0] if found and found[0]["state"] == "idle" else None

        terminal = wait_for(listed, "the terminal to be listed idle")
        assert (terminal["kind"], terminal["driver"], terminal["power"]) == (
            "payment_terminal", "zvt", "online")
        assert terminal["address"]["port"] == emulator.port and terminal["causes"] == []

        card_sale(app.client())
        devices = app.daemon.devices
        # One driver object: the registry lists the one the payments talk through...
        assert devices.registry.get(TERMINAL) is app.daemon.terminals.by_id(TERMINAL).device
        status = admin.get(f"/v1/admin/devices/{TERMINAL}").json()
        assert status["statistics"]["transactions"] == 1
        health = admin.post(f"/v1/admin/devices/{TERMINAL}/health", json={"level": "internal"},
                            headers={"Idempotency-Key": new_key()})
        assert health.status_code == 200 and health.json()["ok"] is True, health.text
        # ...so after polls, a sale and a health check the terminal has one ECR connection.
        assert len(emulator._conns) == 1  # the emulator's live ECR connections

        metrics = app.client().get("/metrics").text
        assert f'novapos_device_up{{device_id="{TERMINAL}",kind="payment_terminal"}} 1.0' \
            in metrics
        assert admin.get("/v1/admin/status").json()["degraded"] is False
    finally:
        app.close()


@pytest.mark.slow
def test_terminal_outage_shows_in_the_cli_and_counters_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    # The terminal comes back on its address after the outage: a port no other socket can take
    # meanwhile.
    emulator = ZvtTerminalEmulator(port=stable_port(), busy_wait_s=0.5).start()
    port = emulator.port
    (data_dir / "config.toml").write_text(terminal_config(port))
    daemon = DaemonProcess(data_dir).start()
    revived: ZvtTerminalEmulator | None = None
    try:
        def terminal_status() -> dict:
            r = cli(data_dir, "devices", "status", TERMINAL, "--json")
            return json.loads(r.stdout)

        wait_for(lambda: terminal_status()["state"] == "idle", "the terminal idle")
        with daemon.client() as lane:
            card_sale(lane)

        # The terminal goes away: the next poll finds it down, with its cause.
        emulator.stop()
        down = wait_for(lambda: (r := cli(data_dir, "status", "--json")).returncode == 1 and r,
                        "the terminal to show as down")
        report = json.loads(down.stdout)
        assert report["devices_down"] == [TERMINAL]
        [terminal] = [d for d in report["devices"] if d["device_id"] == TERMINAL]
        assert terminal["state"] == "error" and set(terminal["causes"]) <= LINK_CAUSES, terminal
        human = cli_process(data_dir, "status")
        assert human.returncode == 1, human.stdout + human.stderr
        assert f"payment terminal {TERMINAL} is in error" in human.stdout
        # (The cause may move on between the two reports: communication error, then not
        # connected once the first reconnect is refused.)
        assert any(c.replace("_", " ") in human.stdout for c in LINK_CAUSES), human.stdout
        listing = cli(data_dir, "devices", "list")
        assert listing.returncode == 1 and TERMINAL in listing.stdout

        # It comes back on the same address: a health check reaches it and the store is green.
        revived = ZvtTerminalEmulator(port=port, busy_wait_s=0.5).start()
        health = cli(data_dir, "devices", "health", TERMINAL, "--level", "internal")
        assert health.returncode == 0, health.stdout + health.stderr
        wait_for(lambda: cli(data_dir, "status").returncode == 0, "green again")
        before = terminal_status()["statistics"]
        # One outage, one communication error (the polls during it do not add more).
        assert before["transactions"] == 1 and before["communication_errors"] == 1, before
        assert before["online_transitions"] >= 2 and before["health_checks"] >= 1, before

        daemon.stop()
        daemon = DaemonProcess(data_dir, port=daemon.port).start()
        after = wait_for(lambda: (s := terminal_status())["state"] == "idle" and s,
                         "the terminal idle after the restart")["statistics"]
        for name in ("transactions", "communication_errors", "health_checks"):
            assert after[name] == before[name], (name, before, after)
        assert after["online_transitions"] >= before["online_transitions"]
    finally:
        daemon.stop()
        emulator.stop()
        if revived is not None:
            revived.stop()


def test_a_configured_entry_at_the_terminals_address_cannot_take_it_over() -> None:
    """`[[devices.configured]]` naming the payments' terminal again (another id, maybe another
    driver) would open a second ECR connection: the payments' entry wins the address."""
    from types import SimpleNamespace

    from drivers.discovery import index
    from edge.devices.service import build_interfaces
    from edge.devices.settings import ConfiguredDevice, DevicesConfig
    from schemas.devices import DeviceAddress, DeviceDescriptor

    cfg = DevicesConfig(usb=False, hid=False, serial_system_ports=False, configured=[
        ConfiguredDevice(id="till-terminal", driver="zvt", host="127.0.0.1", port=20007)])
    ours = DeviceDescriptor("network", DeviceAddress("tcp", host="127.0.0.1", port=20007),
                            driver="zvt", device_id=TERMINAL)
    interfaces = build_interfaces(cfg, SimpleNamespace(printers={}), [ours])
    listing = index(d for i in interfaces for d in i.enumerate())
    assert [d.device_id for d in listing.values()] == [TERMINAL]
