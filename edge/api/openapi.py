"""What the generated OpenAPI cannot say by itself, said once here, so the spec states exactly
what the server does (the lanes' contract; `tests/acceptance/test_openapi_fuzz.py` holds the
server to it with every schemathesis check, stateless and stateful).

Applied to the document Litestar generates, once, when it is first asked for (`/schema`,
`/schema/openapi.json`; `render_plugins()`): generating it at start cost more than the rest of
the app's construction, and a daemon is started far more often than its schema is read.

- Public routes (`/health/*`) need no token: `security: []`.
- `/health/ready` answers 503 with the same `Health` body when the store cannot sell.
- The lane event stream is `text/event-stream`, not JSON.
- Every operation with a body answers 415 for another Content-Type; the catalog import
  declares its body (a `CatalogDocument` as JSON, or CSV), which its handler reads raw.
- Business dates are `format: date`.
- Links: open a cart -> add lines -> change/remove them, tender -> complete -> the order, its
  receipt, its refunds; so a stateful client (schemathesis' stateful phase) rings real sales.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import msgspec

from edge.api.problems import PROBLEM_MEDIA_TYPE, problem_doc
from schemas.catalog import CatalogDocument

_CART = "/v1/carts/{cart_id}"
_ORDER = "/v1/orders/{order_id}"
# (method, path) of a response -> {link name: (method, path) of the target, parameters}.
Links = dict[str, tuple[tuple[str, str], dict[str, str]]]
_LINKS: dict[tuple[str, str], Links] = {}


def _cart_links(*, lines: bool = True, only: tuple[str, ...] | None = None) -> Links:
    """Links from a cart view; to its lines and tenders only where the cart has them (`only`:
    the next steps that make sense after the operation, e.g. completing after a tender)."""
    body = "$response.body"
    cart = {"cart_id": f"{body}#/cart_id"}
    line = {**cart, "line_id": f"{body}#/lines/0/line_id"}
    links = {
        "GetCart": (("get", _CART), cart),
        "AddLine": (("post", f"{_CART}/lines"), cart),
        "ChangeQty": (("patch", f"{_CART}/lines/{{line_id}}"), line),
        "RemoveLine": (("delete", f"{_CART}/lines/{{line_id}}"), line),
        "ApplyDiscount": (("post", f"{_CART}/discounts"), cart),
        "Reprice": (("post", f"{_CART}/reprice"), cart),
        "AddTender": (("post", f"{_CART}/tenders"), cart),
        "RemoveTender": (("delete", f"{_CART}/tenders/{{tender_id}}"),
                         {**cart, "tender_id": f"{body}#/tenders/0/tender_id"}),
        "Void": (("post", f"{_CART}/void"), cart),
        "Complete": (("post", f"{_CART}/complete"), cart),
    }
    if not lines:  # a new cart: to its first line (or its end)
        for name in ("ChangeQty", "RemoveLine", "RemoveTender", "Reprice", "AddTender",
                     "Complete"):
            del links[name]
    if only is not None:
        links = {k: v for k, v in links.items() if k in only}
    return links


def _order_links() -> Links:
    order = {"order_id": "$response.body#/order_id"}
    return {
        "GetOrder": (("get", _ORDER), order),
        "GetReceipt": (("get", f"{_ORDER}/receipt"), order),
        "PrintReceipt": (("post", f"{_ORDER}/receipt/print"), order),
        "Refund": (("post", f"{_ORDER}/refunds"), order),
    }


_LINKS[("post", "/v1/carts")] = _cart_links(lines=False)
# After a line: more lines, change them, discount, pay (a tender is not there yet).
_LINKS[("post", f"{_CART}/lines")] = _cart_links(only=(
    "GetCart", "AddLine", "ChangeQty", "RemoveLine", "ApplyDiscount", "AddTender", "Void"))
# After a tender: complete the sale, or take the tender back, or pay more.
_LINKS[("post", f"{_CART}/tenders")] = _cart_links(only=(
    "GetCart", "Complete", "RemoveTender", "AddTender"))
for _op in [("patch", f"{_CART}/lines/{{line_id}}"), ("delete", f"{_CART}/lines/{{line_id}}"),
            ("post", f"{_CART}/discounts"), ("post", f"{_CART}/reprice"),
            ("delete", f"{_CART}/tenders/{{tender_id}}"), ("get", _CART)]:
    _LINKS[_op] = _cart_links()
_LINKS[("post", f"{_CART}/complete")] = _order_links()
_LINKS[("get", _ORDER)] = _order_links()
_LINKS[("post", f"{_ORDER}/refunds")] = {
    "GetRefund": (("get", "/v1/refunds/{refund_id}"), {"refund_id": "$response.body#/refund_id"}),
    "GetOrder": (("get", _ORDER), {"order_id": "$response.body#/order_id"}),
}
_LINKS[("post", "/v1/vouchers")] = {
    "GetVoucher": (("get", "/v1/vouchers/{code}"), {"code": "$response.body#/code"}),
}

def _one_of(*names: str) -> dict[str, Any]:
    """Exactly one of `names` set (not null)."""
    return {"oneOf": [{"properties": {n: {"not": {"type": "null"}}}, "required": [n]}
                      for n in names]}


def _not_both(a: str, b: str) -> dict[str, Any]:
    return {"not": {"properties": {a: {"not": {"type": "null"}}, b: {"not": {"type": "null"}}},
                    "required": [a, b]}}


# The rules a request Struct checks in `__post_init__` (schemas.api), as JSON Schema says them.
_REQUEST_RULES: dict[str, dict[str, Any]] = {
    "AddLine": {**_one_of("sku", "barcode"), **_not_both("qty", "qty_milli")},
    "ChangeQty": _one_of("qty", "qty_milli"),
    "RefundLineRequest": {"allOf": [_one_of("line_id", "line_no"), _one_of("qty", "qty_milli")]},
}

_SUCCESS = ("200", "201", "202")
IMPORTS = "/v1/catalog/imports"
PUBLIC = ("/health/live", "/health/ready")
EVENTS = "/v1/lanes/{lane_id}/events"


def render_plugins() -> list[Any]:
    """The app's OpenAPI pages (Swagger UI at `/schema`, the JSON at `/schema/openapi.json`),
    each amending the generated document by `conform` before its first rendering. Litestar
    generates the document on the first request for it and hands the same dict on every later
    one; it is amended once (handlers of these pages run on the event loop, one at a time)."""
    from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin

    amended: list[int] = []  # id() of the document amended (one per app)

    def once(doc: dict[str, Any]) -> dict[str, Any]:
        if id(doc) not in amended:
            conform(doc)
            amended.append(id(doc))
        return doc

    class Swagger(SwaggerRenderPlugin):
        def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
            return super().render(request, once(openapi_schema))

    class Json(JsonRenderPlugin):
        def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
            return super().render(request, once(openapi_schema))

    return [Swagger(), Json()]


def conform(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (Litestar's generated OpenAPI, as a dict) amended in place; returned."""
    paths: dict[str, dict[str, Any]] = doc.get("paths", {})
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for path in PUBLIC:
        for op in paths.get(path, {}).values():
            op["security"] = []
    ready = paths.get("/health/ready", {}).get("get")
    if ready is not None:
        ok = ready["responses"]["200"]
        ready["responses"]["503"] = {"description": "The store cannot sell: the database is "
                                     "not writable or its migrations are pending",
                                     "content": ok.get("content", {})}
    events = paths.get(EVENTS, {}).get("get")
    if events is not None:
        events["responses"]["200"] = {
            "description": "A Server-Sent Events stream (one `data:` JSON object per event: "
            "scans of the lane's scanners, device changes, pickup SLA alarms, the lane's till "
            "`till.safe_drop_recommended` / `till.safe_drop_cleared`); it stays open",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    approvals = paths.get("/v1/approvals/stream", {}).get("get")
    if approvals is not None:
        approvals["responses"]["200"] = {
            "description": "A Server-Sent Events stream for managers (one `data:` JSON object "
            "per pending request or decision; never a token); it stays open",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    imports = paths.get(IMPORTS, {}).get("post")
    if imports is not None:
        template = "#/components/schemas/{name}"
        (ref,), components = msgspec.json.schema_components((CatalogDocument,),
                                                            ref_template=template)
        for name, schema in components.items():
            schemas.setdefault(name, schema)
        imports["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": ref},
            "text/csv": {"schema": {"type": "string"},
                         "x-description": "Header row with the columns of core.catalog.CSV_COLUMNS"},
        }}
    for path, item in paths.items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if "requestBody" in op:
                op["responses"].setdefault("415", {
                    "description": problem_doc(415),
                    "content": {PROBLEM_MEDIA_TYPE: {
                        "schema": {"$ref": "#/components/schemas/Problem"}}},
                })
            for param in op.get("parameters", []):
                if param.get("name") == "business_date":
                    _date_format(param.get("schema", {}))
            links = _LINKS.get((method, path))
            if links:
                for status in _SUCCESS:
                    if status in op["responses"]:
                        op["responses"][status]["links"] = _links(paths, links)
    _msgspec_extras(schemas)
    for name, rule in _REQUEST_RULES.items():
        if name in schemas:
            schemas[name].update(rule)
    for name in ("OrderView", "ReceiptView", "ZReport"):
        prop = schemas.get(name, {}).get("properties", {}).get("business_date")
        if prop is not None:
            _date_format(prop)
    return doc


