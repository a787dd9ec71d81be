"""The DSFinV-K export (Digitale Schnittstelle der Finanzverwaltung für Kassensysteme, version
2.4), generated from the store's log alone. The file layout, the CSV dialect and `index.xml`
are in `edge.fiscal.dsfinvk_spec`; this module maps the log onto it.

Mapping (docs/fiscal.md has the full table and what is not covered):
- a cash point (`Z_KASSE_ID`) is a till: `<register id>-<till id>`; its closings are the
  till's `till.closed` events, `Z_NR` the till's never-reset Z number, `Z_START_ID` /
  `Z_ENDE_ID` the first and last BON_ID of the closing's range of the log;
- a transaction (Bonkopf) is a fiscal event of the till inside that range, from its opening
  (`AVSonstige` Anfangsbestand: the float) to its close (`AVSonstige` Kassenabschluss: the
  count difference as DifferenzSollIst): sales (`Beleg`, cash rounding a line of its own, the
  loyalty customer's opaque id in KUNDE_ID), refunds (`Beleg`, negative, one per tender the
  money went back onto, each referencing the sale it refunds in references.csv), returns for
  store credit and the returning half of exchanges (`Beleg`), voided carts (`AVBelegabbruch`),
  tenders taken back (`AVSonstige` Zahlungsstorno), cash movements (`AVSonstige`: Geldtransit,
  Einzahlung, Auszahlung), drawer opens and receipt reprints (`AVSonstige`, a reprint
  referencing its receipt); BON_NR is the fiscal transaction number, its signature (or the
  signer's outage) in transactions_tse.csv;
- the float and the count difference are stock, not payments: float + the closing's cash
  payments = the cash the till's Z report expects, + the difference = the cash counted;
- a line with a discount has its price finding in itemamounts.csv (base price and discount,
  each with its VAT);
- the closing files sum the transactions: businesscases.csv (per GV_TYP and VAT key),
  payment.csv (per payment type), cash_per_currency.csv (the one currency of the store).
Every value is a pure function of the log: the same log gives the same bytes.
"""

from __future__ import annotations

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
from core.errors import InvalidInput
from edge.fiscal import dsfinvk_spec as spec
from edge.store import eventlog
from schemas import cash as c
from schemas import events as ev
from schemas import fiscal as f
from schemas import loyalty as lo
from schemas import returns as rt
from schemas.envelope import Event
from schemas.events import decode_body

TAXONOMY_VERSION = "2.3"  # the DFKA taxonomy (TAXONOMIE_VERSION), not the DSFinV-K version
# DSFinV-K USt-Schlüssel (Anhang): 1 general rate (19 %), 2 reduced rate (7 %), 4 average
# rate § 24 (1) 1 UStG (5.5 %), 5 not taxable (cash movements, the float), 6 tax free (a 0 %
# sale); any other rate gets an individual key from 1000 up, derived from the rate itself
# (1000 + basis points) so that a key never depends on which days are exported.
STANDARD_VAT_KEYS = {190_000: 1, 70_000: 2, 55_000: 4, 0: 6}
NOT_TAXABLE = 5
UNKNOWN_RATE = -1  # a line whose rate the log cannot tell: key 7 (UmsatzsteuerNichtErmittelbar)
VAT_NAMES = {1: "Regelsteuersatz", 2: "Ermäßigter Steuersatz",
             4: "Durchschnittssatz § 24 Abs. 1 Nr. 1 UStG", 5: "Nicht steuerbar",
             6: "Umsatzsteuerfrei", 7: "UmsatzsteuerNichtErmittelbar"}
PAYMENT_TYPES = {"cash": "Bar", "card": "Unbar", "voucher": "Guthabenkarte", "other": "Unbar"}
MOVEMENT_GV = {"drop": "Geldtransit", "pickup": "Geldtransit", "pay_in": "Einzahlung",
               "pay_out": "Auszahlung"}
