"""Receipts through the real daemon app to the emulated printer over TCP: a sale queues its
receipt and never waits for paper; the receipt prints exactly once when paper returns; the
queue survives a restart; reprints are idempotent; cash sales open the drawer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.emulators.escpos_printer import EscposPrinterEmulator, PrintRecord
from tests.conftest import new_key
from tests.support.live_app import LiveApp, start_live_app

MILK_EAN = "4006381333931"


def _config(port: int, **printing: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in printing.items())
    return (
        "[printing]\nstatus_poll_s = 0.1\nidle_status_poll_s = 0.5\nretry_initial_s = 0.2\n"
        f"retry_max_s = 1.0\nheader = [\"Corner Shop GmbH\"]\n{extra}\n"
        "[[printing.printers]]\nid = \"front\"\nhost = \"127.0.0.1\"\n"
        f"port = {port}\nlanes = [\"lane-1\"]\nstatus_timeout_s = 1.0\n"
    )


@pytest.fixture
def emu() -> Iterator[EscposPrinterEmulator]:
    with EscposPrinterEmulator() as e:
        yield e


@pytest.fixture
def store(tmp_path: Path, emu: EscposPrinterEmulator) -> Iterator[Callable[[], LiveApp]]:
    data = tmp_path / "store"
    data.mkdir()
    (data / "config.toml").write_text(_config(emu.port))
    apps: list[LiveApp] = []

    def start() -> LiveApp:
        apps.append(start_live_app(data))
        return apps[-1]

    yield start
    for app in apps:
        app.close()


def post(client, path, body, key=None):
    return client.post(path, json=body, headers={"Idempotency-Key": key or new_key()})


def sell(app: LiveApp, lane: str = "lane-1", tender: int = 500) -> dict:
    c = app.client(lane)
    cart = post(c, "/v1/carts", {}).json()["cart_id"]
    assert post(c, f"/v1/carts/{cart}/lines", {"barcode": MILK_EAN, "qty": 2}).status_code == 201
    post(c, f"/v1/carts/{cart}/tenders", {"tender_type": "cash", "amount_minor": tender})
    r = post(c, f"/v1/carts/{cart}/complete", {})
    assert r.status_code == 201, r.text
    return r.json()


def copies(record: PrintRecord, receipt_number: str) -> int:
    return sum(receipt_number in text for text in record.receipts())


def wait_job(app: LiveApp, order_id: str, state: str, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        order = app.client().get(f"/v1/orders/{order_id}").json()
        if order["receipt_print"]["state"] == state or time.monotonic() > deadline:
            assert order["receipt_print"]["state"] == state, order["receipt_print"]
            return order
        time.sleep(0.05)


def test_a_sale_prints_its_receipt_and_opens_the_drawer(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    order = sell(app)
    assert order["receipt_print"]["printer_id"] == "front"
    assert order["receipt_print"]["state"] in ("queued", "printing", "printed")
    number = order["receipt_number"]
    rec = emu.wait_for(lambda r: copies(r, number) == 1 and bool(r.pulses))
    text = rec.receipts()[0]
    assert "Corner Shop GmbH" in text and "NovaPOS Demo Store" in text
    assert "2.38 EUR" in text and "Change" in text and "2.62 EUR" in text
    # The receipt's own code, then the fiscal QR carrying its signature fields.
    assert rec.qr_codes[0] == number and rec.cuts == ["full"]
    assert len(rec.qr_codes) == 2 and rec.qr_codes[1].startswith("V0;store-001;")
    assert "Signature counter" in text
    assert rec.pulses[0]["pin"] == 2
    wait_job(app, order["order_id"], "printed")
    metrics = app.client().get("/metrics").text
    # The printer is named the same way on print and device metrics.
    assert 'novapos_print_queue_depth{device_id="front"} 0.0' in metrics
    assert 'novapos_print_jobs_total{device_id="front",outcome="printed"} 1.0' in metrics
    assert 'novapos_device_up{device_id="front",kind="receipt_printer"} 1.0' in metrics


def test_paper_out_queues_the_receipt_and_it_prints_once_when_paper_returns(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    emu.set_state(paper_out=True)
    order = sell(app)  # the sale completes although the printer cannot print
    assert order["receipt_print"]["state"] == "queued"
    printing = app.daemon.printing

    def attempted(n: int):
        deadline = time.monotonic() + 15
        # An attempt is counted when it starts: wait for it to end, too.
        while ((job := printing.jobs(app.service.reader, "front")[0]).attempts < n
               or job.state == "printing"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        return job

    job = attempted(1)
    assert job.state == "queued" and job.last_cause.startswith("paper_out")
    assert job.next_attempt_at_ms == job.updated_at_ms + 200  # the first backoff step
    app.clock.advance(1_000)  # the backoff passes: tried again, still no paper
    job = attempted(2)
    assert job.state == "queued" and job.next_attempt_at_ms == job.updated_at_ms + 400
    printer = printing.printers["front"]
    assert printer.status().state == "error" and printer.status().causes[0] == "paper_out"
    assert app.daemon.printing.queue_depths(app.service.reader) == {"front": 1}
    assert emu.record.lines == []

    emu.set_state(paper_out=False)
    wait_job(app, order["order_id"], "printed")
    rec = emu.wait_for(lambda r: copies(r, order["receipt_number"]) >= 1)
    time.sleep(0.5)  # a duplicate, were there one, would arrive in this window
    assert copies(emu.record, order["receipt_number"]) == 1
    assert rec.pulses and rec.pulses[0]["realtime"]  # the drawer opened without paper
    assert printer.status().state == "idle"


def test_the_queue_survives_a_restart(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    emu.set_state(cover_open=True)
    order = sell(app)
    app.close()
    emu.set_state(cover_open=False)
    assert emu.record.lines == []
    again = store()  # same data directory: the job is still in SQLite
    wait_job(again, order["order_id"], "printed")
    emu.wait_for(lambda r: copies(r, order["receipt_number"]) == 1)


def test_reprint_is_idempotent_and_marked_as_a_copy(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    order = sell(app)
    number = order["receipt_number"]
    emu.wait_for(lambda r: copies(r, number) == 1)
    c = app.client()
    key = new_key()
    first = post(c, f"/v1/orders/{order['order_id']}/receipt/print", {}, key)
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "queued" and first.json()["printer_id"] == "front"
    replay = post(c, f"/v1/orders/{order['order_id']}/receipt/print", {}, key)
    assert replay.json()["job_id"] == first.json()["job_id"]
    rec = emu.wait_for(lambda r: copies(r, number) == 2)
    assert "*** COPY ***" in rec.receipts()[1] and "*** COPY ***" not in rec.receipts()[0]
    time.sleep(0.5)
    assert copies(emu.record, number) == 2

    r = post(c, "/v1/orders/no-such-order/receipt/print", {})
    assert r.status_code == 404
    r = post(c, f"/v1/orders/{order['order_id']}/receipt/print", {"printer_id": "nope"})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    r = post(c, f"/v1/orders/{order['order_id']}/receipt/print", {"colour": "red"})
    assert r.status_code == 400


def test_a_lane_without_a_printer_still_sells(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    order = sell(app, lane="lane-2")
    assert order["receipt_print"] is None
    r = post(app.client("lane-2"), f"/v1/orders/{order['order_id']}/receipt/print", {})
    assert r.status_code == 422 and "no receipt printer" in r.json()["detail"]


def test_a_broken_queue_never_costs_the_sale(
    store: Callable[[], LiveApp], emu: EscposPrinterEmulator,
) -> None:
    app = store()
    # Fault injection in the database itself: every receipt insert is refused.
    app.service.writer.run_sync(lambda tx: tx.conn.execute(
        "CREATE TEMP TRIGGER refuse_jobs BEFORE INSERT ON print_jobs "
        "BEGIN SELECT RAISE(ABORT, 'print queue broken'); END"))
    order = sell(app)
    assert order["receipt_print"] is None
    assert app.client().get(f"/v1/orders/{order['order_id']}").status_code == 200


def test_test_print_goes_through_the_queue_and_cash_kick_can_be_turned_off(
    tmp_path: Path, emu: EscposPrinterEmulator,
) -> None:
    data = tmp_path / "store"
    data.mkdir()
    (data / "config.toml").write_text(_config(emu.port, kick_drawer_on_cash="false"))
    app = start_live_app(data)
    try:
        job = app.daemon.printing.test_print("front")
        assert job.kind == "test" and job.state == "queued"
        emu.wait_for(lambda r: any("NovaPOS Edge test print" in t for t in r.receipts()))
        order = sell(app)
        emu.wait_for(lambda r: copies(r, order["receipt_number"]) == 1)
        wait_job(app, order["order_id"], "printed")
        assert emu.record.pulses == []
    finally:
        app.close()
