"""The payment terminals in the device registry.

The payments code (`edge.tender`) owns the store's terminals (`[[devices.terminals]]`): each
`TerminalLink` holds the one `ZvtTerminal` driver object of its terminal and serializes its
transactions. The registry lists and watches those same objects (a ZVT terminal takes one ECR
connection at a time, so a second driver would lock payments out): each terminal is a
configured network device, claimed by the `zvt` driver spec, which hands the registry the
link's driver, as `edge.devices.printers` does with the print service's printers. A
`[[devices.configured]]` entry with `driver = "zvt"` (a terminal the payments do not use) gets
a driver of its own.

`TerminalWatch` keeps the listed state true between payments: every `[devices]
terminal_poll_s` it sends a status enquiry (05 01) through the link, inside the link's session
(never between a payment and the commit of its result) and only when no session holds the
terminal, so a poll never delays a payment by more than one status enquiry. A terminal that
went away shows as `error` with its cause (`not_connected`, `communication_error`, `timeout`)
at the next poll, and as `idle` again at the first poll that gets an answer. Health checks of
the shared terminal go through the link the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from drivers.device import Device, StatisticsSink
from drivers.registry import DriverSpec
from edge.tender.terminal_link import TerminalLink, TerminalUnreachable
from schemas.devices import DeviceAddress, DeviceDescriptor, HealthLevel, HealthResult

log = structlog.get_logger("novapos.devices")

ZVT = "zvt"
# A health check waits this long for a payment in progress to end before answering "busy".
HEALTH_WAIT_S = 10.0


def discovery_entries(links: Iterable[TerminalLink]) -> list[DeviceDescriptor]:
    """The network descriptors of the payments' terminals (those with a shared driver)."""
    out = []
    for link in links:
        device = link.device
        if device is None or device.address.transport != "tcp":
            continue
        a = device.address
        out.append(DeviceDescriptor("network", DeviceAddress("tcp", host=a.host, port=a.port),
                                    driver=ZVT, device_id=device.device_id))
    return out


def spec(links: Iterable[TerminalLink]) -> DriverSpec:
    """The `zvt` driver for the registry: a payments' terminal gets its shared driver."""
    shared = {link.device.device_id: link.device for link in links if link.device is not None}

    def create(device_id: str, d: DeviceDescriptor, statistics: StatisticsSink) -> Device:
        if device_id in shared:
            return shared[device_id]
        from drivers.zvt import ZvtTerminal  # only stores with a terminal load the driver

        options = d.options
        return ZvtTerminal(device_id, d.address, statistics=statistics,
                           password=str(options.get("password", "000000")),
                           currency=str(options.get("currency", "EUR")))

    # A network terminal cannot be recognized by sniffing: only configuration names it.
    return DriverSpec(ZVT, "payment_terminal", lambda _d: None, create)


class TerminalWatch:
    def __init__(self, link: TerminalLink, poll_s: float, status_timeout_s: float) -> None:
        assert link.device is not None, "a watch lists the link's own driver"
        self.link = link
        self.device: Device = link.device
        self.poll_s = poll_s
        self.status_timeout_s = status_timeout_s

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # a poll must never stop the watch
                log.exception("payment terminal status poll failed")
            await asyncio.sleep(self.poll_s)

    async def poll_once(self) -> bool:
        """One status enquiry unless a session holds the terminal; True when one was sent.
        Its answer (or failure) is the driver's new state; nothing else is done with it."""
        if self.link.in_use:
            return False  # the payment under way reports the terminal's state itself
        async with self.link.session():
            await self.link.call("terminal_status", timeout_s=self.status_timeout_s)
        return True

    async def check_health(self, level: HealthLevel) -> HealthResult:
        """The driver's health check in a session of its own; "busy" if a payment holds the
        terminal longer than `HEALTH_WAIT_S`."""
        device = self.link.device
        assert device is not None
        session = self.link.session()
        try:
            await asyncio.wait_for(session.__aenter__(), HEALTH_WAIT_S)
        except TimeoutError:
            return HealthResult(device.device_id, level, False, ["busy"],
                                f"a payment held the terminal for more than {HEALTH_WAIT_S:g} s; "
                                "check again when it is done")
        try:
            return await self.link.call("check_health", level)
        except TerminalUnreachable as exc:
            return HealthResult(device.device_id, level, False, ["not_connected"], str(exc))
        finally:
            await session.__aexit__(None, None, None)
