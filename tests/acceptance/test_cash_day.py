"""A store day with two tills through the real daemon process (`novapos-edge serve --demo`),
killed with `kill -9` under load and restarted:

- floats counted at two tills, cash and card sales on both, a drop (confirmed by a second
  person), a pay-out (manager), a blind close of till-1 with a short a cashier may not close
  (approved by a manager), till-2 closed even;
- till-1 reopened, sold on, killed again mid-sale and closed after the restart: its Z numbers
  are 1, 2 (never reset, consecutive across kills), each fencing its own range of the log;
- the fiscal journal holds exactly one record per fiscal event, transaction numbers and
  signature counters without a gap, every signature valid against the log's bytes;
- `novapos-edge verify` passes (hash chain and read models).

Seeded by NOVAPOS_CASH_SEED; NOVAPOS_CASH_KILLS kills under load (default 3).
"""

from __future__ import annotations

import base64
import os
import random
import threading
import time
import uuid

import httpx
import pytest

from core import chain
from edge.fiscal import journal
from edge.fiscal.signer import verify_signature
from edge.store import eventlog
from edge.store.db import DB_FILENAME, open_connection
from schemas import fiscal as f
from schemas.events import decode_body
from tests.support.daemon import DaemonProcess
from tests.support.store import verify

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("NOVAPOS_CASH_SEED", "20261202"))
KILLS = int(os.environ.get("NOVAPOS_CASH_KILLS", "3"))
FLOAT = [{"value_minor": 2000, "pieces": 5}, {"value_minor": 500, "pieces": 10}]  # 150.00


