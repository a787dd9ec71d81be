"""The DSFinV-K export (Digitale Schnittstelle der Finanzverwaltung für Kassensysteme),
generated from the store's log alone.

Mapping (docs/fiscal.md has the full table and what is not covered):
- a cash point (`Z_KASSE_ID`) is a till: `<register id>-<till id>`; its closings are the
  till's `till.closed` events, `Z_NR` the till's never-reset Z number, `Z_START_ID` /
  `Z_ENDE_ID` the first and last transaction (BON_ID) of the closing's range of the log;
- transactions are the fiscal events rung at the till's lane inside that range: sales
  (`Beleg`), refunds (`Beleg`, negative), voided carts (`AVBelegabbruch`), and the till's cash
  movements (`AVSonstige`: Geldtransit, Einzahlung, Auszahlung); BON_ID is the fiscal
  transaction number, the signature data in transactions_tse.csv;
- the closing files sum them: businesscases.csv (per GV_TYP and VAT key), payment.csv (per
  payment type), cash_per_currency.csv (the cash the till counted).
CSV: UTF-8, `,` between columns, `"` around text, `.` decimal point, CRLF; a header row.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apsw
import msgspec

import edge
from core import files
from edge.store import eventlog
from schemas import cash as c
from schemas import events as ev
from schemas import fiscal as f
from schemas.envelope import Event
from schemas.events import decode_body

TAXONOMY_VERSION = "2.3"
COMMON = ["Z_KASSE_ID", "Z_ERSTELLUNG", "Z_NR"]
FILES: dict[str, list[str]] = {
    "cashpointclosing.csv": COMMON + [
        "Z_BUCHUNGSTAG", "TAXONOMIE_VERSION", "Z_START_ID", "Z_ENDE_ID", "NAME", "STRASSE",
        "PLZ", "ORT", "LAND", "STNR", "USTID", "Z_SE_ZAHLUNGEN", "Z_SE_BARZAHLUNGEN"],
    "location.csv": COMMON + ["LOC_NAME", "LOC_STRASSE", "LOC_PLZ", "LOC_ORT", "LOC_LAND",
                              "LOC_USTID"],
    "cashregister.csv": COMMON + [
        "KASSE_BRAND", "KASSE_MODELL", "KASSE_SERIENNR", "KASSE_SW_BRAND", "KASSE_SW_VERSION",
        "KASSE_BASISWAEH_CODE", "KEINE_UST_ZUORDNUNG"],
    "slaves.csv": COMMON + ["TERMINAL_ID", "TERMINAL_BRAND", "TERMINAL_MODELL",
                            "TERMINAL_SERIENNR", "TERMINAL_SW_BRAND", "TERMINAL_SW_VERSION"],
    "vat.csv": COMMON + ["UST_SCHLUESSEL", "UST_SATZ", "UST_BESCHR"],
    "tse.csv": COMMON + [
        "TSE_ID", "TSE_SERIAL", "TSE_SIG_ALGO", "TSE_ZEITFORMAT", "TSE_PD_ENCODING",
        "TSE_PUBLIC_KEY", "TSE_ZERTIFIKAT_I", "TSE_ZERTIFIKAT_II"],
    "transactions.csv": COMMON + [
        "BON_ID", "BON_NR", "BON_TYP", "BON_NAME", "TERMINAL_ID", "BON_STORNO", "BON_START",
        "BON_ENDE", "BEDIENER_ID", "BEDIENER_NAME", "UMS_BRUTTO", "KUNDE_NAME", "KUNDE_ID",
        "KUNDE_TYP", "KUNDE_STRASSE", "KUNDE_PLZ", "KUNDE_ORT", "KUNDE_LAND", "KUNDE_USTID",
        "BON_NOTIZ"],
    "transactions_vat.csv": COMMON + ["BON_ID", "UST_SCHLUESSEL", "BON_BRUTTO", "BON_NETTO",
                                      "BON_UST"],
    "datapayment.csv": COMMON + ["BON_ID", "ZAHLART_TYP", "ZAHLART_NAME", "ZAHLWAEH_CODE",
                                 "ZAHLWAEH_BETRAG", "BASISWAEH_BETRAG"],
    "transactions_tse.csv": COMMON + [
        "BON_ID", "TSE_ID", "TSE_TANR", "TSE_TA_START", "TSE_TA_ENDE", "TSE_TA_VORGANGSART",
        "TSE_TA_SIGZ", "TSE_TA_SIG", "TSE_TA_FEHLER", "TSE_TA_VORGANGSDATEN"],
    "lines.csv": COMMON + [
        "BON_ID", "POS_ZEILE", "GUTSCHEIN_NR", "ARTIKELTEXT", "POS_TERMINAL_ID", "GV_TYP",
        "GV_NAME", "INHAUS", "P_STORNO", "AGENTUR_ID", "ART_NR", "GTIN", "WARENGR_ID",
        "WARENGR", "MENGE", "FAKTOR", "EINHEIT", "STK_BR"],
    "lines_vat.csv": COMMON + ["BON_ID", "POS_ZEILE", "UST_SCHLUESSEL", "POS_BRUTTO",
                               "POS_NETTO", "POS_UST"],
    "businesscases.csv": COMMON + ["GV_TYP", "GV_NAME", "AGENTUR_ID", "UST_SCHLUESSEL",
                                   "Z_UMS_BRUTTO", "Z_UMS_NETTO", "Z_UST"],
    "payment.csv": COMMON + ["ZAHLART_TYP", "ZAHLART_NAME", "Z_ZAHLART_BETRAG"],
    "cash_per_currency.csv": COMMON + ["ZAHLART_WAEH", "ZAHLART_BETRAG_WAEH"],
}
# DSFinV-K VAT keys (Anhang: USt-Schlüssel): 1 = 19 %, 2 = 7 %, 5 = 0 % not taxable;
# any other rate gets a key of its own from 1000 up.
STANDARD_VAT_KEYS = {190_000: 1, 70_000: 2, 107_000: 3, 55_000: 4, 0: 5}
PAYMENT_TYPES = {"cash": "Bar", "card": "Unbar", "voucher": "GuthabenKarte", "other": "Unbar"}
MOVEMENT_GV = {"drop": "Geldtransit", "pickup": "Geldtransit", "pay_in": "Einzahlung",
               "pay_out": "Auszahlung"}


class ExportSummary(msgspec.Struct, frozen=True):
    directory: str
    closings: int
    transactions: int
    files: list[str]
    # Per closing: (Z_KASSE_ID, Z_NR) -> Σ UMS_BRUTTO and Σ cash payments, for checking.
    totals: list[dict[str, Any]]


def _amount(minor: int, places: int = 2) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}" + "0" * (places - 2)


def _qty(milli: int) -> str:
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{frac:03d}"


@dataclass
class _Closing:
    kasse: str
    created: str
    z: int
    body: c.TillClosed
    business_date: str
    bon_ids: list[int] = field(default_factory=list)


class _Writer:
    def __init__(self) -> None:
        self.rows: dict[str, list[list[str]]] = {name: [] for name in FILES}

    def add(self, name: str, closing: _Closing, **values: Any) -> None:
        cols = FILES[name]
        row = {"Z_KASSE_ID": closing.kasse, "Z_ERSTELLUNG": closing.created,
               "Z_NR": str(closing.z), **{k: "" if v is None else str(v)
                                          for k, v in values.items()}}
        unknown = set(row) - set(cols)
        assert not unknown, (name, unknown)
        self.rows[name].append([row.get(col, "") for col in cols])

    def write(self, directory: Path) -> list[str]:
        directory.mkdir(parents=True, exist_ok=True)
        for name, rows in self.rows.items():
            buf = io.StringIO()
            w = csv.writer(buf, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL,
                           lineterminator="\r\n")
            w.writerow(FILES[name])
            w.writerows(rows)
            files.write_atomic(directory / name, buf.getvalue().encode(), mode=0o644)
        return sorted(self.rows)


def export(directory: Path, conn: apsw.Connection, config: Any, from_day: str,
           to_day: str) -> ExportSummary:
    """Write the export of the till closings of business days [from_day, to_day]."""
    store = config.store
    fiscal = config.fiscal
    tz = ZoneInfo(store.timezone)
    register = fiscal.cash_register_id or store.store_id
    events = list(eventlog.read(conn))
    bodies = {e.seq: decode_body(e.type, e.schema_version, e.body) for e in events}
    by_seq = {e.seq: e for e in events}
    journal = {b.event_seq: b for b in bodies.values()
               if isinstance(b, (f.FiscalSigned, f.FiscalUnsigned))}
    signers = [b for b in bodies.values() if isinstance(b, f.FiscalSignerRegistered)]
    refund_lanes = {b.refund_id: b for b in bodies.values()
                    if isinstance(b, ev.OrderRefundCreated)}
    refund_seq = {b.refund_id: s for s, b in bodies.items()
                  if isinstance(b, ev.OrderRefundCreated)}
    sales = {b.order_id: b for b in bodies.values() if isinstance(b, ev.SaleCompleted)}
    out = _Writer()
    vat_keys: dict[int, int] = {}
    totals: list[dict[str, Any]] = []
    transactions = 0

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).isoformat(
            timespec="seconds")

    def vat_key(rate_ppm: int) -> int:
        if rate_ppm not in vat_keys:
            vat_keys[rate_ppm] = STANDARD_VAT_KEYS.get(
                rate_ppm, 1000 + sum(1 for r in vat_keys if r not in STANDARD_VAT_KEYS))
        return vat_keys[rate_ppm]

    closings = [
        _Closing(f"{register}-{b.till_id}", iso(b.closed_at_ms), b.z_number, b,
                 by_seq[s].business_date)
        for s, b in bodies.items() if isinstance(b, c.TillClosed)
        and from_day <= by_seq[s].business_date <= to_day]
    for cl in closings:
        b = cl.body
        gv: dict[tuple[str, int | str], list[int]] = defaultdict(lambda: [0, 0, 0])
        pay: dict[tuple[str, str], int] = defaultdict(int)
        gross_total = 0
        for seq in range(b.first_seq, b.last_seq + 1):
            body, env = bodies.get(seq), by_seq.get(seq)
            row = _transaction(body, env, b, refund_lanes, sales)
            if row is None:
                continue
            bon_typ, gross, lines, payments, _movement = row
            rec = journal.get(seq)
            bon_nr: int | str = rec.transaction_number if rec is not None else ""
            bon_id: int | str = bon_nr
            if isinstance(body, ev.PaymentRefunded):
                # The money moved back is part of the refund's own fiscal transaction; one
                # BON per tender it went back onto.
                rec = journal.get(refund_seq.get(body.refund_id, -1))
                refund = refund_lanes[body.refund_id]
                n = next((i for i, a in enumerate(refund.allocations, 1)
                          if a.payment_id == body.payment_id), 1)
                bon_nr = rec.transaction_number if rec is not None else ""
                bon_id = f"{bon_nr}-{n}"
            cl.bon_ids.append(bon_id)
            transactions += 1
            gross_total += gross
            start = rec.start_ms if rec is not None else env.recorded_at_ms
            out.add("transactions.csv", cl, BON_ID=bon_id, BON_NR=bon_nr, BON_TYP=bon_typ,
                    TERMINAL_ID=env.lane_id or "", BON_STORNO="0", BON_START=iso(start),
                    BON_ENDE=iso(env.recorded_at_ms), BEDIENER_ID=env.lane_id or "",
                    UMS_BRUTTO=_amount(gross))
            bon_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
            for pos, (text, sku, qty, unit, g, tax, rate, gvtyp) in enumerate(lines, 1):
                key = vat_key(rate) if rate is not None else 5
                out.add("lines.csv", cl, BON_ID=bon_id, POS_ZEILE=pos, ARTIKELTEXT=text,
                        GV_TYP=gvtyp, P_STORNO="0", ART_NR=sku, MENGE=_qty(qty),
                        FAKTOR="1.000", EINHEIT="Stück" if qty % 1000 == 0 else "kg",
                        STK_BR=_amount(unit))
                out.add("lines_vat.csv", cl, BON_ID=bon_id, POS_ZEILE=pos, UST_SCHLUESSEL=key,
                        POS_BRUTTO=_amount(g, 5), POS_NETTO=_amount(g - tax, 5),
                        POS_UST=_amount(tax, 5))
                for acc in (bon_vat[key], gv[(gvtyp, key)]):
                    acc[0] += g
                    acc[1] += g - tax
                    acc[2] += tax
            for key, (g, n, t) in sorted(bon_vat.items()):
                out.add("transactions_vat.csv", cl, BON_ID=bon_id, UST_SCHLUESSEL=key,
                        BON_BRUTTO=_amount(g, 5), BON_NETTO=_amount(n, 5), BON_UST=_amount(t, 5))
            for kind, amount in payments:
                typ = PAYMENT_TYPES.get(kind, "Unbar")
                pay[(typ, kind)] += amount
                out.add("datapayment.csv", cl, BON_ID=bon_id, ZAHLART_TYP=typ, ZAHLART_NAME=kind,
                        BASISWAEH_BETRAG=_amount(amount))
            if rec is not None:
                signed = isinstance(rec, f.FiscalSigned)
                out.add("transactions_tse.csv", cl, BON_ID=bon_id, TSE_ID=1,
                        TSE_TANR=rec.transaction_number, TSE_TA_START=iso(rec.start_ms),
                        TSE_TA_ENDE=iso(rec.end_ms), TSE_TA_VORGANGSART="Kassenbeleg-V1",
                        TSE_TA_SIGZ=rec.signature_counter if signed else "",
                        TSE_TA_SIG=rec.signature_b64 if signed else "",
                        TSE_TA_FEHLER="" if signed else f"TSE ausgefallen: {rec.reason}")
        gv[("Anfangsbestand", "")] = [b.totals.float_minor, b.totals.float_minor, 0]
        for (gvtyp, key), (g, n, t) in sorted(gv.items(), key=lambda kv: str(kv[0])):
            out.add("businesscases.csv", cl, GV_TYP=gvtyp, UST_SCHLUESSEL=key,
                    Z_UMS_BRUTTO=_amount(g, 5), Z_UMS_NETTO=_amount(n, 5), Z_UST=_amount(t, 5))
        for (typ, name), amount in sorted(pay.items()):
            out.add("payment.csv", cl, ZAHLART_TYP=typ, ZAHLART_NAME=name,
                    Z_ZAHLART_BETRAG=_amount(amount))
        cash = sum(a for (typ, _), a in pay.items() if typ == "Bar")
        out.add("cash_per_currency.csv", cl, ZAHLART_WAEH=store.currency,
                ZAHLART_BETRAG_WAEH=_amount(b.counted_minor))
        name = fiscal.company_name or store.name
        out.add("cashpointclosing.csv", cl, Z_BUCHUNGSTAG=cl.business_date,
                TAXONOMIE_VERSION=TAXONOMY_VERSION,
                Z_START_ID=cl.bon_ids[0] if cl.bon_ids else "",
                Z_ENDE_ID=cl.bon_ids[-1] if cl.bon_ids else "", NAME=name,
                STRASSE=fiscal.street, PLZ=fiscal.postcode, ORT=fiscal.city,
                LAND=fiscal.country, STNR=fiscal.tax_number, USTID=fiscal.vat_id,
                Z_SE_ZAHLUNGEN=_amount(sum(pay.values())), Z_SE_BARZAHLUNGEN=_amount(cash))
        out.add("location.csv", cl, LOC_NAME=store.name, LOC_STRASSE=fiscal.street,
                LOC_PLZ=fiscal.postcode, LOC_ORT=fiscal.city, LOC_LAND=fiscal.country,
                LOC_USTID=fiscal.vat_id)
        out.add("cashregister.csv", cl, KASSE_BRAND="NovaPOS", KASSE_MODELL="NovaPOS Edge",
                KASSE_SERIENNR=cl.kasse, KASSE_SW_BRAND="NovaPOS Edge",
                KASSE_SW_VERSION=edge.__version__, KASSE_BASISWAEH_CODE=store.currency,
                KEINE_UST_ZUORDNUNG="0")
        out.add("slaves.csv", cl, TERMINAL_ID=b.lane_id, TERMINAL_BRAND="NovaPOS",
                TERMINAL_MODELL="lane", TERMINAL_SERIENNR=b.lane_id,
                TERMINAL_SW_BRAND="NovaPOS Edge", TERMINAL_SW_VERSION=edge.__version__)
        for s in signers[-1:]:
            out.add("tse.csv", cl, TSE_ID=1, TSE_SERIAL=s.serial, TSE_SIG_ALGO=s.algorithm,
                    TSE_ZEITFORMAT="unixTime", TSE_PD_ENCODING="UTF-8",
                    TSE_PUBLIC_KEY=s.public_key_b64)
        for rate, key in sorted(vat_keys.items(), key=lambda kv: kv[1]):
            out.add("vat.csv", cl, UST_SCHLUESSEL=key, UST_SATZ=f"{rate / 10_000:.2f}",
                    UST_BESCHR=f"{rate / 10_000:g} %")
        totals.append({"kasse": cl.kasse, "z_number": cl.z, "gross_minor": gross_total,
                       "cash_minor": cash, "transactions": len(cl.bon_ids)})
    names = out.write(directory)
    return ExportSummary(str(directory), len(closings), transactions, names, totals)


Line = tuple[str, str, int, int, int, int, int | None, str]


def _refund_lines(paid: ev.PaymentRefunded, refund: ev.OrderRefundCreated,
                  sales: dict[str, ev.SaleCompleted]) -> list[Line]:
    """The refunded lines (negative), with the VAT of the lines they return: this payment's
    share of each refund line, its tax in the proportion the sold line carried."""
    sale = sales.get(refund.order_id)
    sold = {ln.line_no: ln for ln in sale.lines} if sale is not None else {}
    out: list[Line] = []
    left = paid.amount_minor
    for i, rl in enumerate(refund.lines):
        share = left if i == len(refund.lines) - 1 else \
            rl.amount_minor * paid.amount_minor // max(refund.amount_minor, 1)
        left -= share
        ln = sold.get(rl.line_no)
        if ln is None:
            out.append(("Erstattung", "", -rl.qty_milli, share, -share, 0, None, "Umsatz"))
            continue
        tax = (share * ln.tax_minor + ln.total_minor // 2) // ln.total_minor if ln.total_minor else 0
        unit = share * 1000 // rl.qty_milli if rl.qty_milli else share
        out.append((ln.name, ln.sku, -rl.qty_milli, unit, -share, -tax, ln.tax_rate_ppm,
                    "Umsatz"))
    if not refund.lines:  # a whole-order refund without line detail
        out.append(("Erstattung", "", -1000, paid.amount_minor, -paid.amount_minor, 0, None,
                    "Umsatz"))
    return out


def _transaction(body, env: Event | None, closing: c.TillClosed, refunds: dict,
                 sales: dict[str, ev.SaleCompleted]):
    """(BON_TYP, gross, lines, payments, is a cash movement) of one event of a closing's
    range that belongs to its till, or None."""
    if env is None or body is None:
        return None
    if isinstance(body, ev.SaleCompleted) and body.lane_id == closing.lane_id:
        lines: list[Line] = [
            (ln.name, ln.sku, ln.qty_milli, ln.unit_price_minor, ln.total_minor, ln.tax_minor,
             ln.tax_rate_ppm, "Umsatz") for ln in body.lines]
        payments = []
        for t in body.tenders:
            amount = t.amount_minor - (body.change_due_minor if t.tender_type == "cash" else 0)
            payments.append((t.tender_type, amount))
        return "Beleg", body.total_minor, lines, payments, False
    if isinstance(body, ev.PaymentRefunded):
        refund = refunds.get(body.refund_id)
        if refund is None or refund.lane_id != closing.lane_id:
            return None
        kind = next((a.tender_type for a in refund.allocations
                     if a.payment_id == body.payment_id), "card")
        return ("Beleg", -body.amount_minor, _refund_lines(body, refund, sales),
                [(kind, -body.amount_minor)], False)
    if isinstance(body, ev.CartVoided) and env.lane_id == closing.lane_id:
        return "AVBelegabbruch", 0, [], [], False
    if isinstance(body, c.TillCashMoved) and body.session_id == closing.session_id:
        sign = 1 if body.kind == "pay_in" else -1
        gvtyp = MOVEMENT_GV[body.kind]
        lines = [(body.reason or gvtyp, "", 1000, sign * body.amount_minor,
                  sign * body.amount_minor, 0, None, gvtyp)]
        return "AVSonstige", sign * body.amount_minor, lines, [("cash", sign * body.amount_minor)], True
    return None
