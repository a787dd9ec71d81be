"""Tiers at HQ follow the rolling 12 months for every customer, not only those with new
movements: a recompute (daily at the first settle, or `POST /v1/hq/loyalty/tiers`) lowers the
tier of customers whose earnings left the window, publishes them down, and leaves the others
alone. Property: whatever the ledger and the moments HQ recomputes at, every customer's tier
(and the tier the stores were last sent) is `core.loyalty.tier_at` of its entries then."""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_relay import loyalty
from cloud_relay.storage.loyalty import DEFAULT_TIERS
from core import loyalty as rules
from schemas import loyalty as lo
from tests.support.relay import Chain, Relay

DAY = 24 * 3600 * 1000
BASE = 1_772_445_600_000  # 2026-03-02, when the test stores recorded their events
_tenants = itertools.count(1)


def _customers(relay: Relay, tenant: str, n: int) -> None:
    for i in range(n):
        loyalty.enroll(relay.storage, tenant, lo.EnrollCustomer(
            customer_id=f"c{i}", personal=lo.PersonalData(name=f"N{i}", card=f"L-{i}")), BASE)


def _upload(relay: Relay, tenant: str, moves: list[tuple[int, int, int]]) -> None:
    """(customer, points, days before BASE) earned at one store, in seq order."""
    client = relay.store_client(relay.enroll(tenant, "s1"))
    chain = Chain(tenant, "s1")
    for n, (cid, points, days) in enumerate(moves):
        chain.recorded_at_ms = BASE - days * DAY - 1
        chain.append(lo.PointsEarned(customer_id=f"c{cid}", order_id=f"o{n}", points=points,
                                     eligible_minor=points * 100, tier=""),
                     stream=f"customer:c{cid}")
    client.ack(chain.batch(1, chain.seq))


def _sent_tier(relay: Relay, tenant: str, customer_id: str) -> str:
    sent = [msgspec.json.decode(c.payload, type=lo.CustomerChange)
            for c in relay.storage.changes(tenant, "s1", 0, 10_000) if c.kind == "loyalty.customer"]
    return [c for c in sent if c.customer_id == customer_id][-1].tier


def test_a_gold_customer_without_movements_is_lowered_when_the_window_runs_out(
        relay: Relay) -> None:
    tenant = "t-expiry"
    _customers(relay, tenant, 2)
    # c0: 5,000 points 300 days before BASE (gold) and 1,200 at 100 days (silver on its own);
    # c1: 1,500 points 10 days before BASE (silver).
    _upload(relay, tenant, [(0, 5_000, 300), (0, 1_200, 100), (1, 1_500, 10)])
    loyalty.settle(relay.storage, tenant, BASE)
    assert relay.storage.customer(tenant, "c0").tier == "gold"
    assert relay.storage.customer(tenant, "c1").tier == "silver"
    rev = relay.storage.customer(tenant, "c0").revision

    # 70 days on, nobody moved: c0's 5,000 left the window. A settle with nothing new
    # recomputes every tier (a day passed since the last), so c0 is silver, at every store.
    later = BASE + 70 * DAY
    assert loyalty.settle(relay.storage, tenant, later) == 0
    c0 = relay.storage.customer(tenant, "c0")
    assert (c0.tier, c0.revision) == ("silver", rev + 1)
    assert _sent_tier(relay, tenant, "c0") == "silver"
    assert relay.storage.customer(tenant, "c1").tier == "silver"
    n_changes = len(relay.storage.changes(tenant, "s1", 0, 10_000))
    # The same day again: nothing recomputed, nothing published.
    loyalty.settle(relay.storage, tenant, later + 1000)
    assert len(relay.storage.changes(tenant, "s1", 0, 10_000)) == n_changes

    # HQ recomputes at once (the API), 400 days on: both fell out of the window.
    hq = relay.hq_client(relay.hq_token(tenant))
    relay.clock.offset_ms = BASE + 400 * DAY - relay.clock()
    try:
        r = hq.post("/v1/hq/loyalty/tiers")
    finally:
        relay.clock.offset_ms = 0
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": [
        {"customer_id": "c0", "tier_before": "silver", "tier": ""},
        {"customer_id": "c1", "tier_before": "silver", "tier": ""}]}
    assert _sent_tier(relay, tenant, "c0") == "" and _sent_tier(relay, tenant, "c1") == ""


def test_an_erased_customer_is_not_recomputed_or_sent(relay: Relay) -> None:
    tenant = "t-erased"
    _customers(relay, tenant, 1)
    _upload(relay, tenant, [(0, 2_000, 300)])
    loyalty.settle(relay.storage, tenant, BASE)
    loyalty.erase(relay.storage, tenant, "c0", BASE)
    assert relay.storage.recompute_tiers(tenant, BASE + 100 * DAY) == []
    assert not [c for c in relay.storage.changes(tenant, "s1", 0, 10_000)
                if c.kind == "loyalty.customer"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(moves=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3_000), st.integers(0, 700)),
                      min_size=1, max_size=10),
       checks=st.lists(st.integers(0, 800), min_size=1, max_size=4))
def test_every_tier_is_the_rolling_window_at_each_recompute(relay: Relay, moves, checks) -> None:
    tenant = f"t-prop-{next(_tenants)}"
    _customers(relay, tenant, 3)
    _upload(relay, tenant, moves)
    loyalty.settle(relay.storage, tenant, BASE)
    for day in sorted(checks):
        now = BASE + day * DAY
        relay.storage.recompute_tiers(tenant, now)
        for i in range(3):
            c = relay.storage.customer(tenant, f"c{i}")
            want = rules.tier_at(c.entries, now, DEFAULT_TIERS, lo.PointsEarned.TYPE,
                                 lo.PointsClawedBack.TYPE)
            assert c.tier == want, (i, day)
            if want != "" or any(cid == i for cid, _p, _d in moves):
                assert _sent_tier(relay, tenant, f"c{i}") == want
