"""Authentication and tenant scoping, enforced once, in middleware.

Lane routes: the lane's bearer token decides tenant, store, lane and role. A token enrolled for
another tenant or store is refused here, so no handler needs to (or may) look at tenant or
store fields anywhere else.

Admin routes (`/v1/admin/...`, the local tooling API behind `novapos-edge devices|status`):
the daemon's admin token (`edge.devices.admin`), only from a loopback peer; the caller acts as
the store's own manager on the admin scope. Lane tokens are never accepted there, and the
admin token is never accepted on lane routes.

Refused tokens are counted per peer address (`core.ratelimit`, `[auth_limit]` in config.toml):
a peer with too many is answered 429 with Retry-After, for lane and admin routes alike, before
its token is looked at. A good request pays one dict look-up for it.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from core.ratelimit import FailureLimiter
from edge.lanes import Principal
from edge.store.writer import StoreIdentity

# A revoked token stops working within this many seconds (cache of positive look-ups only).
TOKEN_CACHE_TTL_S = 30.0
TOKEN_CACHE_MAX = 1_024
PUBLIC_PATHS = ["^/health", "^/metrics", "^/schema"]
ADMIN_PATH_PREFIX = "/v1/admin"
# Admin actions share one idempotency scope that no lane id can collide with.
ADMIN_LANE = "admin:local"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer(connection: ASGIConnection, what: str) -> str:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(f"send the {what} as 'Authorization: Bearer <token>'")
    return token.strip()


class LaneTokens:
    """Lane bearer tokens to principals, with a short cache of positive look-ups (a revoked
    token stops working within `TOKEN_CACHE_TTL_S`). One object serves the middleware and the
    hot routes (`edge.api.fastlane`), so a token means the same everywhere."""

    def __init__(self, authenticate: Callable[[str], Principal | None],
                 identity: StoreIdentity, limiter: FailureLimiter | None = None) -> None:
        self._authenticate = authenticate
        self.identity = identity
        # Refused credentials per peer, shared by the middleware and the fast lane.
        self.limiter = limiter if limiter is not None else FailureLimiter()
        self._cache: dict[str, tuple[Principal, float]] = {}

    def lookup(self, token: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = self._authenticate(token)
        if principal is None:
            self._cache.pop(token, None)
            return None
        if len(self._cache) >= TOKEN_CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (principal, now + TOKEN_CACHE_TTL_S)
        return principal

    def of_this_store(self, principal: Principal) -> bool:
        ident = self.identity
        return (principal.tenant_id, principal.store_id) == (ident.tenant_id, ident.store_id)


class AuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, *, tokens: LaneTokens,
                 admin_token: Callable[[], str | None], exclude: list[str] | None = None) -> None:
        super().__init__(app, exclude=exclude)
        self._tokens = tokens
        self._identity = tokens.identity
        self._admin_token = admin_token
        self._limiter = tokens.limiter

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        peer = connection.client.host if connection.client else ""
        self._limiter.check(peer)
        try:
            if connection.scope["path"].startswith(ADMIN_PATH_PREFIX):
                return self._admin(connection)
            return self._lane(connection)
        except NotAuthorizedException:
            self._limiter.failed(peer)
            raise

    def _lane(self, connection: ASGIConnection) -> AuthenticationResult:
        token = _bearer(connection, "lane token")
        principal = self._tokens.lookup(token)
        if principal is None:
            raise NotAuthorizedException("unknown or revoked lane token")
        if not self._tokens.of_this_store(principal):
            ident = self._identity
            raise PermissionDeniedException(
                f"this token belongs to tenant {principal.tenant_id} store {principal.store_id}, "
                f"not to this store ({ident.tenant_id}/{ident.store_id})"
            )
        return AuthenticationResult(user=principal, auth=token)

    def _admin(self, connection: ASGIConnection) -> AuthenticationResult:
        client = connection.client.host if connection.client else None
        if not is_loopback(client):
            raise PermissionDeniedException("the admin API answers only on the loopback interface")
        expected = self._admin_token()
        token = _bearer(connection, "admin token from <data dir>/admin-token")
        if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
            raise NotAuthorizedException("wrong admin token (the daemon writes a new one at "
                                         "each start)")
        ident = self._identity
        admin = Principal(ident.tenant_id, ident.store_id, ADMIN_LANE, "manager", "admin-token")
        return AuthenticationResult(user=admin, auth=token)