_EXTRAS = ("x-free-text", "pattern", "deprecated")


def _msgspec_extras(schemas: dict[str, Any]) -> None:
    """What a contract's msgspec schema says and Litestar's generator leaves out: unknown
    fields refused (`additionalProperties: false`), `Meta(extra_json_schema=...)` (free text,
    its pattern, deprecated fields)."""
    modules = _contract_modules()
    for name, component in schemas.items():
        cls = next((getattr(m, name) for m in modules if hasattr(m, name)), None)
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            continue
        _, defs = msgspec.json.schema_components((cls,), ref_template="#/components/{name}")
        if defs[name].get("additionalProperties") is False:  # forbid_unknown_fields: 400
            component["additionalProperties"] = False
        if "description" in defs[name]:  # the docstring: required fields, safe defaults
            component.setdefault("description", defs[name]["description"])
        for prop, schema in defs[name].get("properties", {}).items():
            extras = {k: v for branch in [schema, *schema.get("anyOf", [])]
                      for k, v in branch.items() if k in _EXTRAS}
            target = component.get("properties", {}).get(prop)
            if target is not None and extras:
                target.update(extras)


def _contract_modules() -> list[Any]:
    """Every module of `schemas` (each domain's contracts live in one of their own)."""
    import schemas as package

    return [importlib.import_module(f"schemas.{m.name}")
            for m in pkgutil.iter_modules(package.__path__)]


def _date_format(schema: dict[str, Any]) -> None:
    for branch in schema.get("oneOf", [schema]):
        if branch.get("type") == "string":
            branch["format"] = "date"


def _links(paths: dict[str, dict[str, Any]],
           links: dict[str, tuple[tuple[str, str], dict[str, str]]]) -> dict[str, Any]:
    out = {}
    for name, ((method, path), params) in links.items():
        target = paths.get(path, {}).get(method)
        if target is None or "operationId" not in target:
            continue
        out[name] = {"operationId": target["operationId"], "parameters": dict(params)}
    return out
