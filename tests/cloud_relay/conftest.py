"""The `relay` fixture: a real relay over real HTTP, once per storage backend. The PostgreSQL
variant uses a fresh schema on 127.0.0.1:5432 and is skipped, loudly, when that server is not
reachable (CI provides it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.relay import BACKENDS, Relay, skip_without_pg, start_relay


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    skip_without_pg(request.param)
    return request.param


@pytest.fixture
def relay(backend: str, tmp_path: Path) -> Iterator[Relay]:
    r = start_relay(backend, tmp_path / "relay")
    try:
        yield r
    finally:
        r.close()
