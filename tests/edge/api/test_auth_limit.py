"""Refused tokens are limited per peer on the store daemon, for lane and admin tokens alike
(`[auth_limit]`): a burst of bad ones gets 429 with Retry-After and a problem body, while a good
lane token from another lane keeps selling. Peers are distinct loopback addresses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_key
from tests.edge.api.helpers import assert_problem, open_cart
from tests.support.live_app import LiveApp, start_live_app

ENV = {"NOVAPOS_AUTH_LIMIT__MAX_FAILURES": "5", "NOVAPOS_AUTH_LIMIT__WINDOW_S": "120"}


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_live_app(tmp_path / "store", ENV)
    try:
        yield app
    finally:
        app.close()


def _from(app: LiveApp, address: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"},
                        transport=httpx.HTTPTransport(local_address=address), timeout=10.0)


def _limited(resp: httpx.Response) -> None:
    assert_problem(resp, 429, "too-many-failed-authentications")
    assert 1 <= int(resp.headers["retry-after"]) <= 120


def test_a_burst_of_bad_lane_tokens_is_limited_while_other_lanes_sell(limited: LiveApp) -> None:
    assert limited.daemon.config.auth_limit.max_failures == 5
    guesser = _from(limited, "127.0.0.2", "npl_" + "x" * 43)
    statuses = [guesser.post("/v1/carts", json={}, headers={"Idempotency-Key": new_key()})
                .status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    _limited(guesser.get("/v1/carts/nope"))
    # The guesser's address waits even with a real token: that is what stops the next guess.
    _limited(_from(limited, "127.0.0.2", limited.tokens["lane-1"]).post(
        "/v1/carts", json={}, headers={"Idempotency-Key": new_key()}))
    # Another lane (another address) is not held up, however many requests it makes.
    lane = _from(limited, "127.0.0.1", limited.tokens["lane-1"])
    for _ in range(10):
        open_cart(lane)
    lane2 = _from(limited, "127.0.0.5", limited.tokens["lane-2"])
    open_cart(lane2)


def test_a_burst_of_bad_admin_tokens_is_limited_while_the_real_admin_works(
        limited: LiveApp) -> None:
    admin_token = (limited.service.data_dir / "admin-token").read_text().strip()
    guesser = _from(limited, "127.0.0.3", "npa_wrong")
    assert [guesser.get("/v1/admin/devices").status_code for _ in range(6)] == [401] * 5 + [429]
    _limited(_from(limited, "127.0.0.3", admin_token).get("/v1/admin/devices"))
    assert _from(limited, "127.0.0.1", admin_token).get("/v1/admin/devices").status_code == 200


def test_public_paths_are_never_limited(limited: LiveApp) -> None:
    guesser = _from(limited, "127.0.0.4", "npl_bad")
    for _ in range(6):
        guesser.get("/v1/carts/nope")
    assert guesser.get("/health/live").status_code == 200
    assert guesser.get("/health/ready").status_code == 200
