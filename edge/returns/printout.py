"""The printed return receipt: a pure function from the receipt view to a printable
`Document` (the printing domain queues it on the lane's printer)."""

from __future__ import annotations

from edge.printing.render import two_columns, wrap
from schemas.printing import Barcode, Cut, Document, Element, Text
from schemas.returns import ReturnReceiptView


def document(r: ReturnReceiptView, columns: int = 42) -> Document:
    w = columns
    rule = Text("-" * w)
    out: list[Element] = [Text(row, align="center", bold=True, double_height=True)
                          for row in wrap(r.store_name, w)]
    out.append(Text("RETURN", align="center", bold=True))
    out += [Text(row) for row in two_columns(f"Store {r.store_id}", f"Lane {r.lane_id}", w)]
    out += [Text(row) for row in two_columns("Business day", r.business_date, w)]
    out += [Text(row) for row in two_columns("Original receipt",
                                             r.original_receipt_number or "none", w)]
    out.append(rule)
    for ln in r.lines:
        out += [Text(row) for row in two_columns(f"{ln.qty_text} {ln.text}", ln.amount_text, w)]
        out += [Text("  " + row) for row in wrap(f"{ln.reason}, {ln.disposition}", w - 2)]
        if ln.fee_text:
            out += [Text("  " + row) for row in two_columns("Restocking fee", ln.fee_text, w - 2)]
    out.append(rule)
    if r.fee_text:
        out += [Text(row) for row in two_columns("Fees", r.fee_text, w)]
    out += [Text(row, bold=True) for row in two_columns("RETURNED", r.total_text, w)]
    out.append(rule)
    for m in r.money:
        out += [Text(row) for row in two_columns(m.text, m.amount_text, w)]
        if m.detail:
            out += [Text("  " + row) for row in wrap(m.detail, w - 2)]
    out.append(Barcode(r.return_id[:64]))
    out.append(Cut())
    return Document(out)
