"""The ledger's wire form is one contract however it is produced: PostgreSQL writes each event's
`LedgerEvent` JSON itself (`Storage.ledger_json`, `Storage.write_jsonl`), the portable path
encodes `ledger_event` with msgspec, and both must give the same bytes for any row the ledger
can hold; pages, exports and both backends answer the same events."""

from __future__ import annotations

import base64
import io
import itertools
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_relay import export, hq
from cloud_relay.storage.ledger import Ledger, ledger_event
from core.chain import chain_hash
from schemas.relay import LedgerEventOnce, LedgerPage
from tests.support.relay import Chain, Relay, iter_ledger, skip_without_pg, start_relay

_tenants = itertools.count()
# What a store's text can hold (UTF-8: no surrogates) and PostgreSQL's (no NUL).
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8)


@st.composite
def _rows(draw: st.DrawFn, tenant_id: str) -> list[tuple]:
    """Ledger rows in `schema.EVENT_COLUMNS` order, with whatever a column may hold: odd
    strings, interpretable bodies (msgspec JSON) and quarantined ones (any bytes)."""
    stores = draw(st.lists(_text.filter(bool), min_size=1, max_size=3, unique=True))
    seqs = dict.fromkeys(stores, 0)
    rows = []
    for ledger_seq in range(1, draw(st.integers(1, 30)) + 1):
        store = draw(st.sampled_from(stores))
        seqs[store] += 1
        if draw(st.booleans()):
            body, quarantine = msgspec.json.encode(draw(_json_values)), None
        else:
            body, quarantine = draw(st.binary(max_size=200)), draw(_text)
        big = st.integers(-2**63, 2**63 - 1)
        rows.append((
            store, seqs[store], tenant_id, ledger_seq, f"{tenant_id}-{ledger_seq}-{draw(_text)}",
            draw(st.none() | _text), draw(_text), draw(_text), draw(big), draw(big),
            draw(_text), body, draw(st.binary(min_size=32, max_size=32)),
            draw(st.binary(min_size=32, max_size=32)), draw(big), quarantine))
    return rows


def _insert(relay: Relay, rows: list[tuple]) -> None:
    """`rows` in `schema.EVENT_COLUMNS` order, written in the backend's `INSERT_COLUMNS`."""
    from cloud_relay.storage.backend import INSERT_COLUMNS
    from cloud_relay.storage.schema import EVENT_COLUMNS

    at = [EVENT_COLUMNS.index(c) for c in INSERT_COLUMNS]
    with relay.storage._write() as tx:
        relay.storage._insert_events(tx, [tuple(r[i] for i in at) for r in rows])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_the_database_writes_the_bytes_the_portable_encoder_writes(relay: Relay,
                                                                    data: st.DataObject) -> None:
    tenant = f"enc{next(_tenants)}"
    rows = data.draw(_rows(tenant))
    _insert(relay, rows)
    storage, n = relay.storage, len(rows)
    after = data.draw(st.integers(0, n))
    limit = data.draw(st.integers(1, n + 2))
    store = data.draw(st.none() | st.sampled_from(sorted({r[0] for r in rows})))
    for sep in (b",", b"\n"):
        fast = storage.ledger_json(tenant, after, limit, store, sep)
        assert fast == Ledger.ledger_json(storage, tenant, after, limit, store, sep)
    # Every line says what the row holds: the body's exact bytes in base64, and as JSON when
    # it is interpretable.
    page = storage.ledger_json(tenant, 0, n, None, b"\n")
    lines = page.data.split(b"\n")
    assert page.count == len(lines) == n and page.last_ledger_seq == n and not page.more
    for line, row in zip(lines, rows, strict=True):
        got = json.loads(line)
        assert base64.b64decode(got["body_b64"]) == row[11]
        assert bytes.fromhex(got["hash_hex"]) == row[13] and got["quarantine"] == row[15]
        assert got["body"] == (None if row[15] is not None else json.loads(row[11]))
    # The export's streamed lines are the page's, whatever the statement and write sizes.
    step = data.draw(st.integers(1, n + 1))
    written: list[bytes] = []
    counts: list[int] = []
    got = storage.write_jsonl(tenant, after, limit, lambda b, k: (written.append(b),
                                                                  counts.append(k)), step)
    expected = Ledger.ledger_json(storage, tenant, after, limit, None, b"\n")
    assert b"".join(written) == (expected.data + b"\n" if expected.count else b"")
    assert sum(counts) == got.count == expected.count and all(0 < k for k in counts)
    assert (got.last_ledger_seq, got.more) == (expected.last_ledger_seq, expected.more)
    # The body-once lines too: the database's are the portable encoder's, byte for byte.
    fast_once: list[bytes] = []
    portable_once: list[bytes] = []
    got = storage.write_jsonl(tenant, after, limit, lambda b, k: fast_once.append(b), step,
                              body_once=True)
    want = Ledger.write_jsonl(storage, tenant, after, limit,
                              lambda b, k: portable_once.append(b), step, body_once=True)
    assert b"".join(fast_once) == b"".join(portable_once)
    assert (got.count, got.last_ledger_seq, got.more) == (expected.count,
                                                          expected.last_ledger_seq, expected.more)
    for line, row in zip(b"".join(fast_once).splitlines(), rows[after:], strict=False):
        once = msgspec.json.decode(line, type=LedgerEventOnce)
        assert _carried_body(once) == row[11] and (once.body_b64 is None) == (row[15] is None)


