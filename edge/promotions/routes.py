"""Promotion routes: which bundle the store runs, and why the last one was refused."""

from __future__ import annotations

from litestar import Controller, get

from edge.api.deps import Injected
from edge.api.problems import READ_PROBLEMS
from edge.lanes import Principal
from edge.promotions import status
from edge.promotions.settings import PromotionsConfig
from edge.store.kernel import Store
from schemas import promotions as sp


class PromotionsController(Controller):
    path = "/v1/promotions"
    tags = ["promotions"]
    store: Store
    promotions: PromotionsConfig

    @get("/", responses=READ_PROBLEMS,
         summary="The active promotion bundle and the last refusal")
    async def bundle_status(self, who: Injected[Principal]) -> sp.BundleStatus:
        return status.of(self.store.reader, self.promotions)