# Cash rounding of a sale: DSFinV-K 2.4 names no business case of its own for it, so it is a
# line of the receipt, a surcharge (rounded up) or a discount (rounded down) on the total, not
# taxable (key 5): the VAT of the goods stays as charged.
ROUNDING_UP, ROUNDING_DOWN, ROUNDING_NAME = "Aufschlag", "Rabatt", "Rundung"
CUSTOMER_TYPE = "Kundenkarte"  # KUNDE_TYP of a loyalty customer (KUNDE_ID: its opaque id)
RECEIPT = "Kassenbeleg-V1"  # TSE processType of a receipt (and an aborted one)
OTHER = "SonstigerVorgang"  # of anything else signed (a drawer open, a reprint)


class ExportSummary(msgspec.Struct, frozen=True):
    directory: str
    closings: int
    transactions: int
    files: list[str]
    # Per closing: (Z_KASSE_ID, Z_NR) -> Σ UMS_BRUTTO and Σ cash payments, for checking.
    totals: list[dict[str, Any]]


def vat_key(rate_ppm: int | None) -> int:
    if rate_ppm is None:
        return NOT_TAXABLE
    if rate_ppm == UNKNOWN_RATE:
        return 7
    if rate_ppm in STANDARD_VAT_KEYS:
        return STANDARD_VAT_KEYS[rate_ppm]
    return 1000 + rate_ppm // 100 if rate_ppm % 100 == 0 else 100_000 + rate_ppm


def _amount(minor: int, places: int = 2) -> str:
    return spec.number(minor, 2, places)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{ms % 1000:03d}Z"


@dataclass
class Line:
    text: str
    sku: str
    qty_milli: int
    total: int  # gross after discounts
    tax: int
    rate: int | None  # None: not taxable
    gv_typ: str
    base: int = 0  # gross before discounts (a discounted line only)
    base_tax: int = 0
    voucher: str = ""  # GUTSCHEIN_NR
    gv_name: str = ""

    @property
    def discounted(self) -> bool:
        return self.base != self.total and self.base != 0


@dataclass
class Bon:
    seq: int
    bon_id: str
    bon_nr: int | None
    typ: str
    name: str
    terminal: str  # the till's lane (a Stamm_Terminals entry)
    operator: str  # who: the lane or the manager whose token recorded it
    start_ms: int
    end_ms: int
    gross: int
    lines: list[Line]
    payments: list[tuple[str, int]]
    record: f.FiscalSigned | f.FiscalUnsigned | None
    process_type: str = RECEIPT
    refers_to: str | None = None  # the order whose receipt this one refers to
    customer: str | None = None  # KUNDE_ID: the loyalty customer's opaque id, never PII
    note: str | None = None  # BON_NOTIZ
    rounding: int = 0  # the cash rounding line's amount (in gross)


@dataclass
class _Closing:
    kasse: str
    created: str
    z: int
    body: c.TillClosed
    business_date: str
    seq: int
    bons: list[Bon] = field(default_factory=list)


