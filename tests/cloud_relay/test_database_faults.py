"""The relay's database going away: a request answers 503 with Retry-After (nothing stored or
acknowledged), and the relay heals by itself when the database is back."""

from __future__ import annotations

import psycopg
import pytest

from cloud_relay.storage.postgres import APPLICATION_NAME
from tests.support.relay import PG_BASE, Chain, Relay


def _terminate_relay_connections() -> int:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
            "AND pid <> pg_backend_pid()", (APPLICATION_NAME,)).fetchall()
    return len(rows)


def test_dropped_database_connections_are_replaced(relay: Relay) -> None:
    if relay.backend != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(10)
    client.ack(chain.batch(1, 5))
    assert _terminate_relay_connections() >= 1
    # The pool checks connections before use: the next batch does not notice.
    assert client.ack(chain.batch(6, 10)).accepted_through_seq == 10
    assert [r.seq for r in relay.storage.store_events("t1", "s1")] == list(range(1, 11))


def test_a_locked_sqlite_database_is_503_with_retry_after(relay: Relay) -> None:
    if relay.backend != "sqlite":
        pytest.skip("SQLite's file lock; PostgreSQL waits on row locks instead")
    import apsw

    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(3)
    path = relay.database_url.removeprefix("sqlite://")
    blocker = apsw.Connection(path)
    blocker.execute("BEGIN EXCLUSIVE")  # e.g. an operator's long-running maintenance
    relay.storage.busy_timeout_ms = 200  # type: ignore[attr-defined]
    try:
        resp = client.upload(chain.batch(1, 3))
        assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
        assert resp.json()["type"].endswith("/database-unavailable")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert client.ack(chain.batch(1, 3)).stored == 3
