"""The carts domain as the daemon composes it."""

from __future__ import annotations

from edge.carts import migrations, projection
from edge.carts.routes import CartController
from edge.domain import Domain

DOMAIN = Domain(name="carts", projections=projection.PROJECTIONS, tables=projection.TABLES,
                migrations=migrations.MIGRATIONS,
                routes=[CartController],
                hot=[CartController.open_cart, CartController.add_line,
                     CartController.change_qty, CartController.remove_line])