class _Log:
    """The log read once: bodies by seq, the fiscal record of each event, the refunds."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.events = list(eventlog.read(conn))
        self.by_seq: dict[int, Event] = {e.seq: e for e in self.events}
        self.bodies = {e.seq: decode_body(e.type, e.schema_version, e.body) for e in self.events}
        self.journal = {b.event_seq: b for b in self.bodies.values()
                        if isinstance(b, (f.FiscalSigned, f.FiscalUnsigned))}
        self.signers = [b for b in self.bodies.values() if isinstance(b, f.FiscalSignerRegistered)]
        self.refunds = {b.refund_id: b for b in self.bodies.values()
                        if isinstance(b, ev.OrderRefundCreated)}
        self.refund_seq = {b.refund_id: s for s, b in self.bodies.items()
                           if isinstance(b, ev.OrderRefundCreated)}
        self.sales = {b.order_id: b for b in self.bodies.values()
                      if isinstance(b, ev.SaleCompleted)}
        self.sale_seq = {b.order_id: s for s, b in self.bodies.items()
                         if isinstance(b, ev.SaleCompleted)}
        self.sale_of_cart = {b.cart_id: b.order_id for b in self.bodies.values()
                             if isinstance(b, ev.SaleCompleted)}
        # The customer a cart carried when it was sold (the last one attached).
        self.customers = {b.cart_id: b.customer_id for b in self.bodies.values()
                          if isinstance(b, lo.CustomerAttached)}
        self.payments: dict[str, ev.PaymentCreated] = {
            b.payment_id: b for b in self.bodies.values() if isinstance(b, ev.PaymentCreated)}
        self.vouchers_issued = {b.reason: b for b in self.bodies.values()
                                if isinstance(b, ev.VoucherIssued)}
        self.refunded: dict[str, list[ev.PaymentRefunded]] = defaultdict(list)
        for b in self.bodies.values():
            if isinstance(b, ev.PaymentRefunded):
                self.refunded[b.refund_id].append(b)
        # The refunds that carry the returning half of an exchange: exported with it.
        self.exchange_refunds = {b.refund_id for b in self.bodies.values()
                                 if isinstance(b, rt.ReturnCompleted)
                                 and b.exchange_order_id is not None and b.refund_id}

    def customer_of(self, order_id: str | None) -> str | None:
        """The loyalty customer (its opaque id) of the sale of `order_id`, if it had one."""
        sale = self.sales.get(order_id or "")
        return self.customers.get(sale.cart_id) if sale is not None else None


def build(conn: apsw.Connection, config: Any, from_day: str, to_day: str
          ) -> tuple[dict[str, bytes], ExportSummary]:
    """Every file of the export of the till closings of business days [from_day, to_day]
    (name -> bytes, `index.xml` and its DTD included) and its summary."""
    store, fiscal = config.store, config.fiscal
    tz = ZoneInfo(store.timezone)
    register = fiscal.cash_register_id or store.store_id
    log = _Log(conn)
    tse_ids = {s.key_id: i for i, s in enumerate(log.signers, 1)}

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).isoformat(timespec="seconds")

    # Every closing of the log (a refund may reference a sale closed on an earlier day).
    all_closings = [
        _Closing(f"{register}-{b.till_id}", iso(b.closed_at_ms), b.z_number, b,
                 log.by_seq[s].business_date, s)
        for s, b in log.bodies.items() if isinstance(b, c.TillClosed)]
    sale_closing: dict[int, _Closing] = {}
    for cl in all_closings:
        for s in range(cl.body.first_seq, cl.body.last_seq + 1):
            body = log.bodies.get(s)
            if isinstance(body, ev.SaleCompleted) and body.lane_id == cl.body.lane_id:
                sale_closing[s] = cl
    closings = [cl for cl in all_closings if from_day <= cl.business_date <= to_day]

    rows: dict[str, list[list[str]]] = {t.url: [] for t in spec.TABLES}

    def add(url: str, cl: _Closing, **values: Any) -> None:
        table = spec.BY_URL[url]
        row = {"Z_KASSE_ID": cl.kasse, "Z_ERSTELLUNG": cl.created, "Z_NR": str(cl.z),
               **{k: "" if v is None else str(v) for k, v in values.items()}}
        unknown = set(row) - set(table.names)
        assert not unknown, (url, unknown)
        rows[url].append([row.get(col, "") for col in table.names])

    totals: list[dict[str, Any]] = []
    transactions = 0
    for cl in closings:
        b = cl.body
        # The events of the closing's range, then the closing itself (its cash difference).
        for seq in (*range(b.first_seq, b.last_seq + 1), cl.seq):
            bon = _bon(seq, log, b)
            if bon is not None:
                cl.bons.append(bon)
        transactions += len(cl.bons)
        gv: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
        pay: dict[tuple[str, str], int] = defaultdict(int)
        keys_used: dict[int, int | None] = {}
        used_tse: set[int] = set()
        for bon in cl.bons:
            rec = bon.record
            add("transactions.csv", cl, BON_ID=bon.bon_id, BON_NR=bon.bon_nr, BON_TYP=bon.typ,
                BON_NAME=bon.name, TERMINAL_ID=bon.terminal, BON_STORNO="0",
                BON_START=iso(bon.start_ms), BON_ENDE=iso(bon.end_ms),
                BEDIENER_ID=bon.operator, BEDIENER_NAME=bon.operator,
                UMS_BRUTTO=_amount(bon.gross), KUNDE_ID=bon.customer,
                KUNDE_TYP=CUSTOMER_TYPE if bon.customer else None, BON_NOTIZ=bon.note)
            bon_vat: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
            for pos, ln in enumerate(bon.lines, 1):
                key = vat_key(ln.rate)
                keys_used[key] = ln.rate
                unit = _unit_price(ln.total, ln.qty_milli)
                add("lines.csv", cl, BON_ID=bon.bon_id, POS_ZEILE=pos, GUTSCHEIN_NR=ln.voucher,
                    ARTIKELTEXT=ln.text,
                    POS_TERMINAL_ID=bon.terminal, GV_TYP=ln.gv_typ, GV_NAME=ln.gv_name or None,
                    INHAUS="0", P_STORNO="0",
                    ART_NR=ln.sku, MENGE=spec.number(ln.qty_milli, 3, 3), FAKTOR="1,000",
                    EINHEIT="Stück" if ln.qty_milli % 1000 == 0 else "kg",
                    STK_BR=spec.number(unit, 5, 5))
                add("lines_vat.csv", cl, BON_ID=bon.bon_id, POS_ZEILE=pos, UST_SCHLUESSEL=key,
                    POS_BRUTTO=_amount(ln.total, 5), POS_NETTO=_amount(ln.total - ln.tax, 5),
                    POS_UST=_amount(ln.tax, 5))
                if ln.discounted:
                    for typ, g, t in (("base_amount", ln.base, ln.base_tax),
                                      ("discount", ln.total - ln.base, ln.tax - ln.base_tax)):
                        add("itemamounts.csv", cl, BON_ID=bon.bon_id, POS_ZEILE=pos, TYP=typ,
                            UST_SCHLUESSEL=key, PF_BRUTTO=_amount(g, 5),
                            PF_NETTO=_amount(g - t, 5), PF_UST=_amount(t, 5))
                for acc in (bon_vat[key], gv[(ln.gv_typ, key)]):
                    acc[0] += ln.total
                    acc[1] += ln.total - ln.tax
                    acc[2] += ln.tax
            for key, (g, n, t) in sorted(bon_vat.items()):
                add("transactions_vat.csv", cl, BON_ID=bon.bon_id, UST_SCHLUESSEL=key,
                    BON_BRUTTO=_amount(g, 5), BON_NETTO=_amount(n, 5), BON_UST=_amount(t, 5))
            for kind, amount in bon.payments:
                typ = PAYMENT_TYPES.get(kind, "Unbar")
                pay[(typ, kind)] += amount
                add("datapayment.csv", cl, BON_ID=bon.bon_id, ZAHLART_TYP=typ, ZAHLART_NAME=kind,
                    BASISWAEH_BETRAG=_amount(amount))
            if rec is not None:
                signed = isinstance(rec, f.FiscalSigned)
                tse_id = tse_ids.get(rec.key_id) if signed else None
                if tse_id is not None:
                    used_tse.add(tse_id)
                add("transactions_tse.csv", cl, BON_ID=bon.bon_id, TSE_ID=tse_id,
                    TSE_TANR=rec.transaction_number, TSE_TA_START=_utc(rec.start_ms),
                    TSE_TA_ENDE=_utc(rec.end_ms), TSE_TA_VORGANGSART=bon.process_type,
                    TSE_TA_SIGZ=rec.signature_counter if signed else None,
                    TSE_TA_SIG=rec.signature_b64 if signed else None,
                    TSE_TA_FEHLER=None if signed else f"TSE ausgefallen: {rec.reason}"[:200])
            if bon.refers_to is not None:
                _reference(add, cl, bon, log, sale_closing)
        # The float is in gv as the Anfangsbestand line of the opening's transaction.
        keys_used.setdefault(NOT_TAXABLE, None)
        for (gv_typ, key), (g, n, t) in sorted(gv.items()):
            add("businesscases.csv", cl, GV_TYP=gv_typ, UST_SCHLUESSEL=key,
                Z_UMS_BRUTTO=_amount(g, 5), Z_UMS_NETTO=_amount(n, 5), Z_UST=_amount(t, 5))
        for (typ, name), amount in sorted(pay.items()):
            add("payment.csv", cl, ZAHLART_TYP=typ, ZAHLART_NAME=name,
                Z_ZAHLART_BETRAG=_amount(amount))
        cash = sum(a for (typ, _), a in pay.items() if typ == "Bar")
        add("cash_per_currency.csv", cl, ZAHLART_WAEH=store.currency,
            ZAHLART_BETRAG_WAEH=_amount(cash))
        add("cashpointclosing.csv", cl, Z_BUCHUNGSTAG=cl.business_date,
            TAXONOMIE_VERSION=TAXONOMY_VERSION,
            Z_START_ID=cl.bons[0].bon_id if cl.bons else "",
            Z_ENDE_ID=cl.bons[-1].bon_id if cl.bons else "", NAME=fiscal.company_name or store.name,
            STRASSE=fiscal.street, PLZ=fiscal.postcode, ORT=fiscal.city, LAND=fiscal.country,
            STNR=fiscal.tax_number, USTID=fiscal.vat_id,
            Z_SE_ZAHLUNGEN=_amount(sum(pay.values())), Z_SE_BARZAHLUNGEN=_amount(cash))
        add("location.csv", cl, LOC_NAME=store.name, LOC_STRASSE=fiscal.street,
            LOC_PLZ=fiscal.postcode, LOC_ORT=fiscal.city, LOC_LAND=fiscal.country,
            LOC_USTID=fiscal.vat_id)
        add("cashregister.csv", cl, KASSE_BRAND="NovaPOS", KASSE_MODELL="NovaPOS Edge",
            KASSE_SERIENNR=cl.kasse, KASSE_SW_BRAND="NovaPOS Edge",
            KASSE_SW_VERSION=edge.__version__, KASSE_BASISWAEH_CODE=store.currency,
            KEINE_UST_ZUORDNUNG="0")
        add("slaves.csv", cl, TERMINAL_ID=b.lane_id, TERMINAL_BRAND="NovaPOS",
            TERMINAL_MODELL="lane", TERMINAL_SERIENNR=b.lane_id,
            TERMINAL_SW_BRAND="NovaPOS Edge", TERMINAL_SW_VERSION=edge.__version__)
        for tse_id in sorted(used_tse) or ([len(log.signers)] if log.signers else []):
            s = log.signers[tse_id - 1]
            add("tse.csv", cl, TSE_ID=tse_id, TSE_SERIAL=s.serial, TSE_SIG_ALGO=s.algorithm,
                TSE_ZEITFORMAT=f.TIME_FORMAT, TSE_PD_ENCODING="UTF-8",
                TSE_PUBLIC_KEY=s.public_key_b64)
        for key, rate in sorted(keys_used.items()):
            percent = spec.number(max(rate or 0, 0) // 100, 2, 2)
            add("vat.csv", cl, UST_SCHLUESSEL=key, UST_SATZ=percent,
                UST_BESCHR=VAT_NAMES.get(key, f"Steuersatz {percent} %"))
        totals.append({"kasse": cl.kasse, "z_number": cl.z,
                       "gross_minor": sum(x.gross - x.rounding for x in cl.bons
                                          if x.typ == "Beleg"),
                       "cash_minor": cash, "transactions": len(cl.bons)})

    out = {t.url: spec.csv_bytes(t, rows[t.url]) for t in spec.TABLES}
    out[spec.INDEX_NAME] = spec.index_xml(fiscal.company_name or store.name,
                                          fiscal.city or store.store_id,
                                          f"DSFinV-K {register} {from_day}..{to_day}")
    out[spec.DTD_NAME] = spec.DTD
    return out, ExportSummary("", len(closings), transactions, sorted(out), totals)


def _reference(add, cl: _Closing, bon: Bon, log: _Log, sale_closing: dict[int, _Closing]) -> None:
    """references.csv: this transaction refers to the receipt of order `bon.refers_to`."""
    seq = log.sale_seq.get(bon.refers_to or "")
    if seq is None:
        add("references.csv", cl, BON_ID=bon.bon_id, REF_TYP="ExterneSonstige",
            REF_NAME="Auftrag", REF_BON_ID=bon.refers_to[:40] if bon.refers_to else "")
        return
    rec = log.journal.get(seq)
    orig = sale_closing.get(seq)
    add("references.csv", cl, BON_ID=bon.bon_id, REF_TYP="Transaktion",
        REF_DATUM=orig.created if orig else None, REF_Z_KASSE_ID=orig.kasse if orig else None,
        REF_Z_NR=orig.z if orig else None,
        REF_BON_ID=rec.transaction_number if rec is not None else None)


def export(directory: Path, conn: apsw.Connection, config: Any, from_day: str,
           to_day: str) -> ExportSummary:
    """Write the export of the till closings of business days [from_day, to_day] into
    `directory`, which must not exist or be empty (InvalidInput otherwise, nothing written).
    The directory appears whole or not at all: every file is written durably into a
    staging directory beside it, which is then renamed onto it."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InvalidInput(f"{directory} exists and is not an empty directory; "
                           "name a new one (an export is never overwritten)")
    try:
        content, summary = build(conn, config, from_day, to_day)
    except ValueError as exc:  # a value that does not fit its column (never cut)
        raise InvalidInput(f"cannot export: {exc}") from exc
    write_directory(directory, content)
    return msgspec.structs.replace(summary, directory=str(directory))


