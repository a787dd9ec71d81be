"""The free-text rules (schemas.text): the card-number detector, property-tested."""

from __future__ import annotations

import re

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from core import logs
from schemas import api, text


def luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if text.luhn_valid(body + d):
            return body + d
    raise AssertionError


pans = st.integers(12, 18).flatmap(
    lambda n: st.text("0123456789", min_size=n, max_size=n)).map(luhn_complete)
# Text around a card number that does not run into it (no digit, letter, space or dash next to
# it: a PAN glued to letters is an identifier, see has_card_number).
_edge = st.characters(blacklist_categories=("Cs", "Nd", "L"), blacklist_characters=" -")
surround = st.tuples(st.text(max_size=10), _edge).map("".join)
surround_after = st.tuples(_edge, st.text(max_size=10)).map("".join)


# How card numbers are printed and typed, by length: the group sizes.
FORMATS = {13: [(4, 4, 5), (4, 3, 3, 3)], 14: [(4, 6, 4)], 15: [(4, 6, 5)], 16: [(4, 4, 4, 4)],
           17: [(4, 4, 4, 5)], 18: [(4, 4, 4, 6)], 19: [(4, 4, 4, 4, 3)]}


@st.composite
def grouped(draw, pan: str) -> str:
    """`pan` as people type it: in one run, or in its printed groups joined by spaces or dashes."""
    sizes = draw(st.sampled_from([(len(pan),), *FORMATS[len(pan)]]))
    out, i = [], 0
    for n in sizes:
        out.append(pan[i:i + n])
        i += n
    seps = draw(st.lists(st.sampled_from([" ", "-"]), min_size=len(out), max_size=len(out)))
    return "".join(g + (s if k < len(out) - 1 else "") for k, (g, s) in enumerate(zip(out, seps)))


@given(pans.flatmap(grouped), surround, surround_after)
def test_every_luhn_valid_pan_is_found_however_it_is_typed(pan: str, before: str, after: str) -> None:
    assert text.has_card_number(before + pan + after)
    # ... and a log line that carries it prints it no more.
    redacted = logs.redact(before + pan + after)
    assert not text.has_card_number(redacted)


@given(pans, st.text("0123456789", min_size=1, max_size=4))
def test_a_pan_after_other_digit_groups_is_found(pan: str, prefix: str) -> None:
    assert text.has_card_number(f"order {prefix} {pan}")
    assert text.has_card_number(f"order-{pan}")


@given(st.uuids())
def test_a_uuid_is_never_a_card_number(key) -> None:
    assert not text.has_card_number(str(key))
    assert not text.has_card_number(f"seed-{key}")


@given(pans, st.text(st.characters(whitelist_categories=("L",)), min_size=1, max_size=3))
def test_a_pan_glued_to_letters_is_an_identifier(pan: str, letters: str) -> None:
    assert not text.has_card_number(f"{letters}{pan}{letters}")


@given(st.text(max_size=40).filter(lambda s: sum(c in "0123456789" for c in s) < 13))
def test_fewer_than_13_digits_is_never_a_card_number(s: str) -> None:
    assert not text.has_card_number(s)


@given(pans)
def test_a_wrong_check_digit_is_not_a_card_number(pan: str) -> None:
    wrong = pan[:-1] + str((int(pan[-1]) + 1) % 10)
    assert not text.has_card_number(wrong)


@given(st.text("0123456789", min_size=20, max_size=40))
def test_a_long_digit_run_without_separators_is_a_reference_not_a_pan(run: str) -> None:
    assert not text.has_card_number(run)


def test_known_test_pans() -> None:
    for pan in ["4111111111111111", "5500 0000 0000 0004", "3400-000000-00009",
                "6011000000000004", "4222222222222"]:
        assert text.has_card_number(pan), pan
    assert not text.has_card_number("4006381333931")  # an EAN-13 barcode, not Luhn-valid


def test_the_free_text_fields_of_the_api_are_marked() -> None:
    info = msgspec.inspect.type_info(api.AddTender)
    value = api.AddTender(tender_type="other", amount_minor=1, reference="ref")
    assert list(text.free_text_values(value, info)) == [("reference", "ref")]
    refund = api.RefundOrder(reason="broken")
    assert list(text.free_text_values(refund)) == [("reason", "broken")]
    schema = msgspec.json.schema(api.OpenCart)
    note = schema["$defs"]["OpenCart"]["properties"]["note"]
    assert note["x-free-text"] is True and note["pattern"] == text.NO_CONTROL_CHARS


def test_log_lines_never_print_a_card_number() -> None:
    event = logs.redact_card_numbers(None, "info", {
        "event": "request", "path": "/v1/carts/4111111111111111", "status": 404})
    assert "4111111111111111" not in repr(event) and event["status"] == 404


_mixed = st.text(st.sampled_from("0123456789 -a"), max_size=60)


@given(st.one_of(_mixed, pans.flatmap(grouped), st.uuids().map(str),
                 st.tuples(_mixed, pans.flatmap(grouped), _mixed).map("".join)))
def test_the_quick_pre_check_never_changes_the_answer(s: str) -> None:
    """Text without 13 digits in a stretch (at most one space or dash between two) is answered
    by one regex search; the full detector, run on everything, agrees on every input."""
    fast = text.has_card_number(s)
    saved = text._THIRTEEN
    try:
        text._THIRTEEN = re.compile("")  # matches everything: the full path
        full = text.has_card_number(s)
    finally:
        text._THIRTEEN = saved
    assert fast == full
