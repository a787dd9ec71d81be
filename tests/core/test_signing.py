"""Signature scheme 2 (`core.signing`): a signature verifies for exactly the request it was made
for; changing any signed part of it (method, path and query, body, any signed header, the
timestamp, the key id) makes it fail, and headers outside the list do not matter."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from core import signing
from core.signing import SIGNED_HEADERS, new_credential, sign, verify

CRED = new_credential("t1", "s1")
NOW_MS = 1_772_445_600_000
HEADERS = {"Content-Type": "application/x-novapos-batch", "Accept": "application/json",
           "Idempotency-Key": "s1:1-3", "X-NovaPOS-Acked-Through": "0"}
token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24)


def _received(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _request(body: bytes = b"batch", path: str = "/v1/stores/s1/batches"):
    auth = sign(CRED, "POST", path, body, NOW_MS, HEADERS)
    return _received({**HEADERS, **auth})


def test_a_signed_request_verifies_and_says_so_for_its_own_parts() -> None:
    received = _request()
    assert verify(CRED.secret, CRED.key_id, "POST", "/v1/stores/s1/batches", b"batch", received,
                  NOW_MS) is None
    assert received["x-novapos-signature"].startswith("v2=")
    assert len(received["x-novapos-nonce"]) == 32


def test_two_signatures_of_the_same_request_differ_by_their_nonce() -> None:
    assert _request()["x-novapos-signature"] != _request()["x-novapos-signature"]


@given(name=st.sampled_from(SIGNED_HEADERS), value=token)
def test_changing_any_signed_header_breaks_the_signature(name: str, value: str) -> None:
    received = _request()
    if received.get(name, "") == value:
        return
    received[name] = value
    why = verify(CRED.secret, CRED.key_id, "POST", "/v1/stores/s1/batches", b"batch", received,
                 NOW_MS)
    assert why is not None
    if name != "x-novapos-nonce":
        assert why == "signature does not match"


@given(name=st.sampled_from(SIGNED_HEADERS))
def test_dropping_a_signed_header_breaks_the_signature(name: str) -> None:
    received = _request()
    received.pop(name)
    assert verify(CRED.secret, CRED.key_id, "POST", "/v1/stores/s1/batches", b"batch", received,
                  NOW_MS) is not None


@given(body=st.binary(max_size=64), path=st.sampled_from(
    ["/v1/stores/s1/batches?x=1", "/v1/stores/s2/batches", "/v1/stores/s1/batches/"]))
def test_changing_body_or_path_breaks_the_signature(body: bytes, path: str) -> None:
    received = _request()
    if body != b"batch":
        assert verify(CRED.secret, CRED.key_id, "POST", "/v1/stores/s1/batches", body,
                      received, NOW_MS) is not None
    assert verify(CRED.secret, CRED.key_id, "POST", path, b"batch", received, NOW_MS) is not None
    assert verify(CRED.secret, CRED.key_id, "PUT", "/v1/stores/s1/batches", b"batch",
                  received, NOW_MS) is not None


def test_unsigned_headers_do_not_matter_and_timestamp_and_key_id_do() -> None:
    received = {**_request(), "user-agent": "anything", "accept-encoding": "br"}
    path = "/v1/stores/s1/batches"
    assert verify(CRED.secret, CRED.key_id, "POST", path, b"batch", received, NOW_MS) is None
    moved = {**received, "x-novapos-timestamp": str(NOW_MS + 1)}
    assert verify(CRED.secret, CRED.key_id, "POST", path, b"batch", moved, NOW_MS) is not None
    assert verify(CRED.secret, "sk_other", "POST", path, b"batch", received, NOW_MS) is not None


def test_the_timestamp_window_is_five_minutes_each_way() -> None:
    received = _request()
    path = "/v1/stores/s1/batches"
    for now in (NOW_MS - signing.MAX_SKEW_MS, NOW_MS + signing.MAX_SKEW_MS):
        assert verify(CRED.secret, CRED.key_id, "POST", path, b"batch", received, now) is None
    late = verify(CRED.secret, CRED.key_id, "POST", path, b"batch", received,
                  NOW_MS + signing.MAX_SKEW_MS + 1)
    assert late is not None and "away from the relay's clock" in late
    assert signing.expires_at_ms(received["x-novapos-timestamp"]) == NOW_MS + signing.MAX_SKEW_MS


def test_a_scheme_1_signature_is_refused_naming_the_upgrade() -> None:
    # How a store of the previous release signed: METHOD, PATH, TIMESTAMP, SHA256(body).
    message = b"\n".join((b"GET", b"/v1/stores/s1/watermark", str(NOW_MS).encode(),
                          hashlib.sha256(b"").hexdigest().encode()))
    old = hmac.new(CRED.secret, message, hashlib.sha256).hexdigest()
    received = {"x-novapos-key-id": CRED.key_id, "x-novapos-timestamp": str(NOW_MS),
                "x-novapos-signature": old}
    why = verify(CRED.secret, CRED.key_id, "GET", "/v1/stores/s1/watermark", b"", received,
                 NOW_MS)
    assert why is not None and "scheme 1" in why and "upgrade" in why
