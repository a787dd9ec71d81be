"""The fiscal journal over a real daemon app: every sale, void, refund, no-sale and till
closing gets a signature record in its own commit, numbered without gaps; the signature checks
against the log's bytes with the public key the log carries; the receipt shows the stamp; a
signer outage records the sale unsigned and the receipt says so."""

from __future__ import annotations

import base64

from core import chain
from edge.fiscal.signer import KEY_FILENAME, verify_signature
from edge.store import eventlog
from schemas import fiscal as f
from schemas.events import decode_body
from tests.edge.api.helpers import open_cart, post
from tests.support.live_app import LiveApp, start_live_app
from tests.support.store import verify

FLOAT = [{"value_minor": 1000, "pieces": 10}]


def _sale(live: LiveApp, lane: str = "lane-1") -> dict:
    c = live.client(lane)
    cart = open_cart(c)
    assert post(c, f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G"}).status_code == 201
    assert post(c, f"/v1/carts/{cart}/tenders",
                {"tender_type": "cash", "amount_minor": 5000}).status_code == 201
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def _journal(live: LiveApp) -> tuple[dict[int, object], list]:
    events = {e.seq: e for e in eventlog.read(live.service.reader)}
    records = [decode_body(e.type, e.schema_version, e.body) for e in events.values()
               if e.type in (f.FiscalSigned.TYPE, f.FiscalUnsigned.TYPE)]
    return events, records


def test_every_fiscal_event_is_signed_gap_free_and_verifiable(live: LiveApp) -> None:
    lane, mgr = live.client("lane-1"), live.client("manager-1")
    assert post(lane, "/v1/tills/till-1/open", {"float_count": FLOAT}).status_code == 201
    sale = _sale(live)
    _sale(live)
    voided = open_cart(lane)
    assert post(lane, f"/v1/carts/{voided}/void", {"reason": "customer left"}).status_code in (200, 201)
    assert post(lane, f"/v1/orders/{sale['order_id']}/refunds", {}).status_code == 201
    assert post(mgr, "/v1/tills/till-1/no-sale", {"reason": "change"}).status_code == 201
    close = post(mgr, "/v1/tills/till-1/close", {"counted": FLOAT})
    assert close.status_code == 201, close.text

    events, records = _journal(live)
    signed = [r for r in records if isinstance(r, f.FiscalSigned)]
    assert [r.transaction_number for r in records] == list(range(1, len(records) + 1))
    assert [r.signature_counter for r in signed] == list(range(1, len(signed) + 1))
    kinds = [r.event_type for r in records]
    for t in ("till.opened", "sale.completed", "cart.voided", "order.refund_created",
              "till.no_sale", "till.closed"):
        assert t in kinds, (t, kinds)
    # The public key travels in the log; each signature checks against the log's bytes.
    reg = next(decode_body(e.type, e.schema_version, e.body) for e in events.values()
               if e.type == f.FiscalSignerRegistered.TYPE)
    store_id = live.service.identity.store_id
    for r in signed:
        msg = f.signed_bytes(store_id=store_id, transaction_number=r.transaction_number,
                             signature_counter=r.signature_counter, event_seq=r.event_seq,
                             event_type=r.event_type, start_ms=r.start_ms, end_ms=r.end_ms,
                             key_id=r.key_id, event_bytes=chain.hashed_bytes(events[r.event_seq]))
        assert verify_signature(reg.public_key_b64, msg, base64.b64decode(r.signature_b64))
        assert not verify_signature(reg.public_key_b64, msg + b"x",
                                    base64.b64decode(r.signature_b64))
    # The receipt carries the stamp.
    receipt = lane.get(f"/v1/orders/{sale['order_id']}/receipt").json()
    assert receipt["fiscal"]["signed"] and receipt["fiscal"]["signature_counter"] >= 1
    assert receipt["fiscal"]["algorithm"] == "Ed25519"
    # The manager's view of the signer and the journal says the same.
    view = mgr.get("/v1/fiscal/signer").json()
    assert view["current_key_id"] == reg.key_id == view["keys"][0]["key_id"]
    assert view["transactions"] == len(records) and view["signatures"] == len(signed)
    page = mgr.get("/v1/fiscal/journal", params={"after": 1, "limit": 2}).json()
    assert [e["transaction_number"] for e in page] == [2, 3] and page[0]["signed"]
    assert lane.get("/v1/fiscal/journal").status_code == 403
    assert verify(live.service.db_path).ok


def test_a_signer_outage_completes_the_sale_and_the_receipt_says_so(tmp_path) -> None:
    (tmp_path / KEY_FILENAME).write_bytes(b"damaged key")
    live = start_live_app(tmp_path)
    try:
        sale = _sale(live)
        _, records = _journal(live)
        assert len(records) == 1 and isinstance(records[0], f.FiscalUnsigned)
        assert "cannot be read" in records[0].reason
        receipt = live.client().get(f"/v1/orders/{sale['order_id']}/receipt").json()
        assert receipt["fiscal"]["signed"] is False and receipt["fiscal"]["outage_reason"]
        from edge.printing.render import ReceiptLayout, receipt_document
        from schemas.api import ReceiptView
        import msgspec
        doc = receipt_document(msgspec.convert(receipt, ReceiptView), ReceiptLayout())
        text = " ".join(getattr(e, "text", "") for e in doc.elements)
        assert "Signing unit unavailable" in text
    finally:
        live.close()
