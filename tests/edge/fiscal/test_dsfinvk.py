"""The DSFinV-K export of a real store over two business days, read back independently of the
exporter (the `csv` module with the dialect `index.xml` declares, an XML parser, and the DTD
`index.xml` names): every file `index.xml` lists exists with exactly its columns and nothing
else is there; numbers have their declared places; line VAT sums to the receipt, payments to
the receipt, the closing files to the transactions and the tills' Z reports; refunds (at the
same till, at another till, a day later) reference their original receipt; a reprint and a
drawer open are signed transactions, a signer outage is in TSE_TA_FEHLER; the same log gives
the same bytes; the directory appears whole or not at all."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from drivers.emulators.escpos_printer import EscposPrinterEmulator
from edge.cli import app
from edge.fiscal.signer import KEY_FILENAME
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app

runner = CliRunner()
DAY_MS = 86_400_000
FLOAT = [{"value_minor": 2000, "pieces": 5}]  # 100.00
# The files of DSFinV-K 2.4 (Stammdaten-, Kassenabschluss- and Einzelaufzeichnungsmodul).
DSFINVK_FILES = {
    "cashpointclosing.csv", "location.csv", "cashregister.csv", "slaves.csv", "pa.csv",
    "tse.csv", "vat.csv", "businesscases.csv", "payment.csv", "cash_per_currency.csv",
    "transactions.csv", "datapayment.csv", "lines.csv", "itemamounts.csv", "subitems.csv",
    "transactions_tse.csv", "transactions_vat.csv", "lines_vat.csv", "allocation_groups.csv",
    "references.csv"}
PRINTER = ("[[printing.printers]]\nid = \"front\"\nhost = \"127.0.0.1\"\nport = {port}\n"
           "lanes = [\"lane-1\"]\nstatus_timeout_s = 1.0\n")


def _sale(live: LiveApp, lane: str, tender: str = "cash", discount_pct: int = 0) -> dict:
    c = live.client(lane)
    cart = open_cart(c)
    r = post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"})
    assert r.status_code == 201, r.text
    if discount_pct:
        line_id = r.json()["lines"][0]["line_id"]
        r = post(c, f"/v1/carts/{cart}/discounts",
                 {"kind": "percent", "value": discount_pct * 100, "line_id": line_id})
        assert r.status_code == 200, r.text
    total = r.json()["total_minor"]
    body = {"tender_type": "cash", "amount_minor": 5000} if tender == "cash" else \
        {"tender_type": "other", "amount_minor": total, "reference": "CHQ"}
    assert post(c, f"/v1/carts/{cart}/tenders", body).status_code == 201
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _close(live: LiveApp, till: str) -> dict:
    mgr = live.client("manager-1")
    x = mgr.get(f"/v1/tills/{till}/x").json()["totals"]
    r = post(mgr, f"/v1/tills/{till}/close",
             {"counted": [{"value_minor": 1, "pieces": x["expected_minor"]}]})
    assert r.status_code == 201, r.text
    return r.json()


def _open(live: LiveApp, lane: str, till: str) -> None:
    r = post(live.client(lane), f"/v1/tills/{till}/open", {"float_count": FLOAT})
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def store_day(tmp_path_factory) -> dict:
    """Two tills, two business days: cash and non-cash sales, a discounted line, refunds at
    the same till, at another till and on the next day, a reprint, a drawer open, a pay-out,
    a voided cart; every till closed (Z reports kept)."""
    data = tmp_path_factory.mktemp("store")
    facts: dict = {"data": data, "zs": []}
    with EscposPrinterEmulator() as emu:
        (data / "config.toml").write_text(PRINTER.format(port=emu.port))
        live = start_live_app(data)
        try:
            mgr = live.client("manager-1")
            _open(live, "lane-1", "till-1")
            _open(live, "lane-2", "till-2")
            a = _sale(live, "lane-1")
            b = _sale(live, "lane-1", "other", discount_pct=10)
            c = _sale(live, "lane-1")
            d = _sale(live, "lane-2")
            _sale(live, "lane-2", "other")
            assert post(live.client("lane-1"), f"/v1/orders/{c['order_id']}/refunds",
                        {}).status_code == 201  # same till
            assert post(live.client("lane-2"), f"/v1/orders/{a['order_id']}/refunds",
                        {}).status_code == 201  # another till refunds till-1's sale
            r = post(live.client("lane-1"), f"/v1/orders/{b['order_id']}/receipt/print", {})
            assert r.status_code == 202, r.text
            assert post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change"}).status_code == 201
            r = post(mgr, "/v1/tills/till-1/movements",
                     {"kind": "pay_out", "amount_minor": 300, "reason": "stamps; \"urgent\""})
            assert r.status_code == 201, r.text
            e = _sale(live, "lane-1")
            r = post(live.client("lane-1"), "/v1/returns",
                     {"receipt_number": e["receipt_number"], "refund_to": "store_credit",
                      "lines": [{"line_no": 1, "qty": 1, "reason": "defective"}]})
            assert r.status_code == 201, r.text
            facts["credit"] = r.json()["store_credit"]
            r = post(live.client("lane-1"), "/v1/returns/receiptless",
                     {"customer": "+49 170 1234567",
                      "items": [{"sku": "COFFEE-250G", "qty": 1, "reason": "defective"}]})
            assert r.status_code == 201, r.text
            facts["receiptless"] = r.json()["store_credit"]
            voided = open_cart(live.client("lane-1"))
            assert post(live.client("lane-1"), f"/v1/carts/{voided}/void",
                        {"reason": "left"}).status_code in (200, 201)
            facts["zs"] += [_close(live, "till-1"), _close(live, "till-2")]
            facts["day1"] = mgr.get("/v1/reports/z").json()["business_date"]
            live.clock.advance(DAY_MS)
            _open(live, "lane-1", "till-1")
            _sale(live, "lane-1")
            assert post(live.client("lane-1"), f"/v1/orders/{d['order_id']}/refunds",
                        {}).status_code == 201  # a day later, till-2's sale of day 1
            facts["zs"].append(_close(live, "till-1"))
            facts["day2"] = mgr.get("/v1/reports/z").json()["business_date"]
            facts["orders"] = {"a": a, "b": b, "c": c, "d": d, "e": e}
        finally:
            live.close()
    out = data / "export"
    r = runner.invoke(app, ["export", "dsfinvk", str(out), "--from", facts["day1"], "--to",
                            facts["day2"], "--data-dir", str(data), "--json"])
    assert r.exit_code == 0, r.output
    facts["out"] = out
    return facts


# --- an independent reader ----------------------------------------------------------------


def _dtd_models(dtd: str) -> dict[str, str]:
    """Element name -> a regex over its children's tags ("<A><B>"), from the DTD's own
    `<!ELEMENT ...>` declarations."""
    models = {}
    for name, model in re.findall(r"<!ELEMENT\s+(\w+)\s+(.*?)>", dtd, re.S):
        model = model.strip()
        if model == "EMPTY" or model == "(#PCDATA)":
            models[name] = ""
            continue
        out = re.sub(r"\s+", "", model)
        out = re.sub(r"(\w+)", r"(?:<\1>)", out).replace(",", "").replace("(", "(?:") \
            .replace("(?:?:", "(?:")
        models[name] = out
    return models


def _validate(el: ET.Element, models: dict[str, str]) -> None:
    assert el.tag in models, f"<{el.tag}> is not declared in the DTD"
    children = "".join(f"<{ch.tag}>" for ch in el)
    assert re.fullmatch(models[el.tag], children), (el.tag, children, models[el.tag])
    for ch in el:
        _validate(ch, models)


def _index(out: Path) -> list[dict]:
    raw = (out / "index.xml").read_bytes()
    doctype = re.search(rb'<!DOCTYPE DataSet SYSTEM "([^"]+)">', raw)
    assert doctype, "index.xml names no DTD"
    dtd = out / doctype.group(1).decode()
    assert dtd.name == "gdpdu-01-09-2004.dtd" and dtd.exists()
    root = ET.fromstring(raw)
    _validate(root, _dtd_models(dtd.read_text(encoding="utf-8")))
    tables = []
    for t in root.iter("Table"):
        vl = t.find("VariableLength")
        cols = []
        for col in vl.findall("VariableColumn"):
            num = col.find("Numeric")
            cols.append({"name": col.findtext("Name"), "numeric": num is not None,
                         "accuracy": int(num.findtext("Accuracy") or 0) if num is not None else 0,
                         "max": int(col.findtext("MaxLength") or 0)})
        tables.append({"url": t.findtext("URL"), "name": t.findtext("Name"),
                       "utf8": t.find("UTF8") is not None, "decimal": t.findtext("DecimalSymbol"),
                       "from": int(t.find("Range").findtext("From")),
                       "delimiter": vl.findtext("ColumnDelimiter"),
                       "record": vl.findtext("RecordDelimiter"),
                       "quote": vl.findtext("TextEncapsulator"), "columns": cols})
    return tables


def _read(out: Path) -> dict[str, list[dict]]:
    """Every table as dicts, read with the dialect index.xml declares for it."""
    data = {}
    for t in _index(out):
        raw = (out / t["url"]).read_bytes()
        assert t["utf8"] and not raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8")
        assert t["record"] == "\r\n" and text.endswith("\r\n")
        assert "\n" not in text.replace("\r\n", "")  # no bare line feeds
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=t["delimiter"],
                               quotechar=t["quote"], lineterminator="\r\n", strict=True))
        assert t["from"] == 2
        header, body = rows[0], rows[1:]
        assert header == [c["name"] for c in t["columns"]], t["url"]
        for row in body:
            assert len(row) == len(header), (t["url"], row)
            for col, value in zip(t["columns"], row):
                if col["numeric"] and value:
                    places = col["accuracy"]
                    dec = re.escape(t["decimal"])
                    pattern = rf"-?\d+{dec}\d{{{places}}}" if places else r"-?\d+"
                    assert re.fullmatch(pattern, value), (t["url"], col["name"], value)
                elif not col["numeric"]:
                    assert len(value) <= col["max"], (t["url"], col["name"], value)
        data[t["url"]] = [dict(zip(header, row)) for row in body]
    return data


def minor(text: str, places: int = 2) -> int:
    """A decimal-comma amount in minor units (exact: any digit beyond the cent must be 0)."""
    if not text:
        return 0
    whole, _, frac = text.partition(",")
    frac = (frac + "00")
    assert set(frac[2:]) <= {"0"}, text
    value = abs(int(whole)) * 100 + int(frac[:2])
    return -value if text.startswith("-") else value


def _key(row: dict) -> tuple[str, str]:
    return row["Z_KASSE_ID"], row["Z_NR"]


# --- the tests ------------------------------------------------------------------------------


def test_index_xml_describes_every_file_exactly(store_day) -> None:
    out = store_day["out"]
    tables = _index(out)
    urls = [t["url"] for t in tables]
    assert set(urls) == DSFINVK_FILES and len(urls) == len(DSFINVK_FILES)
    on_disk = {p.name for p in out.iterdir()}
    assert on_disk == DSFINVK_FILES | {"index.xml", "gdpdu-01-09-2004.dtd"}
    assert {t["name"] for t in tables} >= {"Bonpos_USt", "Bonpos_Preisfindung",
                                           "Bonpos_Zusatzinfo", "Bon_Referenzen",
                                           "Bonkopf_AbrKreis", "Stamm_Agenturen"}
    for t in tables:
        assert (t["delimiter"], t["decimal"], t["quote"]) == (";", ",", '"')
        assert [c["name"] for c in t["columns"]][:3] == ["Z_KASSE_ID", "Z_ERSTELLUNG", "Z_NR"]
    # The DTD shipped is the standard's grammar, and the check above is strict: a Table whose
    # children are out of the standard's order does not validate.
    dtd = (out / "gdpdu-01-09-2004.dtd").read_text(encoding="utf-8")
    for decl in ("<!ELEMENT Table (URL, Name?, Description?, Validity?, (ANSI | Macintosh | OEM"
                 " | UTF16 | UTF7 | UTF8)?, (DecimalSymbol, DigitGroupingSymbol)?, SkipNumBytes?,"
                 " Range?, Epoch?, (VariableLength | FixedLength))>",
                 "<!ELEMENT VariableColumn (Name, Description?, (Numeric | (AlphaNumeric,"
                 " MaxLength?) | Date), Map*)>",
                 "<!ELEMENT DataSupplier (Name, Location, Comment)>"):
        assert decl in dtd, decl
    raw = (out / "index.xml").read_bytes().decode("utf-8")
    swapped = raw.replace("<UTF8/>\r\n", "", 1).replace("</Range>", "</Range><UTF8/>", 1)
    assert swapped.count("<UTF8/>") == raw.count("<UTF8/>")
    with pytest.raises(AssertionError):
        _validate(ET.fromstring(swapped), _dtd_models(dtd))
    data = _read(out)  # every header, width, number format and length checked
    for name in ("transactions.csv", "lines.csv", "lines_vat.csv", "itemamounts.csv",
                 "references.csv", "transactions_tse.csv", "businesscases.csv"):
        assert data[name], name
    # A text with the delimiter and quotes survives the round trip.
    assert any(r["ARTIKELTEXT"] == 'stamps; "urgent"' for r in data["lines.csv"])


def test_line_vat_and_payments_sum_to_each_receipt(store_day) -> None:
    data = _read(store_day["out"])
    lines = defaultdict(list)
    for v in data["lines_vat.csv"]:
        assert minor(v["POS_BRUTTO"]) == minor(v["POS_NETTO"]) + minor(v["POS_UST"])
        lines[v["BON_ID"]].append(v)
    bon_vat = defaultdict(list)
    for v in data["transactions_vat.csv"]:
        assert minor(v["BON_BRUTTO"]) == minor(v["BON_NETTO"]) + minor(v["BON_UST"])
        bon_vat[v["BON_ID"]].append(v)
    pays = defaultdict(int)
    for p in data["datapayment.csv"]:
        pays[p["BON_ID"]] += minor(p["BASISWAEH_BETRAG"])
    receipts = [t for t in data["transactions.csv"] if t["BON_TYP"] == "Beleg"]
    assert len(receipts) >= 12
    for t in data["transactions.csv"]:
        bon = t["BON_ID"]
        gross = minor(t["UMS_BRUTTO"])
        assert sum(minor(v["POS_BRUTTO"]) for v in lines[bon]) == gross, bon
        assert sum(minor(v["BON_BRUTTO"]) for v in bon_vat[bon]) == gross, bon
        for key in {v["UST_SCHLUESSEL"] for v in lines[bon]}:
            assert sum(minor(v["POS_UST"]) for v in lines[bon] if v["UST_SCHLUESSEL"] == key) \
                == sum(minor(v["BON_UST"]) for v in bon_vat[bon] if v["UST_SCHLUESSEL"] == key)
        if t["BON_TYP"] == "Beleg" or t["BON_NAME"] in ("Geldtransit", "Einzahlung", "Auszahlung"):
            assert pays[bon] == gross, bon
        if t["BON_TYP"] == "AVSonstige":
            assert t["BON_NAME"], t  # the DSFinV-K requires a name for AVSonstige
    # The discounted line: base price and discount sum to the line, VAT too.
    found = defaultdict(list)
    for pf in data["itemamounts.csv"]:
        found[(pf["BON_ID"], pf["POS_ZEILE"])].append(pf)
    assert len(found) == 1
    (bon, pos), parts = next(iter(found.items()))
    assert sorted(p["TYP"] for p in parts) == ["base_amount", "discount"]
    line = next(v for v in lines[bon] if v["POS_ZEILE"] == pos)
    assert sum(minor(p["PF_BRUTTO"]) for p in parts) == minor(line["POS_BRUTTO"])
    assert sum(minor(p["PF_UST"]) for p in parts) == minor(line["POS_UST"])
    disc = next(p for p in parts if p["TYP"] == "discount")
    assert minor(disc["PF_BRUTTO"]) < 0
    # Every VAT key used is in the closing's vat.csv.
    keys = {(_key(v), v["UST_SCHLUESSEL"]) for v in data["vat.csv"]}
    for v in data["lines_vat.csv"]:
        assert (_key(v), v["UST_SCHLUESSEL"]) in keys


def test_closings_agree_with_the_z_reports_and_the_transactions(store_day) -> None:
    data, zs = _read(store_day["out"]), store_day["zs"]
    closings = data["cashpointclosing.csv"]
    assert [_key(c) for c in closings] == [("store-001-till-1", "1"), ("store-001-till-2", "1"),
                                           ("store-001-till-1", "2")]
    assert [c["Z_BUCHUNGSTAG"] for c in closings] == [store_day["day1"]] * 2 + [store_day["day2"]]
    for closing, z in zip(closings, zs):
        assert int(closing["Z_NR"]) == z["z_number"]
        key = _key(closing)
        mine = [t for t in data["transactions.csv"] if _key(t) == key]
        sales = [t for t in mine if t["BON_TYP"] == "Beleg" and not t["BON_NAME"]]
        assert len(sales) == z["totals"]["sales_count"]
        assert sum(minor(t["UMS_BRUTTO"]) for t in sales) == z["totals"]["sales_total_minor"]
        assert (closing["Z_START_ID"], closing["Z_ENDE_ID"]) == \
            (mine[0]["BON_ID"], mine[-1]["BON_ID"])
        pays = [p for p in data["datapayment.csv"] if _key(p) == key]
        cash = sum(minor(p["BASISWAEH_BETRAG"]) for p in pays if p["ZAHLART_TYP"] == "Bar")
        # The cash payments are what moved in and out; with the float counted in first
        # (Anfangsbestand) they are the cash expected, with the count difference last
        # (DifferenzSollIst) the cash counted.
        assert cash == z["totals"]["expected_minor"] - z["totals"]["float_minor"]
        opening, closing_bon = mine[0], mine[-1]
        assert (opening["BON_NAME"], closing_bon["BON_NAME"]) == ("Anfangsbestand",
                                                                  "Kassenabschluss")
        assert minor(opening["UMS_BRUTTO"]) == z["totals"]["float_minor"]
        assert minor(closing_bon["UMS_BRUTTO"]) == z["over_short_minor"]
        assert minor(opening["UMS_BRUTTO"]) + cash + minor(closing_bon["UMS_BRUTTO"]) == \
            z["counted_minor"]
        assert minor(closing["Z_SE_BARZAHLUNGEN"]) == cash
        assert minor(closing["Z_SE_ZAHLUNGEN"]) == sum(minor(p["BASISWAEH_BETRAG"]) for p in pays)
        assert [minor(w["ZAHLART_BETRAG_WAEH"]) for w in data["cash_per_currency.csv"]
                if _key(w) == key] == [cash]
        per_type = defaultdict(int)
        for p in pays:
            per_type[(p["ZAHLART_TYP"], p["ZAHLART_NAME"])] += minor(p["BASISWAEH_BETRAG"])
        assert {(p["ZAHLART_TYP"], p["ZAHLART_NAME"]): minor(p["Z_ZAHLART_BETRAG"])
                for p in data["payment.csv"] if _key(p) == key} == dict(per_type)
        # Z_GV_Typ is the sum of the closing's lines per business case and VAT key.
        ids = {t["BON_ID"] for t in mine}
        gv_of = {(ln["BON_ID"], ln["POS_ZEILE"]): ln["GV_TYP"] for ln in data["lines.csv"]
                 if _key(ln) == key}
        sums = defaultdict(lambda: [0, 0, 0])
        for v in data["lines_vat.csv"]:
            if _key(v) == key:
                assert v["BON_ID"] in ids
                acc = sums[(gv_of[(v["BON_ID"], v["POS_ZEILE"])], v["UST_SCHLUESSEL"])]
                acc[0] += minor(v["POS_BRUTTO"])
                acc[1] += minor(v["POS_NETTO"])
                acc[2] += minor(v["POS_UST"])
        sums[("Anfangsbestand", "5")] = [z["totals"]["float_minor"]] * 2 + [0]
        assert {(g["GV_TYP"], g["UST_SCHLUESSEL"]): [minor(g["Z_UMS_BRUTTO"]),
                                                     minor(g["Z_UMS_NETTO"]), minor(g["Z_UST"])]
                for g in data["businesscases.csv"] if _key(g) == key} == dict(sums)
        # Every transaction has its TSE record, signed, with a signer of this closing.
        tse = {t["BON_ID"]: t for t in data["transactions_tse.csv"] if _key(t) == key}
        assert set(tse) == ids
        signers = {s["TSE_ID"] for s in data["tse.csv"] if _key(s) == key}
        assert all(t["TSE_TA_SIG"] and t["TSE_ID"] in signers and not t["TSE_TA_FEHLER"]
                   for t in tse.values())
        for name in ("location.csv", "cashregister.csv", "slaves.csv"):
            assert len([r for r in data[name] if _key(r) == key]) == 1, name
        terminals = {s["TERMINAL_ID"] for s in data["slaves.csv"] if _key(s) == key}
        assert {t["TERMINAL_ID"] for t in mine} == terminals
        assert {ln["POS_TERMINAL_ID"] for ln in data["lines.csv"] if _key(ln) == key} <= terminals


def test_refunds_and_reprints_reference_their_original_receipt(store_day) -> None:
    data = _read(store_day["out"])
    tx = {t["BON_ID"]: t for t in data["transactions.csv"]}
    closing_at = {_key(c): c["Z_ERSTELLUNG"] for c in data["cashpointclosing.csv"]}
    refs = {r["BON_ID"]: r for r in data["references.csv"]}
    refunds = [t for t in tx.values() if t["BON_NAME"] == "Erstattung"]
    assert len(refunds) == 3
    targets = []
    for t in refunds:
        ref = refs[t["BON_ID"]]
        assert ref["REF_TYP"] == "Transaktion" and ref["POS_ZEILE"] == ""
        orig = tx[ref["REF_BON_ID"]]
        assert (orig["Z_KASSE_ID"], orig["Z_NR"]) == (ref["REF_Z_KASSE_ID"], ref["REF_Z_NR"])
        assert ref["REF_DATUM"] == closing_at[_key(orig)] == orig["Z_ERSTELLUNG"]
        assert minor(orig["UMS_BRUTTO"]) == -minor(t["UMS_BRUTTO"])
        targets.append((_key(t), _key(orig)))
    till1, till2 = ("store-001-till-1", "1"), ("store-001-till-2", "1")
    assert sorted(targets) == sorted([(till1, till1), (till2, till1),
                                      (("store-001-till-1", "2"), till2)])
    # The reprint: a signed other process, referring to the receipt it copied.
    reprint = next(t for t in tx.values() if t["BON_NAME"] == "Belegkopie")
    assert reprint["BON_TYP"] == "AVSonstige" and minor(reprint["UMS_BRUTTO"]) == 0
    copied = tx[refs[reprint["BON_ID"]]["REF_BON_ID"]]
    b = store_day["orders"]["b"]
    assert minor(copied["UMS_BRUTTO"]) == b["total_minor"]
    tse = {t["BON_ID"]: t for t in data["transactions_tse.csv"]}
    assert tse[reprint["BON_ID"]]["TSE_TA_VORGANGSART"] == "SonstigerVorgang"
    assert tse[reprint["BON_ID"]]["TSE_TA_SIG"]
    drawer = next(t for t in tx.values() if t["BON_NAME"] == "Schubladenöffnung")
    assert tse[drawer["BON_ID"]]["TSE_TA_SIG"] and drawer["Z_KASSE_ID"].endswith("till-1")
    assert any(t["BON_TYP"] == "AVBelegabbruch" for t in tx.values())
    # Returns for store credit: the goods reversed with their VAT, a voucher sold for the
    # credit, no money; the receipted one references its receipt.
    returns = [t for t in tx.values() if t["BON_NAME"] == "Rücknahme"]
    assert len(returns) == 2
    lines = defaultdict(list)
    for ln in data["lines.csv"]:
        lines[ln["BON_ID"]].append(ln)
    vat = {(v["BON_ID"], v["POS_ZEILE"]): v for v in data["lines_vat.csv"]}
    for t, credit in zip(returns, (store_day["credit"], store_day["receiptless"])):
        assert minor(t["UMS_BRUTTO"]) == 0 and t["BON_TYP"] == "Beleg"
        goods, voucher = lines[t["BON_ID"]]
        assert (voucher["GV_TYP"], voucher["GUTSCHEIN_NR"]) == ("MehrzweckgutscheinKauf",
                                                                credit["code"])
        assert vat[(t["BON_ID"], voucher["POS_ZEILE"])]["UST_SCHLUESSEL"] == "5"
        g = vat[(t["BON_ID"], goods["POS_ZEILE"])]
        assert minor(g["POS_BRUTTO"]) == -credit["amount_minor"] and g["UST_SCHLUESSEL"] == "2"
        assert minor(g["POS_UST"]) < 0
        assert not [p for p in data["datapayment.csv"] if p["BON_ID"] == t["BON_ID"]]
    e = tx[refs[returns[0]["BON_ID"]]["REF_BON_ID"]]
    assert minor(e["UMS_BRUTTO"]) == store_day["orders"]["e"]["total_minor"]
    assert returns[1]["BON_ID"] not in refs
    # Transaction numbers are the journal's: unique, and the references name real ones.
    assert len(tx) == len(data["transactions.csv"])


def test_the_same_log_gives_the_same_bytes_and_a_full_directory_is_refused(store_day,
                                                                            tmp_path) -> None:
    out, data = store_day["out"], store_day["data"]
    again = tmp_path / "again"
    args = ["--from", store_day["day1"], "--to", store_day["day2"], "--data-dir", str(data)]
    r = runner.invoke(app, ["export", "dsfinvk", str(again), *args])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in out.iterdir())
    for p in out.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    # An existing export is never overwritten: exit 2, nothing changed.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = runner.invoke(app, ["export", "dsfinvk", str(out), *args])
    assert r.exit_code == 2 and "not an empty directory" in r.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # An empty directory is filled.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["export", "dsfinvk", str(empty), *args]).exit_code == 0
    assert (empty / "index.xml").read_bytes() == (out / "index.xml").read_bytes()


def test_an_export_that_fails_midway_leaves_nothing(store_day, tmp_path, monkeypatch) -> None:
    from core import files

    real, calls = files.write_atomic, []

    def failing(path, data, **kw):
        calls.append(path)
        if len(calls) == 7:
            raise OSError(28, "No space left on device")
        return real(path, data, **kw)

    monkeypatch.setattr(files, "write_atomic", failing)
    target = tmp_path / "half"
    r = runner.invoke(app, ["export", "dsfinvk", str(target), "--from", store_day["day1"],
                            "--to", store_day["day2"], "--data-dir", str(store_day["data"])])
    assert r.exit_code != 0 and len(calls) == 7
    assert list(tmp_path.iterdir()) == []  # neither the export nor its staging


def test_a_signer_outage_is_exported_as_a_tse_failure(tmp_path) -> None:
    data = tmp_path / "store"
    data.mkdir()
    (data / KEY_FILENAME).write_bytes(b"damaged key")
    live = start_live_app(data)
    try:
        _open(live, "lane-1", "till-1")
        sale = _sale(live, "lane-1")
        _close(live, "till-1")
        day = live.client("manager-1").get("/v1/reports/z").json()["business_date"]
    finally:
        live.close()
    out = tmp_path / "export"
    r = runner.invoke(app, ["export", "dsfinvk", str(out), "--from", day, "--to", day,
                            "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    got = _read(out)
    (receipt,) = [t for t in got["transactions.csv"] if t["BON_TYP"] == "Beleg"]
    assert minor(receipt["UMS_BRUTTO"]) == sale["total_minor"]
    (tse,) = [t for t in got["transactions_tse.csv"] if t["BON_ID"] == receipt["BON_ID"]]
    assert tse["TSE_TA_FEHLER"].startswith("TSE ausgefallen")
    assert "cannot be read" in tse["TSE_TA_FEHLER"]
    assert tse["TSE_TA_SIG"] == "" and tse["TSE_TA_SIGZ"] == "" and tse["TSE_ID"] == ""
    assert tse["TSE_TANR"] == receipt["BON_NR"]
    assert got["tse.csv"] == []  # no signing unit was ever registered


def test_a_value_too_long_for_its_column_stops_the_export_and_writes_nothing(store_day,
                                                                               tmp_path) -> None:
    import shutil

    data = tmp_path / "store"
    shutil.copytree(store_day["data"], data, ignore=shutil.ignore_patterns("export"))
    with open(data / "config.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[fiscal]\ncash_register_id = "' + "R" * 48 + '"\n')  # + "-till-1" > 50
    out = tmp_path / "export"
    r = runner.invoke(app, ["export", "dsfinvk", str(out), "--from", store_day["day1"],
                            "--to", store_day["day2"], "--data-dir", str(data)])
    assert r.exit_code == 2, r.output
    assert "Z_KASSE_ID longer than 50" in r.output
    assert not out.exists() and not list(tmp_path.glob(".export*"))


@given(minor_units=st.integers(-10**12, 10**12), places=st.integers(2, 5))
def test_amounts_are_exact_with_their_places_and_the_decimal_comma(minor_units: int,
                                                                    places: int) -> None:
    from decimal import Decimal

    from edge.fiscal import dsfinvk_spec as spec

    text = spec.number(minor_units, 2, places)
    assert re.fullmatch(rf"-?\d+,\d{{{places}}}", text)
    assert Decimal(text.replace(",", ".")) == Decimal(minor_units) / 100


@given(texts=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
                      min_size=2, max_size=5))
def test_any_text_survives_the_dialect(texts: list[str]) -> None:
    from edge.fiscal import dsfinvk_spec as spec

    table = spec.Table("x.csv", "X", "test", tuple(
        spec.Column(f"C{i}", False, 1000, "") for i in range(len(texts))))
    raw = spec.csv_bytes(table, [texts]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline=""), delimiter=";", quotechar='"',
                           strict=True))
    assert rows == [table.names, texts]
