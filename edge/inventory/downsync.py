"""Stock changes from HQ (down-sync): announced deliveries, transfer requests and safety
stock become stock events, so the read models stay rebuildable from the log. A change for
another store is recorded as skipped; a delivery or transfer announced twice (HQ re-publishing
it under a new change id) is applied once."""

from __future__ import annotations

from collections.abc import Sequence

from schemas import inventory as inv
from schemas import inventory_api as api
from schemas.sync import Change
from sync.downsync import decode
from sync.port import StoreTx

DELIVERY, TRANSFER, SAFETY = "inventory.delivery", "inventory.transfer", "inventory.safety_stock"
KINDS = (DELIVERY, TRANSFER, SAFETY)


def _lines(lines: Sequence[api.DeliveryLine]) -> tuple[inv.StockLine, ...]:
    return tuple(inv.StockLine(ln.sku, ln.qty_milli) for ln in lines)


def _exists(tx: StoreTx, table: str, key: str, value: str) -> bool:
    return bool(tx.conn.execute(f"SELECT 1 FROM {table} WHERE {key} = ?", (value,)).fetchall())


def apply_stock(tx: StoreTx, changes: Sequence[Change]) -> list[str]:
    out = []
    for change in changes:
        if change.kind == DELIVERY:
            d = decode(change, api.DeliveryNotice)
            if d.store_id != tx.store_id:
                out.append(f"for store {d.store_id}; not this one")
            elif _exists(tx, "stock_deliveries", "delivery_id", d.delivery_id):
                out.append(f"delivery {d.delivery_id} already announced")
            else:
                tx.append(inv.DeliveryExpected(  # type: ignore[attr-defined] - the store's Tx
                    delivery_id=d.delivery_id, source=d.source, lines=_lines(d.lines),
                    supplier=d.supplier, from_store_id=d.from_store_id),
                    stream=f"stock:delivery:{d.delivery_id}", lane_id=None)
                out.append(f"delivery {d.delivery_id} expected")
        elif change.kind == TRANSFER:
            t = decode(change, api.TransferRequest)
            if t.from_store_id != tx.store_id:
                out.append(f"from store {t.from_store_id}; not this one")
            elif _exists(tx, "stock_transfers", "transfer_id", t.transfer_id):
                out.append(f"transfer {t.transfer_id} already requested")
            else:
                tx.append(inv.TransferRequested(  # type: ignore[attr-defined]
                    transfer_id=t.transfer_id, to_store_id=t.to_store_id, lines=_lines(t.lines)),
                    stream=f"stock:transfer:{t.transfer_id}", lane_id=None)
                out.append(f"transfer {t.transfer_id} requested")
        else:
            s = decode(change, api.SafetyStock)
            if s.store_id not in (None, tx.store_id):
                out.append(f"for store {s.store_id}; not this one")
            else:
                tx.append(inv.SafetyStockSet(sku=s.sku, safety_milli=s.safety_milli),  # type: ignore[attr-defined]
                          stream=f"stock:{s.sku}", lane_id=None)
                out.append(f"safety stock of {s.sku} set")
    return out
