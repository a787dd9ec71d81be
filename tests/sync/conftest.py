"""The `relay` fixture of the sync tests: a real relay over real HTTP, once per storage backend
(the PostgreSQL one skipped, loudly, when no server answers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.relay import BACKENDS, skip_without_pg, start_relay


@pytest.fixture(params=BACKENDS)
def relay(request, tmp_path: Path):
    skip_without_pg(request.param)
    r = start_relay(request.param, tmp_path / "relay")
    yield r
    r.close()
