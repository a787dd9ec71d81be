"""Many stores of one tenant uploading at once: their batches share the tenant's ledger
transactions (group commit, `cloud_relay.storage.ingest`), and the ledger keeps its promises —
every event once, each store's events in its own order, `ledger_seq` gapless in commit order,
an HQ pull sees each event exactly once. On both backends (PostgreSQL skipped loudly when
absent), over real HTTP through two relay instances on one database where it matters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.sync import encode_batch
from tests.support import relay as relay_support
from tests.support.relay import Chain, Relay, iter_ledger, start_relay


def _gate_first_group(relay: Relay) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make the first group of batches wait, its transaction not yet begun (on SQLite it
    would hold the one write lock the others' authentication needs), until released, as a
    slow transaction would; count the event inserts (one per transaction)."""
    storage = relay.storage
    real_group, real_insert = storage._store_group, storage._insert_events
    entered, release = threading.Event(), threading.Event()
    inserts: list[int] = []

    def store_group(group):
        if not entered.is_set():
            entered.set()
            assert release.wait(30)
        return real_group(group)

    def insert(tx, rows):
        inserts.append(len(rows))
        return real_insert(tx, rows)

    storage._store_group = store_group  # type: ignore[method-assign]
    storage._insert_events = insert  # type: ignore[method-assign]
    return entered, release, inserts


def _queued(relay: Relay, tenant: str) -> int:
    seqs = getattr(relay.storage, "_sequencers", {})
    return len(seqs[tenant].waiting) if tenant in seqs else 0


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _upload_all(relay: Relay, uploads: list[tuple]) -> list[threading.Thread]:
    """Start one thread per (client, raw batch, key, list): each appends (status, body)."""
    threads = []
    for client, raw, key, out in uploads:
        def send(client=client, raw=raw, key=key, out=out) -> None:
            resp = client.upload_raw(raw, key)
            out.append((resp.status_code, resp.json()))
        t = threading.Thread(target=send)
        t.start()
        threads.append(t)
    return threads


def test_a_tenants_concurrent_batches_share_one_transaction(relay: Relay) -> None:
    """While one batch's transaction is running, the batches of the other stores that arrive
    queue and then commit together: one transaction (one turn at the tenant's ledger counter,
    one commit) for all of them, not one each waiting its turn at the counter, which is what
    serialised a chain's ingest."""
    n = 12
    chains = {f"s{i}": Chain("t1", f"s{i}") for i in range(n)}
    clients = {s: relay.store_client(relay.enroll("t1", s)) for s in chains}
    for chain in chains.values():
        chain.extend(20)
    entered, release, inserts = _gate_first_group(relay)
    results: dict[str, list] = {s: [] for s in chains}
    first = _upload_all(relay, [(clients["s0"], encode_batch(chains["s0"].batch(1, 20)),
                                 "s0:1-20", results["s0"])])
    assert entered.wait(20)
    rest = _upload_all(relay, [(clients[s], encode_batch(chains[s].batch(1, 20)), f"{s}:1-20",
                                results[s]) for s in chains if s != "s0"])
    _wait_for(lambda: _queued(relay, "t1") == n - 1, "the other stores' batches to queue")
    release.set()
    for t in first + rest:
        t.join(30)
    assert all(r == [(200, r[0][1])] and r[0][1]["stored"] == 20 for r in results.values()), \
        results
    assert inserts == [20, 20 * (n - 1)]  # two transactions for twelve batches
    rows = relay.storage.ledger("t1", 0, 1000)
    assert [r.ledger_seq for r in rows] == list(range(1, 20 * n + 1))
    for s, chain in chains.items():
        assert [r.event.event_id for r in rows if r.event.store_id == s] == [
            e.event_id for e in chain.log]


def test_a_refused_or_failing_batch_in_a_group_fails_only_itself(relay: Relay,
                                                                 monkeypatch) -> None:
    """A group holding a batch with a gap, one whose event id another store already used (a
    constraint the database enforces) and a replayed key: each gets its own answer, the good
    batches of the same group are stored, and nothing of the bad ones is."""
    chains = {s: Chain("t1", s) for s in ("a", "b", "c", "d", "e")}
    clients = {s: relay.store_client(relay.enroll("t1", s)) for s in chains}
    for chain in chains.values():
        chain.extend(6)
    clients["e"].ack(chains["e"].batch(1, 6))  # e's batch will come again: a replay
    # Store d's log reuses an event id of store a's (the hash chain is still d's own).
    clash = chains["a"].log[2].event_id
    chains["d"] = Chain("t1", "d")
    ids = iter([clash] + [f"d-{i}" for i in range(10)])
    monkeypatch.setattr(relay_support, "uuid7", lambda: next(ids))
    chains["d"].extend(6)
    monkeypatch.undo()
    entered, release, inserts = _gate_first_group(relay)
    results: dict[str, list] = {s: [] for s in chains}
    first = _upload_all(relay, [(clients["a"], encode_batch(chains["a"].batch(1, 6)), "a:1-6",
                                 results["a"])])
    assert entered.wait(20)
    rest = _upload_all(relay, [
        (clients["b"], encode_batch(chains["b"].batch(1, 6)), "b:1-6", results["b"]),
        (clients["c"], encode_batch(chains["c"].batch(4, 6)), "c:4-6", results["c"]),  # gap
        (clients["d"], encode_batch(chains["d"].batch(1, 6)), "d:1-6", results["d"]),
        (clients["e"], encode_batch(chains["e"].batch(1, 6)), "e:1-6", results["e"]),
    ])
    _wait_for(lambda: _queued(relay, "t1") == 4, "the group to queue")
    release.set()
    for t in first + rest:
        t.join(30)
    status = {s: r[0][0] for s, r in results.items()}
    assert status == {"a": 200, "b": 200, "c": 409, "d": 500, "e": 200}, results
    assert results["c"][0][1]["reason"] == "gap" and results["c"][0][1]["expected_seq"] == 1
    assert results["e"][0][1]["stored"] == 0 and results["b"][0][1]["stored"] == 6
    stored = {s: [e.seq for e in relay.storage.store_events("t1", s)] for s in chains}
    assert stored == {"a": [1, 2, 3, 4, 5, 6], "b": [1, 2, 3, 4, 5, 6], "c": [], "d": [],
                      "e": [1, 2, 3, 4, 5, 6]}
    assert [r.ledger_seq for r in relay.storage.ledger("t1", 0, 100)] == list(range(1, 19))


