"""The daemon's Litestar application: routes, tenant-scoping middleware, problem mapping,
OpenAPI at /schema (JSON at /schema/openapi.json)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

import edge
from edge.api.auth import PUBLIC_PATHS, LaneAuthMiddleware
from edge.api.idempotency import IdempotencyGate
from edge.api.observability import Observability
from edge.api.problems import EXCEPTION_HANDLERS
from edge.api.routes import health
from edge.api.routes.carts import CartController
from edge.api.routes.catalog import CatalogController
from edge.api.routes.devices import AdminController, LaneDeviceController
from edge.api.routes.orders import OrderController
from edge.api.routes.printing import reprint_receipt
from edge.api.routes.tenders import TenderController
from edge.api.routes.reports import ReportController
from edge.devices.admin import ADMIN_PATHS
from edge.service import StoreService
from edge.tender.service import Payments
from edge.tender.terminals import terminal_link


def create_app(service: StoreService) -> Litestar:
    cfg = service.config
    link = terminal_link(cfg.tender, cfg.store.currency, statistics=service.device_statistics)
    # The device registry lists and watches the payments' own driver (one ECR connection).
    service.devices.use_terminal(link)
    payments = Payments(service, link)

    @contextlib.asynccontextmanager
    async def run_writer(_app: Litestar) -> AsyncIterator[None]:
        # The store writer's batching task lives exactly as long as the app serves.
        task = asyncio.create_task(service.writer.serve(), name="store-writer")
        service.printing.attach_loop(asyncio.get_running_loop())
        # Payments left pending by a crash are reconciled from the start; stored offline card
        # payments are forwarded when the link is back.
        payments_task = asyncio.create_task(payments.run(lambda: False), name="payments")
        try:
            yield
        finally:
            payments_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await payments_task
            await payments.close()
            service.printing.attach_loop(None)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def run_devices(_app: Litestar) -> AsyncIterator[None]:
        # After the writer (device events and counters go through it), stopped before it.
        await service.devices.start()
        try:
            yield
        finally:
            await service.devices.stop()

    @contextlib.asynccontextmanager
    async def run_sync(_app: Litestar) -> AsyncIterator[None]:
        # Uploads the log and applies down-sync in the background while the app serves; a
        # store without a relay URL or credential runs without it.
        from sync.engine import engine_for_service

        engine = engine_for_service(service)
        if engine is None:
            yield
            return
        service.sync_engine = engine
        task = asyncio.create_task(engine.run(), name="sync-engine")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            service.sync_engine = None

    return Litestar(
        lifespan=[run_writer, run_devices, run_sync],
        route_handlers=[
            CartController, OrderController, CatalogController, TenderController,
            health.live, health.ready, health.metrics,
            reprint_receipt, LaneDeviceController, AdminController,
            ReportController,
        ],
        middleware=[DefineMiddleware(LaneAuthMiddleware, exclude=PUBLIC_PATHS + ADMIN_PATHS)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        state=State({"service": service, "gate": IdempotencyGate(service), "token_cache": {},
                     "payments": payments}),
        request_max_body_size=service.config.api.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="NovaPOS Edge store API", version=edge.__version__,
            description="Checkout API of one store's edge daemon. Every mutating request needs "
            "an Idempotency-Key header and a lane bearer token.",
            path="/schema", render_plugins=[SwaggerRenderPlugin()],
            components=Components(security_schemes={"LaneToken": SecurityScheme(
                type="http", scheme="bearer",
                description="Lane token from `novapos-edge lanes enroll`; binds tenant, store, "
                "lane and role")}),
            security=[{"LaneToken": []}],
        ),
        debug=False,
        logging_config=None,
    )


def create_asgi(service: StoreService) -> Any:
    """The app wrapped in the outermost observability layer: what the server runs."""
    return Observability(create_app(service), service.metrics)
