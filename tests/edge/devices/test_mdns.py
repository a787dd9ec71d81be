"""mDNS on loopback: the daemon (a real process) advertises `_novapos-edge._tcp` and the lane
helper finds it, with the TXT record's store id, API version and TLS flag.

Multicast must be enabled on the loopback interface for this. When it is not, the test is
SKIPPED WITH A LOUD REASON rather than passing silently: enable it with
`ip link set lo multicast on` (root) and rerun.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from drivers.lane_discovery import find_daemon, find_daemons
from edge.mdns import Advertiser, plan
from tests.support.daemon import DaemonProcess

IFF_MULTICAST = 0x1000


def _loopback_multicast() -> bool:
    try:
        flags = int(Path("/sys/class/net/lo/flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return False
    return bool(flags & IFF_MULTICAST)


requires_lo_multicast = pytest.mark.skipif(
    not _loopback_multicast(),
    reason="!!! MULTICAST IS OFF ON THE LOOPBACK INTERFACE: the mDNS test cannot run. Enable it "
    "with `sudo ip link set lo multicast on` and rerun tests/edge/devices/test_mdns.py !!!",
)


def test_advertised_addresses_follow_the_listen_address() -> None:
    local = plan("s1", "t1", "127.0.0.1", 8420, [])
    assert (local.addresses, local.interfaces) == (("127.0.0.1",), ("127.0.0.1",))
    lan = plan("s1", "t1", "192.0.2.10", 8420, [])
    assert (lan.addresses, lan.interfaces) == (("192.0.2.10",), None)
    forced = plan("s1", "t1", "0.0.0.0", 8420, ["192.0.2.11"])
    assert forced.addresses == ("192.0.2.11",) and forced.interfaces == ("192.0.2.11",)
    everywhere = plan("s1", "t1", "0.0.0.0", 8420, [])
    assert everywhere.interfaces is None and "127.0.0.1" not in everywhere.addresses
    info = local.service_info()
    txt = info.properties
    assert txt[b"store_id"] == b"s1" and txt[b"api"] == b"1" and txt[b"tls"] == b"0"
    # DNS-SD: txtvers first; the port is the SRV record's, not repeated in TXT.
    assert list(txt)[0] == b"txtvers" and txt[b"txtvers"] == b"1" and b"port" not in txt
    assert info.port == 8420
    # The SRV target is this host's own name, not one made up from the store id.
    assert info.server == f"{socket.gethostname().split('.')[0]}.local."


@requires_lo_multicast
@pytest.mark.slow
def test_a_lane_finds_the_running_daemon_on_loopback(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    daemon = DaemonProcess(data_dir, extra_env={
        "NOVAPOS_STORE__STORE_ID": "store-mdns-1", "NOVAPOS_DEVICES__MDNS": "true",
        "NOVAPOS_DEVICES__MDNS_INTERFACES": '["127.0.0.1"]', "NOVAPOS_DEVICES__USB": "false",
    }).start()
    try:
        found = asyncio.run(find_daemon("store-mdns-1", timeout_s=20, interfaces=["127.0.0.1"]))
        assert found is not None, "the daemon's advertisement was not seen on loopback"
        assert (found.store_id, found.tenant_id, found.api_version, found.tls) == (
            "store-mdns-1", "demo-tenant", "1", False)
        assert found.url == daemon.url
        assert httpx.get(f"{found.url}/health/live", timeout=5).status_code == 200
    finally:
        daemon.stop()


@requires_lo_multicast
def test_browsing_filters_by_store_and_sees_every_daemon() -> None:
    async def scenario() -> None:
        ads = [Advertiser(plan(store, "t", "127.0.0.1", port, ["127.0.0.1"]))
               for store, port in (("store-a", 18001), ("store-b", 18002))]
        await asyncio.gather(*(ad.start() for ad in ads))
        try:
            b = await find_daemon("store-b", timeout_s=15, interfaces=["127.0.0.1"])
            assert b is not None and b.port == 18002
            both = await find_daemons(2.5, interfaces=["127.0.0.1"])
            assert {"store-a", "store-b"} <= {d.store_id for d in both}
            assert await find_daemon("store-zzz", timeout_s=1, interfaces=["127.0.0.1"]) is None
        finally:
            await asyncio.gather(*(ad.stop() for ad in ads))

    asyncio.run(scenario())


def _lan_address() -> str | None:
    """An IPv4 address of a multicast-capable, non-loopback interface, if the host has one."""
    import ifaddr

    for adapter in ifaddr.get_adapters():
        try:
            flags = int(Path(f"/sys/class/net/{adapter.name}/flags").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        if adapter.name == "lo" or not flags & IFF_MULTICAST or not flags & 0x1:  # IFF_UP
            continue
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                return ip.ip
    return None


def test_without_avahi_the_own_responder_publishes(tmp_path: Path) -> None:
    address = _lan_address()
    if address is None:
        pytest.skip("!!! NO MULTICAST-CAPABLE LAN INTERFACE: the own responder's fallback "
                    "could not be tested !!!")

    async def scenario() -> None:
        # No system bus at this address: avahi is absent, so the daemon answers itself.
        ad = Advertiser(plan("store-fallback", "t", address, 18431, []),
                        avahi_bus_address=f"unix:path={tmp_path / 'no-bus'}")
        await ad.start()
        try:
            assert ad.via == "zeroconf"
            found = await find_daemon("store-fallback", timeout_s=15, interfaces=[address])
            assert found is not None and (found.address, found.port) == (address, 18431)
        finally:
            await ad.stop()

    asyncio.run(scenario())
