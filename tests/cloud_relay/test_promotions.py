"""HQ's promotions at the relay: a signed bundle published (API and CLI) reaches the stores'
change sets untouched; an unsigned or malformed one is refused; the simulation replays synced
baskets with the stores' evaluator and sets them against what was given; coupon overuse across
stores is listed."""

from __future__ import annotations

from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from core.promotions.bundle import public_key_b64, sign, verify
from schemas import events as ev
from schemas import promotions as sp
from schemas.promotion_events import SoldPromotion
from schemas.sync import ChangeSet
from tests.support.relay import Chain, Relay

KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
RULES = (sp.Rule("milk-3for2", "Milk 3 for 2", sp.BuyXGetY(2, 1), sp.Target(skus=("MILK",))),
         sp.Rule("single1", "1.00 off", sp.AmountOff(100, "cart"), coupon=sp.Coupon("SINGLE1")))
BUNDLE = sp.Bundle(1, 0, RULES)


def _changes(relay: Relay, cred) -> ChangeSet:
    resp = relay.store_client(cred).request("GET", "/v1/stores/s1/changes?after=0")
    assert resp.status_code == 200, resp.text
    return msgspec.json.decode(resp.content, type=ChangeSet)


def test_a_signed_bundle_reaches_the_stores_byte_for_byte(relay: Relay) -> None:
    cred = relay.enroll("t1", "s1")
    hq = relay.hq_client(relay.hq_token("t1"))
    signed = sign(BUNDLE, KEY)
    r = hq.post("/v1/hq/promotions", content=msgspec.json.encode(signed))
    assert r.status_code == 201, r.text
    (change,) = _changes(relay, cred).changes
    assert change.kind == "promotions.bundle"
    got = msgspec.json.decode(change.payload, type=sp.SignedBundle)
    assert got == signed and verify(got, public_key_b64(KEY)) == BUNDLE


def test_unsigned_and_malformed_bundles_are_refused(relay: Relay) -> None:
    cred = relay.enroll("t1", "s1")
    hq = relay.hq_client(relay.hq_token("t1"))
    unsigned = msgspec.structs.replace(sign(BUNDLE, KEY), signature_b64="")
    r = hq.post("/v1/hq/promotions", content=msgspec.json.encode(unsigned))
    assert r.status_code == 400 and "unsigned" in r.json()["detail"]
    assert hq.post("/v1/hq/promotions", content=b"{}").status_code == 400
    assert _changes(relay, cred).changes == []


def _sale(order_id: str, coupons: tuple[str, ...], milk_qty: int, given: int) -> ev.SaleCompleted:
    gross = 119 * milk_qty
    line = ev.SoldLine(
        line_no=1, sku="MILK", product_id="P1", name="Milk", qty_milli=milk_qty * 1000,
        unit_price_minor=119, price_version=1, sold_under_lock=False, tax_class="STD",
        tax_rate_ppm=0, gross_minor=gross, discount_minor=given, tax_minor=0,
        total_minor=gross - given,
        promotions=(SoldPromotion("milk-3for2", given, "Milk 3 for 2"),) if given else (),
        promotion_minor=given)
    return ev.SaleCompleted(
        order_id=order_id, cart_id=f"c-{order_id}", receipt_number=order_id, lane_id="lane-1",
        completed_at_ms=1_772_445_600_000, business_date="2026-03-02", currency="EUR",
        tax_mode="inclusive", lines=(line,), tenders=(ev.SoldTender(1, "cash", gross - given),),
        subtotal_minor=gross, discount_minor=given, tax_minor=0, total_minor=gross - given,
        tendered_minor=gross - given, change_due_minor=0,
        promotion_bundle_version=1 if given else None, coupons=coupons)


def _upload(relay: Relay, store_id: str, sales: list[ev.SaleCompleted]) -> None:
    client = relay.store_client(relay.enroll("t1", store_id))
    chain = Chain("t1", store_id)
    for s in sales:
        chain.append(s, stream=f"order:{s.order_id}")
    client.ack(chain.batch(1, chain.seq))


