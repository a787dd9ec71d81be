"""The store's own end-of-day (Z) report, read from its event log.

The arithmetic is `schemas.zreport.z_report`, the very function the relay's reconciliation runs
over its copy of the same events: this module only selects the day's events from the store's
database and decodes them. It reads the log alone (no projection, no daemon), so it works on a
read-only connection to the SQLite file while the daemon runs, or with the daemon stopped.
"""

from __future__ import annotations

from datetime import date

import apsw

from core import bodycodec
from core.business_day import business_date as business_date_of
from core.errors import InvalidInput
from core.zreport import ZREPORT_TYPES, DayEvent, z_report
from edge.store.writer import StoreIdentity
from schemas.events import decode_body
from schemas.zreport import ZReport


def parse_business_date(text: str) -> str:
    """`YYYY-MM-DD` (a real calendar date) or InvalidInput."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidInput(f"business date must be YYYY-MM-DD, not {text[:32]!r}",
                           field="business_date") from None


def today(identity: StoreIdentity, now_ms: int) -> str:
    """The store's current business date (its time zone and day-close hour)."""
    return business_date_of(now_ms, identity.tz, identity.day_close_hour)


# The WHERE term of the partial index `events_zreport_day` (`store.log` migration 2), word
# for word: SQLite uses a partial index only for a query that contains its term. A type added
# to ZREPORT_TYPES needs a migration that widens the index (the plan test fails until then).
DAY_INDEX_TERM = ("type IN ('sale.completed', 'order.refund_created', 'payment.refunded', "
                  "'payment.forward_declined', 'return.completed', 'till.closed')")


DAY_SQL = (
    "SELECT business_date, type, schema_version, body FROM events WHERE business_date = ? "
    f"AND type IN ({','.join('?' * len(ZREPORT_TYPES))}) AND {DAY_INDEX_TERM} ORDER BY seq")


def z_report_for_day(conn: apsw.Connection, store_id: str, business_date: str) -> ZReport:
    rows = conn.execute(DAY_SQL, (business_date, *ZREPORT_TYPES))
    return z_report(store_id, business_date,
                    (DayEvent(d, decode_body(t, v, bodycodec.decode(b))) for d, t, v, b in rows))
