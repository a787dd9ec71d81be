"""USB discovery poll cost: the cached libusb backend against pyusb's own lookup.

    .venv/bin/python bench/usb_poll.py [--polls 20]

Baseline (same run): `usb.core.find(find_all=True)` as the poller called it before, with pyusb
resolving libusb itself on every call (on a machine without a system libusb it runs
`ctypes.util.find_library`, i.e. `ldconfig -p` and `gcc`, three times per call, one per
backend, and fails). Measured: `UsbInterface().enumerate()` with the backend resolved once
(`drivers.transports.usb_backend`). Wall time and CPU (this process plus its children, the
lookup's `ldconfig`/`gcc`) per poll. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _measure(poll, polls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), _cpu_s()
    for _ in range(polls):
        poll()
    return (time.perf_counter() - wall) / polls * 1000, (_cpu_s() - cpu) / polls * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polls", type=int, default=20, help="polls per variant (default 20)")
    args = ap.parse_args()

    import usb.core

    from drivers.discovery.usb import UsbInterface

    def pyusb_lookup() -> None:
        try:
            list(usb.core.find(find_all=True))
        except usb.core.NoBackendError:
            pass

    # The baseline first: once any backend is loaded, pyusb keeps it and its own lookup is free.
    base_wall, base_cpu = _measure(pyusb_lookup, args.polls)
    interface = UsbInterface()
    interface.enumerate()  # the one resolution, outside the window
    new_wall, new_cpu = _measure(interface.enumerate, args.polls)
    print(f"pyusb's own lookup per poll: {base_wall:8.3f} ms wall, {base_cpu:8.3f} ms CPU")
    print(f"cached backend per poll:     {new_wall:8.3f} ms wall, {new_cpu:8.3f} ms CPU")
    print(f"at the default 2 s poll interval: {base_cpu / 20:.2f} % -> {new_cpu / 20:.3f} % "
          f"of a core")
    print(json.dumps({"polls": args.polls, "baseline_ms_wall": round(base_wall, 3),
                      "baseline_ms_cpu": round(base_cpu, 3), "cached_ms_wall": round(new_wall, 3),
                      "cached_ms_cpu": round(new_cpu, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
