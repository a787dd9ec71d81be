"""`novapos-edge approvers`: enroll, list, enroll a device key, revoke it; bad input exits 2."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from edge.approvals import pins
from edge.cli import app
from edge.store.db import DB_FILENAME, open_connection

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    assert cli("init", "--data-dir", str(d)).exit_code == 0
    return d


def test_approvers_from_the_command_line(data_dir: Path) -> None:
    d = str(data_dir)
    r = cli("approvers", "add", "anna", "--name", "Anna", "--pin", "2468", "--data-dir", d)
    assert r.exit_code == 0, r.output
    conn = open_connection(data_dir / DB_FILENAME)
    stored = conn.execute("SELECT pin_hash FROM approvers").fetchall()[0][0]
    conn.close()
    assert stored.startswith("scrypt$") and "2468" not in stored
    assert pins.check_pin("2468", stored) and not pins.check_pin("2469", stored)
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = base64.b64encode(raw).decode()
    r = cli("approvers", "enroll-device", "anna", "anna-phone", "--public-key", key,
            "--data-dir", d)
    assert r.exit_code == 0, r.output
    assert cli("approvers", "enroll-device", "anna", "anna-phone", "--public-key", key,
               "--data-dir", d).exit_code == 2  # a device id is never reused
    assert cli("approvers", "enroll-device", "nobody", "x", "--public-key", key,
               "--data-dir", d).exit_code == 2
    assert cli("approvers", "enroll-device", "anna", "tab", "--public-key", "A" * 44,
               "--data-dir", d).exit_code == 2  # not an Ed25519 point... or too short
    assert cli("approvers", "revoke-device", "anna-phone", "--data-dir", d).exit_code == 0
    assert cli("approvers", "revoke-device", "ghost", "--data-dir", d).exit_code == 2
    listed = json.loads(cli("approvers", "list", "--json", "--data-dir", d).output)
    assert listed["approvers"] == [{"approver_id": "anna", "name": "Anna", "failures": 0,
                                    "locked_until_ms": None, "devices": [], "revoked_devices": ["anna-phone"]}]
    assert cli("approvers", "add", "bob", "--name", "Bob", "--pin", "12",
               "--data-dir", d).exit_code == 2
    assert cli("approvers", "list", "--data-dir", str(data_dir.parent / "none")).exit_code == 3