def post(c: httpx.Client, path: str, body, key: str | None = None) -> httpx.Response:
    return c.post(path, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def sale(c: httpx.Client, tender: str) -> dict:
    r = post(c, "/v1/carts", {})
    assert r.status_code == 201, r.text
    cart = r.json()["cart_id"]
    r = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    assert r.status_code == 201, r.text
    total = r.json()["total_minor"]
    r = post(c, f"/v1/carts/{cart}/tenders",
             {"tender_type": tender, "amount_minor": 5000 if tender == "cash" else total})
    assert r.status_code == 201, r.text
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def ring_until_killed(d: DaemonProcess, lane: str, stop: threading.Event) -> None:
    """Cash sales until the daemon dies under us (a lost answer is fine: the test checks the
    journal, not this lane's view)."""
    with d.client(lane, timeout=5.0) as c:
        while not stop.is_set():
            try:
                sale(c, "cash")
            except (httpx.HTTPError, AssertionError):
                return


def kill_under_load(d: DaemonProcess, rng: random.Random) -> None:
    stop = threading.Event()
    lanes = [threading.Thread(target=ring_until_killed, args=(d, lane, stop))
             for lane in ("lane-1", "lane-2")]
    for t in lanes:
        t.start()
    time.sleep(rng.uniform(0.2, 1.0))
    d.kill9()
    stop.set()
    for t in lanes:
        t.join(timeout=30)
    d.start()


def test_a_day_with_two_tills_survives_kill9(tmp_path) -> None:
    rng = random.Random(SEED)
    d = DaemonProcess(tmp_path / "store").start()
    try:
        l1, l2, mgr = d.client("lane-1"), d.client("lane-2"), d.client("manager-1")
        for c, till in ((l1, "till-1"), (l2, "till-2")):
            r = post(c, f"/v1/tills/{till}/open", {"float_count": FLOAT})
            assert r.status_code == 201, r.text
        cash1 = sale(l1, "cash")
        sale(l1, "card")
        cash2 = sale(l2, "cash")
        sale(l2, "card")
        r = post(l1, "/v1/tills/till-1/movements", {"kind": "drop", "amount_minor": 10000})
        assert r.status_code == 201, r.text
        drop = r.json()["movements"][0]["movement_id"]
        assert post(mgr, f"/v1/tills/till-1/movements/{drop}/confirm", {}).status_code == 200
        r = post(mgr, "/v1/tills/till-2/movements",
                 {"kind": "pay_out", "amount_minor": 450, "reason": "window cleaner"})
        assert r.status_code == 201, r.text

        for _ in range(KILLS):
            kill_under_load(d, rng)
        l1, l2, mgr = d.client("lane-1"), d.client("lane-2"), d.client("manager-1")

        # Blind close of till-1, 10.00 short: the cashier may not, a manager approves.
        x1 = mgr.get("/v1/tills/till-1/x").json()["totals"]
        assert x1["drops_minor"] == 10000 and x1["sales_count"] >= 2
        short = x1["expected_minor"] - 1000
        counted = [{"value_minor": 1, "pieces": short}]
        r = post(l1, "/v1/tills/till-1/close", {"counted": counted})
        assert r.status_code == 403 and r.json()["type"].endswith("/manager-approval-required"), r.text
        r = post(mgr, "/v1/tills/till-1/close", {"counted": counted, "note": "short, approved"})
        assert r.status_code == 201, r.text
        z1 = r.json()
        assert z1["z_number"] == 1 and z1["over_short_minor"] == -1000
        x2 = mgr.get("/v1/tills/till-2/x").json()["totals"]
        assert x2["pay_outs_minor"] == 450
        assert x2["expected_minor"] >= 15000 + cash2["total_minor"] - 450
        r = post(l2, "/v1/tills/till-2/close",
                 {"counted": [{"value_minor": 1, "pieces": x2["expected_minor"]}]})
        assert r.status_code == 201 and r.json()["over_short_minor"] == 0, r.text

        # Till-1 again: sold on, killed mid-load, closed after the restart: Z 2.
        assert post(l1, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
        sale(l1, "cash")
        kill_under_load(d, rng)
        mgr = d.client("manager-1")
        x = mgr.get("/v1/tills/till-1/x").json()["totals"]
        r = post(mgr, "/v1/tills/till-1/close",
                 {"counted": [{"value_minor": 1, "pieces": x["expected_minor"]}]})
        assert r.status_code == 201, r.text
        z2 = r.json()
        assert z2["z_number"] == 2 and z2["first_seq"] > z1["last_seq"]
        assert mgr.get("/v1/tills/till-1/z/1").json() == z1
        assert cash1["order_id"]
    finally:
        d.stop()

    db = tmp_path / "store" / DB_FILENAME
    conn = open_connection(db)
    try:
        events = {e.seq: e for e in eventlog.read(conn)}
    finally:
        conn.close()
    bodies = {s: decode_body(e.type, e.schema_version, e.body) for s, e in events.items()}
    fiscal_seqs = sorted(s for s, e in events.items() if journal.relevant(e.type))
    records = [b for b in bodies.values() if isinstance(b, (f.FiscalSigned, f.FiscalUnsigned))]
    # Exactly one record per fiscal event, numbered 1..N; counters 1..M; nothing unsigned.
    assert sorted(r.event_seq for r in records) == fiscal_seqs
    assert [r.transaction_number for r in records] == list(range(1, len(records) + 1))
    signed = [r for r in records if isinstance(r, f.FiscalSigned)]
    assert len(signed) == len(records)
    assert [r.signature_counter for r in signed] == list(range(1, len(signed) + 1))
    # A record is in the same commit as its event: the one right after it in the log.
    seq_of = {id(b): s for s, b in bodies.items()}
    assert all(seq_of[id(r)] > r.event_seq for r in records)
    key = next(b for b in bodies.values() if isinstance(b, f.FiscalSignerRegistered))
    for r in signed:
        msg = f.signed_bytes(store_id="store-001", transaction_number=r.transaction_number,
                             signature_counter=r.signature_counter, event_seq=r.event_seq,
                             event_type=r.event_type, start_ms=r.start_ms, end_ms=r.end_ms,
                             key_id=r.key_id, event_bytes=chain.hashed_bytes(events[r.event_seq]))
        assert verify_signature(key.public_key_b64, msg, base64.b64decode(r.signature_b64))
    assert verify(db).ok


def test_dsfinvk_totals_equal_the_till_z_reports(tmp_path) -> None:
    """Two tills' closings exported as DSFinV-K: per closing, Σ UMS_BRUTTO of its receipts is
    its Z report's sales total, its cash payments are expected − float, Z numbers and the
    first/last transaction fence its transactions."""
    import csv

    from typer.testing import CliRunner

    from edge.cli import app

    d = DaemonProcess(tmp_path / "store").start()
    try:
        zs = []
        for lane, till in (("lane-1", "till-1"), ("lane-2", "till-2"), ("lane-1", "till-1")):
            c, mgr = d.client(lane), d.client("manager-1")
            assert post(c, f"/v1/tills/{till}/open", {"float_count": FLOAT}).status_code == 201
            paid = sale(c, "cash")
            sale(c, "card")
            if not zs:  # the first closing has a cash refund asked at its lane
                r = post(c, f"/v1/orders/{paid['order_id']}/refunds", {})
                assert r.status_code == 201, r.text
            r = post(mgr, f"/v1/tills/{till}/movements",
                     {"kind": "pay_out", "amount_minor": 300, "reason": "stamps"})
            assert r.status_code == 201, r.text
            x = mgr.get(f"/v1/tills/{till}/x").json()["totals"]
            r = post(mgr, f"/v1/tills/{till}/close",
                     {"counted": [{"value_minor": 1, "pieces": x["expected_minor"] - 200}]})
            assert r.status_code == 201, r.text
            zs.append(r.json())
        day = d.client("manager-1").get("/v1/reports/z").json()["business_date"]
    finally:
        d.stop()
    out = tmp_path / "export"
    r = CliRunner().invoke(app, ["export", "dsfinvk", str(out), "--from", day, "--to", day,
                                 "--data-dir", str(tmp_path / "store")])
    assert r.exit_code == 0, r.output

    def rows(name: str) -> list[dict]:
        with open(out / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh, delimiter=";"))  # the DSFinV-K dialect

    def minor(text: str) -> int:
        whole, _, frac = text.partition(",")
        sign = -1 if whole.startswith("-") else 1
        return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))

    closings = rows("cashpointclosing.csv")
    assert [(c["Z_KASSE_ID"], c["Z_NR"]) for c in closings] == \
        [("store-001-till-1", "1"), ("store-001-till-2", "1"), ("store-001-till-1", "2")]
    tx = rows("transactions.csv")
    pays = rows("datapayment.csv")
    for closing, z in zip(closings, zs):
        key = (closing["Z_KASSE_ID"], closing["Z_NR"])
        mine = [t for t in tx if (t["Z_KASSE_ID"], t["Z_NR"]) == key]
        receipts = [t for t in mine if t["BON_TYP"] == "Beleg"]
        refunded = z["totals"]["cash_refunds_minor"]
        assert len(receipts) == z["totals"]["sales_count"] + (1 if refunded else 0)
        assert sum(minor(t["UMS_BRUTTO"]) for t in receipts) == \
            z["totals"]["sales_total_minor"] - refunded
        assert closing["Z_START_ID"] == mine[0]["BON_ID"] and closing["Z_ENDE_ID"] == mine[-1]["BON_ID"]
        cash = sum(minor(p["BASISWAEH_BETRAG"]) for p in pays
                   if (p["Z_KASSE_ID"], p["Z_NR"]) == key and p["ZAHLART_TYP"] == "Bar")
        assert cash == z["totals"]["expected_minor"] - z["totals"]["float_minor"]
        assert minor(closing["Z_SE_BARZAHLUNGEN"]) == cash
    assert zs[0]["totals"]["cash_refunds_minor"] > 0
    # The refund carries the VAT of the line it returns: its lines' VAT sums to minus the sale's.
    lines_vat = rows("lines_vat.csv")
    bon_vat = rows("transactions_vat.csv")
    refund_ids = {t["BON_ID"] for t in tx if t["BON_TYP"] == "Beleg"
                  and t["UMS_BRUTTO"].startswith("-")}
    assert len(refund_ids) == 1 and next(iter(refund_ids)).endswith("-1")
    negative = [v for v in lines_vat if v["BON_ID"] in refund_ids]
    assert negative and all(v["UST_SCHLUESSEL"] in ("1", "2") for v in negative)
    assert all(v["BON_UST"].startswith("-") and v["BON_UST"] != "-0,00000"
               for v in bon_vat if v["BON_ID"] in refund_ids)
    assert len({t["BON_ID"] for t in tx}) == len(tx)  # unique
    tse = rows("transactions_tse.csv")
    assert len(tse) == len(tx) and all(t["TSE_TA_SIG"] for t in tse)
    for name in ("lines.csv", "lines_vat.csv", "transactions_vat.csv", "businesscases.csv",
                 "payment.csv", "vat.csv", "tse.csv", "location.csv", "cashregister.csv"):
        assert rows(name), name