def write_directory(directory: Path, content: dict[str, bytes]) -> None:
    """`directory` with exactly `content` (name -> bytes), whole or not at all
    (`core.files.write_directory_atomic`)."""
    files.write_directory_atomic(directory, content, mode=0o644)


# --- the transactions of a closing ------------------------------------------------------


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
            out.append(Line("Erstattung", "", -rl.qty_milli, -share, 0, None, "Umsatz"))
            continue
        tax = (share * ln.tax_minor + ln.total_minor // 2) // ln.total_minor if ln.total_minor else 0
        out.append(Line(ln.name, ln.sku, -rl.qty_milli, -share, -tax, ln.tax_rate_ppm, "Umsatz"))
    if not refund.lines:  # a whole-order refund without line detail
        out.append(Line("Erstattung", "", -1000, -paid.amount_minor, 0, None, "Umsatz"))
    return out


def _returned_line(rl: rt.ReturnedLine, log: _Log) -> Line:
    """A line taken back, negative, with the VAT of the line it returns (receipted) or of the
    last sale of its SKU in the log (receiptless); key 7 when the log has no such sale."""
    sale = log.sales.get(rl.order_id or "")
    sold = next((ln for ln in sale.lines if ln.line_no == rl.line_no), None) if sale else None
    if sold is None:
        sold = next((ln for s in reversed(list(log.sales.values())) for ln in s.lines
                     if ln.sku == rl.sku), None)
    if sold is None:
        return Line(rl.sku, rl.sku, -rl.qty_milli, -rl.amount_minor, 0, UNKNOWN_RATE, "Umsatz")
    return Line(sold.name, rl.sku, -rl.qty_milli, -rl.amount_minor,
                -_tax_at(rl.amount_minor, sold.tax_rate_ppm), sold.tax_rate_ppm, "Umsatz")


def _exchange(body: rt.ReturnCompleted, log: _Log, bon: Any) -> Bon:
    """The returning half of an exchange: the goods back (negative, with their VAT), the
    exchange credit the new sale redeemed sold as a multi-purpose voucher, the rest as store
    credit (a voucher too) or paid back onto the original tenders (this receipt's payments)."""
    lines = [_returned_line(rl, log) for rl in body.lines]
    issued = log.vouchers_issued.get(f"exchange credit, return {body.return_id}")
    if issued is not None and issued.amount_minor:
        lines.append(Line("Umtauschgutschrift", "", 1000, issued.amount_minor, 0, None,
                          "MehrzweckgutscheinKauf", voucher=issued.code))
    if body.refund_to == "store_credit" and body.store_credit_minor:
        lines.append(Line("Gutschein", "", 1000, body.store_credit_minor, 0, None,
                          "MehrzweckgutscheinKauf", voucher=body.store_credit_code or ""))
    payments: list[tuple[str, int]] = []
    refund = log.refunds.get(body.refund_id or "")
    for paid in log.refunded.get(body.refund_id or "", []) if refund is not None else []:
        kind = next((a.tender_type for a in refund.allocations
                     if a.payment_id == paid.payment_id), "card")
        payments.append((kind, -paid.amount_minor))
    out: Bon = bon("Beleg", "Umtausch", sum(ln.total for ln in lines), lines, payments,
                   refers_to=body.order_id)
    out.customer = log.customer_of(body.order_id)
    return out


def _sale_line(ln: ev.SoldLine) -> Line:
    line = Line(ln.name, ln.sku, ln.qty_milli, ln.total_minor, ln.tax_minor, ln.tax_rate_ppm,
                "Umsatz")
    if ln.discount_minor and ln.total_minor != ln.gross_minor:
        # The base price carries the tax the line would have had undiscounted; the discount
        # carries the rest of the line's own tax, so the two sum to the line exactly.
        line.base, line.base_tax = ln.gross_minor, _tax_at(ln.gross_minor, ln.tax_rate_ppm)
    return line


def _unit_price(total_minor: int, qty_milli: int) -> int:
    """The price of one unit in 1e-5 of the currency (STK_BR), rounded half away from zero."""
    if not qty_milli:
        return 0
    num, den = total_minor * 1_000_000, qty_milli
    sign = -1 if (num < 0) != (den < 0) else 1
    q, r = divmod(abs(num), abs(den))
    return sign * (q + (1 if 2 * r >= abs(den) else 0))


def _tax_at(gross: int, rate_ppm: int) -> int:
    return (gross * rate_ppm * 2 + 1_000_000 + rate_ppm) // (2 * (1_000_000 + rate_ppm))


def _bon(seq: int, log: _Log, closing: c.TillClosed) -> Bon | None:
    """The transaction of one event of a closing's range that belongs to its till, or None."""
    body, env = log.bodies.get(seq), log.by_seq.get(seq)
    if env is None or body is None:
        return None
    rec = log.journal.get(seq)
    nr = rec.transaction_number if rec is not None else None

    def bon(typ: str, name: str, gross: int, lines: list[Line], payments: list[tuple[str, int]],
            process: str = RECEIPT, refers_to: str | None = None) -> Bon:
        start = rec.start_ms if rec is not None else env.recorded_at_ms
        return Bon(seq, str(nr if nr is not None else f"e{seq}"), nr, typ, name,
                   closing.lane_id, env.lane_id or closing.lane_id, start, env.recorded_at_ms,
                   gross, lines, payments, rec, process, refers_to)

    if isinstance(body, ev.SaleCompleted) and body.lane_id == closing.lane_id:
        # Cash net of the change (given once, off the last cash tender).
        last_cash = max((i for i, t in enumerate(body.tenders) if t.tender_type == "cash"),
                        default=-1)
        payments = [(t.tender_type, t.amount_minor - (body.change_due_minor
                                                      if i == last_cash else 0))
                    for i, t in enumerate(body.tenders)]
        lines = [_sale_line(ln) for ln in body.lines]
        # Cash rounding: the drawer kept more (or less) than the total; a line of its own.
        rounding = sum(a for _, a in payments) - body.total_minor if last_cash >= 0 else 0
        if rounding:
            lines.append(Line(ROUNDING_NAME, "", 1000, rounding, 0, None,
                              ROUNDING_UP if rounding > 0 else ROUNDING_DOWN,
                              gv_name=ROUNDING_NAME))
        out = bon("Beleg", "", body.total_minor + rounding, lines, payments)
        out.customer, out.rounding = log.customers.get(body.cart_id), rounding
        return out
    if isinstance(body, c.TillOpened) and body.session_id == closing.session_id:
        # The float counted into the drawer: the stock the closing starts from, not a payment
        # (Anfangsbestand + the closing's cash payments = the cash the Z report expects).
        return bon("AVSonstige", "Anfangsbestand", body.float_minor,
                   [Line("Anfangsbestand", "", 1000, body.float_minor, 0, None,
                         "Anfangsbestand")], [])
    if isinstance(body, c.TillClosed) and body.session_id == closing.session_id:
        # The blind close: counted − expected is the cash difference (DifferenzSollIst), a
        # correction of the stock, not a payment: expected + difference = counted.
        diff = body.over_short_minor
        if not diff:
            return bon("AVSonstige", "Kassenabschluss", 0, [], [], OTHER)
        return bon("AVSonstige", "Kassenabschluss", diff,
                   [Line("Kassendifferenz", "", 1000, diff, 0, None, "DifferenzSollIst")], [])
    if isinstance(body, ev.PaymentVoided):
        created = log.payments.get(body.payment_id)
        if created is None or created.lane_id != closing.lane_id:
            return None
        # A tender taken back before the sale completed: no money stays, nothing is sold;
        # the receipt the cart became (if it did) is referenced.
        out = bon("AVSonstige", "Zahlungsstorno", 0, [], [], OTHER,
                  refers_to=log.sale_of_cart.get(created.cart_id))
        out.note = (f"{created.tender_type} {spec.number(created.amount_minor, 2, 2)} "
                    f"{created.currency} storniert")
        return out
    if isinstance(body, rt.ReturnCompleted) and body.lane_id == closing.lane_id \
            and body.exchange_order_id is not None:
        return _exchange(body, log, bon)
    if isinstance(body, ev.PaymentRefunded):
        refund = log.refunds.get(body.refund_id)
        if refund is None or refund.lane_id != closing.lane_id \
                or body.refund_id in log.exchange_refunds:
            return None
        # The money moved back is part of the refund's own fiscal transaction; one receipt
        # per tender it went back onto.
        rec = log.journal.get(log.refund_seq.get(body.refund_id, -1))
        nr = rec.transaction_number if rec is not None else None
        kind = next((a.tender_type for a in refund.allocations
                     if a.payment_id == body.payment_id), "card")
        n = next((i for i, a in enumerate(refund.allocations, 1)
                  if a.payment_id == body.payment_id), 1)
        out = bon("Beleg", "Erstattung", -body.amount_minor, _refund_lines(body, refund, log.sales),
                  [(kind, -body.amount_minor)], refers_to=refund.order_id)
        out.bon_id = f"{nr if nr is not None else f'e{seq}'}-{n}"
        out.customer = log.customer_of(refund.order_id)
        return out
    if isinstance(body, ev.CartVoided) and env.lane_id == closing.lane_id:
        return bon("AVBelegabbruch", "", 0, [], [])
    if isinstance(body, c.TillCashMoved) and body.session_id == closing.session_id:
        sign = 1 if body.kind == "pay_in" else -1
        gv_typ = MOVEMENT_GV[body.kind]
        amount = sign * body.amount_minor
        return bon("AVSonstige", gv_typ, amount,
                   [Line(body.reason or gv_typ, "", 1000, amount, 0, None, gv_typ)],
                   [("cash", amount)])
    if isinstance(body, c.TillNoSale) and body.session_id == closing.session_id:
        return bon("AVSonstige", "Schubladenöffnung", 0, [], [], OTHER)
    if isinstance(body, rt.ReturnCompleted) and body.lane_id == closing.lane_id \
            and body.refund_to == "store_credit" and body.exchange_order_id is None:
        # Goods back for store credit: the goods' turnover reversed, a multi-purpose voucher
        # sold for the credit (not taxable); no money moves. (Back onto the tenders, a
        # return is its refund's receipts.)
        lines = [_returned_line(rl, log) for rl in body.lines]
        if body.store_credit_minor:
            lines.append(Line("Gutschein", "", 1000, body.store_credit_minor, 0, None,
                              "MehrzweckgutscheinKauf", voucher=body.store_credit_code or ""))
        out = bon("Beleg", "Rücknahme", sum(ln.total for ln in lines), lines, [],
                  refers_to=body.order_id)
        out.customer = log.customer_of(body.order_id)
        return out
    if isinstance(body, f.ReceiptReprinted) and body.lane_id == closing.lane_id:
        return bon("AVSonstige", "Belegkopie", 0, [], [], OTHER, refers_to=body.order_id)
    return None
