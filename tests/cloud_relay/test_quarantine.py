"""An event the relay cannot interpret is stored, marked, reported and listed: it never blocks
the store's queue and never vanishes."""

from __future__ import annotations

from typer.testing import CliRunner

from cloud_relay.cli import app as cli_app
from schemas.events import CartOpened
from tests.support.relay import Chain, Relay, iter_ledger


def test_uninterpretable_events_are_stored_quarantined_and_listed(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(2)
    chain.append(b'{"refund_id":"r1","amount_minor":500}', type_="refund.completed")
    chain.append(b"\xff\xfe not json", type_="cart.opened")
    chain.append(b'{"cart_id":"c9","lane_id":"lane-1","currency":"EUR","opened_at_ms":1}',
                 type_="cart.opened", schema_version=7)
    chain.extend(2)
    ack = client.ack(chain.batch(1, 7))
    assert ack.accepted_through_seq == 7 and ack.stored == 7
    assert [(q.seq, q.event_id) for q in ack.quarantined] == [
        (e.seq, e.event_id) for e in chain.log[2:5]]
    assert "unknown event type 'refund.completed'" in ack.quarantined[0].reason
    assert "undecodable cart.opened body" in ack.quarantined[1].reason
    assert "schema version 7" in ack.quarantined[2].reason
    # The queue is not blocked: later batches go through.
    chain.extend(1)
    assert client.ack(chain.batch(8, 8)).quarantined == []
    hq = relay.hq_client(relay.hq_token("t1"))
    listed = hq.get("/v1/hq/quarantine").json()["events"]
    assert [(e["store_id"], e["seq"], e["type"]) for e in listed] == [
        ("s1", 3, "refund.completed"), ("s1", 4, "cart.opened"), ("s1", 5, "cart.opened")]
    ledger = list(iter_ledger(hq))
    assert [e["seq"] for e in ledger] == list(range(1, 9))
    quarantined = [e for e in ledger if e["quarantine"]]
    assert [e["seq"] for e in quarantined] == [3, 4, 5]
    assert all(e["body"] is None and e["body_b64"] for e in quarantined)
    status = hq.get("/v1/stores").json()["stores"][0]
    assert status["quarantined"] == 3


def test_recheck_releases_events_this_build_can_read(relay: Relay) -> None:
    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.append(b'{"refund_id":"r1"}', type_="refund.completed")
    chain.append(b'{"cart_id":"c2","lane_id":"lane-1","currency":"EUR","opened_at_ms":1}',
                 type_=CartOpened.TYPE)
    # Quarantined by a relay build that did not know cart.opened yet (marked directly here).
    client.ack(chain.batch(1, 2))
    assert [r.event.seq for r in relay.storage.quarantined("t1")] == [1]
    with relay.storage._write() as tx:  # simulate the older build's mark on seq 2
        tx.rows("UPDATE events SET quarantine = 'unknown event type' WHERE seq = 2")
    result = CliRunner().invoke(cli_app, ["quarantine", "recheck", "--tenant", "t1",
                                          *relay.cli_args])
    assert result.exit_code == 0, result.output
    assert "released 1 event(s) from quarantine; 1 remain" in result.stdout
    assert [r.event.seq for r in relay.storage.quarantined("t1")] == [1]


def test_metrics_count_outcomes_stored_and_quarantined_events(relay: Relay) -> None:
    import httpx

    client = relay.store_client(relay.enroll())
    chain = Chain("t1", "s1")
    chain.extend(3)
    chain.append(b"{}", type_="mystery.event")
    client.ack(chain.batch(1, 4))
    client.ack(chain.batch(1, 4))  # replay
    chain.extend(3)
    assert client.upload(chain.batch(6, 7)).status_code == 409  # gap
    text = httpx.get(relay.url + "/metrics").text
    assert 'novapos_relay_batches_total{outcome="acked"} 1.0' in text
    assert 'novapos_relay_batches_total{outcome="replayed"} 1.0' in text
    assert 'novapos_relay_batches_total{outcome="gap"} 1.0' in text
    assert "novapos_relay_events_stored_total 4.0" in text
    assert "novapos_relay_events_quarantined_total 1.0" in text
