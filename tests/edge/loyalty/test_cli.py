"""`novapos-edge loyalty import-key`: the tenant key lands in the data dir, mode 0600, and the
store composed on it finds customers; a bad key is refused and nothing is written."""

from __future__ import annotations

import base64
from pathlib import Path

from typer.testing import CliRunner

from core import pii
from edge import config as config_mod
from edge.cli import app
from edge.loyalty.service import Loyalty

runner = CliRunner()


def test_import_key_writes_the_key_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    d = tmp_path / "store"
    assert runner.invoke(app, ["init", "--data-dir", str(d), "--store", "store-042"]).exit_code == 0
    bad = runner.invoke(app, ["loyalty", "import-key", "--data-dir", str(d)], input="c2hvcnQ=\n")
    assert bad.exit_code == 2 and not (d / "loyalty-tenant.key").exists()
    key = bytes(range(32))
    r = runner.invoke(app, ["loyalty", "import-key", "--data-dir", str(d)],
                      input=base64.b64encode(key).decode() + "\n")
    assert r.exit_code == 0, r.output
    path = d / "loyalty-tenant.key"
    assert path.stat().st_mode & 0o777 == 0o600
    loyalty = Loyalty.from_data_dir(d, config_mod.load(d).loyalty)
    assert loyalty.key.lookup_hash("card", "X1") == pii.TenantKey(key).lookup_hash("card", "X1")