@st.composite
def _plans(draw) -> list[list[int]]:
    """Per store: the batch sizes its log is cut into (each store 1-4 batches)."""
    stores = draw(st.integers(min_value=2, max_value=7))
    return [draw(st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=4))
            for _ in range(stores)]


def test_concurrent_stores_never_lose_duplicate_or_reorder_events(relay: Relay,
                                                                 tmp_path: Path) -> None:
    """Property: any number of stores of one tenant, each cutting its log into any batches and
    sending some of them twice (a retry racing its original, through the other relay), all at
    once through two relay instances on one database: each store's events are stored exactly
    once and in its order, `ledger_seq` is 1..N without a gap, each store's events appear in
    the ledger in seq order, and an HQ pull following cursors sees every event exactly once."""
    second = start_relay(relay.backend, relay.key_file.parent, database=relay.database_url)
    counter = iter(range(10_000))
    try:
        @settings(max_examples=12, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(_plans(), st.randoms(use_true_random=False))
        def run(plans: list[list[int]], rnd) -> None:
            tenant = f"p{next(counter)}"
            chains, creds = {}, {}
            for i, sizes in enumerate(plans):
                store = f"s{i}"
                chains[store] = Chain(tenant, store)
                chains[store].extend(sum(sizes))
                creds[store] = relay.enroll(tenant, store)
            errors: list[str] = []

            def drain(i: int, store: str, sizes: list[int]) -> None:
                via = (relay, second)[i % 2]
                other = (second, relay)[i % 2]
                client, retry = via.store_client(creds[store]), other.store_client(creds[store])
                first = 1
                for size in sizes:
                    batch = chains[store].batch(first, first + size - 1)
                    raw = encode_batch(batch)
                    racer = None
                    if rnd.random() < 0.3:  # a duplicate of this batch, racing it
                        racer = threading.Thread(target=retry.upload_raw,
                                                 args=(raw, batch.batch_id))
                        racer.start()
                    for _ in range(200):
                        resp = client.upload_raw(raw, batch.batch_id)
                        if resp.status_code == 200:
                            break
                        if resp.status_code != 409 or "Retry-After" not in resp.headers:
                            errors.append(f"{store} {batch.batch_id}: {resp.status_code} "
                                          f"{resp.text[:200]}")
                            return
                        time.sleep(0.01)
                    if racer is not None:
                        racer.join(30)
                    first += size

            threads = [threading.Thread(target=drain, args=(i, f"s{i}", sizes))
                       for i, sizes in enumerate(plans)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, errors
            total = sum(map(sum, plans))
            for store, chain in chains.items():
                assert [(e.seq, e.event_id, e.hash) for e in
                        relay.storage.store_events(tenant, store)] == [
                    (e.seq, e.event_id, e.hash) for e in chain.log]
            rows = relay.storage.ledger(tenant, 0, total + 10)
            assert [r.ledger_seq for r in rows] == list(range(1, total + 1))
            for store in chains:
                seqs = [r.event.seq for r in rows if r.event.store_id == store]
                assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))
            hq = relay.hq_client(relay.hq_token(tenant))
            pulled = [e["event_id"] for e in iter_ledger(hq, limit=rnd.randint(1, 40))]
            assert sorted(pulled) == sorted(e.event_id for c in chains.values() for e in c.log)
            assert len(set(pulled)) == len(pulled) == total

        run()
    finally:
        second.close(drop=False)


@pytest.mark.parametrize("stores", [40])
def test_many_threads_ingesting_at_once_keep_the_ledger_gapless(relay: Relay,
                                                                stores: int) -> None:
    """`Storage.ingest` from many threads at once (the relay's worker threads), several batches
    per store in order, while a reader pages the ledger: every page continues exactly where
    the last one ended, and the end is every event once."""
    chains = {f"s{i}": Chain("t1", f"s{i}") for i in range(stores)}
    for s, chain in chains.items():
        relay.enroll("t1", s)
        chain.extend(30)
    errors: list[BaseException] = []

    def drain(chain: Chain) -> None:
        try:
            for first in (1, 11, 21):
                batch = chain.batch(first, first + 9)
                relay.storage.ingest(batch, encode_batch(batch)[:32], relay.clock())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(c,)) for c in chains.values()]
    for t in threads:
        t.start()
    seen: list[int] = []

    def read_page() -> bool:
        page = relay.storage.ledger("t1", seen[-1] if seen else 0, 97)
        got = [r.ledger_seq for r in page]
        start = (seen[-1] if seen else 0) + 1
        assert got == list(range(start, start + len(got))), f"gap after {start - 1}: {got[:5]}"
        seen.extend(got)
        return bool(got)

    while any(t.is_alive() for t in threads):
        read_page()
    for t in threads:
        t.join()
    while read_page():  # what committed after the last page read while writers ran
        pass
    assert not errors, errors
    assert seen == list(range(1, 30 * stores + 1))
