"""The payment terminal in the device registry.

The payments code (`edge.tender`) owns the store's terminal: `[tender] terminal_host` names it,
and its `TerminalLink` holds the one `ZvtTerminal` driver object and serializes transactions.
The registry lists and watches that same object (a ZVT terminal takes one ECR connection at a
time, so a second driver would lock payments out): the terminal is a configured network device,
claimed by the `zvt` driver spec, which hands the registry the link's driver, as
`edge.devices.printers` does with the print service's printers. A `[[devices.configured]]`
entry with `driver = "zvt"` (a terminal the payments do not use) gets a driver of its own.

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
import logging
from collections.abc import Callable

from drivers.device import Device, StatisticsSink
from drivers.registry import DriverSpec
from edge.tender.terminal_link import TerminalLink, TerminalUnreachable
from schemas.devices import DeviceAddress, DeviceDescriptor, HealthLevel, HealthResult

log = logging.getLogger(__name__)

ZVT = "zvt"
# A health check waits this long for a payment in progress to end before answering "busy".
HEALTH_WAIT_S = 10.0


def discovery_entry(link: TerminalLink | None) -> list[DeviceDescriptor]:
    """The network descriptor of the payments' terminal (none without a shared driver)."""
    if link is None or link.device is None:
        return []
    device = link.device
    a = device.address
    if a.transport != "tcp":
        return []
    return [DeviceDescriptor("network", DeviceAddress("tcp", host=a.host, port=a.port),
                             driver=ZVT, device_id=device.device_id)]


def spec(link: Callable[[], TerminalLink | None]) -> DriverSpec:
    """The `zvt` driver for the registry; `link()` is read when a device attaches."""

    def create(device_id: str, d: DeviceDescriptor, statistics: StatisticsSink) -> Device:
        current = link()
        if current is not None and current.device is not None and (
                current.device.device_id == device_id):
            return current.device
        from drivers.zvt import ZvtTerminal  # only stores with a terminal load the driver

        options = d.options
        return ZvtTerminal(device_id, d.address, statistics=statistics,
                           password=str(options.get("password", "000000")),
                           currency=str(options.get("currency", "EUR")))

    # A network terminal cannot be recognized by sniffing: only configuration names it.
    return DriverSpec(ZVT, "payment_terminal", lambda _d: None, create)


class TerminalWatch:
    def __init__(self, link: TerminalLink, poll_s: float, status_timeout_s: float) -> None:
        self.link = link
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
