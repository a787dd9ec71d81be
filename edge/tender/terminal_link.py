"""The daemon's link to its payment terminal: one driver, one transaction at a time.

Driver calls block (they wait for a cardholder), so each runs in a worker thread
(`asyncio.to_thread`) and never on the event loop. An asyncio lock makes the daemon talk to the
terminal one transaction at a time, and callers hold it across "ask the terminal, then commit
the answer" (`session`), so the terminal's last transaction is always either committed or the
one payment still pending — which is what crash reconciliation relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from drivers.terminal import PaymentTerminal
from schemas.terminal import TerminalResult

log = structlog.get_logger("novapos.tender")


MONEY_CALLS = frozenset({"authorize", "preauthorize", "capture", "reverse", "refund"})


def _never_connected(terminal: PaymentTerminal) -> bool:
    return terminal.status().causes == ["not_connected"]


class TerminalUnreachable(Exception):
    """The driver could not even connect: no byte of the request reached the terminal."""


class TerminalLink:
    def __init__(self, factory: Callable[[], PaymentTerminal], terminal_id: str,
                 device: PaymentTerminal | None = None, aliases: tuple[str, ...] = ()) -> None:
        self._factory = factory
        self._terminal: PaymentTerminal | None = None
        self.terminal_id = terminal_id
        # Other ids payments may have recorded for this terminal (its address, before ids).
        self.aliases = aliases
        self._lock = asyncio.Lock()
        # The one driver object behind `factory`, when it always returns the same one: the
        # device registry lists and watches it (edge/devices/terminal.py), so the store's
        # terminal has one ECR connection, shared by payments and device health.
        self.device = device

    @property
    def in_use(self) -> bool:
        """True while a session holds the terminal (a transaction or the commit of its result)."""
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[TerminalLink]:
        """Exclusive use of the terminal for one transaction and the commit of its result."""
        async with self._lock:
            yield self

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one driver call in a thread. Raises TerminalUnreachable when no connection could
        be made (so nothing was sent); any other failure is the driver's result to report."""
        assert self._lock.locked(), "terminal calls run inside a session"
        return await asyncio.to_thread(self._call, method, args, kwargs)

    def _call(self, method: str, args: tuple, kwargs: dict) -> Any:
        if self._terminal is None:
            terminal = self._factory()
            try:
                terminal.open()  # a failure to connect shows as its error state, not a raise
            except Exception as exc:  # any failure to connect means nothing sent
                with contextlib.suppress(Exception):
                    terminal.close()
                raise TerminalUnreachable(str(exc) or type(exc).__name__) from exc
            self._terminal = terminal
        terminal = self._terminal
        try:
            result = getattr(terminal, method)(*args, **kwargs)
        except Exception:
            # The driver should have answered with a result; a raise means the link is in an
            # unknown state: drop it so the next call reconnects.
            self._drop()
            raise
        if (method in MONEY_CALLS and isinstance(result, TerminalResult)
                and result.outcome == "failed" and _never_connected(terminal)):
            # The driver could not even connect: nothing reached the terminal.
            raise TerminalUnreachable(result.detail or "not connected")
        return result

    def _drop(self) -> None:
        terminal, self._terminal = self._terminal, None
        if terminal is not None:
            with contextlib.suppress(Exception):
                terminal.close()

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._drop)


def unknown(amount_minor: int, detail: str) -> TerminalResult:
    return TerminalResult(outcome="failed", amount_minor=amount_minor, detail=detail)
