"""The HQ ledger: tenant-scoped, cursor-paged, stable order, resumable; the cursor names the
relay epoch; concurrent writers never make a reader skip a row."""

from __future__ import annotations

import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_relay import cursor
from tests.support.relay import Chain, Relay, iter_ledger, start_relay


def _ingest_interleaved(relay: Relay, chains: dict[str, Chain], batch: int) -> None:
    clients = {s: relay.store_client(relay.enroll("t1", s)) for s in chains}
    n = max(c.seq for c in chains.values())
    for first in range(1, n + 1, batch):
        for store, chain in chains.items():
            last = min(first + batch - 1, chain.seq)
            if first <= last:
                clients[store].ack(chain.batch(first, last))


def _chains(stores: int, events: int) -> dict[str, Chain]:
    out = {}
    for i in range(stores):
        chain = out[f"s{i}"] = Chain("t1", f"s{i}")
        chain.extend(events)
    return out


def test_paging_with_random_page_sizes_returns_each_event_once_in_order(relay: Relay) -> None:
    chains = _chains(3, 40)
    _ingest_interleaved(relay, chains, batch=7)
    hq = relay.hq_client(relay.hq_token("t1"))
    everything = list(iter_ledger(hq, limit=1000))
    assert [e["ledger_seq"] for e in everything] == list(range(1, 121))
    for store, chain in chains.items():
        assert [e["event_id"] for e in everything if e["store_id"] == store] == [
            e.event_id for e in chain.log]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=40))
    def pages(sizes: list[int]) -> None:
        seen, after, i = [], None, 0
        while True:
            params = {"limit": str(sizes[i % len(sizes)])}
            if after:
                params["after"] = after
            page = hq.get("/v1/ledger", params=params).json()
            seen.extend(e["event_id"] for e in page["events"])
            after, i = page["next_cursor"], i + 1
            if not page["more"]:
                break
        assert seen == [e["event_id"] for e in everything]
        # Resumable: the final cursor yields nothing new until more arrives.
        assert hq.get("/v1/ledger", params={"after": after}).json()["events"] == []

    pages()


def test_a_cursor_from_another_relay_epoch_must_resync(relay: Relay, tmp_path: Path) -> None:
    hq = relay.hq_client(relay.hq_token("t1"))
    foreign = cursor.encode("0123456789abcdef", 5)
    resp = hq.get("/v1/ledger", params={"after": foreign})
    assert resp.status_code == 409 and resp.json()["type"].endswith("/resync")
    resp = hq.get("/v1/ledger", params={"after": "%%garbage"})
    assert resp.status_code == 400
    page = hq.get("/v1/ledger").json()
    assert page["relay_epoch"] == relay.storage.epoch
    assert cursor.decode(page["next_cursor"], relay.storage.epoch) == 0
    # A new database is a new epoch.
    other = start_relay("sqlite", tmp_path / "other")
    try:
        assert other.storage.epoch != relay.storage.epoch
    finally:
        other.close()


def test_concurrent_writers_never_make_a_paging_reader_skip(relay: Relay) -> None:
    """Writers for different stores (through two relay instances on one database) race while a
    reader pages with small pages; every page must continue exactly where the last ended."""
    second = start_relay(relay.backend, relay.key_file.parent, database=relay.database_url)
    try:
        stores, batches, per_batch = 6, 12, 15
        chains = _chains(stores, batches * per_batch)
        creds = {s: relay.enroll("t1", s) for s in chains}
        hq = relay.hq_client(relay.hq_token("t1"))
        done = threading.Event()
        errors: list[BaseException] = []

        def write(store: str, via: Relay) -> None:
            try:
                client = via.store_client(creds[store])
                chain = chains[store]
                for b in range(batches):
                    client.ack(chain.batch(b * per_batch + 1, (b + 1) * per_batch))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        writers = [threading.Thread(target=write, args=(s, (relay, second)[i % 2]))
                   for i, s in enumerate(chains)]
        for w in writers:
            w.start()
        seen: list[int] = []
        after = None

        def read_page() -> bool:
            nonlocal after
            params = {"limit": "37"}
            if after:
                params["after"] = after
            page = hq.get("/v1/ledger", params=params).json()
            got = [e["ledger_seq"] for e in page["events"]]
            expected_start = seen[-1] + 1 if seen else 1
            assert got == list(range(expected_start, expected_start + len(got))), (
                f"reader saw a gap: after {expected_start - 1} got {got[:5]}")
            seen.extend(got)
            after = page["next_cursor"]
            return bool(got)

        while any(w.is_alive() for w in writers):
            read_page()
        for w in writers:
            w.join()
        done.set()
        while read_page():
            pass
        assert not errors, errors
        total = stores * batches * per_batch
        assert seen == list(range(1, total + 1))
        rows = relay.storage.ledger("t1", 0, total + 10)
        for store, chain in chains.items():
            assert [r.event.event_id for r in rows if r.event.store_id == store] == [
                e.event_id for e in chain.log]
    finally:
        second.close(drop=False)
