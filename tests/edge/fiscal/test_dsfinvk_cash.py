"""The DSFinV-K export of a till's cash from its opening to its blind close, read back with the
independent reader of `test_dsfinvk` (the dialect `index.xml` declares): the float counted in
(`Anfangsbestand`) and the count difference (`DifferenzSollIst`) are transactions of their own
(stock, not payments), so float + the closing's cash payments = the cash the Z report expected,
and + the difference = the cash counted, for any session (hypothesis); cash rounding is a line
of its own that the payments match; a loyalty customer's id (never a personal field) is on her
receipts; a tender taken back is a signed transaction referencing the receipt its cart became;
the returning half of an exchange is a receipt of its own (goods back, the exchange credit sold
as a voucher the new sale redeems, any rest paid back); the store's one currency is the only
one in the export."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from edge.cli import app
from schemas import loyalty as lo
from tests.conftest import new_key
from tests.edge.api.helpers import open_cart, post
from tests.edge.fiscal.test_dsfinvk import FLOAT, _key, _read, minor
from tests.edge.loyalty.support import customer_change, down_sync_customer, provision
from tests.support.live_app import start_live_app

runner = CliRunner()
ANN = lo.PersonalData(name="Ann Example", email="ann@example.org", phone="+49 170 5550123",
                      card="LOY-000123")
SHORT = 30  # the blind count is 0.30 short
CONFIG = "[tender]\ncash_rounding_minor = 5\n"  # cash due rounded to 0.05


def _cart(c, *lines: tuple[str, int]) -> str:
    cart = open_cart(c)
    for sku, qty in lines:
        r = post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": qty})
        assert r.status_code == 201, r.text
    return cart


def _complete(c, cart: str) -> dict:
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _cash_sale(c, *lines: tuple[str, int], customer: str | None = None) -> dict:
    cart = _cart(c, *lines)
    if customer:
        assert post(c, f"/v1/carts/{cart}/customer",
                    {"customer_id": customer}).status_code == 200
    assert post(c, f"/v1/carts/{cart}/tenders",
                {"tender_type": "cash", "amount_minor": 5000}).status_code == 201
    return _complete(c, cart)


@pytest.fixture(scope="module")
def till_day(tmp_path_factory) -> dict:
    """One till, one day: a float, a loyalty customer's sale (returned for store credit),
    sales whose cash was rounded up and down, a cash tender taken back before the cart was paid
    by cheque, two exchanges of her second sale (the customer pays the rest in cash; the rest
    goes back to the original cash), a blind close
    0.30 short."""
    data = tmp_path_factory.mktemp("store")
    provision(data)
    (data / "config.toml").write_text(CONFIG)
    live = start_live_app(data)
    facts: dict = {"data": data}
    try:
        down_sync_customer(live.service, customer_change("c-ann", ANN, tier="silver"))
        c, mgr = live.client("lane-1"), live.client("manager-1")
        assert post(c, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
        facts["customer_sale"] = _cash_sale(c, ("COFFEE-250G", 1), customer="c-ann")  # 4.99
        r = post(c, "/v1/returns", {"receipt_number": facts["customer_sale"]["receipt_number"],
                                    "refund_to": "store_credit",
                                    "lines": [{"line_no": 1, "qty": 1, "reason": "defective"}]})
        assert r.status_code == 201, r.text  # her coffee back for store credit
        facts["rounded_down"] = _cash_sale(c, ("BREAD-500G", 3))  # 7.47 -> 7.45 in cash
        # A cash tender taken back; the cart is then paid by cheque.
        cart = _cart(c, ("MILK-1L", 1))
        assert post(c, f"/v1/carts/{cart}/tenders",
                    {"tender_type": "cash", "amount_minor": 1000}).status_code == 201
        r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
        assert r.status_code == 200, r.text
        assert post(c, f"/v1/carts/{cart}/tenders",
                    {"tender_type": "other", "amount_minor": 119,
                     "reference": "CHQ"}).status_code == 201
        facts["cheque_sale"] = _complete(c, cart)
        # Exchanges of the customer's order of a coffee and two breads.
        order = _cash_sale(c, ("COFFEE-250G", 1), ("BREAD-500G", 2), customer="c-ann")
        facts["exchanged_order"] = order
        cart = _cart(c, ("COFFEE-250G", 1))  # bread (2.49) back, coffee (4.99) out: pay 2.50
        assert post(c, f"/v1/carts/{cart}/tenders",
                    {"tender_type": "cash", "amount_minor": 250}).status_code == 201
        r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                      "lines": [{"line_no": 2, "qty": 1,
                                                 "reason": "changed_mind"}]})
        assert r.status_code == 201, r.text
        facts["pay_more"] = r.json()
        cart = _cart(c, ("BREAD-500G", 1))  # coffee (4.99) back, bread (2.49) out: 2.50 back
        r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                      "lines": [{"line_no": 1, "qty": 1,
                                                 "reason": "wrong_size"}]})
        assert r.status_code == 201, r.text
        facts["money_back"] = r.json()
        assert facts["money_back"]["difference_minor"] == -250
        x = mgr.get("/v1/tills/till-1/x").json()["totals"]
        r = post(mgr, "/v1/tills/till-1/close",
                 {"counted": [{"value_minor": 1, "pieces": x["expected_minor"] - SHORT}]})
        assert r.status_code == 201, r.text
        facts["z"] = r.json()
        facts["day"] = mgr.get("/v1/reports/z").json()["business_date"]
    finally:
        live.close()
    out = data / "export"
    r = runner.invoke(app, ["export", "dsfinvk", str(out), "--from", facts["day"], "--to",
                            facts["day"], "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    facts["out"], facts["export"] = out, _read(out)
    return facts


def _by_bon(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["BON_ID"]].append(r)
    return out


def test_float_and_cash_payments_are_the_expected_cash_and_with_the_difference_the_count(
        till_day) -> None:
    data, z = till_day["export"], till_day["z"]
    totals = z["totals"]
    assert z["over_short_minor"] == -SHORT
    tx = data["transactions.csv"]
    lines, pays = _by_bon(data["lines.csv"]), _by_bon(data["datapayment.csv"])
    vat = {(v["BON_ID"], v["POS_ZEILE"]): v for v in data["lines_vat.csv"]}
    tse = {t["BON_ID"]: t for t in data["transactions_tse.csv"]}
    # The opening: the float counted in, a not taxable Anfangsbestand (stock: no payment).
    opening, closing = tx[0], tx[-1]
    assert (opening["BON_TYP"], opening["BON_NAME"]) == ("AVSonstige", "Anfangsbestand")
    (ln,) = lines[opening["BON_ID"]]
    assert ln["GV_TYP"] == "Anfangsbestand"
    assert vat[(opening["BON_ID"], ln["POS_ZEILE"])]["UST_SCHLUESSEL"] == "5"
    assert minor(opening["UMS_BRUTTO"]) == totals["float_minor"] == 10000
    assert not pays[opening["BON_ID"]]
    # The close: the count difference, a not taxable DifferenzSollIst (no payment).
    assert (closing["BON_TYP"], closing["BON_NAME"]) == ("AVSonstige", "Kassenabschluss")
    (ln,) = lines[closing["BON_ID"]]
    assert ln["GV_TYP"] == "DifferenzSollIst"
    v = vat[(closing["BON_ID"], ln["POS_ZEILE"])]
    assert v["UST_SCHLUESSEL"] == "5" and minor(v["POS_BRUTTO"]) == -SHORT
    assert minor(closing["UMS_BRUTTO"]) == -SHORT and not pays[closing["BON_ID"]]
    for bon in (opening, closing):  # both signed, as cash transactions
        assert tse[bon["BON_ID"]]["TSE_TA_SIG"]
        assert tse[bon["BON_ID"]]["TSE_TA_VORGANGSART"] == "Kassenbeleg-V1"
    (cp,) = data["cashpointclosing.csv"]
    assert (cp["Z_START_ID"], cp["Z_ENDE_ID"]) == (opening["BON_ID"], closing["BON_ID"])
    # Every cash movement reconciles with the Z report: float + Σ cash payments = expected,
    # + the difference = counted; the sales' cash (rounding included) and the cash paid back.
    cash = [p for p in data["datapayment.csv"] if p["ZAHLART_TYP"] == "Bar"]
    total_cash = sum(minor(p["BASISWAEH_BETRAG"]) for p in cash)
    assert totals["float_minor"] + total_cash == totals["expected_minor"]
    assert totals["float_minor"] + total_cash - SHORT == z["counted_minor"]
    assert minor(opening["UMS_BRUTTO"]) + total_cash + minor(closing["UMS_BRUTTO"]) == \
        z["counted_minor"]
    assert minor(cp["Z_SE_BARZAHLUNGEN"]) == total_cash
    assert [(w["ZAHLART_WAEH"], minor(w["ZAHLART_BETRAG_WAEH"]))
            for w in data["cash_per_currency.csv"]] == [("EUR", total_cash)]
    kind = {t["BON_ID"]: (t["BON_TYP"], t["BON_NAME"]) for t in tx}
    by_kind: dict[tuple[str, str], int] = defaultdict(int)
    for p in cash:
        by_kind[kind[p["BON_ID"]]] += minor(p["BASISWAEH_BETRAG"])
    assert by_kind[("Beleg", "")] == totals["cash_sales_minor"]
    assert -by_kind[("Beleg", "Umtausch")] == totals["cash_refunds_minor"] == 250
    # The closing files say the same.
    gv = {(g["GV_TYP"], g["UST_SCHLUESSEL"]): minor(g["Z_UMS_BRUTTO"])
          for g in data["businesscases.csv"]}
    assert gv[("Anfangsbestand", "5")] == totals["float_minor"]
    assert gv[("DifferenzSollIst", "5")] == -SHORT
    assert {(p["ZAHLART_TYP"], p["ZAHLART_NAME"]): minor(p["Z_ZAHLART_BETRAG"])
            for p in data["payment.csv"]}[("Bar", "cash")] == total_cash
    # Every other transaction's payments equal its gross; nothing is in a foreign currency.
    for t in tx[1:-1]:
        assert sum(minor(p["BASISWAEH_BETRAG"]) for p in pays[t["BON_ID"]]) == \
            minor(t["UMS_BRUTTO"]), t
    assert all(p["ZAHLWAEH_CODE"] == "" and p["ZAHLWAEH_BETRAG"] == ""
               for p in data["datapayment.csv"])
    assert {r["KASSE_BASISWAEH_CODE"] for r in data["cashregister.csv"]} == {"EUR"}


def test_cash_rounding_is_a_line_of_its_own_the_payments_match(till_day) -> None:
    data, totals = till_day["export"], till_day["z"]["totals"]
    tx = {t["BON_ID"]: t for t in data["transactions.csv"]}
    lines, pays = _by_bon(data["lines.csv"]), _by_bon(data["datapayment.csv"])
    vat = {(v["BON_ID"], v["POS_ZEILE"]): v for v in data["lines_vat.csv"]}
    rounding = {}
    for bon, rows in lines.items():
        for ln in rows:
            if ln["GV_NAME"] == "Rundung":
                v = vat[(bon, ln["POS_ZEILE"])]
                assert v["UST_SCHLUESSEL"] == "5" and minor(v["POS_UST"]) == 0
                rounding[bon] = (ln["GV_TYP"], minor(v["POS_BRUTTO"]))
    up = till_day["customer_sale"]  # 4.99 paid 5.00 in cash
    down = till_day["rounded_down"]  # 7.47 paid 7.45 in cash
    assert (up["total_minor"], down["total_minor"]) == (499, 747)
    (bon_up,) = [b for b, t in tx.items() if minor(t["UMS_BRUTTO"]) == 500]
    bon_down = next(b for b, t in tx.items() if minor(t["UMS_BRUTTO"]) == 745)
    assert rounding[bon_up] == ("Aufschlag", 1) and rounding[bon_down] == ("Rabatt", -2)
    assert minor(tx[bon_up]["UMS_BRUTTO"]) == 500
    for bon in (bon_up, bon_down):
        assert sum(minor(p["BASISWAEH_BETRAG"]) for p in pays[bon]) == \
            minor(tx[bon]["UMS_BRUTTO"])
        goods = [v for (b, _), v in vat.items() if b == bon and v["UST_SCHLUESSEL"] == "2"]
        assert sum(minor(v["POS_BRUTTO"]) for v in goods) == \
            {bon_up: 499, bon_down: 747}[bon]  # the goods keep their price and VAT
    # The Z report's rounding is the sum of the rounding lines.
    assert sum(a for _, a in rounding.values()) == totals["rounding_minor"]


def test_a_loyalty_customer_is_named_by_its_id_and_nothing_personal(till_day) -> None:
    data, out = till_day["export"], till_day["out"]
    # Her two sales, the return of the first and the two exchanges of the second name her;
    # the sales of the exchanges, rung without her card, and every other do not.
    named = [t for t in data["transactions.csv"] if t["KUNDE_ID"]]
    assert [(t["BON_TYP"], t["BON_NAME"], minor(t["UMS_BRUTTO"])) for t in named] == [
        ("Beleg", "", 500), ("Beleg", "Rücknahme", 0), ("Beleg", "", 995),
        ("Beleg", "Umtausch", 0), ("Beleg", "Umtausch", -250)]
    assert {(t["KUNDE_ID"], t["KUNDE_TYP"]) for t in named} == {("c-ann", "Kundenkarte")}
    assert all(t["KUNDE_TYP"] == "" for t in data["transactions.csv"] if not t["KUNDE_ID"])
    for col in ("KUNDE_NAME", "KUNDE_STRASSE", "KUNDE_PLZ", "KUNDE_ORT", "KUNDE_LAND",
                "KUNDE_USTID"):
        assert all(r[col] == "" for r in data["transactions.csv"]), col
    for p in out.iterdir():
        raw = p.read_bytes().lower()
        for secret in (b"ann example", b"ann@example.org", b"5550123", b"loy-000123"):
            assert secret not in raw, (p.name, secret)


def test_a_tender_taken_back_is_a_signed_transaction_referencing_the_receipt(till_day) -> None:
    data = till_day["export"]
    tx = {t["BON_ID"]: t for t in data["transactions.csv"]}
    voids = [t for t in tx.values() if t["BON_NAME"] == "Zahlungsstorno"]
    assert len(voids) == 1
    (void,) = voids
    assert void["BON_TYP"] == "AVSonstige" and minor(void["UMS_BRUTTO"]) == 0
    assert void["BON_NOTIZ"] == "cash 10,00 EUR storniert"
    bon = void["BON_ID"]
    assert not [r for r in data["lines.csv"] if r["BON_ID"] == bon]
    assert not [r for r in data["datapayment.csv"] if r["BON_ID"] == bon]
    (sig,) = [r for r in data["transactions_tse.csv"] if r["BON_ID"] == bon]
    assert sig["TSE_TA_SIG"] and sig["TSE_TA_VORGANGSART"] == "SonstigerVorgang"
    (ref,) = [r for r in data["references.csv"] if r["BON_ID"] == bon]
    sale = tx[ref["REF_BON_ID"]]
    assert ref["REF_TYP"] == "Transaktion" and sale["BON_TYP"] == "Beleg"
    assert minor(sale["UMS_BRUTTO"]) == till_day["cheque_sale"]["total_minor"] == 119
    assert [(p["ZAHLART_TYP"], minor(p["BASISWAEH_BETRAG"])) for p in data["datapayment.csv"]
            if p["BON_ID"] == sale["BON_ID"]] == [("Unbar", 119)]


def test_the_returning_half_of_an_exchange_is_a_receipt_of_its_own(till_day) -> None:
    data = till_day["export"]
    tx = {t["BON_ID"]: t for t in data["transactions.csv"]}
    lines, pays = _by_bon(data["lines.csv"]), _by_bon(data["datapayment.csv"])
    vat = {(v["BON_ID"], v["POS_ZEILE"]): v for v in data["lines_vat.csv"]}
    refs = {r["BON_ID"]: r for r in data["references.csv"]}
    exchanges = [t for t in tx.values() if t["BON_NAME"] == "Umtausch"]
    assert len(exchanges) == 2
    # The exchange's refund is not exported a second time as a refund receipt.
    assert not [t for t in tx.values() if t["BON_NAME"] == "Erstattung"]
    order_bon = refs[exchanges[0]["BON_ID"]]["REF_BON_ID"]
    assert minor(tx[order_bon]["UMS_BRUTTO"]) == till_day["exchanged_order"]["total_minor"] \
        - 2  # 9.97 paid 9.95 in cash: rounded down
    for t, ex, goods_back, paid_back in ((exchanges[0], till_day["pay_more"], 249, 0),
                                         (exchanges[1], till_day["money_back"], 499, 250)):
        bon = t["BON_ID"]
        assert t["BON_TYP"] == "Beleg"
        assert refs[bon]["REF_TYP"] == "Transaktion" and refs[bon]["REF_BON_ID"] == order_bon
        rows = lines[bon]
        goods = [r for r in rows if r["GV_TYP"] == "Umsatz"]
        (credit,) = [r for r in rows if r["GV_TYP"] == "MehrzweckgutscheinKauf"]
        (g,) = [vat[(bon, r["POS_ZEILE"])] for r in goods]
        assert minor(g["POS_BRUTTO"]) == -goods_back and g["UST_SCHLUESSEL"] == "2"
        assert minor(g["POS_UST"]) < 0
        c = vat[(bon, credit["POS_ZEILE"])]
        assert c["UST_SCHLUESSEL"] == "5" and credit["GUTSCHEIN_NR"].startswith("EX")
        credit_minor = minor(c["POS_BRUTTO"])
        assert credit_minor == goods_back - paid_back
        # What went back is this receipt's payment: its gross.
        assert minor(t["UMS_BRUTTO"]) == -paid_back == \
            sum(minor(p["BASISWAEH_BETRAG"]) for p in pays[bon])
        assert [p["ZAHLART_TYP"] for p in pays[bon]] == (["Bar"] if paid_back else [])
        # The new sale redeems the same voucher: a Guthabenkarte payment of the credit.
        # (completed in the same commit, just before the return: the last sale before it)
        sold = max((s for s in tx.values() if s["BON_TYP"] == "Beleg" and not s["BON_NAME"]
                    and int(s["BON_NR"]) < int(t["BON_NR"])), key=lambda s: int(s["BON_NR"]))
        assert minor(sold["UMS_BRUTTO"]) == ex["sold"]["total_minor"]
        vouchers = [p for p in pays[sold["BON_ID"]] if p["ZAHLART_TYP"] == "Guthabenkarte"]
        assert [minor(p["BASISWAEH_BETRAG"]) for p in vouchers] == [credit_minor]


# --- for any session: the export's cash is the Z report's ------------------------------------

SKUS = ("MILK-1L", "BREAD-500G", "COFFEE-250G")
OPS = st.one_of(
    st.tuples(st.just("sale"), st.sampled_from(SKUS), st.integers(1, 3),
              st.sampled_from(("cash", "other"))),
    st.tuples(st.sampled_from(("pay_in", "pay_out", "drop")), st.integers(1, 3000)),
    st.tuples(st.sampled_from(("void_tender", "refund", "no_sale"))),
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    data = tmp_path_factory.mktemp("shop")
    (data / "config.toml").write_text(CONFIG)
    live = start_live_app(data)
    try:
        yield live
    finally:
        live.close()


def _drawer(mgr) -> int:
    """The cash the open session's drawer is expected to hold (the X report)."""
    return mgr.get("/v1/tills/till-1/x").json()["totals"]["expected_minor"]


