"""The signed period archive: written from a real store's log over three business days (two
months), verified offline by `novapos-edge fiscal verify`; any single flipped byte anywhere is
found and the first bad record named; totals equal the store's Z reports; another key is
refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edge.cli import app
from edge.fiscal import archive as arch
from tests.edge.fiscal.test_journal import _sale
from tests.edge.api.helpers import post
from tests.support.live_app import start_live_app

runner = CliRunner()
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def archived(tmp_path_factory) -> tuple[Path, list[dict]]:
    data = tmp_path_factory.mktemp("store")
    live = start_live_app(data)
    zs = []
    try:
        live.clock.advance(29 * DAY_MS)  # 2026-03-31 10:00 UTC
        for day in range(3):  # 03-31, 04-01, 04-02
            a = _sale(live)
            _sale(live, "lane-2")
            if day == 1:
                assert post(live.client(), f"/v1/orders/{a['order_id']}/refunds",
                            {}).status_code == 201
            zs.append(live.client("manager-1").get("/v1/reports/z").json())
            live.clock.advance(DAY_MS)
    finally:
        live.close()
    out = data / "archive.npa"
    r = runner.invoke(app, ["fiscal", "archive", str(out), "--from", "2026-03-31", "--to",
                            "2026-04-02", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    return out, zs


def test_the_archive_verifies_and_its_totals_are_the_z_reports(archived) -> None:
    path, zs = archived
    r = runner.invoke(app, ["fiscal", "verify", str(path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ok"] is True
    recs = [json.loads(line.split(b"\t")[0]) for line in path.read_bytes().splitlines()]
    days = [x for x in recs if x["kind"] == "day"]
    assert [d["period"] for d in days] == ["2026-03-31", "2026-04-01", "2026-04-02"]
    for d, z in zip(days, zs):
        assert (d["total_minor"], d["sales_count"], d["refunds_minor"]) == \
            (z["total_minor"], z["sales_count"], z["refunds_minor"])
    months = [x for x in recs if x["kind"] == "month"]
    assert [m["period"] for m in months] == ["2026-03", "2026-04"]
    assert months[1]["total_minor"] == days[1]["total_minor"] + days[2]["total_minor"]
    assert [y["period"] for y in recs if y["kind"] == "year"] == ["2026"]
    assert days[-1]["grand_total_minor"] == sum(d["net_minor"] for d in days)


def test_another_key_is_refused(archived) -> None:
    path, _ = archived
    v = arch.verify(path, public_key_b64="A" * 43 + "=")
    assert not v.ok and v.bad_record == 1


def test_a_flipped_total_names_its_record(archived, tmp_path) -> None:
    path, _ = archived
    data = path.read_bytes()
    at = data.index(b'"kind":"month"')
    at = data.index(b'"total_minor":', at) + len(b'"total_minor":')
    bad = tmp_path / "bad.npa"
    bad.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:])
    r = runner.invoke(app, ["fiscal", "verify", str(bad)])
    assert r.exit_code == 1
    line = data[:at].count(b"\n") + 1
    assert f"record {line}" in r.output and "month" in r.output


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_byte_is_found(archived, tmp_path, where: float, bit: int) -> None:
    path, _ = archived
    data = path.read_bytes()
    at = int(where * len(data))
    bad = tmp_path / "flipped.npa"
    bad.write_bytes(data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:])
    v = arch.verify(bad)
    assert not v.ok and v.bad_record is not None
    # The bad record is the flipped line or the next (whose signature chains to it).
    line = data[:at].count(b"\n") + 1
    assert v.bad_record in (line, line + 1), (v, line)
