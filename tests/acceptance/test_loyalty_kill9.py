"""A sale with a loyalty customer earns exactly once through `kill -9`: the real daemon
(`novapos-edge serve --demo`) is killed right after it acknowledged the completion, and again
while a completion is in flight (its answer lost); each time the lane retries with the same
Idempotency-Key after the restart, and the customer has the points of each sale once."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from edge import config as config_mod
from edge.compose import store_of
from tests.edge.loyalty.support import customer_change, down_sync_customer, provision
from tests.support.daemon import DaemonProcess
from schemas import loyalty as lo

ANN = lo.PersonalData(name="Ann Example", card="LOY-000123")


def _sale_ready(c: httpx.Client, tag: str) -> str:
    def post(path: str, body: dict, n: int) -> httpx.Response:
        r = c.post(path, json=body, headers={"Idempotency-Key": f"{tag}-{n}"})
        assert r.status_code in (200, 201), r.text
        return r

    cart = post("/v1/carts", {}, 1).json()["cart_id"]
    post(f"/v1/carts/{cart}/customer", {"customer_id": "c-ann"}, 2)
    view = post(f"/v1/carts/{cart}/lines", {"sku": "COFFEE-250G", "qty": 2}, 3).json()
    post(f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": view["total_minor"]}, 4)
    return cart


def _earn_events(data_dir: Path) -> int:
    store = store_of(data_dir, config_mod.load(data_dir))
    store.start()
    try:
        return store.reader.execute(
            "SELECT count(*) FROM events WHERE type = 'loyalty.points_earned'").fetchall()[0][0]
    finally:
        store.stop()


def test_a_sale_retried_after_kill9_earns_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    provision(data_dir)
    daemon = DaemonProcess(data_dir).start()
    daemon.stop()
    store = store_of(data_dir, config_mod.load(data_dir))
    store.start()
    down_sync_customer(store, customer_change("c-ann", ANN, balance=1000))
    store.stop()

    daemon.start()
    try:
        # 1. Killed right after the acknowledgement.
        with daemon.client() as c:
            cart = _sale_ready(c, "acked")
            r = c.post(f"/v1/carts/{cart}/complete", json={},
                       headers={"Idempotency-Key": "acked-complete"})
            assert r.status_code == 201, r.text
        daemon.kill9()
        daemon.start()
        with daemon.client() as c:
            again = c.post(f"/v1/carts/{cart}/complete", json={},
                           headers={"Idempotency-Key": "acked-complete"})
            assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
            assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1009

            # 2. Killed while the completion is in flight: the lane never hears back.
            cart2 = _sale_ready(c, "lost")
        answer: list[httpx.Response | None] = []

        def complete() -> None:
            try:
                with daemon.client(timeout=15.0) as c2:
                    answer.append(c2.post(f"/v1/carts/{cart2}/complete", json={},
                                          headers={"Idempotency-Key": "lost-complete"}))
            except httpx.TransportError:
                answer.append(None)

        t = threading.Thread(target=complete)
        t.start()
        daemon.kill9()
        t.join(timeout=30)
        daemon.start()
        with daemon.client() as c:
            retry = c.post(f"/v1/carts/{cart2}/complete", json={},
                           headers={"Idempotency-Key": "lost-complete"})
            assert retry.status_code == 201, retry.text
            assert c.get("/v1/customers/c-ann").json()["balance_points"] == 1018
    finally:
        daemon.stop()
    assert _earn_events(data_dir) == 2
