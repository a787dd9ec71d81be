"""Device discovery: interfaces enumerate what is attached, a pure diff says what changed.

pyusb has no hot-plug callbacks, so hot-plug is a poll: every interface (USB, HID, serial,
configured network devices) lists what it sees, and `diff` compares that with the previous
listing by address key. The registry turns `added` into claimed drivers (or "unsupported"
entries) and `removed` into closed ones. An interface whose enumeration fails keeps its previous
listing, so a transient libusb error never looks like every device being unplugged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from schemas.devices import DeviceDescriptor


class Interface(Protocol):
    """One bus or source of devices. `enumerate` may block briefly (it runs off the loop)."""

    name: str

    def enumerate(self) -> list[DeviceDescriptor]: ...


@dataclass(frozen=True, slots=True)
class Diff:
    added: tuple[DeviceDescriptor, ...]
    removed: tuple[DeviceDescriptor, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def index(descriptors: Iterable[DeviceDescriptor]) -> dict[str, DeviceDescriptor]:
    """Descriptors by address key; when two share a key the first listed wins (interfaces list
    the most specific entry first, e.g. a scanner's HID POS collection before its keyboard)."""
    out: dict[str, DeviceDescriptor] = {}
    for d in descriptors:
        out.setdefault(d.key(), d)
    return out


def diff(previous: Mapping[str, DeviceDescriptor], current: Iterable[DeviceDescriptor]) -> Diff:
    """What appeared and what vanished between two listings. Identity is the address key: a
    device that stays plugged in is neither added nor removed, whatever else it reports."""
    now = index(current)
    added = tuple(d for k, d in sorted(now.items()) if k not in previous)
    removed = tuple(d for k, d in sorted(previous.items()) if k not in now)
    return Diff(added, removed)


def apply(previous: Mapping[str, DeviceDescriptor], change: Diff) -> dict[str, DeviceDescriptor]:
    """The listing after `change`: `apply(prev, diff(prev, cur)) == index(cur)` (keys)."""
    out = dict(previous)
    for d in change.removed:
        out.pop(d.key(), None)
    for d in change.added:
        out[d.key()] = d
    return out
