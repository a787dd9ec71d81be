"""The voucher ledger (gift cards and store credit): issued, redeemed by a tender, credited
back by a void or a refund. The table's CHECK (balance_minor >= 0) makes an overdraft
impossible even if a command forgot to check."""

from __future__ import annotations

from edge.store.projector import Registrations
from schemas import events as ev
from schemas.envelope import Event

PROJECTIONS = Registrations()
TABLES = {"vouchers": "code"}


@PROJECTIONS.on(ev.VoucherIssued)
def _voucher_issued(conn, stored: Event, b: ev.VoucherIssued) -> None:
    conn.execute(
        "INSERT INTO vouchers(code, currency, issued_minor, balance_minor, issued_seq, "
        "updated_seq) VALUES (?,?,?,?,?,?)",
        (b.code, b.currency, b.amount_minor, b.amount_minor, stored.seq, stored.seq),
    )


@PROJECTIONS.on(ev.VoucherRedeemed)
def _voucher_redeemed(conn, stored: Event, b: ev.VoucherRedeemed) -> None:
    conn.execute("UPDATE vouchers SET balance_minor = balance_minor - ?, updated_seq = ? "
                 "WHERE code = ?", (b.amount_minor, stored.seq, b.code))


@PROJECTIONS.on(ev.VoucherCredited)
def _voucher_credited(conn, stored: Event, b: ev.VoucherCredited) -> None:
    conn.execute("UPDATE vouchers SET balance_minor = balance_minor + ?, updated_seq = ? "
                 "WHERE code = ?", (b.amount_minor, stored.seq, b.code))