def test_simulation_and_overuse_over_synced_sales(relay: Relay, tmp_path: Path) -> None:
    _upload(relay, "s1", [_sale("o1", ("SINGLE1",), 3, 119), _sale("o2", (), 2, 0)])
    _upload(relay, "s2", [_sale("o3", ("SINGLE1",), 6, 0)])
    hq = relay.hq_client(relay.hq_token("t1"))
    hq.post("/v1/hq/promotions", content=msgspec.json.encode(sign(BUNDLE, KEY)))

    report = hq.post("/v1/hq/promotions/simulate", params={"from": "2026-03-02",
                                                           "to": "2026-03-02"},
                     content=msgspec.json.encode(BUNDLE)).json()
    rows = {(r["rule_id"], r["store_id"]): r for r in report["rows"]}
    assert report["baskets"] == 3
    # s1: o1 hits 3 for 2 (as given); o2 has two milks: nothing. s2: six milks, two free,
    # though the store gave nothing under that rule.
    assert rows[("milk-3for2", "s1")] == {"rule_id": "milk-3for2", "store_id": "s1",
                                          "baskets_hit": 1, "discount_minor": 119,
                                          "baskets_given": 1, "given_minor": 119}
    assert rows[("milk-3for2", "s2")]["discount_minor"] == 238
    assert rows[("milk-3for2", "s2")]["given_minor"] == 0
    # The coupon: each basket that redeemed it would get its 1.00 off what is left.
    assert rows[("single1", "s1")]["baskets_hit"] == 1
    assert report["discount_minor"] == 119 + 238 + 100 + 100 and report["given_minor"] == 119
    only_s2 = hq.post("/v1/hq/promotions/simulate",
                      params={"from": "2026-03-02", "to": "2026-03-02", "store": "s2"},
                      content=msgspec.json.encode(BUNDLE)).json()
    assert only_s2["baskets"] == 1
    assert hq.post("/v1/hq/promotions/simulate", params={"from": "bad", "to": "2026-03-02"},
                   content=msgspec.json.encode(BUNDLE)).status_code == 400

    assert hq.get("/v1/hq/promotions/overuse").json() == {"coupons": [{
        "code": "SINGLE1", "rule_id": "single1", "max_uses": 1, "used": 2,
        "stores": {"s1": 1, "s2": 1}}]}

    # The CLI says the same.
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_bytes(msgspec.json.encode(BUNDLE))
    result = CliRunner().invoke(cli_app, ["promotions", "simulate", str(bundle_file), "--from",
                                          "2026-03-02", "--to", "2026-03-02", "--tenant", "t1",
                                          "--json", *relay.cli_args])
    assert result.exit_code == 0, result.output
    assert msgspec.json.decode(result.stdout.strip().splitlines()[-1]) == report
    result = CliRunner().invoke(cli_app, ["promotions", "overuse", "--tenant", "t1",
                                          *relay.cli_args])
    assert result.exit_code == 0 and "SINGLE1: used 2 of 1" in result.stdout


def test_keygen_then_publish_from_the_cli(relay: Relay, tmp_path: Path) -> None:
    cred = relay.enroll("t1", "s1")
    key_file = tmp_path / "hq.pem"
    result = CliRunner().invoke(cli_app, ["promotions", "keygen", "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    assert f'hq_public_key = "{public_key_b64(key)}"' in result.stdout  # type: ignore[arg-type]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_bytes(msgspec.json.encode(BUNDLE))
    result = CliRunner().invoke(cli_app, ["promotions", "publish", str(bundle_file), "--key",
                                          str(key_file), "--tenant", "t1", *relay.cli_args])
    assert result.exit_code == 0, result.output
    (change,) = _changes(relay, cred).changes
    signed = msgspec.json.decode(change.payload, type=sp.SignedBundle)
    assert verify(signed, public_key_b64(key)) == BUNDLE  # type: ignore[arg-type]
    again = CliRunner().invoke(cli_app, ["promotions", "keygen", "--out", str(key_file)])
    assert again.exit_code == 2  # an existing key is never overwritten


GOLD_MILK = sp.Rule("gold-milk", "Gold: 10 % off milk", sp.PercentOff(1000),
                    sp.Target(skus=("MILK",)), segments=("gold",))


def test_simulation_evaluates_each_basket_for_its_customers_tier_or_a_given_segment(
        relay: Relay, tmp_path: Path) -> None:
    from schemas import loyalty as lo

    client = relay.store_client(relay.enroll("t1", "s1"))
    chain = Chain("t1", "s1")
    gold_sale, anonymous = _sale("o1", (), 2, 0), _sale("o2", (), 2, 0)
    chain.append(gold_sale, stream="order:o1")
    chain.append(lo.PointsEarned(customer_id="c-1", order_id="o1", points=2, eligible_minor=238,
                                 tier="gold", lines={1: 2}), stream="customer:c-1")
    chain.append(anonymous, stream="order:o2")
    client.ack(chain.batch(1, chain.seq))
    hq = relay.hq_client(relay.hq_token("t1"))
    bundle = msgspec.json.encode(sp.Bundle(1, 0, (GOLD_MILK,)))
    day = {"from": "2026-03-02", "to": "2026-03-02"}

    def gold(params: dict) -> tuple[int, int]:
        report = hq.post("/v1/hq/promotions/simulate", params=params, content=bundle).json()
        assert report["baskets"] == 2
        rows = [r for r in report["rows"] if r["rule_id"] == "gold-milk"]
        return (rows[0]["baskets_hit"], rows[0]["discount_minor"]) if rows else (0, 0)

    assert gold(day) == (1, 24)  # only the gold customer's basket: 10 % of 2 x 1.19
    assert gold({**day, "segment": "gold"}) == (2, 48)  # every basket as a gold customer
    assert gold({**day, "segment": "silver"}) == (0, 0)

    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_bytes(bundle)
    result = CliRunner().invoke(cli_app, ["promotions", "simulate", str(bundle_file), "--from",
                                          "2026-03-02", "--to", "2026-03-02", "--tenant", "t1",
                                          "--segment", "gold", "--json", *relay.cli_args])
    assert result.exit_code == 0, result.output
    report = msgspec.json.decode(result.stdout.strip().splitlines()[-1])
    assert report["discount_minor"] == 48
