"""`novapos-edge checklist ...`: today's checklists and ticking an item from the store PC.
A tick is an event like a lane's (through the store's writer), recorded as `cli:<name>`.
Imports are lazy: `--help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole
from edge.paths import default_data_dir

checklist_app = App(help="Store open/close checklists: list today's, tick an item.",
                    no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]


def _store(data_dir: Path | None):
    from core.errors import DomainError
    from edge import compose
    from edge import config as config_mod

    path = data_dir or default_data_dir()
    try:
        return compose.store_of(path, config_mod.load(path))
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(exc.exit_code) from exc


@checklist_app.command("list")
def list_cmd(data_dir: DataDir = None, json_out: Annotated[bool, typer.Option("--json")] = False
             ) -> None:
    """Today's checklists: each item, who ticked it and when, what is overdue."""
    import msgspec

    from core.business_day import business_date
    from edge.checklists import commands

    store = _store(data_dir)
    store.start()
    try:
        now = store.clock.now_ms()
        i = store.identity
        found = commands.views(store.reader, business_date(now, i.tz, i.day_close_hour), now,
                               i.tz)
    finally:
        store.stop()
    if json_out:
        out.print_json(msgspec.json.encode(found).decode())
        return
    for v in found:
        out.print(f"[bold]{v.title}[/bold] ({v.kind}, {v.checklist_id}) {v.business_date}")
        for it in v.items:
            mark = "x" if it.ticked_by else ("!" if it.overdue else " ")
            due = f" (due {it.due_local})" if it.due_local else ""
            who = f"  ticked by {it.ticked_by}" if it.ticked_by else ""
            out.print(f"  [{mark}] {it.item_id}: {it.text}{due}{who}", highlight=False)


@checklist_app.command("tick")
def tick_cmd(
    checklist_id: str, item_id: str,
    by: Annotated[str, typer.Option("--by", help="Who ticks it (recorded as cli:<by>).")],
    note: Annotated[str, typer.Option("--note")] = "", data_dir: DataDir = None,
) -> None:
    """Tick an item of today's checklist."""
    from core.errors import DomainError
    from edge.checklists import commands

    store = _store(data_dir)
    store.start()
    try:
        store.writer.run_sync(lambda tx: commands.tick(tx, checklist_id, item_id,
                                                       f"cli:{by}"[:64], None, note))
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(exc.exit_code if exc.status >= 500 else 2) from exc
    finally:
        store.stop()
    out.print(f"ticked {checklist_id}/{item_id} by cli:{by}")
