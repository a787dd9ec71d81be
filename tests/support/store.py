"""The store kernel as tests drive it directly: composed with every domain's read models, plus
the checkout `policy` the domain commands take (the daemon composes the same two)."""

from __future__ import annotations

from pathlib import Path

from core.clock import Clock
from edge import compose
from edge.config import Config
from edge.store import rebuild
from edge.store.kernel import Store
from edge.store.rebuild import VerifyReport


class TestStore(Store):
    __test__ = False  # not a test class

    def __init__(self, data_dir: Path, config: Config, clock: Clock | None = None) -> None:
        super().__init__(data_dir, config.store, compose.layout(), clock, writer=config.writer,
                         idempotency=config.idempotency)
        self.config = config
        self.policy = compose.policy_of(config)


def verify(db_path: Path) -> VerifyReport:
    """`novapos-edge verify` of a store database, with every domain's read models."""
    return rebuild.verify(db_path, compose.layout())
