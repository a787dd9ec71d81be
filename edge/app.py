"""The daemon's Litestar application, built from the composed daemon: the domains' controllers
with the daemon's services bound to them, authentication in middleware, the problem mapping,
OpenAPI at /schema (JSON at /schema/openapi.json). The request's typed values (`who`,
`mutation`) come by dependency injection (`edge.api.deps`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Controller, Litestar
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

import edge
from core.ratelimit import FailureLimiter
from edge.api import bodies, deps, fastlane, health, openapi
from edge.api.auth import PUBLIC_PATHS, AuthMiddleware, LaneTokens
from edge.api.observability import Observability
from edge.api.problems import EXCEPTION_HANDLERS
from edge.compose import DOMAINS, Daemon
from edge.sync_link import status as sync_status


def create_app(daemon: Daemon, tokens: LaneTokens | None = None,
               bound: dict[type[Controller], type[Controller]] | None = None) -> Litestar:
    tokens = tokens or lane_tokens(daemon)
    bound = bound or bind_controllers(daemon)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with daemon.lifespan():
            yield

    app = Litestar(
        lifespan=[lifespan],
        route_handlers=list(bound.values()),
        dependencies={
            "who": Provide(deps.principal, sync_to_thread=False),
            "mutation": Provide(deps.mutation, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(
                AuthMiddleware,
                tokens=tokens,
                admin_token=lambda: daemon.devices.admin_token,
                exclude=PUBLIC_PATHS,
            ),
            DefineMiddleware(bodies.BodyGate, max_body_bytes=daemon.config.api.max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=daemon.config.api.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="NovaPOS Edge store API",
            version=edge.__version__,
            description="Checkout API of one store's edge daemon. Every mutating request needs "
            "an Idempotency-Key header and a lane bearer token.",
            path="/schema",
            # Generated and amended (openapi.conform) at the first request for it, not at
            # start: building it was most of the app's start-up time (and MB held from start).
            render_plugins=openapi.render_plugins(),
            components=Components(
                security_schemes={
                    "LaneToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="Lane token from `novapos-edge lanes enroll`; binds tenant, store, "
                        "lane and role",
                    )
                }
            ),
            security=[{"LaneToken": []}],
        ),
        debug=False,
        logging_config=None,
    )
    return app


def lane_tokens(daemon: Daemon) -> LaneTokens:
    store = daemon.store
    return LaneTokens(store.authenticate, store.identity, FailureLimiter(daemon.config.auth_limit))


def bind_controllers(daemon: Daemon) -> dict[type[Controller], type[Controller]]:
    """Every controller of the daemon with its declared services bound (constructor wiring)."""
    store = daemon.store

    def sync_report(conn):
        return sync_status(store, daemon.config.sync, daemon.sync_engine, conn=conn)

    services = {
        "store": store,
        "policy": daemon.policy,
        "payments": daemon.payments,
        "printing": daemon.printing,
        "receipts": daemon.printing,
        "devices": daemon.devices,
        # A static method: a plain function set on the controller class would be bound to the
        # controller instance and called with it as the connection (the report then failed
        # and `novapos-edge status` never showed sync).
        "sync_report": staticmethod(sync_report),
        "returns_policy": daemon.returns_policy,
        "approvals": daemon.approvals,
        "inventory": daemon.config.inventory,
        "pickup": daemon.config.pickup,
        "promotions": daemon.config.promotions,
        "loyalty": daemon.loyalty,
        "cash": daemon.config.cash,
    }
    controllers = [health.HealthController, *(c for d in DOMAINS for c in d.routes)]
    return {c: deps.bind(c, services) for c in controllers}


def create_asgi(daemon: Daemon, *, fast_lane: bool = True) -> Any:
    """What the server runs: the app behind the fast lane for the hot routes (the common case
    of a sale's requests), inside the outermost observability layer."""
    store = daemon.store
    tokens = lane_tokens(daemon)
    bound = bind_controllers(daemon)
    app: Any = create_app(daemon, tokens, bound)
    if fast_lane:
        routes = [fastlane.route(app, bound[c], h) for d in DOMAINS for h in d.hot
                  for c in d.routes if h in c.__dict__.values()]
        app = fastlane.FastLane(app, routes, tokens, daemon.config.api.max_body_bytes,
                                store.metrics.fast_lane_total)
    return Observability(app, store.metrics)
