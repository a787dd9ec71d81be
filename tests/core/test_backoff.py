"""Backoff: exponential envelope, full jitter, cap, reset on success (properties)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.backoff import BackoffPolicy, BackoffState, delay_s, envelope_s, with_retry_after

policies = st.builds(BackoffPolicy, base_s=st.floats(0.001, 60), cap_s=st.floats(0.001, 3600))
unit = st.floats(0.0, 1.0, exclude_max=True)


@settings(max_examples=300)
@given(policies, st.integers(0, 10_000), unit)
def test_delay_is_within_zero_and_the_capped_envelope(policy, failures, u) -> None:
    d = delay_s(failures, policy, u)
    assert 0.0 <= d <= envelope_s(failures, policy) <= policy.cap_s


@settings(max_examples=300)
@given(policies, st.integers(1, 200))
def test_envelope_doubles_until_the_cap(policy, failures) -> None:
    e, nxt = envelope_s(failures, policy), envelope_s(failures + 1, policy)
    assert nxt == min(policy.cap_s, 2 * e) or nxt == policy.cap_s
    assert e == min(policy.cap_s, policy.base_s * 2 ** (failures - 1))


@settings(max_examples=200)
@given(policies, st.integers(1, 60), unit)
def test_same_draw_never_waits_less_after_more_failures(policy, failures, u) -> None:
    assert delay_s(failures + 1, policy, u) >= delay_s(failures, policy, u)


@settings(max_examples=200)
@given(policies, st.lists(st.booleans(), max_size=50))
def test_any_success_resets_the_wait_to_zero(policy, outcomes) -> None:
    state = BackoffState()
    for ok in outcomes:
        state = state.succeeded() if ok else state.failed()
    state = state.succeeded()
    assert state.failures == 0 and delay_s(state.failures, policy, 0.999) == 0.0


@settings(max_examples=100)
@given(st.floats(0, 100), st.one_of(st.none(), st.floats(0, 100)))
def test_retry_after_is_a_floor(delay, retry_after) -> None:
    got = with_retry_after(delay, retry_after)
    assert got >= delay and (retry_after is None or got >= retry_after)


def test_full_jitter_spreads_over_the_whole_window() -> None:
    import random

    rng = random.Random(7)
    policy = BackoffPolicy(0.5, 60)
    draws = [delay_s(8, policy, rng.random()) for _ in range(2000)]
    # 2000 stores failing together come back spread over [0, 60 s), not in lockstep.
    assert min(draws) < 3 and max(draws) > 57 and len({round(d, 1) for d in draws}) > 400


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(0, 1)
    with pytest.raises(ValueError):
        delay_s(1, BackoffPolicy(1, 2), 1.0)
