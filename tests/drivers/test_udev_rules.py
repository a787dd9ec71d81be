"""The shipped udev rules are well formed and cover every scanner vendor the drivers claim."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drivers.scanners.serial import CLAIMED_VENDORS

RULES = Path(__file__).resolve().parents[2] / "systemd" / "99-novapos-edge.rules"
_PAIR = re.compile(r'^\s*([A-Z_]+(?:\{[A-Za-z_]+\})?)\s*(==|!=|\+=|=)\s*"([^"]*)"\s*$')


def _rules() -> list[list[tuple[str, str, str]]]:
    out = []
    for line in RULES.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = []
        for part in line.split(", "):
            m = _PAIR.match(part)
            assert m, f"malformed udev key in: {line!r} ({part!r})"
            pairs.append(m.groups())
        out.append(pairs)
    return out


def test_every_rule_parses_and_grants_the_service_group() -> None:
    rules = _rules()
    assert rules
    for pairs in rules:
        keys = {k for k, _, _ in pairs}
        assert "SUBSYSTEM" in keys
        assert ("GROUP", "=", "novapos") in pairs or any(k == "RUN" for k, _, _ in pairs)


def test_scanner_vendors_claimed_by_the_drivers_are_granted() -> None:
    granted = {int(v, 16) for pairs in _rules() for k, _, v in pairs
               if k == "ATTRS{idVendor}" and ("SUBSYSTEM", "==", "hidraw") in pairs}
    assert CLAIMED_VENDORS <= granted


def test_udevadm_accepts_the_rules_when_available() -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None or subprocess.run([udevadm, "verify", "--help"], capture_output=True,
                                         check=False).returncode != 0:
        pytest.skip("udevadm verify is not available here (systemd >= 254 has it)")
    r = subprocess.run([udevadm, "verify", str(RULES)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
