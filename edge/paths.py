"""Where a store's state lives: --data-dir, else $NOVAPOS_DATA_DIR, else systemd's
$STATE_DIRECTORY, else $XDG_STATE_HOME/novapos-edge (~/.local/state/novapos-edge); and where
its running daemon listens (`daemon.json`, written by the daemon at start)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.daemon import DaemonInfo

DAEMON_FILENAME = "daemon.json"


def default_data_dir() -> Path:
    for var in ("NOVAPOS_DATA_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "novapos-edge"


def read_daemon_info(data_dir: Path) -> DaemonInfo | None:
    # Imported here: every CLI module needs default_data_dir, and `--help` no msgspec.
    import msgspec

    from schemas.daemon import DaemonInfo

    path = data_dir / DAEMON_FILENAME
    try:
        return msgspec.json.decode(path.read_bytes(), type=DaemonInfo)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None
