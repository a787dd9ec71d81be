"""Whatever the terminal does, the ECR's view after reconciliation matches the money moved.

For a random run of scripted outcomes, each sale's final answer (reconciled through
`last_transaction()` when the answer was unknown) must agree with the emulator's journal:
approved/stored → charged the amount exactly once, declined/aborted → charged nothing.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.emulators.zvt_terminal import ZvtTerminalEmulator
from drivers.zvt import ZvtTerminal

SCRIPTS = [
    ("approve", {}), ("decline", {}), ("abort", {}), ("offline", {}),
    ("timeout", {"hold_s": 5.0}), ("timeout", {"after_booking": True, "hold_s": 5.0}),
    ("disconnect_after_ack", {}), ("disconnect_after_booking", {}),
    ("disconnect_after_status", {}),
]
_orders = itertools.count()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(SCRIPTS), min_size=1, max_size=5),
       st.lists(st.integers(1, 99_999), min_size=5, max_size=5))
def test_every_sale_is_charged_exactly_as_reported(
        emulator: ZvtTerminalEmulator, terminal: ZvtTerminal,
        scripts: list[tuple[str, dict]], amounts: list[int]) -> None:
    for (outcome, params), amount in zip(scripts, amounts, strict=False):
        ref = f"order-{next(_orders)}"
        emulator.script(outcome, **params)
        result = terminal.authorize(amount, "EUR", ref, timeout_s=0.3)
        if result.outcome in ("timeout", "failed"):
            last = terminal.last_transaction()
            assert last is not None and last.ecr_ref == ref
            result = last
        expected = amount if result.outcome in ("approved", "stored_offline") else 0
        assert result.outcome in ("approved", "stored_offline", "declined", "aborted")
        assert emulator.charged_minor(ref) == expected
