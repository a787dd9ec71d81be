"""Tenant scoping, enforced once: the lane's bearer token decides tenant, store, lane and role.

A token enrolled for another tenant or store is refused here, so no handler needs to (or may)
look at tenant or store fields anywhere else.
"""

from __future__ import annotations

import time

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from edge.lanes import Principal

# A revoked token stops working within this many seconds (cache of positive look-ups only).
TOKEN_CACHE_TTL_S = 30.0
TOKEN_CACHE_MAX = 1_024
PUBLIC_PATHS = ["^/health", "^/metrics", "^/schema"]


class LaneAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        service = connection.app.state.service
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("send the lane token as 'Authorization: Bearer <token>'")
        token = token.strip()
        cache: dict[str, tuple[Principal, float]] = connection.app.state.token_cache
        now = time.monotonic()
        hit = cache.get(token)
        if hit is not None and hit[1] > now:
            principal = hit[0]
        else:
            principal = service.authenticate(token)
            if principal is None:
                cache.pop(token, None)
                raise NotAuthorizedException("unknown or revoked lane token")
            if len(cache) >= TOKEN_CACHE_MAX:
                cache.clear()
            cache[token] = (principal, now + TOKEN_CACHE_TTL_S)
        ident = service.identity
        if principal.tenant_id != ident.tenant_id or principal.store_id != ident.store_id:
            raise PermissionDeniedException(
                f"this token belongs to tenant {principal.tenant_id} store {principal.store_id}, "
                f"not to this store ({ident.tenant_id}/{ident.store_id})"
            )
        connection.scope.setdefault("state", {})["principal"] = principal
        return AuthenticationResult(user=principal, auth=token)
