"""Store reports for managers: the end-of-day (Z) report of a business day.

Thin: check the role, parse the date, compute `edge.zreport.z_report_for_day` off the event loop
on a read-only connection of its own (the report reads the day's events from the log, which
must not hold up a sale), encode. The body is `schemas.zreport.ZReport`, field for field what
the relay's `GET /v1/reconciliation` answers for the same store and day.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar import Controller, get
from litestar.params import Parameter

from edge.api.deps import Injected
from edge.api.problems import documented
from edge.errors import Forbidden
from edge.lanes import Principal
from edge.reports import zreport
from edge.store.db import open_connection
from edge.store.kernel import Store
from schemas.zreport import ZReport


def _report(db_path: Path, store_id: str, day: str) -> ZReport:
    conn = open_connection(db_path, readonly=True)
    try:
        return zreport.z_report_for_day(conn, store_id, day)
    finally:
        conn.close()


class ReportController(Controller):
    path = "/v1/reports"
    tags = ("reports",)
    store: Store

    @get(
        "/z",
        responses=documented(400, 401, 403, 422, 429),
        summary="End-of-day (Z) report of a business day (manager)",
    )
    async def z_report(
        self,
        who: Injected[Principal],
        business_date: str | None = Parameter(
            default=None,
            min_length=10,
            max_length=10,
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="YYYY-MM-DD; the store's current business day when left out",
        ),
    ) -> ZReport:
        if not who.is_manager:
            raise Forbidden("the Z report needs a manager token")
        day = (
            zreport.parse_business_date(business_date)
            if business_date is not None
            else zreport.today(self.store.identity, self.store.clock.now_ms())
        )
        return await asyncio.to_thread(
            _report, self.store.db_path, self.store.identity.store_id, day
        )
