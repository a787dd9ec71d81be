"""ZvtTerminal against the emulator over real TCP: every command and every scripted outcome."""

from __future__ import annotations

import threading

import pytest

from drivers.device import DeviceFault
from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.zvt import ZvtTerminal
from drivers.zvt import messages as m
from schemas.devices import DeviceAddress

SHORT_S = 0.4  # a transaction timeout short enough to keep the suite fast


def states(emulator: ZvtTerminalEmulator) -> list[tuple[str, str, int]]:
    return [(e.operation, e.state, e.amount_minor) for e in emulator.journal()]


def test_sale_is_approved_with_a_reference_and_no_card_data(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    result = terminal.authorize(1999, "EUR", "order-1")
    assert result.outcome == "approved" and result.amount_minor == 1999
    ref = result.reference
    assert ref is not None and ref.terminal_id == "52500001"
    assert ref.masked_pan == "4999********1234" and ref.card_brand == "VISA"
    assert ref.approval_code and ref.trace_no >= 1 and ref.receipt_no >= 1
    assert result.ecr_ref == "order-1" and result.operation == "sale"
    assert states(emulator) == [("sale", "booked", 1999)]
    assert emulator.charged_minor("order-1") == 1999
    status = terminal.status()
    assert status.state == "idle" and status.power == "online"
    assert status.statistics["transactions"] == 1


def test_receipt_lines_when_the_ecr_prints(emulator: ZvtTerminalEmulator) -> None:
    term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=emulator.port),
                       ecr_prints_receipts=True)
    result = term.authorize(500, "EUR", "order-r")
    term.close()
    assert result.outcome == "approved"
    assert any("4999********1234" in line for line in result.receipt_lines)
    assert not any("4999" in line and "1234" in line and "*" not in line
                   for line in result.receipt_lines)


@pytest.mark.parametrize(("outcome", "params", "expected", "code"), [
    ("decline", {}, "declined", m.RC_DECLINED_DEFAULT),
    ("decline", {"result_code": 0x78}, "declined", 0x78),
    ("abort", {}, "aborted", m.RC_ABORT_TIMEOUT_OR_KEY),
])
def test_declines_and_aborts_move_no_money(emulator: ZvtTerminalEmulator, terminal: ZvtTerminal,
                                           outcome: str, params: dict, expected: str,
                                           code: int) -> None:
    emulator.script(outcome, **params)
    result = terminal.authorize(700, "EUR", "order-d")
    assert (result.outcome, result.result_code) == (expected, code)
    assert emulator.charged_minor("order-d") == 0
    assert terminal.status().state == "idle"


