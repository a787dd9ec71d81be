"""The safe-drop warning on `status`: a till whose drawer is expected to hold more than the
store's threshold (a readiness check that never stops the store selling)."""

from __future__ import annotations

from collections.abc import Callable

import apsw

from edge.tills import session
from edge.tills.views import open_tills


def safe_drop_check(threshold_minor: int) -> Callable[[apsw.Connection], str]:
    def check(conn: apsw.Connection) -> str:
        full = [f"{till} at {lane} ({expected})" for till, lane, expected in open_tills(conn)
                if session.safe_drop_recommended(expected, threshold_minor)]
        return "ok" if not full else "safe drop recommended: " + ", ".join(full)
    return check
