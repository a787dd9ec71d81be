"""The daemon's Litestar application, built from the composed daemon: the domains' routes,
authentication in middleware, the problem mapping, OpenAPI at /schema (JSON at
/schema/openapi.json). Routes receive the daemon's services and the request's typed values
(`who`, `mutation`) by dependency injection (`edge.api.deps`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

import edge
from core.ratelimit import FailureLimiter
from edge.api import deps, health
from edge.api.auth import PUBLIC_PATHS, AuthMiddleware
from edge.api.observability import Observability
from edge.api.problems import EXCEPTION_HANDLERS
from edge.compose import DOMAINS, Daemon
from edge.sync_link import status as sync_status


def _const(value: Any) -> Provide:
    # A service of the composed daemon, the same object for every request.
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def create_app(daemon: Daemon) -> Litestar:
    store = daemon.store

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with daemon.lifespan():
            yield

    def sync_report(conn):
        return sync_status(store, daemon.config.sync, daemon.sync_engine, conn=conn)

    dependencies = {
        "who": Provide(deps.principal, sync_to_thread=False),
        "mutation": Provide(deps.mutation, sync_to_thread=False),
        "store": _const(store),
        "policy": _const(daemon.policy),
        "payments": _const(daemon.payments),
        "printing": _const(daemon.printing),
        "receipts": _const(daemon.printing),
        "devices": _const(daemon.devices),
        "sync_report": _const(sync_report),
    }
    return Litestar(
        lifespan=[lifespan],
        route_handlers=[health.live, health.ready, health.metrics,
                        *(route for d in DOMAINS for route in d.routes)],
        dependencies=dependencies,
        middleware=[DefineMiddleware(
            AuthMiddleware, authenticate=store.authenticate, identity=store.identity,
            admin_token=lambda: daemon.devices.admin_token,
            limiter=FailureLimiter(daemon.config.auth_limit), exclude=PUBLIC_PATHS)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=daemon.config.api.max_body_bytes,
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


def create_asgi(daemon: Daemon) -> Any:
    """The app wrapped in the outermost observability layer: what the server runs."""
    return Observability(create_app(daemon), daemon.store.metrics)
