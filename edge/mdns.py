"""mDNS advertising: the daemon announces itself as `_novapos-edge._tcp.local.` so lanes on the
store LAN find it without configuration (`drivers.lane_discovery` is the lane side).

Through the system's avahi-daemon when it runs (`edge.avahi`, over D-Bus), so the host has one
mDNS responder; otherwise through the daemon's own responder (python-zeroconf). Either way the
SRV record points at the host's own name (`<hostname>.local`, avahi's host name when avahi
publishes), never a made-up one.

TXT record (DNS-SD, RFC 6763 6.7: `txtvers` first): `txtvers` (1), `store_id`, `tenant_id`,
`api` (API major version), `tls` ("0"/"1"), `path`. The port is the SRV record's.
Which addresses are advertised follows where the API listens: a specific address is advertised
as is; a wildcard listen (0.0.0.0) advertises every non-loopback IPv4 address; a loopback-only
daemon (the default `api.host`) is advertised on loopback only, since lanes elsewhere could not
reach it anyway. `[devices] mdns_interfaces` overrides both the addresses and the interfaces.
A loopback-only daemon always uses the own responder (avahi does not publish on loopback).
Advertising never blocks start-up or fails the daemon: errors are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Literal

import structlog
from zeroconf import InterfaceChoice, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from edge import avahi

SERVICE_TYPE = "_novapos-edge._tcp.local."
API_VERSION = "1"
TXT_VERSION = "1"
# How often a service published through avahi is checked (an avahi restart drops it).
AVAHI_CHECK_S = 15.0
log = structlog.get_logger("novapos.mdns")


def host_name() -> str:
    """This host's name as an mDNS host: `<first label of the hostname>.local.`."""
    label = socket.gethostname().split(".")[0]
    label = re.sub(r"[^A-Za-z0-9-]", "-", label).strip("-")[:63] or "novapos-edge"
    return f"{label}.local."


@dataclass(frozen=True, slots=True)
class Advertisement:
    store_id: str
    tenant_id: str
    port: int
    addresses: tuple[str, ...]
    interfaces: tuple[str, ...] | None  # None: all interfaces
    tls: bool = False

    @property
    def instance_label(self) -> str:
        return f"NovaPOS Edge {self.store_id}"

    @property
    def instance_name(self) -> str:
        return f"{self.instance_label}.{SERVICE_TYPE}"

    @property
    def loopback_only(self) -> bool:
        return all(ipaddress.ip_address(a).is_loopback for a in self.addresses)

    def txt(self) -> dict[str, str]:
        return {"txtvers": TXT_VERSION, "store_id": self.store_id, "tenant_id": self.tenant_id,
                "api": API_VERSION, "tls": "1" if self.tls else "0", "path": "/v1"}

    def service_info(self) -> ServiceInfo:
        return ServiceInfo(
            SERVICE_TYPE, self.instance_name, port=self.port,
            addresses=[ipaddress.ip_address(a).packed for a in self.addresses],
            properties=self.txt(), server=host_name(),
        )


def _interface_indexes(addresses: tuple[str, ...]) -> list[int]:
    """The network interfaces (kernel indexes) holding these addresses."""
    import ifaddr

    wanted = set(addresses)
    return sorted({a.index for a in ifaddr.get_adapters() if a.index is not None
                   and any(isinstance(ip.ip, str) and ip.ip in wanted for ip in a.ips)})


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
    """Publishes one advertisement, through avahi when it runs, else with its own responder.
    `via` says which ("avahi" or "zeroconf"; None before `start` or without an address)."""

    def __init__(self, advertisement: Advertisement, *, use_avahi: bool = True,
                 avahi_bus_address: str | None = None) -> None:
        self.advertisement = advertisement
        self.via: Literal["avahi", "zeroconf"] | None = None
        self.name: str | None = None
        self._use_avahi = use_avahi
        self._bus_address = avahi_bus_address
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._avahi: avahi.AvahiService | None = None
        self._watch: asyncio.Task | None = None

    async def start(self) -> None:
        ad = self.advertisement
        if not ad.addresses:
            log.warning("mDNS: no address to advertise; lanes must be configured by hand")
            return
        if self._use_avahi and not ad.loopback_only:
            try:
                await self._publish_avahi()
            except avahi.AvahiUnavailable as exc:
                log.info("mDNS: avahi not available, using the daemon's own responder",
                         reason=str(exc))
            else:
                self._watch = asyncio.create_task(self._keep_avahi())
                return
        await self._publish_zeroconf()

    async def _publish_avahi(self) -> None:
        ad = self.advertisement
        indexes = _interface_indexes(ad.addresses) if ad.interfaces or len(ad.addresses) == 1 \
            else None
        self._avahi = await avahi.AvahiService.publish(
            name=ad.instance_label, service_type=SERVICE_TYPE.removesuffix(".local."),
            port=ad.port, txt=ad.txt(), interfaces=indexes or None,
            protocol=avahi.PROTO_INET if indexes else avahi.PROTO_UNSPEC,
            bus_address=self._bus_address)
        self.via, self.name = "avahi", self._avahi.name
        log.info("mDNS: advertising through avahi", name=self.name, port=ad.port,
                 interfaces=indexes or "all")

    async def _keep_avahi(self) -> None:
        """Publish again after avahi restarted (it forgets every client's services)."""
        while True:
            await asyncio.sleep(AVAHI_CHECK_S)
            if self._avahi is not None and await self._avahi.alive():
                continue
            old, self._avahi = self._avahi, None
            if old is not None:
                await old.close()
            try:
                await self._publish_avahi()
            except Exception as exc:  # noqa: BLE001 - keep trying; lanes keep their last address
                log.warning("mDNS: avahi lost the advertisement; retrying", error=str(exc))

    async def _publish_zeroconf(self) -> None:
        ad = self.advertisement
        interfaces = list(ad.interfaces) if ad.interfaces else InterfaceChoice.All
        self._zc = AsyncZeroconf(interfaces=interfaces)
        self._info = ad.service_info()
        # allow_name_change: two daemons for one store id on a LAN must not fight over a name.
        await (await self._zc.async_register_service(self._info, allow_name_change=True))
        self.via, self.name = "zeroconf", self._info.name
        log.info("mDNS: advertising", name=self._info.name, addresses=list(ad.addresses),
                 port=ad.port, host=self._info.server)

    async def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        service, self._avahi = self._avahi, None
        if service is not None:
            await service.close()
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self._info is not None:
                await (await zc.async_unregister_service(self._info))
        finally:
            await zc.async_close()