def test_a_page_over_http_is_the_ledger_page_struct_byte_for_byte(relay: Relay) -> None:
    clients = {s: relay.store_client(relay.enroll("t1", s)) for s in ("s1", "s2")}
    chains = {s: Chain("t1", s) for s in clients}
    for first in (1, 11, 21):
        for s, chain in chains.items():
            chain.extend(10)
            clients[s].ack(chain.batch(first, first + 9))
    hq_client = relay.hq_client(relay.hq_token("t1"))
    for params in ({"limit": "7"}, {"limit": "5000"}, {"limit": "7", "store": "s2"},
                   {"limit": "3", "store": "nobody"}):
        after = None
        while True:
            q = {**params, **({"after": after} if after else {})}
            resp = hq_client.get("/v1/ledger", params=q)
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "application/json"
            struct = hq.ledger_page(relay.storage, "t1", after, int(q["limit"]),
                                    q.get("store"))
            assert resp.content == msgspec.json.encode(struct)
            # An HQ client decodes the page into the very struct, bodies and all.
            assert msgspec.json.decode(resp.content, type=LedgerPage) == struct
            page = json.loads(resp.content)
            after = page["next_cursor"]
            if not page["more"]:
                break


def test_both_backends_answer_the_same_ledger(tmp_path: Path) -> None:
    skip_without_pg("postgresql")
    relays = [start_relay(b, tmp_path / b) for b in ("sqlite", "postgresql")]
    try:
        chains = {s: Chain("t1", s) for s in ("s1", "s2", "s3")}
        for chain in chains.values():
            chain.extend(40)
            chain.append(b"\xff not a body", type_="future.type")  # quarantined
        pulls, exports = [], []
        for relay in relays:
            for s, chain in chains.items():
                client = relay.store_client(relay.enroll("t1", s))
                client.ack(chain.batch(1, 20))
                client.ack(chain.batch(21, 41))
            events = list(iter_ledger(relay.hq_client(relay.hq_token("t1")), limit=9))
            for e in events:
                e.pop("received_at_ms")  # each relay's own clock
            pulls.append(events)
            out = io.BytesIO()
            assert export.export(relay.storage, "t1", "jsonl", out)[0] == 123
            exports.append([{k: v for k, v in json.loads(line).items() if k != "received_at_ms"}
                            for line in out.getvalue().splitlines()])
        assert pulls[0] == pulls[1] == exports[0] == exports[1]
        assert len(pulls[0]) == 123 and sum(e["quarantine"] is not None for e in pulls[0]) == 3
    finally:
        for relay in relays:
            relay.close()


