"""mDNS through avahi: where avahi-daemon runs, the daemon publishes through it over D-Bus
(one responder per host) and starts no responder of its own; the SRV target is the host's own
name and the TXT record has `txtvers` and no `port`.

Avahi is the system's when a system bus with a running avahi-daemon is there (`avahi-daemon
--check`); otherwise, when dbus-daemon and avahi-daemon are installed and we are root, the test
starts a private bus and an avahi-daemon on it (the daemon and the test reach it through
DBUS_SYSTEM_BUS_ADDRESS, as they would the system bus). Otherwise it is SKIPPED LOUDLY.
Without avahi the own responder is used: tests/edge/devices/test_mdns.py.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import avahi
from edge.mdns import Advertiser, plan

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""
AVAHI_CONFIG = """[server]
use-ipv4=yes
use-ipv6=no
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[publish]
publish-hinfo=no
publish-workstation=no
"""


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _system_avahi_runs() -> bool:
    exe = shutil.which("avahi-daemon")
    return bool(exe) and avahi.system_bus_present() and subprocess.run(
        [exe, "--check"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def avahi_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """The D-Bus address avahi is on (None: the system bus)."""
    if _system_avahi_runs():
        yield None
        return
    dbus, daemon = shutil.which("dbus-daemon"), shutil.which("avahi-daemon")
    if not (dbus and daemon and os.geteuid() == 0):
        pytest.skip("SKIPPED LOUDLY: no system bus with a running avahi-daemon, and no way to "
                    "start one (needs dbus-daemon, avahi-daemon and root): publishing through "
                    "avahi was NOT tested. apt-get install avahi-daemon dbus, and rerun.")
    work = tmp_path_factory.mktemp("avahi")
    sock = work / "bus"
    (work / "bus.conf").write_text(BUS_CONFIG.format(socket=sock))
    (work / "avahi.conf").write_text(AVAHI_CONFIG)
    address = f"unix:path={sock}"
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    procs = [subprocess.Popen([dbus, "--nofork", "--nopidfile",
                               f"--config-file={work / 'bus.conf'}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    try:
        _wait_for(sock.exists, 10, "the private D-Bus")
        os.makedirs("/run/avahi-daemon", exist_ok=True)  # avahi's pid file lives there
        procs.append(subprocess.Popen(
            [daemon, "-f", str(work / "avahi.conf"), "--no-drop-root", "--no-chroot",
             "--no-rlimits", "--no-proc-title"], env=env,
            stdout=subprocess.DEVNULL, stderr=(work / "avahi.log").open("wb")))

        async def running() -> bool:
            try:
                svc_bus = await avahi.MessageBus(bus_address=address).connect()
            except OSError:
                return False
            try:
                (state,) = await avahi._call(svc_bus, "/", avahi.SERVER, "GetState")
                return state == avahi.SERVER_RUNNING
            except avahi.AvahiError:
                return False
            finally:
                svc_bus.disconnect()

        _wait_for(lambda: procs[1].poll() is None and asyncio.run(running()), 20,
                  "avahi-daemon to run: " + (work / "avahi.log").read_text(errors="replace"))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _browse(address: str | None, timeout_s: float = 15) -> list[list[str]]:
    """Resolved `_novapos-edge._tcp` services as avahi-browse parses them."""
    browse = shutil.which("avahi-browse")
    if browse is None:
        pytest.skip("SKIPPED LOUDLY: avahi-browse (avahi-utils) is not installed")
    env = dict(os.environ)
    if address:
        env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    out = subprocess.run([browse, "-rtpk", "_novapos-edge._tcp"], env=env, capture_output=True,
                         text=True, timeout=timeout_s).stdout
    # -p escapes characters as \DDD (decimal): "NovaPOS\032Edge".
    unescape = functools.partial(re.sub, r"\\(\d{3})", lambda m: chr(int(m.group(1))))
    return [[unescape(f) for f in line.split(";")] for line in out.splitlines()
            if line.startswith("=")]


def test_publishing_goes_through_avahi_with_the_hosts_name(avahi_bus: str | None) -> None:
    port = 18420

    async def scenario() -> tuple[str | None, object, str | None]:
        ad = Advertiser(plan("store-avahi-1", "tenant-a", "0.0.0.0", port, []),
                        avahi_bus_address=avahi_bus)
        await ad.start()
        try:
            found = await asyncio.to_thread(_browse, avahi_bus)
        finally:
            await ad.stop()
        return ad.via, ad._zc, found

    via, own_responder, found = asyncio.run(scenario())
    assert via == "avahi" and own_responder is None  # no second mDNS stack on the host
    ours = [f for f in found if f[3] == "NovaPOS Edge store-avahi-1"]
    assert ours, found
    # =;iface;proto;name;type;domain;host;address;port;txt
    fields = ours[0]
    assert fields[6] == f"{socket.gethostname().split('.')[0]}.local", fields
    assert fields[8] == str(port)
    txt = {part.strip('"').split("=", 1)[0]: part.strip('"').split("=", 1)[1]
           for part in fields[9].split(" ") if "=" in part}
    assert txt["txtvers"] == "1" and txt["store_id"] == "store-avahi-1"
    assert txt["tenant_id"] == "tenant-a" and txt["api"] == "1" and "port" not in txt
    # Stopped: withdrawn (avahi sends a goodbye; its cache drops the record within a second).
    _wait_for(lambda: not [f for f in _browse(avahi_bus, 5)
                           if f[3] == "NovaPOS Edge store-avahi-1"], 15, "the withdrawal")


def test_a_second_daemon_for_the_same_store_gets_avahis_alternative_name(
        avahi_bus: str | None) -> None:
    async def scenario() -> list[str | None]:
        ads = [Advertiser(plan("store-avahi-2", "t", "0.0.0.0", p, []),
                          avahi_bus_address=avahi_bus) for p in (18421, 18422)]
        for ad in ads:
            await ad.start()
        try:
            return [ad.name for ad in ads]
        finally:
            for ad in ads:
                await ad.stop()

    names = asyncio.run(scenario())
    assert names == ["NovaPOS Edge store-avahi-2", "NovaPOS Edge store-avahi-2 #2"]


def test_no_system_bus_means_publish_some_other_way(tmp_path: Path) -> None:
    async def scenario() -> None:
        with pytest.raises(avahi.AvahiUnavailable):
            await avahi.AvahiService.publish(
                name="x", service_type="_novapos-edge._tcp", port=1, txt={},
                bus_address=f"unix:path={tmp_path / 'no-bus'}")

    asyncio.run(scenario())


def test_the_advertisement_comes_back_after_avahi_dropped_it(
        avahi_bus: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge import mdns

    monkeypatch.setattr(mdns, "AVAHI_CHECK_S", 0.2)

    async def scenario() -> None:
        ad = Advertiser(plan("store-avahi-3", "t", "0.0.0.0", 18423, []),
                        avahi_bus_address=avahi_bus)
        await ad.start()
        try:
            first = ad._avahi
            assert first is not None and await first.alive()
            # What an avahi restart does to every client's entry groups: they are gone.
            await avahi._call(first._bus, first._group, avahi.ENTRY_GROUP, "Free")
            assert not await first.alive()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while ad._avahi is first or ad._avahi is None or not await ad._avahi.alive():
                assert loop.time() < deadline, "not published again"
                await asyncio.sleep(0.1)
            found = await asyncio.to_thread(_browse, avahi_bus)
            assert [f for f in found if f[3] == "NovaPOS Edge store-avahi-3"], found
        finally:
            await ad.stop()

    asyncio.run(scenario())
