"""The store's own end-of-day (Z) report, read from its event log.

The arithmetic is `schemas.zreport.z_report`, the very function the relay's reconciliation runs
over its copy of the same events: this module only selects the day's events from the store's
database and decodes them.
"""

from __future__ import annotations

import apsw

from schemas.events import decode_body
from schemas.zreport import ZREPORT_TYPES, ZReport, z_report


def z_report_for_day(conn: apsw.Connection, store_id: str, business_date: str) -> ZReport:
    marks = ",".join("?" * len(ZREPORT_TYPES))
    rows = conn.execute(
        f"SELECT type, schema_version, body FROM events WHERE business_date = ? AND "
        f"type IN ({marks}) ORDER BY seq", (business_date, *ZREPORT_TYPES))
    return z_report(store_id, business_date, (decode_body(t, v, b) for t, v, b in rows))
