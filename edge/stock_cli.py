"""`novapos-edge stock ...`: show, receive, count, adjust, ship. A shell of the composition
root (it opens the composed store, so it lives beside `edge.cli`, not in the domain), thin over
`edge.inventory.commands` on the store database (like `catalog import`); the heavy modules
are imported when a command runs, so `--help` stays fast.

Quantities are given in units (decimals for weighed goods: 0.25 is 250 milli-units). The
CLI acts for the store's operator: commands that need a manager (a count variance or an
adjustment above [inventory] manager_above_milli) need `--manager`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole
from edge.paths import default_data_dir

if TYPE_CHECKING:
    from edge.store.kernel import Store

stock_app = App(help="Stock: show, receive, count, adjust, ship transfers.",
                no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Manager = Annotated[bool, typer.Option("--manager", help="Approve as a manager (a variance "
                                                        "above the threshold needs it).")]
Lines = Annotated[list[str], typer.Argument(help="SKU=QTY pairs, QTY in units (0.5 allowed).")]
CLI_LANE = "cli"


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _milli(text: str) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text) * 1000
    except InvalidOperation:
        raise _fail(f"not a quantity: {text!r}", 2) from None
    if value != value.to_integral_value():
        raise _fail(f"{text!r} has more than 3 decimals", 2)
    return int(value)


def _operator(tx, config, manager: bool):
    """The CLI acting for the store's operator, and the approval rules it answers to: with
    `--manager` the store's rules, so the approval is audited (`approval.overridden` naming
    lane `cli`); without, none (a variance above the threshold is refused: no one at a shell
    can be asked for an approval token)."""
    from edge import compose
    from edge.lanes import Principal

    who = Principal(tx.identity.tenant_id, tx.identity.store_id, CLI_LANE,
                    "manager" if manager else "cashier", CLI_LANE)
    return who, compose.approval_policy_of(config) if manager else None


def _pairs(lines: list[str]) -> list[tuple[str, int]]:
    out_ = []
    for item in lines:
        sku, sep, qty = item.partition("=")
        if not sep or not sku:
            raise _fail(f"expected SKU=QTY, got {item!r}", 2)
        out_.append((sku, _milli(qty)))
    return out_


def _open(data_dir: Path | None) -> tuple[Store, object]:
    from core.errors import ConfigError, Refused
    from edge import compose
    from edge import config as config_mod

    path = data_dir or default_data_dir()
    try:
        config = config_mod.load(path)
        store = compose.store_of(path, config)
    except (ConfigError, Refused) as exc:
        raise _fail(str(exc), exc.exit_code) from exc
    store.start()
    return store, config


def _run(data_dir: Path | None, command, view, json_out: bool):
    """Run `command(tx, config)` in the store's writer, print `view(conn, result)`."""
    import msgspec

    from core.errors import DomainError

    store, config = _open(data_dir)
    try:
        result = store.writer.run_sync(lambda tx: command(tx, config))
        shown = view(store.reader, result)
    except DomainError as exc:
        raise _fail(exc.detail, exc.exit_code) from exc
    finally:
        store.stop()
    if json_out:
        out.print_json(msgspec.json.encode(shown).decode())
    return shown


def _units(milli: int) -> str:
    return f"{milli / 1000:g}"


