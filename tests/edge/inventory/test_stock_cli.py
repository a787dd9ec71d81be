"""`novapos-edge stock ...` on a store directory: receive, show, count (blind; a big variance
needs --manager), adjust with a reason, --low; bad input exits 2 and records nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from core import bodycodec
from edge.cli import app
from edge.store.db import DB_FILENAME, open_connection, register_dictionaries

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def _events(data_dir: Path, kind: str) -> list[tuple[int, dict]]:
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        register_dictionaries(conn)
        return [(seq, msgspec.json.decode(bodycodec.decode(body))) for seq, body in conn.execute(
            "SELECT seq, body FROM events WHERE type = ? ORDER BY seq", (kind,))]
    finally:
        conn.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    assert cli("init", "--data-dir", str(d)).exit_code == 0
    tax = tmp_path / "cat.json"
    tax.write_text(json.dumps({
        "tax_classes": [{"code": "standard", "rate_ppm": 190000}],
        "products": [{"product_id": "cap", "name": "Cap", "tax_class": "standard",
                      "variants": [{"sku": "CAP-RED"}, {"sku": "CAP-BLU"}]}]}))
    r = cli("catalog", "import", str(tax), "--data-dir", str(d))
    assert r.exit_code == 0, r.output
    return d


def test_receive_show_count_adjust_low(data_dir: Path) -> None:
    d = ("--data-dir", str(data_dir))
    r = cli("stock", "receive", "CAP-RED=10", "CAP-BLU=2", "--note", "truck", *d)
    assert r.exit_code == 0, r.output
    shown = json.loads(cli("stock", "show", "CAP-RED", "--json", *d).output)
    assert shown["on_hand_milli"] == 10_000 and shown["available_milli"] == 10_000
    r = cli("stock", "count", "CAP-RED=3", "--section", "hats", *d)
    assert r.exit_code == 2 and "manager" in r.output  # variance 7 > 5: needs a manager
    assert json.loads(cli("stock", "show", "CAP-RED", "--json", *d).output)["on_hand_milli"] \
        == 10_000
    r = cli("stock", "count", "CAP-RED=3", "--section", "hats", "--manager", *d)
    assert r.exit_code == 0 and "variance -7" in r.output
    # The operator's --manager approval is in the audit trail, naming the count.
    trail = _events(data_dir, "approval.overridden")
    counted = _events(data_dir, "stock.counted")
    assert [(b["action"], b["approver_id"], b["action_seq"]) for _, b in trail] == [
        ("stock_count_variance", "cli", counted[0][0])]
    r = cli("stock", "adjust", "CAP-BLU", "--reason", "damage", *d, "--", "-1.5")
    assert r.exit_code == 0 and "on hand 0.5" in r.output, r.output
    low = json.loads(cli("stock", "show", "--low", "--json", *d).output)["items"]
    assert [i["sku"] for i in low] == ["CAP-BLU"]
    assert cli("verify", *d).exit_code == 0


def test_bad_input_exits_2(data_dir: Path) -> None:
    d = ("--data-dir", str(data_dir))
    assert cli("stock", "receive", "CAP-RED", *d).exit_code == 2
    assert cli("stock", "receive", "NOPE=1", *d).exit_code == 2
    assert cli("stock", "adjust", "CAP-RED", "1", "--reason", "magic", *d).exit_code == 2
    assert cli("stock", "show", *d).exit_code == 2
    assert json.loads(cli("stock", "show", "CAP-RED", "--json", *d).output)["on_hand_milli"] == 0


def test_stock_help_does_not_load_the_store() -> None:
    code = ("import sys; from typer.testing import CliRunner; from edge.cli import app; "
            "r = CliRunner().invoke(app, ['stock', '--help']); assert r.exit_code == 0; "
            "print(sorted(m for m in sys.modules if m.startswith(('apsw', 'edge.store.', "
            "'edge.inventory.commands', 'httpx'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "[]", out.stdout
