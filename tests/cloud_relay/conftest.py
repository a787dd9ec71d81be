"""The `relay` fixture: a real relay over real HTTP, once per storage backend. The PostgreSQL
variant uses a fresh schema on 127.0.0.1:5432 and is skipped, loudly, when that server is not
reachable (CI provides it)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.relay import BACKENDS, Relay, pg_available, start_relay

_pg_problem: list[str | None] = []


def pg_problem() -> str | None:
    if not _pg_problem:
        _pg_problem.append(pg_available())
    return _pg_problem[0]


def skip_without_pg(backend: str) -> None:
    if backend == "postgresql" and (problem := pg_problem()) is not None:
        message = (f"POSTGRESQL RELAY TESTS SKIPPED: no PostgreSQL at 127.0.0.1:5432 "
                   f"(user postgres, db test): {problem}")
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)


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