@stock_app.command("show")
def show(
    sku: Annotated[Optional[str], typer.Argument(help="The SKU.")] = None,
    low: Annotated[bool, typer.Option("--low", help="SKUs at or below the low mark.")] = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """On-hand, reserved, safety and available of a SKU, or every low SKU (--low)."""
    import msgspec

    from core.errors import DomainError
    from edge.inventory import levels
    from edge.inventory.routes import stock_of
    from schemas.inventory_api import StockList

    if (sku is None) == (not low):
        raise _fail("give a SKU or --low", 2)
    store, config = _open(data_dir)
    try:
        if low:
            shown = StockList(items=levels.low(store.reader, config.inventory.low_stock_milli,
                                               1000))
        else:
            shown = StockList(items=[stock_of(store.reader, sku)])
    except DomainError as exc:
        raise _fail(exc.detail, exc.exit_code) from exc
    finally:
        store.stop()
    if json_out:
        out.print_json(msgspec.json.encode(shown if low else shown.items[0]).decode())
        return
    from rich.table import Table

    table = Table("SKU", "on hand", "reserved", "safety", "available", "")
    for v in shown.items:
        table.add_row(v.sku, _units(v.on_hand_milli), _units(v.reserved_milli),
                      _units(v.safety_milli), _units(v.available_milli),
                      "[red]negative[/red]" if v.negative else "")
    out.print(table)


@stock_app.command("receive")
def receive(
    lines: Lines,
    delivery: Annotated[Optional[str], typer.Option("--delivery", help="The announced "
                                                   "delivery (see GET /v1/stock/deliveries).")] = None,
    note: Annotated[str, typer.Option(help="A note for the receipt.")] = "",
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Record goods received (counted quantities); discrepancies against the delivery shown."""
    from edge.inventory import commands
    from schemas.inventory_api import CountedQty, ReceiveStock

    req = ReceiveStock(lines=tuple(CountedQty(s, q) for s, q in _pairs(lines)),
                       delivery_id=delivery, note=note)
    view = _run(data_dir, lambda tx, _c: commands.receive(tx, CLI_LANE, req),
                commands.receipt_view, json_out)
    if not json_out:
        for ln in view.lines:
            flag = "" if ln.discrepancy_milli == 0 else f"  discrepancy {_units(ln.discrepancy_milli)}"
            out.print(f"{ln.sku}: counted {_units(ln.counted_milli)} of "
                      f"{_units(ln.expected_milli)}{flag}")
        out.print(f"receipt {view.receipt_id}: {view.discrepancies} discrepancies")


@stock_app.command("count")
def count(
    lines: Lines,
    section: Annotated[str, typer.Option("--section", help="The section counted.")],
    manager: Manager = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Record a blind cycle count of a section; on-hand becomes what was counted."""
    from edge.inventory import commands
    from schemas.inventory_api import CountedQty, CountStock

    req = CountStock(section=section, lines=tuple(CountedQty(s, q) for s, q in _pairs(lines)))
    def run(tx, c):
        who, approvals = _operator(tx, c, manager)
        return commands.count(tx, who, c.inventory, req, approvals)

    view = _run(data_dir, run, commands.count_view, json_out)
    if not json_out:
        for ln in view.lines:
            out.print(f"{ln.sku}: counted {_units(ln.counted_milli)}, variance "
                      f"{_units(ln.variance_milli)}")


@stock_app.command("adjust")
def adjust(
    sku: Annotated[str, typer.Argument(help="The SKU.")],
    delta: Annotated[str, typer.Argument(help="Units to add; to remove, negative after --: `stock adjust SKU --reason damage -- -2`.")],
    reason: Annotated[str, typer.Option("--reason", help="damage, theft, expiry or "
                                                         "correction.")],
    note: Annotated[str, typer.Option(help="A note.")] = "",
    manager: Manager = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Adjust on-hand with a reason."""
    import msgspec

    from edge.inventory import commands
    from edge.inventory.routes import stock_of
    from schemas.inventory_api import AdjustStock

    try:
        req = msgspec.convert({"sku": sku, "delta_milli": _milli(delta), "reason": reason,
                               "note": note}, AdjustStock)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc), 2) from None
    def run(tx, c):
        who, approvals = _operator(tx, c, manager)
        return commands.adjust(tx, who, c.inventory, req, approvals)

    view = _run(data_dir, run, lambda conn, _id: stock_of(conn, sku), json_out)
    if not json_out:
        out.print(f"{sku}: on hand {_units(view.on_hand_milli)}, available "
                  f"{_units(view.available_milli)}")


@stock_app.command("ship")
def ship(
    transfer: Annotated[str, typer.Argument(help="The transfer HQ requested.")],
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Ship a transfer to another store as requested."""
    from edge.inventory import commands
    from schemas.inventory_api import ShipTransfer

    view = _run(data_dir, lambda tx, _c: commands.ship(tx, CLI_LANE, transfer, ShipTransfer()),
                lambda conn, _r: commands.transfer_view(conn, transfer), json_out)
    if not json_out:
        out.print(f"transfer {transfer} shipped to {view.to_store_id}")
