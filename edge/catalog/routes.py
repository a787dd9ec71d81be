"""Catalog routes: item look-up for lanes, and the admin import (manager tokens only)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter, PathParameter

from core.catalog import MAX_IMPORT_BYTES
from core.errors import NotFound
from core.price_lock import current_price
from edge.api.bodies import media_type
from edge.api.deps import Injected, respond
from edge.api.problems import READ_PROBLEMS, WRITE_PROBLEMS
from edge.catalog import lookup
from edge.catalog.service import import_document, parse_upload
from edge.errors import Forbidden
from edge.lanes import Principal
from edge.store.idempotency import Mutation, answer
from edge.store.kernel import Store
from schemas import api

IMPORT_JSON, IMPORT_CSV = "application/json", "text/csv"

Code = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _product_view(conn, item: lookup.Item, now_ms: int) -> api.ProductView:
    point = current_price(lookup.price_points(conn, item.sku), now_ms)
    return api.ProductView(
        sku=item.sku,
        product_id=item.product_id,
        name=item.name,
        sold_by=item.sold_by,  # type: ignore[arg-type]
        attributes=item.attributes,
        barcodes=lookup.barcodes_of(conn, item.sku),
        tax_class=item.tax_class,
        tax_rate_ppm=item.tax_rate_ppm,
        unit_price_minor=point.amount_minor if point else None,
        price_version=point.version if point else None,
    )


class CatalogController(Controller):
    path = "/v1/catalog"
    tags = ["catalog"]
    store: Store

    @get("/items/{sku:str}", responses=READ_PROBLEMS, summary="An item and its current price")
    async def item(self, sku: Code) -> api.ProductView:
        item = lookup.by_sku(self.store.reader, sku)
        if item is None:
            raise NotFound(f"no item with SKU {sku}")
        return _product_view(self.store.reader, item, self.store.clock.now_ms())

    @get(
        "/barcodes/{code:str}", responses=READ_PROBLEMS, summary="Resolve a scanned code to an item"
    )
    async def barcode(self, code: Code) -> api.ProductView:
        item = lookup.by_barcode(self.store.reader, code)
        if item is None:
            raise NotFound(f"no item with barcode {code}")
        return _product_view(self.store.reader, item, self.store.clock.now_ms())

    @get("/items", responses=READ_PROBLEMS, summary="Search items by SKU or name")
    async def search(
        self,
        q: str = Parameter(min_length=1, max_length=64),
        limit: int = Parameter(default=20, ge=1, le=100),
    ) -> list[api.ProductView]:
        now, reader = self.store.clock.now_ms(), self.store.reader
        return [_product_view(reader, i, now) for i in lookup.search(reader, q, limit)]

    @post(
        "/imports",
        status_code=201,
        responses=WRITE_PROBLEMS,
        request_max_body_size=MAX_IMPORT_BYTES,
        # Read raw below; the body gate refuses any other Content-Type with 415.
        opt={"media_types": (IMPORT_JSON, IMPORT_CSV)},
        summary="Import a catalog, all or nothing: a CatalogDocument as JSON, or CSV with "
        "Content-Type text/csv (manager token)",
    )
    async def import_catalog(
        self, request: Request[Principal, Any, Any], mutation: Injected[Mutation]
    ) -> Response[api.CatalogImportResult]:
        # The body is read raw here: it is a JSON CatalogDocument or CSV by its content type.
        if not mutation.who.is_manager:
            raise Forbidden("catalog imports need a manager token")
        data = await request.body()
        is_csv = media_type(request.headers.get("content-type")) == IMPORT_CSV
        doc, csv_lines = parse_upload(data, is_csv=is_csv)
        return respond(
            await self.store.gate.run(
                mutation,
                msgspec.to_builtins(doc),
                lambda tx: answer(
                    201, import_document(tx, doc, lane_id=mutation.who.lane_id, csv_lines=csv_lines)
                ),
            )
        )
