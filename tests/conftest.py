from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.live_app import LiveApp, start_live_app

_keys = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    # In-process daemons (live apps) log from their own threads, and structlog's default
    # logger prints to whatever `sys.stdout` is at that moment: during a `CliRunner.invoke`,
    # the command's captured output, so a `--json` answer would carry another test's log line.
    # Their lines go to whatever `sys.stderr` is instead (pytest's capture of the test).
    structlog.configure(logger_factory=lambda *args: structlog.PrintLogger(sys.stderr))


def new_key() -> str:
    return f"test-key-{next(_keys)}"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_live_app(tmp_path / "store")
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def live_with(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], LiveApp]]:
    """A live app whose config is overridden by NOVAPOS_* environment entries."""
    apps: list[LiveApp] = []

    def start(env: dict[str, str]) -> LiveApp:
        apps.append(start_live_app(tmp_path / f"store-{len(apps)}", env=env))
        return apps[-1]

    try:
        yield start
    finally:
        for app in apps:
            app.close()
