"""Bad input gets a 4xx problem and changes nothing, on the fast lane and the framework path
alike (issue 10): malformed JSON, lenient types, defaulted mutations, other media types,
control characters and card numbers in free text and in the Idempotency-Key."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, head_seq, open_cart, post
from tests.support.live_app import LiveApp, start_live_app

CARD = "4111111111111111"
CARD_SPACED = "4111 1111 1111 1111"
CARD_DASHED = "5500-0000-0000-0004"


@pytest.fixture(params=[True, False], ids=["fast-lane", "framework"])
def app(request, tmp_path: Path) -> Iterator[LiveApp]:
    live = start_live_app(tmp_path / "store", fast_lane=request.param)
    try:
        yield live
    finally:
        live.close()


@pytest.fixture
def cart(app: LiveApp) -> str:
    c = app.client()
    cart_id = open_cart(c)
    assert post(c, f"/v1/carts/{cart_id}/lines", {"sku": "BREAD-500G"}).status_code == 201
    return cart_id


def raw(app: LiveApp, method: str, path: str, body: bytes,
        content_type: str = "application/json", key: str | None = None,
        lane: str = "lane-1") -> httpx.Response:
    return app.client(lane).request(method, path, content=body, headers={
        "Content-Type": content_type, "Idempotency-Key": key or new_key()})


def stored_bytes(app: LiveApp) -> bytes:
    """Everything the store's database holds (log, projections, idempotency rows)."""
    conn = app.service.reader
    out = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
            out.append(repr(row).encode())
    return b"\n".join(out)


# --- malformed JSON: 400, never 500 ------------------------------------------------------

MALFORMED = {
    "deep arrays": b"[" * 100_000,
    "deep objects": b'{"a":' * 100_000,
    "deep but closed": b'{"note": "x", "z": ' + b"[" * 40 + b"]" * 40 + b"}",
    "invalid utf-8": b'{"note": "\xff"}',
    "truncated": b'{"sku": "BREAD',
    "not json": b"sku=BREAD-500G",
    "empty": b"",
}


def test_malformed_json_is_400_on_every_json_route(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for route in ["/lines", "/tenders", "/discounts", "/void", "/complete", "/reprice", ""]:
        path = f"/v1/carts/{cart}{route}" if route else "/v1/carts"
        for name, body in MALFORMED.items():
            r = raw(app, "POST", path, body)
            problem = assert_problem(r, 400, "invalid-request")
            assert "retry" not in problem["detail"].lower(), (route, name)
        r = raw(app, "PATCH", f"/v1/carts/{cart}/lines/1", b"[" * 100_000)
        assert_problem(r, 400, "invalid-request")
    assert head_seq(app) == seq


def test_malformed_json_on_manager_routes(app: LiveApp) -> None:
    seq = head_seq(app)
    for body in MALFORMED.values():
        assert_problem(raw(app, "POST", "/v1/vouchers", body, lane="manager-1"), 400,
                       "invalid-request")
    assert head_seq(app) == seq


# --- strict decoding ---------------------------------------------------------------------

LENIENT = [
    ("/lines", b'{"sku": "BREAD-500G", "qty": "1"}', "qty"),
    ("/lines", b'{"sku": "BREAD-500G", "qty": 2.0}', "qty"),
    ("/lines", b'{"sku": "BREAD-500G", "qty": true}', "qty"),
    ("/tenders", b'{"tender_type": "cash", "amount_minor": "100"}', "amount_minor"),
    ("/tenders", b'{"tender_type": "cash", "amount_minor": 100.0}', "amount_minor"),
    ("/discounts", b'{"kind": "amount", "value": "10"}', "value"),
    ("/discounts", b'{"kind": "amount", "value": 10, "line_id": "1"}', "line_id"),
]


def test_a_string_or_float_where_an_integer_is_declared_is_400(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for route, body, field in LENIENT:
        problem = assert_problem(raw(app, "POST", f"/v1/carts/{cart}{route}", body), 400,
                                 "invalid-request")
        assert problem["errors"][0]["field"] == field
        assert "integer" in problem["errors"][0]["message"]
    problem = assert_problem(raw(app, "PATCH", f"/v1/carts/{cart}/lines/1", b'{"qty": "2"}'),
                             400, "invalid-request")
    assert problem["errors"][0]["field"] == "qty"
    assert head_seq(app) == seq


def test_field_errors_name_the_field_in_plain_words(app: LiveApp, cart: str) -> None:
    c = app.client()
    p = assert_problem(post(c, f"/v1/carts/{cart}/tenders", {"amount_minor": 100}), 400,
                       "invalid-request")
    assert p["errors"] == [{"field": "tender_type", "message": "tender_type: is required"}]
    p = assert_problem(post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G", "qty": 0}), 400,
                       "invalid-request")
    assert p["detail"] == "qty: must be at least 1"
    p = assert_problem(post(c, f"/v1/carts/{cart}/lines", {"sku": "BREAD-500G", "x": 1}), 400,
                       "invalid-request")
    assert p["detail"] == "x: is not a field of this request"


def test_change_qty_defaults_nothing(app: LiveApp, cart: str) -> None:
    c = app.client()
    seq = head_seq(app)
    for body in [{}, {"qty": None}, {"qty_milli": None}, {"qty": 2, "qty_milli": 500}]:
        r = c.patch(f"/v1/carts/{cart}/lines/1", json=body, headers={"Idempotency-Key": new_key()})
        assert_problem(r, 400, "invalid-request")
    assert head_seq(app) == seq
    assert c.get(f"/v1/carts/{cart}").json()["lines"][0]["qty_milli"] == 1000
    r = c.patch(f"/v1/carts/{cart}/lines/1", json={"qty": 3}, headers={"Idempotency-Key": new_key()})
    assert r.status_code == 200 and r.json()["lines"][0]["qty_milli"] == 3000


def test_add_line_without_qty_means_one(app: LiveApp, cart: str) -> None:
    r = post(app.client(), f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})
    assert r.status_code == 201 and r.json()["lines"][-1]["qty_milli"] == 1000


# --- media types -------------------------------------------------------------------------

OTHER_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/xml",
               "multipart/form-data; boundary=x", ""]


