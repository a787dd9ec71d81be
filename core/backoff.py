"""Retry timing for the sync engine: exponential backoff with full jitter and a cap.

Pure functions of (consecutive failures, settings, a uniform random number), so they are
property-tested without a clock. The engine draws the random number and owns the timer: a
failed round is retried when its delay elapses, never "on the next local write".

    envelope(n) = min(cap, base * 2 ** (n - 1))      for n >= 1 consecutive failures
    delay(n)    = u * envelope(n),  u uniform in [0, 1)   ("full jitter")

Full jitter spreads the retries of many stores that lost the relay at the same moment over the
whole window, so they do not come back in lockstep. Any success resets n to 0 (no delay).
A relay's `Retry-After` is a floor the engine applies on top (`with_retry_after`).
"""

from __future__ import annotations

from dataclasses import dataclass

# 2 ** 62 * base overflows nothing in float, and the cap makes larger exponents pointless.
_MAX_EXPONENT = 62


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base_s: float
    cap_s: float

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.cap_s > 0):
            raise ValueError("backoff base and cap must be positive")


def envelope_s(failures: int, policy: BackoffPolicy) -> float:
    """The largest delay after `failures` consecutive failures (0 when there were none)."""
    if failures <= 0:
        return 0.0
    return min(policy.cap_s, policy.base_s * 2.0 ** min(failures - 1, _MAX_EXPONENT))


def delay_s(failures: int, policy: BackoffPolicy, u: float) -> float:
    """The wait before the next attempt; `u` is uniform in [0, 1)."""
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must be in [0, 1), not {u}")
    return u * envelope_s(failures, policy)


def with_retry_after(delay: float, retry_after_s: float | None) -> float:
    """A server's Retry-After is a floor: never come back sooner than it asked."""
    return delay if retry_after_s is None else max(delay, retry_after_s)


@dataclass(frozen=True, slots=True)
class BackoffState:
    """Consecutive failures so far; `failed()` and `succeeded()` return the next state."""

    failures: int = 0

    def failed(self) -> BackoffState:
        return BackoffState(self.failures + 1)

    def succeeded(self) -> BackoffState:
        return BackoffState(0)
