"""python-escpos's printer database is loaded whole, and loading it leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import drivers.escpos, escpos.capabilities as c;"
    "from escpos.capabilities import get_profile;"
    "p = get_profile('TM-T88V');"
    "print(len(c.CAPABILITIES['profiles']), p.get_columns('a'), sorted(p.get_code_pages())[:1])"
)


def test_the_printer_database_loads_whole_and_leaves_no_temporary_directory(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCPOS_")}
    env["TMPDIR"] = str(tmp_path)
    for _ in range(2):  # a second start finds nothing left of the first
        out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
        assert int(out[0]) > 20  # every profile of the shipped database, not a fallback
        assert int(out[1]) == 42  # the TM-T88V's font A width, read from the database
    assert list(tmp_path.iterdir()) == []


def test_an_operator_chosen_cache_directory_is_respected(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCPOS_")}
    env["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, timeout=60,
                   check=True)
    assert [p.name.endswith(".capabilities.pickle") for p in tmp_path.iterdir()] == [True]
