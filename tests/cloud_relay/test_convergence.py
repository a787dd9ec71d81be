"""Property: whatever mix of resent, overlapping, out-of-order and gapped batches a store sends,
the relay ends with exactly one copy of its log, in order, chain intact, each ack truthful."""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.sync import BatchAck
from tests.support.relay import Chain, Relay

LOG_EVENTS = 30
_stores = itertools.count()

ranges = st.tuples(st.integers(1, LOG_EVENTS), st.integers(0, 12)).map(
    lambda t: (t[0], min(LOG_EVENTS, t[0] + t[1])))


def test_overlapping_and_resent_batches_converge_to_one_copy(relay: Relay) -> None:
    @settings(max_examples=20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(ranges, min_size=1, max_size=15))
    def run(sends: list[tuple[int, int]]) -> None:
        store = f"p{next(_stores)}"
        client = relay.store_client(relay.enroll("t1", store))
        chain = Chain("t1", store)
        chain.extend(LOG_EVENTS)
        high = 0
        first_acks: dict[str, BatchAck] = {}
        for first, last in sends:
            resp = client.upload(chain.batch(first, last))
            if first > high + 1:
                assert resp.status_code == 409 and resp.json()["reason"] == "gap"
                assert resp.json()["expected_seq"] == high + 1
                continue
            assert resp.status_code == 200, resp.text
            ack = msgspec.json.decode(resp.content, type=BatchAck)
            high = max(high, last)
            earlier = first_acks.setdefault(ack.batch_id, ack)
            if earlier is not ack:  # a completed key replays its first ack, nothing stored
                assert msgspec.structs.replace(ack, stored=earlier.stored) == earlier
                assert ack.stored == 0
                continue
            assert ack.accepted_through_seq == high
            assert ack.last_hash_hex == chain.log[high - 1].hash.hex()
        # The edge's loop: resume from the watermark until everything is acked.
        while high < LOG_EVENTS:
            ack = client.ack(chain.batch(high + 1, min(LOG_EVENTS, high + 10)))
            high = ack.accepted_through_seq
        stored = relay.storage.store_events("t1", store)
        assert [(r.seq, r.event_id, r.hash) for r in stored] == [
            (e.seq, e.event_id, e.hash) for e in chain.log]
        ledger = [r for r in relay.storage.ledger("t1", 0, 10**6) if r.event.store_id == store]
        assert [r.event.seq for r in ledger] == list(range(1, LOG_EVENTS + 1))
        client.close()

    run()
