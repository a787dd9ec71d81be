"""Crash recovery, end to end: the real daemon (`novapos-edge serve --demo`) selling on three
lanes at once is `kill -9`'d at random moments, many times, and restarted. Afterwards:

1. every sale that got a 2xx exists exactly once (by id, by receipt number, in the database);
2. a lane that lost a response to a kill retries with the SAME Idempotency-Key and body and
   never sells a cart twice; acknowledged completes re-sent after a restart are replayed
   (`Idempotent-Replayed: true`, identical body);
3. the hash chain and the read models verify (`novapos-edge verify --json`).

Seeded: NOVAPOS_CRASH_SEED (default below) picks each lane's baskets and cash, the load window
before each kill, the down time and which acknowledged sales are replayed; NOVAPOS_CRASH_KILLS
sets the number of kills. The OS decides the exact thread interleaving, so a seed reproduces
the plan, not the schedule; no assertion depends on the schedule. Each lane writes its request
trace to `trace-<lane>.log` next to `daemon.log` in the data dir.
"""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from core import bodycodec
from edge.store.db import DB_FILENAME, open_connection
from schemas.events import decode_body
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow

DEFAULT_SEED = 20_240_611
DEFAULT_KILLS = 20
LANES = ("lane-1", "lane-2", "manager-1")  # manager tokens sell too
STORE_ID = "store-001"

REQUEST_TIMEOUT_S = 15.0  # a live daemon answers in milliseconds; a kill closes the socket at once
BACK_UP_TIMEOUT_S = 60.0  # a lane waiting for the restarted daemon
PROGRESS_TIMEOUT_S = 30.0  # every lane gets an answer from a fresh incarnation within this
JOIN_TIMEOUT_S = 60.0
REPLAYS_PER_RESTART = 3


@dataclass(frozen=True)
class Item:
    body: dict
    sku: str
    qty_milli: int


ITEMS = (
    Item({"barcode": "4006381333931", "qty": 1}, "MILK-1L", 1000),
    Item({"barcode": "4006381333931", "qty": 3}, "MILK-1L", 3000),
    Item({"sku": "BREAD-500G"}, "BREAD-500G", 1000),
    Item({"sku": "COFFEE-250G"}, "COFFEE-250G", 1000),
    Item({"sku": "COFFEE-250G", "qty": 2}, "COFFEE-250G", 2000),
)


class Finding(AssertionError):
    """The daemon broke a promise (lost write, double sale, unexpected status, hang)."""


class Aborted(Exception):
    """Another thread found something; stop quietly."""


@dataclass
class Ack:
    """An acknowledged complete: what the lane was told, to be checked after all restarts."""

    lane: str
    cart_id: str
    key: str
    body: bytes
    order: dict
    n_lines: int
    total_minor: int
    tendered_minor: int


@dataclass
class Shared:
    seed: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    acks: dict[str, Ack] = field(default_factory=dict)  # order_id -> ack
    carts: dict[str, str] = field(default_factory=dict)  # cart_id -> lane
    cart_order: dict[str, str] = field(default_factory=dict)  # cart_id -> the one order id seen
    incarnation: int = 1

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)
        self.abort.set()


def _slug(r: httpx.Response) -> str:
    try:
        return str(r.json().get("type", "")).rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        return ""