def _run(live, ops: list[tuple], float_pieces: int, difference: int) -> dict:
    """One session of till-1 with `ops`, closed `difference` off the expected cash."""
    c, mgr = live.client("lane-1"), live.client("manager-1")
    # An example that failed midway left its session open: close it, so a shrunk example
    # reports its own failure rather than "already open".
    left = mgr.get("/v1/tills/till-1")
    if left.status_code == 200 and left.json()["state"] == "open":
        x = mgr.get("/v1/tills/till-1/x").json()["totals"]
        post(mgr, "/v1/tills/till-1/close",
             {"counted": [{"value_minor": 1, "pieces": max(x["expected_minor"], 0)}]})
    r = post(c, "/v1/tills/till-1/open",
             {"float_count": [{"value_minor": 500, "pieces": float_pieces}]})
    assert r.status_code == 201, r.text
    cash_orders: list[str] = []
    for op in ops:
        if op[0] == "sale":
            _, sku, qty, tender = op
            cart = _cart(c, (sku, qty))
            total = post(c, f"/v1/carts/{cart}/lines", {"sku": sku, "qty": 1}).json()[
                "total_minor"]
            body = {"tender_type": "cash", "amount_minor": 5000} if tender == "cash" else \
                {"tender_type": "other", "amount_minor": total, "reference": "CHQ"}
            assert post(c, f"/v1/carts/{cart}/tenders", body).status_code == 201
            sold = _complete(c, cart)
            if tender == "cash":
                cash_orders.append(sold["order_id"])
        elif op[0] in ("pay_out", "drop") and _drawer(mgr) < op[1]:
            continue  # more than the drawer holds: refused (409 insufficient-cash), tested in tills
        elif op[0] in ("pay_in", "pay_out"):
            r = post(mgr, "/v1/tills/till-1/movements",
                     {"kind": op[0], "amount_minor": op[1], "reason": "float"})
            assert r.status_code == 201, r.text
        elif op[0] == "drop":  # to the safe, confirmed by a second person
            r = post(c, "/v1/tills/till-1/movements", {"kind": "drop", "amount_minor": op[1]})
            assert r.status_code == 201, r.text
            for m in r.json()["movements"]:
                if m["kind"] in ("drop", "pickup") and m["confirmed_by"] is None:
                    r = post(mgr, f"/v1/tills/till-1/movements/{m['movement_id']}/confirm", {})
                    assert r.status_code == 200, r.text
        elif op[0] == "void_tender":
            cart = _cart(c, ("MILK-1L", 1))
            assert post(c, f"/v1/carts/{cart}/tenders",
                        {"tender_type": "cash", "amount_minor": 200}).status_code == 201
            r = c.delete(f"/v1/carts/{cart}/tenders/1", headers={"Idempotency-Key": new_key()})
            assert r.status_code == 200, r.text
            assert post(c, f"/v1/carts/{cart}/void", {"reason": "left"}).status_code in (200, 201)
        elif op[0] == "refund" and cash_orders:
            r = post(c, f"/v1/orders/{cash_orders.pop()}/refunds", {})
            assert r.status_code == 201, r.text
        elif op[0] == "no_sale":
            assert post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change"}).status_code == 201
    x = mgr.get("/v1/tills/till-1/x").json()["totals"]
    counted = max(x["expected_minor"] + difference, 0)
    r = post(mgr, "/v1/tills/till-1/close", {"counted": [{"value_minor": 1, "pieces": counted}]})
    assert r.status_code == 201, r.text
    return r.json()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=6), float_pieces=st.integers(0, 40),
       difference=st.integers(-400, 400))
