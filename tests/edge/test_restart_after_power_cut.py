"""After a power cut the files a store wrote are whole or absent, never empty or half, and a
start over a damaged one either recovers (files the daemon can write again) or refuses with a
clear message and exit code 4 (the config): it never starts as another store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from core.errors import ConfigError, Refused
from core.files import write_atomic
from edge import compose
from edge import config as config_mod
from edge.cli import app
from tests.support.daemon import DaemonProcess

runner = CliRunner()


def _init(data_dir: Path) -> None:
    r = runner.invoke(app, ["init", "--data-dir", str(data_dir), "--tenant", "tenant-x",
                            "--store", "store-042", "--currency", "CHF",
                            "--timezone", "Europe/Zurich"])
    assert r.exit_code == 0, r.output


# --- the one writer of files -----------------------------------------------------------------


def test_an_interrupted_write_leaves_the_old_content_and_no_debris(tmp_path: Path,
                                                                    monkeypatch) -> None:
    target = tmp_path / "secret.json"
    write_atomic(target, b'{"v": 1}')
    assert oct(target.stat().st_mode & 0o777) == "0o600"

    def power_cut(*_a, **_k):
        raise OSError("power cut before the rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        write_atomic(target, b'{"v": 2}')
    assert target.read_bytes() == b'{"v": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]


def test_every_file_the_daemon_and_cli_write_goes_through_it() -> None:
    # Writing a file any other way (write_text, open("w"), os.open) is how the bug came in:
    # the product's own modules may only write through core.files.
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for top in ("edge", "sync", "core", "cloud_relay"):
        for path in (root / top).rglob("*.py"):
            if path.name == "files.py" and path.parent.name == "core":
                continue
            text = path.read_text()
            for needle in (".write_text(", ".write_bytes(", "os.O_CREAT", "os.replace("):
                if needle in text:
                    offenders.append(f"{path.relative_to(root)}: {needle}")
            # open(path, "w"), open(..., "ab"), path.open("x"): a file written in place.
            for m in re.finditer(r"open\([^)]*['\"][wax]b?\+?['\"]", text):
                offenders.append(f"{path.relative_to(root)}: {m.group(0)}")
    assert not offenders, "\n".join(offenders)


# --- the configuration and the database agree, or the store does not start -----------------


def test_no_prefix_of_a_damaged_config_starts_the_store_as_another_store(tmp_path: Path) -> None:
    data = tmp_path / "store"
    _init(data)
    cfg = data / config_mod.CONFIG_FILENAME
    whole = cfg.read_bytes()
    for n in range(len(whole)):
        cfg.write_bytes(whole[:n])  # what a power cut could have left of an unsynced write
        try:
            store = compose.store_of(data, config_mod.load(data, {}))
        except (Refused, ConfigError):
            continue
        ident = store.identity
        assert (ident.tenant_id, ident.store_id) == ("tenant-x", "store-042"), n
    cfg.write_bytes(whole)
    assert compose.store_of(data, config_mod.load(data, {})).identity.store_id == "store-042"


def test_config_and_database_of_different_stores_refuse_to_start(tmp_path: Path) -> None:
    data = tmp_path / "store"
    _init(data)
    (data / config_mod.CONFIG_FILENAME).write_text('[store]\ntenant_id = "tenant-x"\n'
                                                   'store_id = "store-001"\n')
    with pytest.raises(Refused, match="belongs to tenant-x/store-042"):
        compose.store_of(data, config_mod.load(data, {}))


@pytest.mark.parametrize("damage", [b"", b"   \n", b'[store]\ntenant_id = "ten'])
def test_serve_over_a_damaged_config_exits_4_and_says_why(tmp_path: Path, damage: bytes) -> None:
    data = tmp_path / "store"
    _init(data)
    (data / config_mod.CONFIG_FILENAME).write_bytes(damage)
    r = subprocess.run([sys.executable, "-m", "edge.cli", "serve", "--data-dir", str(data),
                        "--port", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 4, r.stderr
    said = " ".join(r.stderr.split())
    assert "config.toml" in said and "restore" in said.lower(), said
    assert not (data / "daemon.json").exists()


# --- files the daemon can write again are written again -----------------------------------


def test_damaged_regenerable_files_are_written_again_at_start(tmp_path: Path) -> None:
    data = tmp_path / "store"
    data.mkdir()
    daemon = DaemonProcess(data).start()
    daemon.stop()
    for name in ("demo-tokens.json", "admin-token", "daemon.json"):
        (data / name).write_bytes(b"")  # zero length: the cut came before the data
    daemon = DaemonProcess(data).start()
    try:
        # New demo tokens that work, a fresh admin token the CLI can use, a readable daemon.json.
        with httpx.Client(base_url=daemon.url, timeout=10,
                          headers={"Authorization": f"Bearer {daemon.tokens['lane-1']}"}) as c:
            r = c.post("/v1/carts", json={}, headers={"Idempotency-Key": "after-cut"})
            assert r.status_code == 201, r.text
        status = subprocess.run([sys.executable, "-m", "edge.cli", "status", "--json",
                                 "--data-dir", str(data)], capture_output=True, text=True,
                                timeout=60)
        assert status.returncode in (0, 1), status.stderr  # answered by the running daemon
        assert json.loads(status.stdout)["daemon"]["running"] is True
    finally:
        daemon.stop()
