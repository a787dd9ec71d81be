"""The relay's reads of the pickup orders HQ published (down-sync changes of kind
`pickup.order`): HQ's side of an order before and after its store reports on it.

Invariant: an order id names one order per tenant: `pickup_order_change` finds the one
change that published it (the newest, if HQ ever published it twice)."""

from __future__ import annotations

from cloud_relay.storage.backend import Backend

PICKUP_KIND = "pickup.order"


class PickupOrders(Backend):
    def published_pickup_orders(self, tenant_id: str, store_id: str | None
                                ) -> list[tuple[int, bytes, int]]:
        """(change_id, payload, created_at_ms) of every pickup order published, in order."""
        sql = ("SELECT change_id, payload, created_at_ms FROM changes WHERE tenant_id = ? "
               "AND kind = ?")
        args: list = [tenant_id, PICKUP_KIND]
        if store_id is not None:
            sql += " AND store_id = ?"
            args.append(store_id)
        with self._read() as tx:
            rows = tx.rows(sql + " ORDER BY change_id", args)
        return [(r[0], bytes(r[1]), r[2]) for r in rows]
