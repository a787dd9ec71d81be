"""A return or an exchange takes back the points the returned lines earned (loyalty claw-back,
RETAIL_NOTES: "loyalty points kept after a refund"), through the real HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.api.helpers import open_cart, post
from tests.edge.loyalty.support import customer_change, down_sync_customer, provision
from tests.edge.loyalty.test_loyalty_api import ANN, _sale
from tests.support.live_app import LiveApp, start_live_app


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[LiveApp]:
    provision(tmp_path / "store")
    app = start_live_app(tmp_path / "store")
    down_sync_customer(app.service, customer_change("c-ann", ANN, balance=1000, tier="silver"))
    try:
        yield app
    finally:
        app.close()


def _points(c) -> int:
    return c.get("/v1/customers/c-ann").json()["balance_points"]


def test_returns_and_exchanges_claw_back_the_returned_lines_points(shop: LiveApp) -> None:
    c = shop.client()
    order = _sale(c, "COFFEE-250G")  # 2 x 4.99: 9 points
    assert _points(c) == 1009
    r = post(c, "/v1/returns", {"order_id": order["order_id"],
                                "lines": [{"line_no": 1, "qty": 1, "reason": "changed_mind"}]})
    assert r.status_code == 201, r.text
    assert _points(c) == 1009 - 5  # half of 9, half up
    # The other coffee exchanged for a bread on Ann's card: its points go, the bread earns.
    cart = open_cart(c)
    assert post(c, f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"}).status_code == 200
    post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G"})
    r = post(c, "/v1/exchanges", {"cart_id": cart, "order_id": order["order_id"],
                                  "lines": [{"line_no": 1, "qty": 1, "reason": "wrong_size"}]})
    assert r.status_code == 201, r.text
    bread = r.json()["sold"]["total_minor"]
    assert _points(c) == 1000 + bread // 100  # all 9 of the coffee back, the bread's earned
