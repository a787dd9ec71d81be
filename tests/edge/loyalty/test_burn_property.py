"""Property: whatever a lane tries (burns of any size, earns, HQ's down-syncs counting some of
the store's movements), a store never lets this store's uncounted burns exceed the cached
balance, the customer's cap or the store's cap, and the lane's balance is always HQ's balance
plus the movements HQ has not counted. On a real store (SQLite through the one writer)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from edge import config as config_mod
from edge.carts import commands as carts
from edge.compose import policy_of, store_of
from edge.lanes import Principal
from edge.loyalty import commands
from edge.loyalty.settings import LoyaltyConfig
from edge.store.kernel import Store
from schemas import loyalty as lo
from tests.edge.loyalty.support import customer_change, down_sync_customer, provision

CONFIG = LoyaltyConfig(offline_burn_cap_points=700, store_offline_burn_cap_points=1_500)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    data: Path = tmp_path_factory.mktemp("burns")
    provision(data)
    s = store_of(data, config_mod.load(data))
    s.start()
    try:
        yield s
    finally:
        s.stop()


step = st.one_of(
    st.tuples(st.just("burn"), st.integers(0, 2), st.integers(1, 900)),
    st.tuples(st.just("hq"), st.integers(0, 2), st.integers(-200, 1_500)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=25), opening=st.lists(st.integers(0, 1_200), min_size=3,
                                                              max_size=3))
def test_uncounted_burns_stay_within_every_cap(store: Store, steps, opening) -> None:
    run = next(_ids)
    ids = [f"p{run}-{i}" for i in range(3)]
    who = Principal(store.identity.tenant_id, store.identity.store_id, "lane-1", "cashier", "t")
    policy = policy_of(config_mod.load(store.db_path.parent))
    revision = {cid: 1 for cid in ids}
    hq = dict(zip(ids, opening))
    pending = {cid: 0 for cid in ids}  # the model: burns HQ has not counted
    for cid in ids:
        down_sync_customer(store, customer_change(cid, lo.PersonalData(name=cid),
                                                  balance=hq[cid], revision=1))
    cart_of = {}
    for cid in ids:
        def attach(tx, cid=cid):
            cart = carts.open_cart(tx, who, policy)
            commands.attach(tx, who, cart.cart_id, cid)
            return cart.cart_id
        cart_of[cid] = store.writer.run_sync(attach)

    for kind, i, n in steps:
        cid = ids[i]
        if kind == "burn":
            store_left = CONFIG.store_offline_burn_cap_points - commands.store_pending_burns(
                store.reader)
            room = max(0, min(hq[cid] - pending[cid], CONFIG.offline_burn_cap_points
                              - pending[cid], store_left))
            try:
                store.writer.run_sync(lambda tx: commands.burn(
                    tx, CONFIG, who, cart_of[cid], f"pay-{run}-{next(_ids)}", n))
            except DomainError as exc:
                assert n > room, exc  # refused only above the room the model gives
            else:
                assert n <= room
                pending[cid] += n
        else:  # HQ counted everything so far and says the balance is now n
            head = store.reader.execute("SELECT max(seq) FROM events").fetchall()[0][0]
            revision[cid] += 1
            hq[cid] = n
            pending[cid] = 0
            down_sync_customer(store, customer_change(
                cid, lo.PersonalData(name=cid), balance=n, revision=revision[cid],
                hq_seqs={store.identity.store_id: head}))
        conn = store.reader
        pending_all = 0
        for c in ids:
            row = commands.customer_row(conn, c)
            assert row is not None
            net, burns = commands.pending(conn, c, row[3])
            assert net == -burns == -pending[c]  # only burns here
            assert row[2] == hq[c]
            assert burns <= max(hq[c], 0) or burns == 0
            assert burns <= CONFIG.offline_burn_cap_points
            pending_all += burns
        mine = sum(commands.pending(conn, c, commands.customer_row(conn, c)[3])[1] for c in ids)
        assert mine == pending_all
    # Across every customer this test and earlier examples left pending, the store cap holds.
    assert commands.store_pending_burns(store.reader) <= CONFIG.store_offline_burn_cap_points
