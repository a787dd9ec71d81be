"""The pure part of ingest: the relay's chain check (`core.chain.hash_of` over the envelope)
agrees with `chain_hash`, which the store writes with, for any event, and `plan_tail` picks
exactly the unseen suffix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_relay.batch import plan_tail, verify_links
from cloud_relay.errors import Refused
from core.chain import GENESIS_HASH, chain_hash
from schemas.envelope import Event

texts = st.text(min_size=0, max_size=20)


@settings(max_examples=60)
@given(event_id=texts, lane_id=st.none() | texts, stream=texts, type_=texts,
       version=st.integers(0, 2**31), recorded=st.integers(0, 2**53), day=texts,
       body=st.binary(max_size=64), tenant=texts, store=texts)
def test_inlined_chain_check_equals_the_edges_chain_hash(
        event_id, lane_id, stream, type_, version, recorded, day, body, tenant, store) -> None:
    digest = chain_hash(GENESIS_HASH, seq=1, event_id=event_id, tenant_id=tenant,
                        store_id=store, lane_id=lane_id, stream=stream, type=type_,
                        schema_version=version, recorded_at_ms=recorded, business_date=day,
                        body=body)
    ev = Event(1, event_id, tenant, store, lane_id, stream, type_, version, recorded, day, body,
               GENESIS_HASH, digest)
    verify_links([ev], 1, GENESIS_HASH, tenant, store)  # does not raise
    with pytest.raises(Refused):  # the same event claimed by another store does not verify
        verify_links([ev], 1, GENESIS_HASH, tenant, store + "x")


@settings(max_examples=100)
@given(high=st.integers(0, 30), first=st.integers(1, 30), length=st.integers(1, 10))
def test_plan_tail_stores_exactly_the_unseen_suffix(high: int, first: int, length: int) -> None:
    from tests.support.relay import Chain

    chain = Chain("t", "s")
    chain.extend(40)
    last = min(40, first + length - 1)
    batch = chain.batch(first, last)
    hashes = {e.seq: e.hash for e in chain.log[:high]}
    if first > high + 1:
        with pytest.raises(Refused) as info:
            plan_tail(batch, high, hashes.get, None)
        assert (info.value.refusal.reason, info.value.refusal.expected_seq) == ("gap", high + 1)
        return
    start = plan_tail(batch, high, hashes.get, None)
    assert [e.seq for e in batch.events[start:]] == list(range(max(first, high + 1), last + 1))
