"""The `novapos-edge` command line: init, lanes, catalog import, verify, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from tests.support.daemon import DaemonProcess

runner = CliRunner()

GOOD_CSV = (
    "product_id,name,tax_class,sold_by,sku,attributes,barcodes,price_minor,price_version,effective_at\n"
    "cap,Baseball Cap,standard,,CAP-RED,colour=red,4006381333931,1299,1,2026-01-01T00:00:00Z\n"
    "cap,Baseball Cap,standard,,CAP-BLU,colour=blue,,1299,1,2026-01-01T00:00:00Z\n"
)
TAX_JSON = json.dumps({"tax_classes": [{"code": "standard", "rate_ppm": 190000}]})


def cli(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    r = cli("init", "--data-dir", str(d), "--store", "store-042", "--timezone", "Europe/Paris")
    assert r.exit_code == 0, r.output
    return d


def test_init_writes_config_and_database(data_dir: Path) -> None:
    assert 'store_id = "store-042"' in (data_dir / "config.toml").read_text()
    assert (data_dir / "store.db").exists()
    again = cli("init", "--data-dir", str(data_dir))
    assert again.exit_code == 0 and "keeping it" in again.output


def test_init_refuses_bad_settings(tmp_path: Path) -> None:
    r = cli("init", "--data-dir", str(tmp_path / "x"), "--timezone", "Mars/Olympus")
    assert r.exit_code == 2 and "time zone" in r.output
    assert not (tmp_path / "x" / "config.toml").exists()


def test_lanes_enroll_list_revoke(data_dir: Path) -> None:
    r = cli("lanes", "enroll", "lane-5", "--role", "manager", "--data-dir", str(data_dir), "--json")
    assert r.exit_code == 0, r.output
    token = json.loads(r.output)["token"]
    assert token.startswith("npe_")
    listing = json.loads(cli("lanes", "list", "--data-dir", str(data_dir), "--json").output)
    assert [(x["lane_id"], x["role"]) for x in listing] == [("lane-5", "manager")]
    assert token not in (data_dir / "store.db").read_bytes().decode("latin-1")
    assert cli("lanes", "revoke", "lane-5", "--data-dir", str(data_dir)).exit_code == 0
    assert cli("lanes", "revoke", "lane-5", "--data-dir", str(data_dir)).exit_code == 2
    assert cli("lanes", "enroll", "lane-6", "--role", "owner", "--data-dir", str(data_dir)).exit_code == 2


def test_catalog_import_json_then_csv(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "tax.json").write_text(TAX_JSON)
    (tmp_path / "caps.csv").write_text(GOOD_CSV)
    assert cli("catalog", "import", str(tmp_path / "tax.json"), "--data-dir", str(data_dir)).exit_code == 0
    r = cli("catalog", "import", str(tmp_path / "caps.csv"), "--data-dir", str(data_dir), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["products"] == 1 and json.loads(r.output)["prices"] == 2
    assert cli("verify", "--data-dir", str(data_dir)).exit_code == 0


def test_catalog_import_with_bad_rows_lists_them_and_imports_nothing(data_dir: Path, tmp_path: Path) -> None:
    bad = GOOD_CSV + "hat,Hat,standard,,HAT-1,,4006381333932,10,1,2026-01-01T00:00:00Z\n" \
        "hat2,Hat 2,standard,,HAT-2,,,abc,1,2026-01-01T00:00:00Z\n"
    (tmp_path / "bad.csv").write_text(bad)
    r = cli("catalog", "import", str(tmp_path / "bad.csv"), "--data-dir", str(data_dir))
    assert r.exit_code == 2
    assert "row 4" in r.output and "row 5" in r.output
    out = json.loads(cli("verify", "--data-dir", str(data_dir), "--json").output)
    assert out["events"] == 0


def test_catalog_import_unknown_tax_class_is_refused_against_the_store(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "caps.csv").write_text(GOOD_CSV)
    r = cli("catalog", "import", str(tmp_path / "caps.csv"), "--data-dir", str(data_dir))
    assert r.exit_code == 2 and "standard" in r.output


def test_cross_check_errors_name_the_csv_line(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "tax.json").write_text(TAX_JSON)
    cli("catalog", "import", str(tmp_path / "tax.json"), "--data-dir", str(data_dir))
    clash = GOOD_CSV + "hat,Hat,nosuch,,HAT-1,,,10,1,2026-01-01T00:00:00Z\n" \
        "scarf,Scarf,standard,,CAP-RED,,,10,2,2026-01-01T00:00:00Z\n"
    (tmp_path / "clash.csv").write_text(clash)
    r = cli("catalog", "import", str(tmp_path / "clash.csv"), "--data-dir", str(data_dir))
    assert r.exit_code == 2
    assert "row 4: products[1].tax_class: unknown tax class 'nosuch'" in r.output
    assert "row 5: products[2].variants[0].sku" in r.output  # CAP-RED declared on line 2 too


def test_status_says_clearly_when_the_daemon_is_down(data_dir: Path) -> None:
    r = cli("status", "--data-dir", str(data_dir), "--json")
    assert r.exit_code == 3
    assert json.loads(r.output)["daemon"]["running"] is False


def test_status_with_a_running_daemon(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "store").start()
    try:
        r = cli("status", "--data-dir", str(daemon.data_dir), "--json")
        report = json.loads(r.output)
        assert report["daemon"] == {"running": True, "url": daemon.url, "ready": True}
        assert report["events"] > 0 and report["db_bytes"] > 0
        assert r.exit_code in (0, 1)  # 1 only if this machine is low on disk
        assert r.exit_code == (1 if report["degraded"] else 0)
    finally:
        daemon.stop()
    assert not (daemon.data_dir / "daemon.json").exists(), "clean shutdown removes daemon.json"
