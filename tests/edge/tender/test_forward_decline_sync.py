"""A stored card payment the processor declines after forwarding is a follow-up HQ sees: its
`payment.forward_declined` event goes up with the store's log to the real relay (SQLite)."""

from __future__ import annotations

from pathlib import Path

from edge import demo
from edge.carts import commands as carts
from edge.lanes import Principal
from edge.tender import commands, offline
from schemas import api
from schemas.terminal import CardReference, TerminalResult
from tests.support.relay import start_relay
from tests.support.sync_store import running_store
from tests.sync.helpers import STORE, TENANT, engine, run

LANE = Principal(TENANT, STORE, "lane-1", "cashier", "t")
POLICY = offline.OfflinePolicy(5000, 50000, 86_400_000, 259_200_000)
REF = CardReference(terminal_id="52500001", trace_no=41, receipt_no=41, approval_code="OFF123",
                    masked_pan="4999********1234", card_brand="VISA")


def test_a_forward_decline_reaches_the_relay(tmp_path: Path) -> None:
    relay = start_relay("sqlite", tmp_path / "relay")
    try:
        cred = relay.enroll(TENANT, STORE)

        async def main() -> None:
            async with running_store(tmp_path / "edge") as svc:
                demo.seed(svc)

                def pay_offline(tx):
                    cart = carts.open_cart(tx, LANE, svc.policy)
                    cart = carts.add_line(tx, LANE, svc.policy, cart.cart_id,
                                          api.AddLine(sku="BREAD-500G"))
                    total = cart.totals(svc.policy.tax_mode).total_minor
                    p, _ = commands.begin_card(
                        tx, LANE, cart.cart_id,
                        api.AddTender(tender_type="card", amount_minor=total), "lane-1:k1",
                        "zvt:test", svc.policy.tax_mode, (POLICY, True))
                    # What the terminal answered while its processor link was down.
                    return commands.finish_card(tx, p.payment_id, TerminalResult(
                        outcome="stored_offline", amount_minor=total, reference=REF))

                stored = await svc.writer.run(pay_offline)
                assert stored.state == "stored"
                # End of day: the processor refused it.
                out = await svc.writer.run(lambda tx: commands.record_forwarding(
                    tx, [commands.card_ref(REF)], True, []))
                assert out.declined == [stored.payment_id]
                eng = engine(svc, cred, relay_url=relay.url)
                await eng.round()
                await eng.close()
                rows = list(relay.storage.events_of_type(
                    TENANT, "payment.forward_declined", STORE, None))
                assert len(rows) == 1 and stored.payment_id.encode() in rows[0].event.body

        run(main())
    finally:
        relay.close()
