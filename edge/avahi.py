"""Publishing a DNS-SD service through the system's avahi-daemon, over the system D-Bus.

One mDNS responder per host: where avahi runs, a second responder in the daemon would fight it
for port 5353 (avahi logs "Detected another IPv4 mDNS stack running on this host. This makes
mDNS unreliable"). Avahi's D-Bus API (`org.freedesktop.Avahi`, as its `avahi-client` library
uses it): `Server.GetState` says whether avahi runs (2: running), `Server.EntryGroupNew` makes
an entry group, `EntryGroup.AddService` adds the service (host "" is avahi's own host name, so
the SRV target is the machine's real name), `Commit` publishes it, `GetState` reports
registering (1), established (2), collision (3) or failure (4). On a name collision the group is
reset and the service re-added under `Server.GetAlternativeServiceName` ("Name #2"), as avahi
clients do. The group lives as long as our bus connection: closing it withdraws the service.

`AvahiUnavailable` means "publish some other way": no system bus, avahi not on it, or avahi not
running.
"""

from __future__ import annotations

import asyncio
import os

from dbus_fast import BusType, Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus

AVAHI = "org.freedesktop.Avahi"
SERVER = "org.freedesktop.Avahi.Server"
ENTRY_GROUP = "org.freedesktop.Avahi.EntryGroup"
IF_UNSPEC = -1
PROTO_UNSPEC, PROTO_INET = -1, 0
SERVER_REGISTERING, SERVER_RUNNING = 1, 2
GROUP_ESTABLISHED, GROUP_COLLISION, GROUP_FAILURE = 2, 3, 4
SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
ESTABLISH_TIMEOUT_S = 10.0
MAX_RENAMES = 16


class AvahiUnavailable(Exception):
    pass


class AvahiError(Exception):
    def __init__(self, message: str, error_name: str = "") -> None:
        super().__init__(message)
        self.error_name = error_name  # the D-Bus error's name, when avahi answered with one


COLLISION_ERROR = "org.freedesktop.Avahi.CollisionError"


def system_bus_present() -> bool:
    """A system bus to talk to: the standard socket, or an address in the environment."""
    return bool(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")) or os.path.exists(SYSTEM_BUS_SOCKET)


class AvahiService:
    """One service published through avahi, withdrawn by `close()`."""

    def __init__(self, bus: MessageBus, group_path: str, name: str) -> None:
        self._bus, self._group, self.name = bus, group_path, name

    @classmethod
    async def publish(cls, *, name: str, service_type: str, port: int, txt: dict[str, str],
                      interfaces: list[int] | None = None, protocol: int = PROTO_UNSPEC,
                      bus_address: str | None = None) -> AvahiService:
        """Publish and wait until avahi has it established (probing done). Raises
        AvahiUnavailable when there is no avahi to publish through, AvahiError when avahi
        refused the service."""
        if bus_address is None and not system_bus_present():
            raise AvahiUnavailable("no system D-Bus")
        try:
            bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
        except (OSError, EOFError, ValueError) as exc:
            raise AvahiUnavailable(f"system D-Bus: {exc}") from exc
        try:
            state = await _server_state(bus)
            if state != SERVER_RUNNING:
                raise AvahiUnavailable(f"avahi-daemon is not running (server state {state})")
            (group,) = await _call(bus, "/", SERVER, "EntryGroupNew")
            final = await _establish(bus, group, name, service_type, port, txt,
                                     interfaces or [IF_UNSPEC], protocol)
        except BaseException:
            bus.disconnect()
            raise
        return cls(bus, group, final)

    async def alive(self) -> bool:
        """Still published: avahi answers for the group and has it established (an avahi
        restart drops every group)."""
        try:
            (state,) = await _call(self._bus, self._group, ENTRY_GROUP, "GetState")
        except (AvahiError, OSError, EOFError):
            return False
        return state == GROUP_ESTABLISHED

    async def close(self) -> None:
        try:
            await _call(self._bus, self._group, ENTRY_GROUP, "Free")
        except (AvahiError, OSError, EOFError):
            pass  # avahi gone: the service went with it
        finally:
            self._bus.disconnect()


async def _server_state(bus: MessageBus) -> int:
    """Avahi's server state, waiting out its start-up (registering its host name). Not
    auto-started: "when avahi runs" means running already, not activatable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ESTABLISH_TIMEOUT_S
    while True:
        try:
            (state,) = await _call(bus, "/", SERVER, "GetState", flags=MessageFlag.NO_AUTOSTART)
        except AvahiError as exc:  # org.freedesktop.DBus.Error.ServiceUnknown: no avahi
            raise AvahiUnavailable(str(exc)) from exc
        if state != SERVER_REGISTERING or loop.time() > deadline:
            return state
        await asyncio.sleep(0.1)


async def _establish(bus: MessageBus, group: str, name: str, service_type: str, port: int,
                     txt: dict[str, str], interfaces: list[int], protocol: int) -> str:
    records = [f"{k}={v}".encode() for k, v in txt.items()]
    for _ in range(MAX_RENAMES):
        try:
            for interface in interfaces:
                await _call(bus, group, ENTRY_GROUP, "AddService", "iiussssqaay",
                            [interface, protocol, 0, name, service_type, "", "", port, records])
            await _call(bus, group, ENTRY_GROUP, "Commit")
            state = await _settled(bus, group)
        except AvahiError as exc:
            if exc.error_name != COLLISION_ERROR:  # a local collision: refused at once
                raise
            state = GROUP_COLLISION
        if state == GROUP_ESTABLISHED:
            return name
        if state != GROUP_COLLISION:
            raise AvahiError(f"avahi could not publish {name!r} (entry group state {state})")
        (name,) = await _call(bus, "/", SERVER, "GetAlternativeServiceName", "s", [name])
        await _call(bus, group, ENTRY_GROUP, "Reset")
    raise AvahiError(f"avahi: no free service name after {MAX_RENAMES} collisions")


async def _settled(bus: MessageBus, group: str) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ESTABLISH_TIMEOUT_S
    while True:
        (state,) = await _call(bus, group, ENTRY_GROUP, "GetState")
        if state in (GROUP_ESTABLISHED, GROUP_COLLISION, GROUP_FAILURE):
            return state
        if loop.time() > deadline:
            raise AvahiError(f"avahi did not establish the service within "
                             f"{ESTABLISH_TIMEOUT_S:.0f} s (state {state})")
        await asyncio.sleep(0.05)


async def _call(bus: MessageBus, path: str, interface: str, member: str,
                signature: str = "", body: list | None = None,
                flags: MessageFlag = MessageFlag(0)) -> list:
    reply = await bus.call(Message(destination=AVAHI, path=path, interface=interface,
                                   member=member, signature=signature, body=body or [],
                                   flags=flags))
    if reply is None:
        raise AvahiError(f"{member}: no reply")
    if reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply.body else ""
        raise AvahiError(f"{member}: {reply.error_name} {detail}".strip(), reply.error_name or "")
    return reply.body
