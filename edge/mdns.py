"""mDNS advertising: the daemon announces itself as `_novapos-edge._tcp.local.` so lanes on the
store LAN find it without configuration (`drivers.lane_discovery` is the lane side).

TXT record: `store_id`, `tenant_id`, `api` (API major version), `tls` ("0"/"1"), `port` (also
in the SRV record), `path`.
Which addresses are advertised follows where the API listens: a specific address is advertised
as is; a wildcard listen (0.0.0.0) advertises every non-loopback IPv4 address; a loopback-only
daemon (the default `api.host`) is advertised on loopback only, since lanes elsewhere could not
reach it anyway. `[devices] mdns_interfaces` overrides both the addresses and the interfaces.
Advertising never blocks start-up or fails the daemon: errors are logged.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import structlog
from zeroconf import InterfaceChoice, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

SERVICE_TYPE = "_novapos-edge._tcp.local."
API_VERSION = "1"
log = structlog.get_logger("novapos.mdns")


@dataclass(frozen=True, slots=True)
class Advertisement:
    store_id: str
    tenant_id: str
    port: int
    addresses: tuple[str, ...]
    interfaces: tuple[str, ...] | None  # None: all interfaces
    tls: bool = False

    @property
    def instance_name(self) -> str:
        return f"NovaPOS Edge {self.store_id}.{SERVICE_TYPE}"

    def service_info(self) -> ServiceInfo:
        host = socket.gethostname().split(".")[0] or "novapos-edge"
        return ServiceInfo(
            SERVICE_TYPE, self.instance_name, port=self.port,
            addresses=[ipaddress.ip_address(a).packed for a in self.addresses],
            properties={"store_id": self.store_id, "tenant_id": self.tenant_id,
                        "api": API_VERSION, "tls": "1" if self.tls else "0",
                        "port": str(self.port), "path": "/v1"},
            server=f"{host}-{self.store_id}.local.",
        )


def _ipv4_addresses(include_loopback: bool) -> list[str]:
    import ifaddr

    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and (include_loopback or not ip.ip.startswith("127.")):
                out.append(ip.ip)
    return out


def plan(store_id: str, tenant_id: str, listen_host: str, port: int,
         interfaces: list[str], tls: bool = False) -> Advertisement:
    """Pure apart from reading the host's addresses for a wildcard listen."""
    if interfaces:
        return Advertisement(store_id, tenant_id, port, tuple(interfaces), tuple(interfaces), tls)
    if listen_host in ("0.0.0.0", "::", ""):
        return Advertisement(store_id, tenant_id, port,
                             tuple(_ipv4_addresses(include_loopback=False)), None, tls)
    if ipaddress.ip_address(listen_host).is_loopback:
        return Advertisement(store_id, tenant_id, port, (listen_host,), (listen_host,), tls)
    return Advertisement(store_id, tenant_id, port, (listen_host,), None, tls)


class Advertiser:
    def __init__(self, advertisement: Advertisement) -> None:
        self.advertisement = advertisement
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None

    async def start(self) -> None:
        ad = self.advertisement
        if not ad.addresses:
            log.warning("mDNS: no address to advertise; lanes must be configured by hand")
            return
        interfaces = list(ad.interfaces) if ad.interfaces else InterfaceChoice.All
        self._zc = AsyncZeroconf(interfaces=interfaces)
        self._info = ad.service_info()
        # allow_name_change: two daemons for one store id on a LAN must not fight over a name.
        await (await self._zc.async_register_service(self._info, allow_name_change=True))
        log.info("mDNS: advertising", name=self._info.name, addresses=list(ad.addresses),
                 port=ad.port)

    async def stop(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self._info is not None:
                await (await zc.async_unregister_service(self._info))
        finally:
            await zc.async_close()
