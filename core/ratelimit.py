"""A bound on failed authentication per peer, for the store daemon (lane and admin tokens) and
the relay (store signatures, HQ tokens).

Rule: once a peer (its IP address) has had `max_failures` credentials refused (401) within a
window of `window_s` seconds that starts at its first refused one, every request from it is
answered 429 with `Retry-After` (the seconds left in the window) without its credentials being
looked at, until the window ends; the next refusal after that starts a new window. So a peer
can try at most `max_failures` wrong credentials per `window_s`.

- Successful requests are never counted and never wait; they do not reset a peer's count
  either, and a locked-out peer is refused even with a good credential (otherwise the lock-out
  would not stop the next guess). Other peers are not affected.
- Bounded memory: at most `max_peers` peers are remembered, the least recently refused one
  forgotten first; many addresses can push other peers' counts out, never grow the table.
- What a request that is not refused pays: one dict look-up (`retry_after_s`).
- Not thread-safe: call it from one thread (the server's event loop).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

import msgspec

from core.errors import DomainError


class AuthFailureLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """[auth_limit] in the daemon's config.toml; `novapos-relay serve --auth-*` on the relay."""

    max_failures: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 20
    window_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 60.0
    max_peers: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000


class TooManyFailedAuthentications(DomainError):
    status, slug, title = 429, "too-many-failed-authentications", \
        "Too many refused credentials from this address"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class FailureLimiter:
    def __init__(self, limit: AuthFailureLimit = AuthFailureLimit(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        # peer -> [window start (clock seconds), refusals in that window]; oldest refusal first
        self._peers: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def retry_after_s(self, peer: str) -> int | None:
        """None when `peer` may try, else the whole seconds until it may (at least 1)."""
        entry = self._peers.get(peer)
        if entry is None or entry[1] < self.limit.max_failures:
            return None
        left = entry[0] + self.limit.window_s - self._clock()
        return math.ceil(left) if left > 0 else None

    def check(self, peer: str) -> None:
        """Raise `TooManyFailedAuthentications` (429) while `peer` is locked out."""
        wait = self.retry_after_s(peer)
        if wait is not None:
            raise TooManyFailedAuthentications(
                f"{self.limit.max_failures} refused credentials from {peer} within "
                f"{self.limit.window_s:g} s: try again in {wait} s", wait)

    def failed(self, peer: str) -> None:
        """Count one refused credential from `peer`."""
        now = self._clock()
        entry = self._peers.get(peer)
        if entry is None or now - entry[0] >= self.limit.window_s:
            entry = self._peers[peer] = [now, 0.0]
        entry[1] += 1
        self._peers.move_to_end(peer)
        while len(self._peers) > self.limit.max_peers:
            self._peers.popitem(last=False)