def test_json_in_another_media_type_is_415(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for ctype in OTHER_TYPES:
        for route, body in [("/lines", b'{"sku": "BREAD-500G"}'),
                            ("/tenders", b'{"tender_type": "cash", "amount_minor": 100}'),
                            ("/discounts", b'{"kind": "amount", "value": 10}')]:
            assert_problem(raw(app, "POST", f"/v1/carts/{cart}{route}", body, ctype), 415,
                           "unsupported-media-type")
        assert_problem(raw(app, "PATCH", f"/v1/carts/{cart}/lines/1", b'{"qty": 2}', ctype), 415,
                       "unsupported-media-type")
    assert head_seq(app) == seq


def test_vouchers_and_imports_check_the_media_type(app: LiveApp) -> None:
    seq = head_seq(app)
    for ctype in OTHER_TYPES:
        assert_problem(raw(app, "POST", "/v1/vouchers", b'{"amount_minor": 500}', ctype,
                           lane="manager-1"), 415, "unsupported-media-type")
        assert_problem(raw(app, "POST", "/v1/catalog/imports", b'{"products": []}', ctype,
                           lane="manager-1"), 415, "unsupported-media-type")
    assert head_seq(app) == seq
    # The import declares CSV too: a CSV body is judged by the importer, not refused as 415.
    r = raw(app, "POST", "/v1/catalog/imports", b"nonsense\n", "text/csv", lane="manager-1")
    assert r.status_code == 422, r.text


def test_json_with_a_charset_is_json(app: LiveApp, cart: str) -> None:
    r = raw(app, "POST", f"/v1/carts/{cart}/lines", b'{"sku": "MILK-1L"}',
            "application/json; charset=utf-8")
    assert r.status_code == 201, r.text


# --- free text: control characters and card numbers --------------------------------------

def _free_text_requests(cart: str) -> list[tuple[str, str, str, dict]]:
    """(lane, path, field, body with {} where the text goes) for every free-text field."""
    return [
        ("lane-1", "/v1/carts", "note", {"note": "{}"}),
        ("lane-1", f"/v1/carts/{cart}/void", "reason", {"reason": "{}"}),
        ("lane-1", f"/v1/carts/{cart}/discounts", "reason",
         {"kind": "amount", "value": 10, "reason": "{}"}),
        ("lane-1", f"/v1/carts/{cart}/tenders", "reference",
         {"tender_type": "other", "amount_minor": 100, "reference": "{}"}),
        ("manager-1", "/v1/vouchers", "reason", {"amount_minor": 500, "reason": "{}"}),
    ]


def _with(body: dict, value: str) -> dict:
    return {k: (value if v == "{}" else v) for k, v in body.items()}


def test_control_characters_are_refused_in_every_free_text_field(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for bad in ["a\x00b", "line\nbreak", "tab\there", "esc\x1b[2J", "del\x7f", "c1\x85",
                "trailing\n"]:
        for lane, path, field, body in _free_text_requests(cart):
            p = assert_problem(post(app.client(lane), path, _with(body, bad)), 400,
                               "invalid-request")
            assert p["errors"][0]["field"] == field, (path, p)
    assert head_seq(app) == seq


def test_a_card_number_in_free_text_is_refused_and_nothing_is_stored(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for card, (lane, path, field, body) in itertools.product(
            [CARD, CARD_SPACED, CARD_DASHED, f"cheque {CARD_SPACED} ok"], _free_text_requests(cart)):
        key = new_key()
        p = assert_problem(post(app.client(lane), path, _with(body, card), key=key), 422,
                           "card-number-refused")
        assert p["errors"][0]["field"] == field
        assert card not in p["detail"]
        count = app.service.reader.execute(
            "SELECT count(*) FROM idempotency_keys WHERE key = ?", (key,)).fetchall()[0][0]
        assert count == 0
    assert head_seq(app) == seq
    stored = stored_bytes(app)
    for card in (CARD, CARD_SPACED, CARD_DASHED, "5500000000000004"):
        assert card.encode() not in stored


def test_a_card_number_as_idempotency_key_is_refused(app: LiveApp, cart: str) -> None:
    seq = head_seq(app)
    for key, (path, body) in itertools.product(
            [CARD, CARD_DASHED, f"order-{CARD}"],
            [("/v1/carts", {}), (f"/v1/carts/{cart}/lines", {"sku": "MILK-1L"})]):
        r = post(app.client(), path, body, key=key)
        p = assert_problem(r, 422, "card-number-refused")
        assert p["errors"][0]["field"] == "Idempotency-Key"
    assert head_seq(app) == seq
    stored = stored_bytes(app)
    assert CARD.encode() not in stored and CARD_DASHED.encode() not in stored


def test_ordinary_numbers_in_text_are_fine(app: LiveApp, cart: str) -> None:
    # Not Luhn-valid, too short, or too long: order numbers, phone numbers, cheque numbers.
    for note in ["4111111111111112", "call 0176 1234 5678", "cheque 000123", "1" * 25]:
        r = post(app.client(), "/v1/carts", {"note": note})
        assert r.status_code == 201, (note, r.text)
    r = post(app.client(), f"/v1/carts/{cart}/tenders",
             {"tender_type": "other", "amount_minor": 100, "reference": "Scheck Nr. 4711"})
    assert r.status_code == 201, r.text