class LaneWorker(threading.Thread):
    """One till ringing sales back to back. A lost response (the kill) is retried, after the
    daemon is back, with the same Idempotency-Key and body until it gets its answer; then the
    sale goes on from there."""

    def __init__(self, shared: Shared, daemon: DaemonProcess, lane: str) -> None:
        super().__init__(name=f"lane-worker-{lane}", daemon=True)
        self.shared = shared
        self.lane = lane
        self.rng = random.Random(f"{shared.seed}:{lane}")
        self.client = daemon.client(lane, timeout=REQUEST_TIMEOUT_S)
        self.t0 = time.monotonic()
        self.trace: list[str] = []
        self.progress = 0  # 2xx answers received
        self.keys_acked = 0  # distinct Idempotency-Keys that got a 2xx
        self.sales = 0
        self.transport_errors = 0
        self.retries_replayed = 0  # retried after a lost answer, and the first try had committed
        self.retries_fresh = 0  # retried after a lost answer, and it had not
        self.in_flight_409 = 0

    # --- plumbing ------------------------------------------------------------------------

    def log(self, line: str) -> None:
        self.trace.append(f"{time.monotonic() - self.t0:9.3f} [inc {self.shared.incarnation}] {line}")

    def tail(self, n: int = 25) -> str:
        return "\n".join(self.trace[-n:])

    def finding(self, message: str) -> Finding:
        self.log(f"FINDING: {message}")
        return Finding(f"{self.lane}: {message}\n--- last requests of {self.lane}:\n{self.tail()}")

    def check_abort(self) -> None:
        if self.shared.abort.is_set():
            raise Aborted

    def wait_until_back(self) -> None:
        deadline = time.monotonic() + BACK_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_abort()
            try:
                if self.client.get("/health/ready", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise self.finding(f"daemon not ready again within {BACK_UP_TIMEOUT_S:.0f} s")

    def post(self, step: str, path: str, body: dict, key: str, before_retry=None) -> httpx.Response:
        """POST until a 2xx arrives, re-sending the same key and body after each lost answer."""
        lost = False
        while True:
            self.check_abort()
            try:
                r = self.client.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.TimeoutException as exc:
                raise self.finding(
                    f"{step} {path} key={key}: no answer within {REQUEST_TIMEOUT_S:.0f} s ({exc!r})"
                ) from exc
            except httpx.TransportError as exc:
                lost = True
                self.transport_errors += 1
                self.log(f"{step} key={key} -> {type(exc).__name__}; waiting for the daemon")
                self.wait_until_back()
                if before_retry is not None:
                    before_retry()
                self.log(f"{step} key={key} retry")
                continue
            replayed = r.headers.get("Idempotent-Replayed") == "true"
            self.log(f"{step} key={key} -> {r.status_code}{' replayed' if replayed else ''}")
            if r.status_code == 409 and _slug(r) == "idempotency-key-in-flight":
                self.in_flight_409 += 1
                time.sleep(0.1)
                continue
            if not 200 <= r.status_code < 300:
                raise self.finding(
                    f"{step} {path} key={key} body={body} -> {r.status_code} {r.text}"
                    + (" (a retry after a lost answer)" if lost else "")
                )
            if replayed and not lost:
                raise self.finding(f"{step} key={key}: first use of a key answered as a replay")
            if lost:
                if replayed:
                    self.retries_replayed += 1
                else:
                    self.retries_fresh += 1
            self.progress += 1
            self.keys_acked += 1
            return r

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise self.finding(message)

    # --- a sale --------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.shared.stop.is_set():
                self.one_sale()
        except Aborted:
            pass
        except Finding as exc:
            self.shared.fail(str(exc))
        except BaseException as exc:  # noqa: BLE001 - any surprise fails the test, with context
            self.shared.fail(f"{self.lane}: unexpected {exc!r}\n{self.tail()}")
        finally:
            self.client.close()

    def one_sale(self) -> None:
        prefix = f"s{self.shared.seed}-{self.lane}-{self.sales:04d}"
        self.sales += 1

        view = self.post("open", "/v1/carts", {}, f"{prefix}-open").json()
        cart_id = view["cart_id"]
        self.expect(view["status"] == "open" and view["lines"] == [] and view["lane_id"] == self.lane,
                    f"new cart looks wrong: {view}")
        with self.shared.lock:
            known = self.shared.carts.setdefault(cart_id, self.lane)
        self.expect(known == self.lane, f"cart {cart_id} answered to {self.lane} was opened by {known}")

        basket = [self.rng.choice(ITEMS) for _ in range(self.rng.randint(1, 3))]
        for n, item in enumerate(basket, start=1):
            view = self.post(f"line{n}", f"/v1/carts/{cart_id}/lines", item.body, f"{prefix}-line{n}").json()
            lines = view["lines"]
            # Exactly n lines: a retried add must not have added its line twice.
            self.expect(len(lines) == n and lines[-1]["sku"] == item.sku
                        and lines[-1]["qty_milli"] == item.qty_milli,
                        f"after add {n} of cart {cart_id}: lines {[(x['sku'], x['qty_milli']) for x in lines]}")
        total = view["total_minor"]
        self.expect(total > 0, f"cart {cart_id} total {total}")

        amount = total + self.rng.choice((0, 1, 81, 500))
        view = self.post("tender", f"/v1/carts/{cart_id}/tenders",
                         {"tender_type": "cash", "amount_minor": amount}, f"{prefix}-tender").json()
        self.expect(len(view["tenders"]) == 1 and view["tendered_minor"] == amount
                    and view["amount_due_minor"] == 0 and view["total_minor"] == total,
                    f"after tender of {amount} on cart {cart_id}: {view}")

        observed: set[str] = set()

        def observe_cart() -> None:
            # After a lost complete: what does the daemon say about the cart before the retry?
            try:
                r = self.client.get(f"/v1/carts/{cart_id}")
            except httpx.TransportError:
                return  # killed again; the retry will fail too and come back here
            self.expect(r.status_code == 200, f"GET cart {cart_id} -> {r.status_code} {r.text}")
            cart = r.json()
            self.log(f"observe cart {cart_id}: {cart['status']} order={cart['order_id']}")
            self.expect(cart["status"] in ("open", "completed"), f"cart {cart_id} is {cart['status']}")
            if cart["status"] == "completed":
                observed.add(cart["order_id"])

        key = f"{prefix}-complete"
        r = self.post("complete", f"/v1/carts/{cart_id}/complete", {}, key, before_retry=observe_cart)
        order = r.json()
        order_id = order["order_id"]
        if observed:
            # The cart was already sold when we looked: the retry must hand back that sale.
            self.expect(observed == {order_id} and r.headers.get("Idempotent-Replayed") == "true",
                        f"cart {cart_id} was completed as {observed}, the retried complete "
                        f"answered order {order_id} (replayed={r.headers.get('Idempotent-Replayed')})")
        self.expect(order["cart_id"] == cart_id and len(order["lines"]) == len(basket)
                    and order["total_minor"] == total and order["tendered_minor"] == amount
                    and order["change_due_minor"] == amount - total,
                    f"order {order_id} for cart {cart_id} does not match the cart: {order}")
        with self.shared.lock:
            first = self.shared.cart_order.setdefault(cart_id, order_id)
            if first == order_id:
                self.shared.acks.setdefault(order_id, Ack(
                    self.lane, cart_id, key, r.content, order, len(basket), total, amount))
        self.expect(first == order_id, f"cart {cart_id} sold twice: orders {first} and {order_id}")


# --- helpers for the test bodies -----------------------------------------------------------


def _wait_for_progress(workers: list[LaneWorker], shared: Shared, since: list[int]) -> None:
    """Until every lane got a 2xx from the current incarnation (so its retry went through)."""
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while time.monotonic() < deadline:
        if shared.abort.is_set() or all(w.progress > s for w, s in zip(workers, since)):
            return
        time.sleep(0.01)
    stuck = [w for w, s in zip(workers, since) if w.progress <= s]
    shared.fail("no progress within %.0f s after a restart on %s:\n%s" % (
        PROGRESS_TIMEOUT_S, [w.lane for w in stuck], "\n".join(w.tail() for w in stuck)))


def _replay_acknowledged(daemon: DaemonProcess, shared: Shared, rng: random.Random, epoch: int) -> int:
    """Re-send a few acknowledged completes with their original key: each must be replayed
    byte for byte. Now and then complete a sold cart again with a NEW key: 409 cart-closed."""
    with shared.lock:
        candidates = sorted(shared.acks.values(), key=lambda a: a.cart_id)
    if not candidates:
        return 0
    picks = rng.sample(candidates, min(REPLAYS_PER_RESTART, len(candidates)))
    for ack in picks:
        with daemon.client(ack.lane, timeout=REQUEST_TIMEOUT_S) as c:
            r = c.post(f"/v1/carts/{ack.cart_id}/complete", json={}, headers={"Idempotency-Key": ack.key})
        assert r.status_code == 201, f"replay of {ack.key} -> {r.status_code} {r.text}"
        assert r.headers.get("Idempotent-Replayed") == "true", f"replay of {ack.key}: {dict(r.headers)}"
        assert r.content == ack.body, f"replay of {ack.key} differs:\n{ack.body!r}\n{r.content!r}"
    if rng.random() < 0.5:
        ack = rng.choice(candidates)
        with daemon.client(ack.lane, timeout=REQUEST_TIMEOUT_S) as c:
            r = c.post(f"/v1/carts/{ack.cart_id}/complete", json={},
                       headers={"Idempotency-Key": f"{ack.key}-again-{epoch}"})
        assert r.status_code == 409 and _slug(r) == "cart-closed", (
            f"second complete of sold cart {ack.cart_id} with a new key -> {r.status_code} {r.text}")
    return len(picks)


def _verify_cli(data_dir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "verify", "--data-dir", str(data_dir), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"verify exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["chain_ok"] is True, report
    assert not report["mismatched_tables"], report
    assert report["events"] == report["head_seq"], report
    return report


def _facts(order: dict) -> dict:
    # The receipt's print state moves on after the acknowledgement (queued → printed); the
    # rest of the order, including which print job carries its receipt, never changes.
    if order.get("receipt_print"):
        order = {**order, "receipt_print": {**order["receipt_print"], "state": None}}
    return order


def _check_order_over_http(c: httpx.Client, order: dict) -> None:
    r = c.get(f"/v1/orders/{order['order_id']}")
    assert r.status_code == 200, f"acknowledged order {order['order_id']} -> {r.status_code} {r.text}"
    assert _facts(r.json()) == _facts(order), (
        f"order {order['order_id']} differs from its acknowledgement")
    r = c.get("/v1/orders", params={"receipt_number": order["receipt_number"]})
    assert r.status_code == 200 and _facts(r.json()) == _facts(order), (
        f"receipt {order['receipt_number']} -> {r.status_code} {r.text}")
    r = c.get(f"/v1/carts/{order['cart_id']}")
    assert r.status_code == 200, f"cart {order['cart_id']} -> {r.status_code} {r.text}"
    cart = r.json()
    assert cart["status"] == "completed" and cart["order_id"] == order["order_id"], cart


def _prepare_sale(c: httpx.Client, tag: str) -> str:
    """An open cart with a line and enough cash; returns its id."""
    r = c.post("/v1/carts", json={}, headers={"Idempotency-Key": f"{tag}-open"})
    assert r.status_code == 201, r.text
    cart_id = r.json()["cart_id"]
    r = c.post(f"/v1/carts/{cart_id}/lines", json={"barcode": "4006381333931", "qty": 1},
               headers={"Idempotency-Key": f"{tag}-line"})
    assert r.status_code == 201 and r.json()["total_minor"] == 119, r.text
    r = c.post(f"/v1/carts/{cart_id}/tenders", json={"tender_type": "cash", "amount_minor": 200},
               headers={"Idempotency-Key": f"{tag}-tender"})
    assert r.status_code == 201, r.text
    return cart_id


# --- the tests -----------------------------------------------------------------------------


def test_kill9_under_load_loses_no_acknowledged_sale_and_never_sells_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("NOVAPOS_CRASH_SEED", DEFAULT_SEED))
    kills = int(os.environ.get("NOVAPOS_CRASH_KILLS", DEFAULT_KILLS))
    data_dir = tmp_path / "store"
    print(f"\ncrash recovery: NOVAPOS_CRASH_SEED={seed} NOVAPOS_CRASH_KILLS={kills} data dir {data_dir}")
    rng = random.Random(seed)
    started = time.monotonic()

    daemon = DaemonProcess(data_dir).start()
    shared = Shared(seed)
    workers = [LaneWorker(shared, daemon, lane) for lane in LANES]
    replays = 0
    try:
        for w in workers:
            w.start()
        since = [0] * len(workers)
        for epoch in range(1, kills + 1):
            # Mostly let every lane get its retry through first; sometimes kill again during
            # the retries themselves.
            if rng.random() < 0.8:
                _wait_for_progress(workers, shared, since)
            if shared.abort.is_set():
                break
            time.sleep(rng.uniform(0.05, 0.4))  # load, so the kill lands mid-request/mid-commit
            daemon.kill9()
            time.sleep(rng.uniform(0.0, 0.1))  # down: lanes get connection refused
            daemon.start()
            shared.incarnation += 1
            since = [w.progress for w in workers]
            replays += _replay_acknowledged(daemon, shared, rng, epoch)
        _wait_for_progress(workers, shared, since)
        shared.stop.set()  # lanes finish the sale they are in, then stop
        for w in workers:
            w.join(JOIN_TIMEOUT_S)
        assert not any(w.is_alive() for w in workers), "a lane did not finish its last sale"
        assert not shared.failures, "\n\n".join(shared.failures)

        # One more kill right after the last acknowledgements, then look every sale up.
        daemon.kill9()
        daemon.start()
        for lane in LANES:
            with daemon.client(lane, timeout=REQUEST_TIMEOUT_S) as c:
                for ack in shared.acks.values():
                    if ack.lane == lane:
                        _check_order_over_http(c, ack.order)
    finally:
        shared.abort.set()
        for w in workers:
            w.join(10)
        daemon.stop()
        for w in workers:
            (data_dir / f"trace-{w.lane}.log").write_text("\n".join(w.trace) + "\n")
        if shared.failures:
            print(f"\nFINDINGS (seed {seed}); daemon log tail:\n{daemon.log_tail()}")

    report = _verify_cli(data_dir)

    # The database, read-only: every acknowledged write exactly once, nothing else.
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        types = collections.Counter(t for (t,) in conn.execute("SELECT type FROM events"))
        sales = [decode_body("sale.completed", v, bodycodec.decode(body)) for v, body in conn.execute(
            "SELECT schema_version, body FROM events WHERE type = 'sale.completed' ORDER BY seq")]
        orders = {r[0]: r[1:] for r in conn.execute(
            "SELECT order_id, cart_id, receipt_number, lane_id, total_minor, tendered_minor FROM orders")}
        carts = {r[0]: r[1:] for r in conn.execute("SELECT cart_id, lane_id, status, order_id FROM carts")}
        lines_per_order = dict(conn.execute("SELECT order_id, count(*) FROM order_lines GROUP BY order_id"))
        receipts_counter = conn.execute("SELECT value FROM counters WHERE name = 'receipts'").fetchall()
        idem_rows = conn.execute("SELECT count(*) FROM idempotency_keys").fetchall()[0][0]
    finally:
        conn.close()

    acks = shared.acks
    per_cart = collections.Counter(s.cart_id for s in sales)
    dupes = {c: n for c, n in per_cart.items() if n > 1}
    assert not dupes, f"carts sold more than once: {dupes}"
    assert len(sales) == len(orders) == len(acks) > 0, (len(sales), len(orders), len(acks))
    # Each lane retried until it had its answer, so every committed sale was acknowledged; an
    # order nobody was told about would be a second cart or sale created by a retry.
    assert {s.order_id for s in sales} == set(orders) == set(acks), (
        f"not acknowledged: {set(orders) - set(acks)}; lost: {set(acks) - set(orders)}")
    assert set(carts) == set(shared.carts), (
        f"carts nobody opened: {set(carts) - set(shared.carts)}; lost: {set(shared.carts) - set(carts)}")
    for order_id, ack in acks.items():
        cart_id, receipt, lane, total, tendered = orders[order_id]
        assert (cart_id, receipt, lane, total, tendered) == (
            ack.cart_id, ack.order["receipt_number"], ack.lane, ack.total_minor, ack.tendered_minor)
        assert carts[cart_id] == (ack.lane, "completed", order_id), carts[cart_id]
        assert lines_per_order[order_id] == ack.n_lines, (order_id, lines_per_order[order_id], ack.n_lines)
    receipts = sorted(r[1] for r in orders.values())
    assert receipts == [f"{STORE_ID}-{n:07d}" for n in range(1, len(orders) + 1)], "receipt numbers not 1..N"
    assert receipts_counter == [(len(orders),)], receipts_counter
    # Every acknowledged step is in the log exactly once, and nothing that was not.
    assert types["cart.opened"] == len(carts)
    # A cash tender is a payment created and captured at once (edge.tender).
    assert types["payment.created"] == types["payment.captured"] == len(carts)
    assert types["cart.line_added"] == sum(a.n_lines for a in acks.values())
    assert types["sale.completed"] == len(acks)
    assert not {t for t in types if t.startswith("cart.")} - {
        "cart.opened", "cart.line_added"}, types
    assert not {t for t in types if t.startswith("payment.")} - {
        "payment.created", "payment.captured"}, types
    assert idem_rows == sum(w.keys_acked for w in workers), (idem_rows, [w.keys_acked for w in workers])

    retried = sum(w.retries_replayed + w.retries_fresh for w in workers)
    assert retried > 0, "no request was ever retried: the kills did not hit the load"
    print(
        f"crash recovery: seed={seed} kills={kills} in {time.monotonic() - started:.1f} s; "
        f"{len(acks)} sales, {sum(w.keys_acked for w in workers)} acknowledged requests, "
        f"{report['events']} events; lost answers retried {retried} "
        f"(committed before the kill, replayed: {sum(w.retries_replayed for w in workers)}; "
        f"not committed, ran fresh: {sum(w.retries_fresh for w in workers)}); "
        f"in-flight 409s {sum(w.in_flight_409 for w in workers)}; "
        f"replays of acknowledged sales {replays}"
    )


def test_acknowledged_complete_survives_immediate_kill9(tmp_path: Path) -> None:
    """The 2xx of a complete means it is on disk: kill -9 the instant it arrives, restart, and
    the order is there. Once per lane on its own, then three lanes at once (one group commit),
    killing at the first 2xx: every acknowledged sale survives, and a retry of the others with
    their key yields exactly one order per cart."""
    data_dir = tmp_path / "store"
    daemon = DaemonProcess(data_dir).start()
    try:
        for lane in LANES:
            c = daemon.client(lane, timeout=REQUEST_TIMEOUT_S)
            cart_id = _prepare_sale(c, f"solo-{lane}")
            key = f"solo-{lane}-complete"
            r = c.post(f"/v1/carts/{cart_id}/complete", json={}, headers={"Idempotency-Key": key})
            assert r.status_code == 201, r.text
            daemon.kill9()  # immediately after the acknowledgement
            c.close()
            daemon.start()
            with daemon.client(lane, timeout=REQUEST_TIMEOUT_S) as c:
                _check_order_over_http(c, r.json())
                again = c.post(f"/v1/carts/{cart_id}/complete", json={}, headers={"Idempotency-Key": key})
                assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
                assert again.content == r.content

        # Three completes in flight together; kill -9 as soon as the first answer arrives.
        clients = {lane: daemon.client(lane, timeout=REQUEST_TIMEOUT_S) for lane in LANES}
        carts = {lane: _prepare_sale(clients[lane], f"group-{lane}") for lane in LANES}
        answers: dict[str, httpx.Response | None] = {}
        barrier = threading.Barrier(len(LANES))
        kill_lock = threading.Lock()
        killed = []

        def complete(lane: str) -> None:
            barrier.wait()
            try:
                r = clients[lane].post(f"/v1/carts/{carts[lane]}/complete", json={},
                                       headers={"Idempotency-Key": f"group-{lane}-complete"})
            except httpx.TransportError:
                answers[lane] = None
                return
            answers[lane] = r
            with kill_lock:
                if not killed:
                    killed.append(lane)
                    daemon.kill9()

        threads = [threading.Thread(target=complete, args=(lane,)) for lane in LANES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert killed, f"no complete was acknowledged: {answers}"
        for c in clients.values():
            c.close()
        acked = {lane: r for lane, r in answers.items() if r is not None}
        for lane, r in acked.items():
            assert r.status_code == 201, f"{lane}: {r.status_code} {r.text}"
        print(f"\ngroup commit kill: acknowledged before the kill: {sorted(acked)}")

        daemon.start()
        for lane in LANES:
            with daemon.client(lane, timeout=REQUEST_TIMEOUT_S) as c:
                if lane in acked:
                    _check_order_over_http(c, acked[lane].json())
                retry = c.post(f"/v1/carts/{carts[lane]}/complete", json={},
                               headers={"Idempotency-Key": f"group-{lane}-complete"})
                assert retry.status_code == 201, f"{lane}: {retry.status_code} {retry.text}"
                if lane in acked:
                    assert retry.headers.get("Idempotent-Replayed") == "true"
                    assert retry.content == acked[lane].content
                _check_order_over_http(c, retry.json())
    finally:
        daemon.stop()

    _verify_cli(data_dir)
    conn = open_connection(data_dir / DB_FILENAME, readonly=True)
    try:
        per_cart = dict(conn.execute("SELECT cart_id, count(*) FROM orders GROUP BY cart_id"))
        sale_events = conn.execute("SELECT count(*) FROM events WHERE type = 'sale.completed'").fetchall()[0][0]
    finally:
        conn.close()
    assert len(per_cart) == 2 * len(LANES) and set(per_cart.values()) == {1}, per_cart
    assert sale_events == 2 * len(LANES)
