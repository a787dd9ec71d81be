"""mDNS on loopback: the daemon (a real process) advertises `_novapos-edge._tcp` and the lane
helper finds it, with the TXT record's store id, API version and TLS flag.

Multicast must be enabled on the loopback interface for this. When it is not, the test is
SKIPPED WITH A LOUD REASON rather than passing silently: enable it with
`ip link set lo multicast on` (root) and rerun.
"""

from __future__ import annotations

import asyncio
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
    txt = local.service_info().properties
    assert txt[b"store_id"] == b"s1" and txt[b"api"] == b"1" and txt[b"tls"] == b"0"
    assert txt[b"port"] == b"8420"


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
