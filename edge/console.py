"""The CLIs' consoles, built when they print rather than when a module is imported: Rich reads
the terminal's width (and `COLUMNS`) when a Console is made, and a CLI module imported early
(by another command, a test runner) would otherwise print every later table at whatever width
held then, cutting device ids short."""

from __future__ import annotations

from typing import Any


class LateConsole:
    def __init__(self, **options: Any) -> None:
        self._options = options

    def __getattr__(self, name: str) -> Any:
        from rich.console import Console

        return getattr(Console(**self._options), name)
