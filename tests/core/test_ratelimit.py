"""The failed-authentication limit (`core.ratelimit`): per peer at most `max_failures` refused
credentials get through per window, a locked-out peer waits at most the window, other peers and
peers that never failed are never held up, and memory stays within `max_peers`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.ratelimit import AuthFailureLimit, FailureLimiter, TooManyFailedAuthentications


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_peer_is_locked_out_for_the_rest_of_its_window_then_may_try_again() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(AuthFailureLimit(max_failures=3, window_s=60), clock)
    for _ in range(3):
        assert limiter.retry_after_s("10.0.0.9") is None
        limiter.failed("10.0.0.9")
    assert limiter.retry_after_s("10.0.0.9") == 60
    clock.t += 59.5
    assert limiter.retry_after_s("10.0.0.9") == 1
    try:
        limiter.check("10.0.0.9")
    except TooManyFailedAuthentications as exc:
        assert (exc.status, exc.retry_after_s) == (429, 1)
        assert "3 refused credentials from 10.0.0.9 within 60 s" in exc.detail
    else:
        raise AssertionError("a locked-out peer passed the check")
    assert limiter.retry_after_s("10.0.0.8") is None  # another peer is not affected
    clock.t += 0.5
    assert limiter.retry_after_s("10.0.0.9") is None
    limiter.failed("10.0.0.9")  # a new window starts with one refusal
    assert limiter.retry_after_s("10.0.0.9") is None


def test_the_table_forgets_the_least_recently_refused_peer_first() -> None:
    limiter = FailureLimiter(AuthFailureLimit(max_failures=1, window_s=60, max_peers=2),
                             FakeClock())
    for peer in ("a", "b", "a", "c"):
        limiter.failed(peer)
    assert len(limiter) == 2
    assert limiter.retry_after_s("b") is None  # forgotten
    assert limiter.retry_after_s("a") and limiter.retry_after_s("c")


steps = st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3", "p4"]),
                           st.sampled_from(["bad", "good"]),
                           st.floats(min_value=0, max_value=30)), max_size=200)


@given(steps=steps, max_failures=st.integers(1, 5), window_s=st.sampled_from([1.0, 10.0, 60.0]),
       max_peers=st.integers(1, 4))
def test_no_peer_gets_more_than_the_limit_of_guesses_per_window(
        steps, max_failures: int, window_s: float, max_peers: int) -> None:
    """Simulate a server: a request the limiter lets through is authenticated (a "bad" one is
    refused and counted). Per peer, windows start at a refusal and last `window_s` (the next
    one at the first refusal after it); no window lets more than `max_failures` through, so no
    `window_s` span ever sees more than twice that. Holds per remembered peer."""
    clock = FakeClock()
    limiter = FailureLimiter(AuthFailureLimit(max_failures, window_s, max_peers), clock)
    refused: dict[str, list[float]] = {}
    for peer, kind, advance in steps:
        clock.t += advance
        wait = limiter.retry_after_s(peer)
        if wait is not None:
            assert 1 <= wait <= window_s + 1
            continue
        if kind == "bad":
            limiter.failed(peer)
            refused.setdefault(peer, []).append(clock.t)
        assert len(limiter) <= max_peers
    if max_peers < 4:
        return  # forgetting a peer restarts its count: the bound holds per remembered peer
    for times in refused.values():
        start, count = times[0], 0
        for t in times:
            if t >= start + window_s:
                start, count = t, 0
            count += 1
            assert count <= max_failures, (times, start)
        for i, first in enumerate(times):
            assert len([t for t in times[i:] if t < first + window_s]) <= 2 * max_failures


@given(peers=st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=50))
def test_a_peer_that_never_failed_is_never_held_up(peers: list[str]) -> None:
    limiter = FailureLimiter(AuthFailureLimit(max_failures=1, window_s=60), FakeClock())
    for peer in peers:
        limiter.failed(peer)
    assert limiter.retry_after_s("good-peer") is None