def test_preauthorization_then_book_total_of_a_lower_amount(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    hold = terminal.preauthorize(5000, "EUR", "order-p")
    assert hold.outcome == "approved" and hold.operation == "preauth" and hold.reference
    assert terminal.capture(hold.reference, 6000).outcome == "declined"  # above the hold
    booked = terminal.capture(hold.reference, 4200)
    assert booked.outcome == "approved" and booked.operation == "book_total"
    assert booked.ecr_ref == "order-p"
    assert terminal.capture(hold.reference, 100).outcome == "declined"  # hold consumed
    assert states(emulator)[0] == ("preauth", "captured", 5000)
    assert emulator.charged_minor("order-p") == 4200


def test_reversal_by_receipt_number_releases_a_hold_and_voids_a_sale(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    sale = terminal.authorize(1500, "EUR", "order-v")
    hold = terminal.preauthorize(3000, "EUR", "order-h")
    assert sale.reference and hold.reference
    voided = terminal.reverse(sale.reference)
    assert voided.outcome == "approved" and voided.operation == "reversal"
    assert voided.amount_minor == 1500
    again = terminal.reverse(sale.reference)
    assert (again.outcome, again.result_code) == ("declined", m.RC_ALREADY_REVERSED)
    assert terminal.reverse(hold.reference).outcome == "approved"
    assert emulator.charged_minor("order-v") == 0
    assert ("preauth", "released", 3000) in states(emulator)


def test_refunds_to_the_original_card_never_exceed_the_capture(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    sale = terminal.authorize(1000, "EUR", "order-f")
    assert sale.reference
    assert terminal.refund(sale.reference, 400, "EUR").outcome == "approved"
    too_much = terminal.refund(sale.reference, 601, "EUR")
    assert (too_much.outcome, too_much.result_code) == ("declined", m.RC_MAX_AMOUNT_EXCEEDED)
    rest = terminal.refund(sale.reference, 600, "EUR")
    assert rest.outcome == "approved" and rest.operation == "refund"
    assert emulator.charged_minor("order-f") == 0
    assert states(emulator)[0] == ("sale", "refunded", 1000)


def test_offline_store_and_forward_with_a_decline_on_forward(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.set_link(False)
    status = terminal.terminal_status()
    assert status.ready and not status.online_with_processor
    first = terminal.authorize(800, "EUR", "order-o1")
    emulator.script("offline", forward_decline=True)
    second = terminal.authorize(900, "EUR", "order-o2")
    assert (first.outcome, second.outcome) == ("stored_offline", "stored_offline")
    assert terminal.preauthorize(100, "EUR", "order-o3").result_code == m.RC_NO_CONNECTION
    status = terminal.terminal_status()
    assert (status.stored_offline_count, status.stored_offline_minor) == (2, 1700)
    with pytest.raises(DeviceFault) as refused:
        terminal.end_of_day()  # cannot close the day while payments wait to be forwarded
    assert refused.value.cause == "offline"
    emulator.set_link(True)
    assert terminal.terminal_status().stored_offline_count == 0
    day = terminal.end_of_day()
    assert day.forwarded == 2 and day.total_minor == 800
    assert [ref.receipt_no for ref in day.forward_declined] == [second.reference.receipt_no]
    assert emulator.charged_minor("order-o1") == 800
    assert emulator.charged_minor("order-o2") == 0
    assert terminal.end_of_day().forward_declined == []  # reported once


def test_slow_terminal_keepalives_extend_the_deadline(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("slow", delay_s=1.2, keepalive_s=0.2)
    result = terminal.authorize(300, "EUR", "order-s", timeout_s=SHORT_S)
    assert result.outcome == "approved"


def test_timeout_leaves_an_unknown_outcome_that_last_transaction_resolves(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("timeout")
    result = terminal.authorize(250, "EUR", "order-t", timeout_s=SHORT_S)
    assert result.outcome == "timeout" and result.ecr_ref == "order-t"
    status = terminal.status()
    assert status.state == "error" and status.causes == ["timeout"]
    assert status.statistics["communication_errors"] == 1
    last = terminal.last_transaction()
    assert last is not None and last.ecr_ref == "order-t" and last.outcome == "aborted"
    assert emulator.charged_minor("order-t") == 0
    assert terminal.authorize(260, "EUR", "order-t2").outcome == "approved"
    assert terminal.status().state == "idle"


def test_timeout_after_the_money_moved_is_found_by_last_transaction(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("timeout", after_booking=True)
    assert terminal.authorize(270, "EUR", "order-tb", timeout_s=SHORT_S).outcome == "timeout"
    last = terminal.last_transaction()
    assert last is not None and (last.ecr_ref, last.outcome) == ("order-tb", "approved")
    assert emulator.charged_minor("order-tb") == 270


@pytest.mark.parametrize(("outcome", "charged", "reconciled"), [
    ("disconnect_after_ack", 0, "aborted"),
    ("disconnect_after_booking", 640, "approved"),
])
def test_disconnect_mid_transaction_then_last_transaction_tells_what_happened(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal, outcome: str, charged: int,
        reconciled: str) -> None:
    emulator.script(outcome)
    result = terminal.authorize(640, "EUR", "order-x")
    assert result.outcome == "failed"
    assert terminal.status().causes == ["communication_error"]
    last = terminal.last_transaction()
    assert last is not None and last.ecr_ref == "order-x" and last.outcome == reconciled
    assert emulator.charged_minor("order-x") == charged


def test_completion_lost_after_status_is_still_an_approval(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    emulator.script("disconnect_after_status")
    result = terminal.authorize(650, "EUR", "order-c")
    assert result.outcome == "approved" and result.reference is not None
    assert emulator.charged_minor("order-c") == 650


def test_last_transaction_is_none_on_a_fresh_terminal(terminal: ZvtTerminal) -> None:
    assert terminal.last_transaction() is None


def test_health_is_a_status_enquiry(emulator: ZvtTerminalEmulator,
                                    terminal: ZvtTerminal) -> None:
    assert terminal.check_health("internal").ok
    assert terminal.check_health("external").causes == ["unsupported"]
    emulator.set_link(False)
    health = terminal.check_health("internal")
    assert health.ok and "store-and-forward" in health.detail
    assert terminal.status().statistics["health_checks"] == 3


def test_unreachable_terminal_fails_without_raising() -> None:
    with ZvtTerminalEmulator() as emu:
        port = emu.port
    term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=port))
    term.open()
    assert term.status().state == "error" and term.status().causes == ["not_connected"]
    result = term.authorize(100, "EUR", "order-u")
    assert result.outcome == "failed"
    assert not term.terminal_status().ready
    assert not term.check_health("internal").ok


def test_one_transaction_at_a_time(emulator: ZvtTerminalEmulator,
                                   terminal: ZvtTerminal) -> None:
    emulator.set_default("slow", delay_s=0.3, keepalive_s=0.1)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(
        terminal.authorize(100 + i, "EUR", f"order-{i}"))) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.outcome for r in results) == ["approved"] * 3
    assert sorted(e.amount_minor for e in emulator.journal()) == [100, 101, 102]


def test_amounts_and_currencies_are_checked_before_any_byte_is_sent(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal) -> None:
    for amount, currency in ((0, "EUR"), (-5, "EUR"), (10**12, "EUR"), (100, "XYZ")):
        with pytest.raises(ValueError):
            terminal.authorize(amount, currency, "order-bad")
    assert emulator.journal() == []


def test_a_busy_terminal_refuses_and_last_transaction_says_it_was_not_answered() -> None:
    with ZvtTerminalEmulator(busy_wait_s=0.2) as emu:
        term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=emu.port))
        term.open()
        with emu.state.busy:  # another ECR connection is mid-transaction
            result = term.authorize(100, "EUR", "order-busy")
            last = term.last_transaction()
        term.close()
    assert (result.outcome, result.result_code) == ("aborted", m.RC_PT_BUSY)
    assert last is not None and last.outcome == "failed" and last.ecr_ref is None
    assert emu.journal() == []


def test_the_scripted_card_is_the_one_refunded(emulator: ZvtTerminalEmulator,
                                               terminal: ZvtTerminal) -> None:
    emulator.script("approve", masked_pan="5413EEEEEEEE0004", card_name="Mastercard",
                    card_type=6)
    sale = terminal.authorize(1200, "EUR", "order-mc")
    assert sale.reference is not None
    assert (sale.reference.masked_pan, sale.reference.card_brand) == (
        "5413********0004", "Mastercard")
    refund = terminal.refund(sale.reference, 1200, "EUR")
    assert refund.reference is not None
    assert refund.reference.masked_pan == "5413********0004"


def test_keepalives_never_stretch_a_transaction_past_its_hard_limit(
        emulator: ZvtTerminalEmulator) -> None:
    term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=emulator.port),
                       max_transaction_s=0.6)
    emulator.script("slow", delay_s=3.0, keepalive_s=0.1)
    result = term.authorize(100, "EUR", "order-long", timeout_s=0.3)
    assert result.outcome == "timeout"
    last = term.last_transaction()
    term.close()
    assert last is not None and (last.ecr_ref, last.outcome) == ("order-long", "aborted")
    assert emulator.charged_minor("order-long") == 0


def test_a_wrong_password_is_refused_at_registration(emulator: ZvtTerminalEmulator) -> None:
    term = ZvtTerminal("t", DeviceAddress("tcp", host="127.0.0.1", port=emulator.port),
                       password="123456")
    term.open()
    status = term.status()
    assert status.state == "error" and status.causes == ["communication_error"]
    assert "registration refused" in (status.detail or "")
    assert term.authorize(100, "EUR", "order-pw").outcome == "failed"
    assert emulator.journal() == []
