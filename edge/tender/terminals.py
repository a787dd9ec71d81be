"""The store's payment terminals (`[[devices.terminals]]`, ZVT over TCP; each a
`TerminalConfig`): which one a lane's card tenders use, and which one holds a payment.

A card tender is taken on its lane's terminal (the terminal that lists the lane, else
`default_terminal`); the payment records that terminal's id, and every later step of it
(capture, reversal, refund by reference, reconciliation after a crash) goes to the terminal
that holds it, whichever lane asks. Each terminal has its own `TerminalLink` (one ECR
connection, one transaction at a time), so lanes with their own terminals never queue behind
each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from drivers.device import StatisticsSink
from edge.payments.machine import Payment
from edge.tender.settings import TenderConfig, TerminalConfig
from edge.tender.terminal_link import TerminalLink
from schemas.devices import DeviceAddress


def _link(t: TerminalConfig, tender: TenderConfig, currency: str,
          statistics: StatisticsSink | None) -> TerminalLink:
    from drivers.zvt import ZvtTerminal  # only stores with a terminal load the driver

    address = DeviceAddress(transport="tcp", host=t.host, port=t.port)
    terminal = ZvtTerminal(
        t.id, address, statistics=statistics, password=t.password, currency=currency,
        ack_timeout_s=t.connect_timeout_s,
        max_transaction_s=max(tender.terminal_transaction_timeout_s, 1.0),
    )
    # The driver is built once and reused after a dropped link (it reconnects on its next
    # call): the device registry shares that object.
    return TerminalLink(lambda: terminal, t.id, device=terminal,
                        aliases=(f"zvt:{t.host}:{t.port}",))


class Terminals:
    def __init__(self, links: list[TerminalLink],
                 terminal_for_lane: Callable[[str], str | None]) -> None:
        self._links = {link.terminal_id: link for link in links}
        self._by_alias = {a: link for link in links for a in link.aliases}
        self._terminal_for_lane = terminal_for_lane

    @classmethod
    def from_config(cls, terminals: list[TerminalConfig],
                    terminal_for_lane: Callable[[str], str | None], tender: TenderConfig,
                    currency: str, statistics: StatisticsSink | None = None) -> Terminals:
        return cls([_link(t, tender, currency, statistics) for t in terminals],
                   terminal_for_lane)

    def __iter__(self) -> Iterator[TerminalLink]:
        return iter(self._links.values())

    def __bool__(self) -> bool:
        return bool(self._links)

    def for_lane(self, lane_id: str) -> TerminalLink | None:
        tid = self._terminal_for_lane(lane_id)
        return self._links.get(tid) if tid is not None else None

    def by_id(self, terminal_id: str | None) -> TerminalLink | None:
        if terminal_id is None:
            return None
        # Payments taken before terminals had ids recorded the terminal's address.
        return self._links.get(terminal_id) or self._by_alias.get(terminal_id)

    def holding(self, p: Payment) -> TerminalLink | None:
        """The terminal that took `p` (else its lane's, for a payment that never reached one)."""
        return self.by_id(p.terminal_id) or self.for_lane(p.lane_id)
