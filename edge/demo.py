"""Demo mode: a store with a catalog and enrolled lanes, ready to ring a sale.

Idempotent: the catalog is imported only into an empty store, and lane tokens are created once
and kept in `demo-tokens.json` (mode 0600) in the data dir, so every start can print them.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import msgspec

from edge import lanes
from core.catalog import parse_json
from edge.catalog.service import import_document
from edge.service import StoreService

TOKENS_FILENAME = "demo-tokens.json"
DEMO_LANES: tuple[tuple[str, lanes.Role], ...] = (
    ("lane-1", "cashier"), ("lane-2", "cashier"), ("manager-1", "manager"),
)


def demo_catalog_bytes() -> bytes:
    return resources.files("edge").joinpath("demo_catalog.json").read_bytes()


def seed(service: StoreService) -> dict[str, str]:
    """Import the demo catalog if the store has none; return lane id -> token.

    The service must be started (the import goes through its writer)."""
    doc = parse_json(demo_catalog_bytes())
    service.writer.run_sync(lambda tx: _import_if_empty(tx, doc))
    return _tokens(service)


def _import_if_empty(tx, doc) -> None:
    if tx.conn.execute("SELECT 1 FROM products LIMIT 1").fetchall():
        return
    import_document(tx, doc, lane_id=None)


def _tokens(service: StoreService) -> dict[str, str]:
    path: Path = service.data_dir / TOKENS_FILENAME
    if path.exists():
        saved: dict[str, str] = msgspec.json.decode(path.read_bytes())
        if all(service.authenticate(token) is not None for token in saved.values()):
            return saved
    tokens = {lane: service.enroll_lane(lane, role).token for lane, role in DEMO_LANES}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(msgspec.json.format(msgspec.json.encode(tokens)))
    return tokens
