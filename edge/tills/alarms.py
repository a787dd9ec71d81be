"""The safe-drop warning: a till whose drawer is expected to hold more than the store's
threshold (`[cash] safe_drop_above_minor`).

- On `status` (and `/health/ready`): an advisory readiness check naming the tills, which never
  stops the store selling (`safe_drop_check`).
- On the lane's event stream (`GET /v1/lanes/{lane}/events`, SSE, the devices hub):
  `till.safe_drop_recommended` to the till's lane when its drawer goes above the threshold,
  and again each time the drawer's cash changes while it stays above (so a lane that connects
  late is told at its next sale); `till.safe_drop_cleared` once a drop (or the close) brings
  it back. The store-wide admin stream gets both. Blind: the message names the till, its
  lane, its session and the threshold, never the expected amount.

`SafeDropAlarm` listens to commits (on the writer's thread) and checks the open tills on the
event loop, where the hub publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import apsw

from edge.store.kernel import Store
from edge.tills import report, session
from edge.tills.views import open_tills
from schemas import cash as c
from schemas.envelope import Event

Publish = Callable[[str, object, str | None], object]
RECOMMENDED = "till.safe_drop_recommended"
CLEARED = "till.safe_drop_cleared"
# Events after which a drawer's expected cash may have changed.
_WATCHED = frozenset((*report.REPORT_TYPES, c.TillOpened.TYPE, c.TillClosed.TYPE))


def safe_drop_check(threshold_minor: int) -> Callable[[apsw.Connection], str]:
    def check(conn: apsw.Connection) -> str:
        full = [f"{till} at {lane} ({expected})" for till, lane, expected in open_tills(conn)
                if session.safe_drop_recommended(expected, threshold_minor)]
        return "ok" if not full else "safe drop recommended: " + ", ".join(full)
    return check


class SafeDropAlarm:
    def __init__(self, store: Store, threshold_minor: int, publish: Publish) -> None:
        self.store = store
        self.threshold_minor = threshold_minor
        self._publish = publish
        self._loop: asyncio.AbstractEventLoop | None = None
        # session id -> (till, lane, expected cash when last announced)
        self._above: dict[str, tuple[str, str, int]] = {}
        store.on_commit(self._committed)

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Start (a loop) or stop (None) announcing. At start the drawers already above the
        threshold are taken as announced: there is nobody on a stream yet."""
        self._loop = loop
        if loop is not None:
            self.check(announce=False)

    def _committed(self, appended: list[Event]) -> None:
        loop = self._loop
        if loop is None or self.threshold_minor <= 0:
            return
        if any(e.type in _WATCHED for e in appended):
            with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                loop.call_soon_threadsafe(self.check)

    def check(self, announce: bool = True) -> None:
        """Compare the open drawers with the threshold and publish what changed (loop thread)."""
        rows = self.store.reader.execute(
            "SELECT session_id, till_id, lane_id, expected_minor FROM till_sessions "
            "WHERE state = 'open'")
        now = {sid: (till, lane, expected) for sid, till, lane, expected in rows
               if session.safe_drop_recommended(expected, self.threshold_minor)}
        for sid, (till, lane, _) in self._above.items():
            if sid not in now and announce:
                self._publish(CLEARED, self._payload(sid, till, lane), lane)
        for sid, (till, lane, expected) in now.items():
            before = self._above.get(sid)
            if announce and (before is None or before[2] != expected):
                self._publish(RECOMMENDED, self._payload(sid, till, lane), lane)
        self._above = now

    def _payload(self, session_id: str, till_id: str, lane_id: str) -> dict[str, object]:
        return {"till_id": till_id, "lane_id": lane_id, "session_id": session_id,
                "threshold_minor": self.threshold_minor}
