"""The fiscal journal's writer side: `Journal.seal` runs after every append, inside the same
savepoint (`edge.store.writer.Writer.sealer`), and gives each fiscally relevant event its
signature record.

Why inside the commit: the event and its record commit together or not at all, so a `kill -9`
at any instant leaves neither a signed event without its sale nor a sale without its record,
and the numbers (read from the journal's own read model, remembered in the writer's memo) can
never skip or repeat. Invariants:
- `transaction_number` is 1, 2, 3, ... over every fiscal event of the store;
- `signature_counter` is 1, 2, 3, ... over every signature (an outage record takes none);
- each record covers `signed_bytes(...)`, which contains the exact bytes the log hashed for the
  event, so the signature can be checked from the log alone.
A signer that fails (any exception) is an outage: `fiscal.unsigned`, and the sale goes on.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

import apsw
import structlog

from core import chain
from edge.fiscal.signer import Signer
from edge.store.writer import Tx
from schemas import cash
from schemas import events as ev
from schemas import fiscal as f
from schemas.envelope import Event
from schemas.events import EventBody

log = structlog.get_logger("novapos.fiscal")

# Fiscally relevant: sales, voids, refunds (and returns), drawer opens, cash in and out,
# reprints, till openings and closings.
RELEVANT: frozenset[str] = frozenset({
    ev.SaleCompleted.TYPE, ev.CartVoided.TYPE, ev.PaymentVoided.TYPE,
    ev.OrderRefundCreated.TYPE, cash.TillOpened.TYPE, cash.TillCashMoved.TYPE,
    cash.TillNoSale.TYPE, cash.TillClosed.TYPE, f.ReceiptReprinted.TYPE,
})
RELEVANT_PREFIXES: tuple[str, ...] = ("return.",)  # the returns domain's events
_MEMO_KEY = ("fiscal", "numbers")


class Numbers(NamedTuple):
    transaction_number: int
    signature_counter: int
    key_id: str | None  # the signer registered last


def relevant(event_type: str) -> bool:
    return event_type in RELEVANT or event_type.startswith(RELEVANT_PREFIXES)


def numbers(conn: apsw.Connection) -> Numbers:
    row = conn.execute("SELECT coalesce(max(transaction_number), 0), "
                       "coalesce(max(signature_counter), 0) FROM fiscal_journal").fetchall()[0]
    key = conn.execute("SELECT key_id FROM fiscal_signers ORDER BY registered_seq DESC "
                       "LIMIT 1").fetchall()
    return Numbers(row[0], row[1], key[0][0] if key else None)


def _start_ms(conn: apsw.Connection, stored: Event, body: EventBody) -> int:
    """When the transaction began: a sale's cart opening; any other event is instantaneous.

    Read from the cart's row (`carts.opened_at_ms`, the clock reading its `cart.opened` was
    recorded at), a primary-key look-up: the log keeps no index by stream, and a search of it
    would scan the whole log on every sale."""
    if isinstance(body, ev.SaleCompleted):
        rows = conn.execute("SELECT opened_at_ms FROM carts WHERE cart_id = ?",
                            (body.cart_id,)).fetchall()
        if rows:
            return rows[0][0]
    return stored.recorded_at_ms


class Journal:
    def __init__(self, store_id: str, signer: Signer | None, outage_reason: str = "") -> None:
        self.store_id = store_id
        self.signer = signer
        self.outage_reason = outage_reason or "no signer"

    def seal(self, tx: Tx, stored: Event, body: EventBody) -> None:
        if not relevant(stored.type):
            return
        nums: Numbers = tx.memo.get(_MEMO_KEY) or numbers(tx.conn)
        txno = nums.transaction_number + 1
        start, end = _start_ms(tx.conn, stored, body), stored.recorded_at_ms
        common = dict(transaction_number=txno, event_seq=stored.seq, event_type=stored.type,
                      event_hash_hex=stored.hash.hex(), start_ms=start, end_ms=end)
        signer = self.signer
        try:
            if signer is None:
                raise RuntimeError(self.outage_reason)
            counter = nums.signature_counter + 1
            message = f.signed_bytes(
                store_id=self.store_id, transaction_number=txno, signature_counter=counter,
                event_seq=stored.seq, event_type=stored.type, start_ms=start, end_ms=end,
                key_id=signer.key_id, event_bytes=chain.hashed_bytes(stored))
            signature = signer.sign(message)
        except Exception as exc:  # noqa: BLE001 - any signer failure is an outage, not a lost sale
            log.warning("fiscal signer unavailable: event recorded unsigned",
                        seq=stored.seq, type=stored.type, reason=str(exc))
            tx.append(f.FiscalUnsigned(**common, reason=str(exc)[:200] or type(exc).__name__),
                      stream="fiscal", lane_id=None)
            tx.memo.put(_MEMO_KEY, Numbers(txno, nums.signature_counter, nums.key_id))
            return
        if nums.key_id != signer.key_id:
            tx.append(f.FiscalSignerRegistered(
                key_id=signer.key_id, algorithm=signer.algorithm,
                public_key_b64=signer.public_key_b64, serial=signer.serial, kind=signer.kind),
                stream="fiscal", lane_id=None)
        tx.append(f.FiscalSigned(**common, signature_counter=counter, key_id=signer.key_id,
                                 algorithm=signer.algorithm,
                                 signature_b64=base64.b64encode(signature).decode()),
                  stream="fiscal", lane_id=None)
        tx.memo.put(_MEMO_KEY, Numbers(txno, counter, signer.key_id))


def stamp_for_seq(conn: apsw.Connection, event_seq: int) -> f.FiscalStamp | None:
    rows = conn.execute(
        "SELECT j.transaction_number, j.start_ms, j.end_ms, j.signed, j.signature_counter, "
        "s.algorithm, j.key_id, s.serial, j.signature_b64, s.public_key_b64, j.reason "
        "FROM fiscal_journal j LEFT JOIN fiscal_signers s USING (key_id) "
        "WHERE j.event_seq = ?", (event_seq,)).fetchall()
    if not rows:
        return None
    r = rows[0]
    return f.FiscalStamp(transaction_number=r[0], start_ms=r[1], end_ms=r[2], signed=bool(r[3]),
                         signature_counter=r[4], algorithm=r[5], key_id=r[6], serial=r[7],
                         signature_b64=r[8], public_key_b64=r[9], outage_reason=r[10])


def stamp_for_order(conn: apsw.Connection, order_id: str) -> f.FiscalStamp | None:
    rows = conn.execute("SELECT event_seq FROM orders WHERE order_id = ?", (order_id,)).fetchall()
    return stamp_for_seq(conn, rows[0][0]) if rows else None
