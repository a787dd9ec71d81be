"""Promotions at HQ: publish a signed bundle to every store (a down-sync change of kind
"promotions.bundle"), simulate a candidate bundle over the synced ledger's baskets with the
very evaluator the stores run (`core.promotions.evaluate`), and list coupon codes used beyond
their allowance across stores (each store redeems offline within its own allowance; only HQ
sees them all).

The relay never holds HQ's signing key: `novapos-relay promotions publish` signs on HQ's side
with a key file and the relay passes the signed bytes on untouched; stores verify them
against the key they pinned.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec

from cloud_relay.storage.base import Storage
from cloud_relay.storage.publish import NewChange, PublishPlan
from core import promotions as promo
from core.errors import BadRequest
from core.promotions.bundle import BundleRefused, key_id_of
from core.promotions.rules import validate_bundle
from schemas import promotions as sp
from schemas.events import SaleCompleted, decode_body
from schemas.loyalty import PointsEarned
from core.signing import StoreCredential
from schemas.relay import PublishResult, StoreEnrollment

KIND = "promotions.bundle"
KEY_KIND = "promotions.key"
_CHANGE_PAGE = 1_000


def decode_key(raw: bytes) -> sp.HqPublicKey:
    """HQ's public key as HQ registers it; its `key_id` is derived here, never taken."""
    try:
        offered = msgspec.json.decode(raw, type=sp.HqPublicKey)
        public = base64.b64decode(offered.public_key_b64, validate=True)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise BadRequest(f"not an HQ public key: {exc}") from None
    if len(public) != 32:
        raise BadRequest(f"an HQ public key is 32 bytes (Ed25519), not {len(public)}")
    b64 = base64.b64encode(public).decode()
    return sp.HqPublicKey(public_key_b64=b64, key_id=key_id_of(b64))


def register_key(storage: Storage, tenant_id: str, raw: bytes, now_ms: int) -> sp.HqPublicKey:
    """Record the key HQ signs bundles with: every store enrolled from now on gets it in its
    enrollment document, and it goes down as `promotions.key` (a store pins the first key it
    is given and refuses, with an alarm, any other). The same key again publishes nothing."""
    key = decode_key(raw)
    if current_key(storage, tenant_id) != key.public_key_b64:
        storage.publish(tenant_id, lambda _state: PublishPlan(changes=[NewChange(
            KEY_KIND, msgspec.json.encode(key))]), now_ms)
    return key


def current_key(storage: Storage, tenant_id: str) -> str:
    """The public key HQ registered last ("" when none): what enrollment hands a store."""
    found, after = "", 0
    while True:
        page = storage.changes(tenant_id, "", after, _CHANGE_PAGE)
        for ch in page:
            if ch.kind == KEY_KIND:
                found = msgspec.json.decode(ch.payload, type=sp.HqPublicKey).public_key_b64
        if len(page) < _CHANGE_PAGE:
            return found
        after = page[-1].change_id


def enrollment(storage: Storage, cred: StoreCredential) -> StoreEnrollment:
    """The document a store enrolls with: its credential and the HQ key it will pin."""
    return StoreEnrollment(tenant_id=cred.tenant_id, store_id=cred.store_id,
                           key_id=cred.key_id, secret_b64=cred.secret_b64,
                           promotions_public_key=current_key(storage, cred.tenant_id))


def decode_signed(raw: bytes) -> tuple[sp.SignedBundle, sp.Bundle]:
    """A signed bundle as HQ sends it, and the bundle inside (refused when malformed: the
    relay will not send a store what it cannot read)."""
    try:
        signed = msgspec.json.decode(raw, type=sp.SignedBundle)
        bundle = msgspec.json.decode(base64.b64decode(signed.bundle_b64, validate=True),
                                     type=sp.Bundle)
        validate_bundle(bundle)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise BadRequest(f"not a valid signed promotion bundle: {exc}") from None
    if not signed.signature_b64:
        raise BadRequest("the bundle is unsigned; sign it with `novapos-relay promotions "
                         "publish --key FILE`")
    return signed, bundle


def publish(storage: Storage, tenant_id: str, raw: bytes, now_ms: int) -> PublishResult:
    signed, _bundle = decode_signed(raw)
    ids = storage.publish(
        tenant_id, lambda _state: PublishPlan(changes=[NewChange(KIND, msgspec.json.encode(
            signed))]), now_ms)
    assert ids is not None
    return PublishResult(tenant_id=tenant_id, changes=1, first_change_id=ids[0],
                         last_change_id=ids[1])


def published_bundles(storage: Storage, tenant_id: str) -> list[sp.Bundle]:
    out, after = [], 0
    while True:
        page = storage.changes(tenant_id, "", after, _CHANGE_PAGE)
        for ch in page:
            if ch.kind == KIND:
                try:
                    out.append(decode_signed(ch.payload)[1])
                except (BadRequest, BundleRefused):
                    continue
        if len(page) < _CHANGE_PAGE:
            return out
        after = page[-1].change_id