def test_for_any_session_the_exported_cash_is_the_z_report_s(shop, tmp_path_factory, ops,
                                                              float_pieces, difference) -> None:
    from edge import config as config_mod
    from edge.fiscal import dsfinvk
    from edge.store.db import DB_FILENAME, open_connection

    z = _run(shop, ops, float_pieces, difference)
    totals = z["totals"]
    data_dir = shop.service.data_dir
    day = shop.client("manager-1").get("/v1/reports/z").json()["business_date"]
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        content, _ = dsfinvk.build(conn, config_mod.load(data_dir), day, day)
    finally:
        conn.close()
    out = tmp_path_factory.mktemp("export") / "x"
    dsfinvk.write_directory(out, content)
    data = _read(out)
    key = next(_key(cp) for cp in data["cashpointclosing.csv"]
               if cp["Z_KASSE_ID"].endswith("till-1") and int(cp["Z_NR"]) == z["z_number"])
    tx = [t for t in data["transactions.csv"] if _key(t) == key]
    pays = _by_bon([p for p in data["datapayment.csv"] if _key(p) == key])
    lines = [ln for ln in data["lines.csv"] if _key(ln) == key]
    opening, closing = tx[0], tx[-1]
    assert (opening["BON_NAME"], closing["BON_NAME"]) == ("Anfangsbestand", "Kassenabschluss")
    cash = sum(minor(p["BASISWAEH_BETRAG"]) for rows in pays.values() for p in rows
               if p["ZAHLART_TYP"] == "Bar")
    assert minor(opening["UMS_BRUTTO"]) == totals["float_minor"]
    assert minor(closing["UMS_BRUTTO"]) == z["over_short_minor"]
    assert totals["float_minor"] + cash == totals["expected_minor"]
    assert totals["float_minor"] + cash + z["over_short_minor"] == z["counted_minor"]
    vat = {(v["BON_ID"], v["POS_ZEILE"]): v for v in data["lines_vat.csv"] if _key(v) == key}
    rounding = sum(minor(vat[(ln["BON_ID"], ln["POS_ZEILE"])]["POS_BRUTTO"]) for ln in lines
                   if ln["GV_NAME"] == "Rundung")
    assert rounding == totals["rounding_minor"]
    for t in tx[1:-1]:
        assert sum(minor(p["BASISWAEH_BETRAG"]) for p in pays[t["BON_ID"]]) == \
            minor(t["UMS_BRUTTO"]), t
    gv = {g["GV_TYP"]: minor(g["Z_UMS_BRUTTO"]) for g in data["businesscases.csv"]
          if _key(g) == key and g["UST_SCHLUESSEL"] == "5"}
    assert gv["Anfangsbestand"] == totals["float_minor"]
    assert gv.get("DifferenzSollIst", 0) == z["over_short_minor"]
