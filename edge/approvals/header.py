"""The X-Approval-Token header, as the routes of every domain whose actions may need an
approval declare it (so the OpenAPI says which routes read it), and how it joins the request
the gate and the commands see."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from litestar.params import HeaderParameter

from edge.store.idempotency import Mutation

TOKEN_HEADER = "X-Approval-Token"
TOKEN_DOC = (
    "A manager's approval for exactly this request (from POST /v1/approvals/{id}/pin, or "
    "GET /v1/approvals/{id} once approved from a manager's device). Send the same request "
    "again, same Idempotency-Key, with this header. Single use; expires ([approvals] "
    "token_ttl_s, 120 s by default); bound to the action, its cart or order and its amount.")

ApprovalToken = Annotated[
    str | None,
    HeaderParameter(name=TOKEN_HEADER, required=False, description=TOKEN_DOC,
                    max_length=200),
]


def with_token(mutation: Mutation, token: str | None) -> Mutation:
    return mutation if token is None else dataclasses.replace(mutation, approval_token=token)
