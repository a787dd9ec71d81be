"""The overdue-items alarm on `status` (a readiness check that never stops the store selling)."""

from __future__ import annotations

from collections.abc import Callable

import apsw

from core.business_day import business_date
from core.clock import Clock
from edge.checklists.commands import views
from edge.store.writer import StoreIdentity


def overdue_check(clock: Clock, identity: StoreIdentity) -> Callable[[apsw.Connection], str]:
    def check(conn: apsw.Connection) -> str:
        now = clock.now_ms()
        day = business_date(now, identity.tz, identity.day_close_hour)
        late = [f"{v.checklist_id}/{i.item_id} (due {i.due_local})"
                for v in views(conn, day, now, identity.tz) for i in v.items if i.overdue]
        return "ok" if not late else "overdue checklist items: " + ", ".join(late)
    return check