@pytest.mark.parametrize("statement_events, page_events", [(7, 3), (10_000, 5_000)])
def test_an_export_resumed_from_its_cursor_continues_exactly(
        relay: Relay, monkeypatch: pytest.MonkeyPatch, statement_events: int,
        page_events: int) -> None:
    monkeypatch.setattr(export, "STATEMENT_EVENTS", statement_events)
    monkeypatch.setattr(export, "PAGE_EVENTS", page_events)
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(30)
    client.ack(chain.batch(1, 30))
    first, progress = io.BytesIO(), []
    written, resume = export.export(relay.storage, "t1", "jsonl", first,
                                    on_page=progress.append)
    assert written == 30 and sum(progress) == 30 and all(k > 0 for k in progress)
    assert len(progress) >= -(-30 // statement_events)  # a write per statement at least
    # Nothing new: the cursor yields nothing; then the events stored since, and only those.
    assert export.export(relay.storage, "t1", "jsonl", io.BytesIO(), resume)[0] == 0
    chain.extend(12)
    client.ack(chain.batch(31, 42))
    text = io.StringIO()  # a text stream takes the same lines
    assert export.export(relay.storage, "t1", "jsonl", text, resume)[0] == 12
    whole = io.BytesIO()
    export.export(relay.storage, "t1", "jsonl", whole)
    assert first.getvalue() + text.getvalue().encode() == whole.getvalue()
    lines = [json.loads(line) for line in whole.getvalue().splitlines()]
    assert lines == list(iter_ledger(relay.hq_client(relay.hq_token("t1")), limit=5000))
    assert [e["ledger_seq"] for e in lines] == list(range(1, 43))
    assert whole.getvalue() == b"".join(
        msgspec.json.encode(ledger_event(e)) + b"\n" for e in relay.storage.ledger("t1", 0, 100))


def _carried_body(line: LedgerEventOnce) -> bytes:
    """The body's exact stored bytes, from what a body-once line carries: base64 for a
    quarantined body (and `body` null), else the `body` value's own bytes."""
    if line.body_b64 is not None:
        assert bytes(line.body) == b"null" and line.quarantine is not None
        return base64.b64decode(line.body_b64)
    assert line.quarantine is None
    return bytes(line.body)


def test_a_body_once_export_carries_what_verifies_every_hash(tmp_path: Path) -> None:
    skip_without_pg("postgresql")
    relays = [start_relay(b, tmp_path / b) for b in ("sqlite", "postgresql")]
    try:
        chains = {s: Chain("t1", s) for s in ("s1", "s2")}
        for chain in chains.values():
            chain.extend(25)
            chain.append(b"\xff not a body", type_="future.type")  # quarantined: base64
        outputs = []
        for relay in relays:
            for s, chain in chains.items():
                relay.store_client(relay.enroll("t1", s)).ack(chain.batch(1, 26))
            both, once = io.BytesIO(), io.BytesIO()
            assert export.export(relay.storage, "t1", "jsonl", both)[0] == 52
            path = tmp_path / f"{relay.storage.backend}.jsonl"
            assert export.export_file(relay.storage, "t1", "jsonl", path, body="once")[0] == 52
            once_lines = [msgspec.json.decode(line, type=LedgerEventOnce)
                          for line in path.read_bytes().splitlines()]
            both_lines = [json.loads(line) for line in both.getvalue().splitlines()]
            assert [e.ledger_seq for e in once_lines] == list(range(1, 53))
            assert sum(e.quarantine is not None for e in once_lines) == 2
            prev: dict[str, bytes] = {}
            for e, full in zip(once_lines, both_lines, strict=True):
                body = _carried_body(e)
                # The default line's meaning is unchanged: the same event, body and hash.
                assert base64.b64decode(full["body_b64"]) == body
                assert full["hash_hex"] == e.hash_hex and full["seq"] == e.seq
                # A consumer verifies each event from the line alone (and the tenant it
                # exported): the hash over the envelope and the exact body, chained per store.
                assert bytes.fromhex(e.prev_hash_hex) == prev.get(e.store_id, bytes(32))
                assert chain_hash(
                    bytes.fromhex(e.prev_hash_hex), seq=e.seq, event_id=e.event_id,
                    tenant_id="t1", store_id=e.store_id, lane_id=e.lane_id, stream=e.stream,
                    type=e.type, schema_version=e.schema_version,
                    recorded_at_ms=e.recorded_at_ms, business_date=e.business_date,
                    body=body).hex() == e.hash_hex
                prev[e.store_id] = bytes.fromhex(e.hash_hex)
            outputs.append([msgspec.structs.replace(e, received_at_ms=0) for e in once_lines])
        assert outputs[0] == outputs[1]  # both backends, the same lines
    finally:
        for relay in relays:
            relay.close()
