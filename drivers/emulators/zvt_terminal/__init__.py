"""A ZVT payment terminal emulator that speaks the real bytes over a real TCP socket or a pty.

It answers the commands `drivers/zvt/driver.py` sends, with the same `messages` functions, and
keeps its own journal of what it did with money (booked, stored offline, reversed, refunded,
pre-authorization held/captured/released), which tests assert on ("each order charged exactly
once" is checked against this journal, not against what the ECR believes).

Outcomes are scripted per next money command (`script`) or as a default (`set_default`):
approve, decline, abort, timeout (ACK then silence; optionally after the money moved),
disconnect_after_ack, disconnect_after_booking (money moved, nothing reaches the ECR),
disconnect_after_status (status information sent, completion lost), offline (approve as stored,
forwarded later, optionally declined on forward) and slow (a delay with 04 FF keep-alives).
`set_link(False)` takes the processor link down: sales are then stored, other money commands
refused with A3; `set_link(True)` forwards the stored payments.

Invariants: one transaction at a time across all connections (a second one gets 84 9C);
every money command the terminal accepts adds exactly one journal entry; money moves at most
once per command whatever happens to the link afterwards.

Modules: `books` (journal, scripts, processor link), `session` (one ECR conversation),
`server` (TCP listener or pty, threads, control surface), `control` (the same control as JSON
lines on a loopback port, for an emulator in another process), `__main__` (the process:
`python -m drivers.emulators.zvt_terminal --port 20007 [--serial] [--journal FILE]
[--control-port N]`).
"""

from drivers.emulators.zvt_terminal.books import OUTCOMES, JournalEntry, Script
from drivers.emulators.zvt_terminal.server import ZvtTerminalEmulator

__all__ = ["OUTCOMES", "JournalEntry", "Script", "ZvtTerminalEmulator"]
