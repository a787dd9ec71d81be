"""Load python-escpos's printer database fast, and without litter, before escpos is imported.

At import, python-escpos reads its printer database (`capabilities.json`, about 300 kB) with a
YAML parser, 0.4 s on a store PC (over 1 s under load), and caches the result as a pickle in
`ESCPOS_CAPABILITIES_PICKLE_DIR`, by default a new temporary directory per process: the cache
never hits and every import leaves a directory in /tmp (escpos makes one even when told where
its cache is). `preload()` parses the same file as JSON (about 15 ms), writes the pickle escpos
looks for into a private directory, lets escpos import from it, with temporary files made
during that import going into the same directory, and removes the directory again. Who sets `ESCPOS_CAPABILITIES_PICKLE_DIR` or
`ESCPOS_CAPABILITIES_FILE` keeps escpos's own behaviour.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shutil
import sys
import tempfile
from importlib import resources

_PICKLE_DIR = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def preload() -> None:
    """Import `escpos.capabilities` from a pickle made from its JSON; idempotent."""
    if "escpos.capabilities" in sys.modules or _PICKLE_DIR in os.environ \
            or "ESCPOS_CAPABILITIES_FILE" in os.environ:
        return
    try:
        database = json.loads(resources.files("escpos").joinpath("capabilities.json").read_bytes())
    except (OSError, ValueError):
        return  # escpos reports a broken install itself
    directory = tempfile.mkdtemp(prefix="novapos-escpos-")
    try:
        path = os.path.join(directory, f"{platform.python_version()}.capabilities.pickle")
        with open(path, "wb") as f:  # read once by the import below, then removed
            pickle.dump(database, f, protocol=2)
        os.environ[_PICKLE_DIR] = directory
        saved, tempfile.tempdir = tempfile.tempdir, directory
        try:
            import escpos.capabilities  # noqa: F401
        finally:
            tempfile.tempdir = saved
            del os.environ[_PICKLE_DIR]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
