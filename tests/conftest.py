from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_app import LiveApp, start_live_app

_keys = itertools.count(1)


def new_key() -> str:
    return f"test-key-{next(_keys)}"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_live_app(tmp_path / "store")
    try:
        yield app
    finally:
        app.close()
