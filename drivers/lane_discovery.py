"""Lane side of discovery: find the store's edge daemon on the LAN by mDNS.

`find_daemons` browses `_novapos-edge._tcp.local.` for `timeout_s` and resolves what answers;
`find_daemon` returns as soon as one daemon (of the given store, if any) is resolved. Both are
async (zeroconf's asyncio API) and never raise for an empty network: they return nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass

from zeroconf import InterfaceChoice, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_novapos-edge._tcp.local."
RESOLVE_TIMEOUT_MS = 1_500


@dataclass(frozen=True, slots=True)
class FoundDaemon:
    name: str
    store_id: str
    tenant_id: str
    api_version: str
    tls: bool
    address: str
    port: int

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{scheme}://{host}:{self.port}"


def _decode(info: AsyncServiceInfo) -> FoundDaemon | None:
    props = {k.decode(): (v.decode() if v is not None else "")
             for k, v in (info.properties or {}).items()}
    addresses = info.parsed_addresses()
    if not addresses or info.port is None or "store_id" not in props:
        return None
    # Prefer IPv4, then the first listed.
    address = min(addresses, key=lambda a: ipaddress.ip_address(a).version)
    return FoundDaemon(name=info.name, store_id=props["store_id"],
                       tenant_id=props.get("tenant_id", ""), api_version=props.get("api", ""),
                       tls=props.get("tls") == "1", address=address, port=info.port)


async def _browse(timeout_s: float, interfaces: list[str] | None, store_id: str | None,
                  first_only: bool) -> list[FoundDaemon]:
    aiozc = AsyncZeroconf(interfaces=interfaces or InterfaceChoice.All)
    names: asyncio.Queue[str] = asyncio.Queue()

    def on_change(zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            names.put_nowait(name)

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    found: dict[str, FoundDaemon] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                name = await asyncio.wait_for(names.get(), timeout=remaining)
            except TimeoutError:
                break
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
                continue
            daemon = _decode(info)
            if daemon is None or (store_id is not None and daemon.store_id != store_id):
                continue
            found[daemon.name] = daemon
            if first_only:
                break
    finally:
        with contextlib.suppress(Exception):
            await browser.async_cancel()
        await aiozc.async_close()
    return sorted(found.values(), key=lambda d: d.name)


async def find_daemons(timeout_s: float = 3.0, *, interfaces: list[str] | None = None,
                       store_id: str | None = None) -> list[FoundDaemon]:
    """Every daemon that answers within `timeout_s` (optionally only one store's)."""
    return await _browse(timeout_s, interfaces, store_id, first_only=False)


async def find_daemon(store_id: str | None = None, timeout_s: float = 5.0, *,
                      interfaces: list[str] | None = None) -> FoundDaemon | None:
    """The first daemon (of `store_id`, if given) to be resolved, or None after `timeout_s`."""
    found = await _browse(timeout_s, interfaces, store_id, first_only=True)
    return found[0] if found else None