def _sales(storage: Storage, tenant_id: str, store_id: str | None, date_from: str,
           date_to: str) -> Iterable[tuple[str, SaleCompleted]]:
    for entry in storage.events_of_type(tenant_id, SaleCompleted.TYPE, store_id, None):
        ev = entry.event
        if entry.quarantine is not None or not date_from <= ev.business_date <= date_to:
            continue
        body = decode_body(ev.type, ev.schema_version, ev.body)
        assert isinstance(body, SaleCompleted)
        yield ev.store_id, body


def basket(sale: SaleCompleted) -> list[promo.CartLine]:
    """A sold basket as the evaluator's cart. A line sold in whole units counts as units;
    anything else as one weighed line (sold lines do not say how the product is sold)."""
    return [promo.CartLine(ln.line_no, ln.sku, ln.unit_price_minor, ln.qty_milli,
                           "each" if ln.qty_milli % 1000 == 0 else "weight")
            for ln in sale.lines]


def sale_tiers(storage: Storage, tenant_id: str, store_id: str | None) -> dict[str, str]:
    """order id -> the loyalty tier its customer had at the sale (what its earn recorded)."""
    out: dict[str, str] = {}
    for entry in storage.events_of_type(tenant_id, PointsEarned.TYPE, store_id, None):
        if entry.quarantine is not None:
            continue
        ev = entry.event
        body = decode_body(ev.type, ev.schema_version, ev.body)
        assert isinstance(body, PointsEarned)
        if body.tier:
            out[body.order_id] = body.tier
    return out


def simulate(storage: Storage, tenant_id: str, bundle: sp.Bundle, date_from: str, date_to: str,
             store_id: str | None = None, tz: ZoneInfo = ZoneInfo("UTC"),
             segment: str | None = None) -> sp.SimulationReport:
    """Each basket is evaluated for the segment of its customer: the tier its sale earned
    points at (none for an anonymous sale, or a sale that earned nothing), or, given
    `segment`, every basket as that segment (what a campaign for the tier would have given)."""
    compiled: dict[str, promo.ActiveRules] = {}
    tiers = sale_tiers(storage, tenant_id, store_id) if segment is None and any(
        r.segments for r in bundle.rules) else {}
    hit: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    baskets = total = given = 0
    for store, sale in _sales(storage, tenant_id, store_id, date_from, date_to):
        rules = compiled.get(store)
        if rules is None:
            rules = compiled[store] = promo.compile_rules(bundle, store)
        baskets += 1
        moment = datetime.fromtimestamp(sale.completed_at_ms / 1000, tz=UTC).astimezone(tz)
        result = promo.evaluate(basket(sale), rules, promo.Context(
            store, moment.replace(tzinfo=None),
            segment if segment is not None else tiers.get(sale.order_id),
            frozenset(sale.coupons)))
        total += result.discount_minor
        for a in result.applied:
            row = hit[(a.rule_id, store)]
            row[0] += 1
            row[1] += a.discount_minor
        gave: dict[str, int] = defaultdict(int)
        for ln in sale.lines:
            for p in ln.promotions:
                gave[p.rule_id] += p.discount_minor
        for rule_id, amount in gave.items():
            row = hit[(rule_id, store)]
            row[2] += 1
            row[3] += amount
            given += amount
    rows = [sp.SimulationRow(rule_id, store, *vals) for (rule_id, store), vals in
            sorted(hit.items())]
    return sp.SimulationReport(tenant_id=tenant_id, bundle_version=bundle.version,
                               date_from=date_from, date_to=date_to, store_id=store_id,
                               baskets=baskets, discount_minor=total, given_minor=given,
                               rows=rows)


def overuse(storage: Storage, tenant_id: str) -> sp.OveruseReport:
    """Codes redeemed more often, across all stores, than their coupon's `max_uses` (as the
    latest published bundle naming the code says)."""
    limits: dict[str, tuple[str, int]] = {}
    for bundle in published_bundles(storage, tenant_id):
        for rule in bundle.rules:
            if rule.coupon is not None:
                limits[promo.normalize_code(rule.coupon.code)] = (rule.rule_id,
                                                                  rule.coupon.max_uses)
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in storage.events_of_type(tenant_id, SaleCompleted.TYPE, None, None):
        if entry.quarantine is not None:
            continue
        ev = entry.event
        body = decode_body(ev.type, ev.schema_version, ev.body)
        assert isinstance(body, SaleCompleted)
        for code in body.coupons:
            used[code][ev.store_id] += 1
    rows = []
    for code, stores in sorted(used.items()):
        rule_id, max_uses = limits.get(code, ("", 0))
        count = sum(stores.values())
        if count > max_uses:
            rows.append(sp.OveruseRow(code=code, rule_id=rule_id, max_uses=max_uses, used=count,
                                      stores=dict(sorted(stores.items()))))
    return sp.OveruseReport(coupons=rows)
