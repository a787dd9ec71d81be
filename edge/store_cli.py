"""`novapos-edge store ...`: the event log's storage (retention, its checkpoints, sizes).

`store compact` runs retention once (`edge.store.retention`): events the relay acknowledged
and older than `[retention] max_age_days` leave the hot log at a checkpoint. Safe while the
daemon runs (the cut is one transaction of a writer; the daemon's writer sees the change and
reads its head afresh). Exit codes: 0 done (or nothing to do), 2 bad input, 3 unavailable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole

store_app = App(help="The event log's storage: retention and checkpoints.",
                no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@store_app.command("compact")
def compact(
    data_dir: DataDir = None,
    max_age_days: Annotated[Optional[int], typer.Option(
        "--max-age-days", min=30, help="Override [retention] max_age_days (default 400).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would leave.")] = False,
    vacuum: Annotated[bool, typer.Option(
        "--vacuum", help="Then VACUUM: give the freed pages back to the disk (needs free "
                         "space about the database's size; blocks writers meanwhile).")] = False,
    json_out: JsonOut = False,
) -> None:
    """Remove acknowledged events older than the retention age; the log continues from a
    recorded checkpoint that `verify` starts from."""
    import msgspec

    from core.errors import ConfigError, Refused
    from edge import compose
    from edge import config as config_mod
    from edge.paths import default_data_dir
    from edge.store import retention
    from edge.store.db import DB_FILENAME

    path = data_dir or default_data_dir()
    if not (path / DB_FILENAME).exists():
        err.print(f"[red]error:[/red] no store database in {path} (run `novapos-edge init`)")
        raise typer.Exit(3)
    try:
        config = config_mod.load(path)
        store = compose.store_of(path, config)
    except (ConfigError, Refused) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exc.exit_code) from exc
    age = max_age_days if max_age_days is not None else config.retention.max_age_days
    store.start()
    try:
        p = retention.plan(store.reader, store.clock.now_ms(), age)
        outcome = None
        if not dry_run and p.cut_seq is not None:
            outcome = retention.run(store, compose.layout(), age)
    finally:
        store.stop()
    sizes = retention.vacuum(store.db_path) if vacuum and not dry_run else None
    result = {
        "max_age_days": age, "acked_seq": p.acked_seq, "previous_checkpoint_seq": p.checkpoint_seq,
        "cut_seq": p.cut_seq, "removable": p.removable, "dry_run": dry_run,
        "removed": outcome.removed if outcome else 0,
        "checkpoint_seq": outcome.checkpoint_seq if outcome else p.checkpoint_seq,
        "checkpoint_hash": outcome.checkpoint_hash.hex() if outcome else None,
        "bytes_before_vacuum": sizes[0] if sizes else None,
        "bytes_after_vacuum": sizes[1] if sizes else None,
    }
    if json_out:
        out.print_json(msgspec.json.encode(result).decode())
        return
    if p.cut_seq is None:
        out.print(f"nothing to remove: no event both acknowledged by the relay (acked seq "
                  f"{p.acked_seq}) and older than {age} days after checkpoint {p.checkpoint_seq}")
    elif dry_run:
        out.print(f"would remove events {p.checkpoint_seq + 1}-{p.cut_seq} ({p.removable})")
    else:
        out.print(f"removed {result['removed']} events; the log continues after checkpoint "
                  f"seq {result['checkpoint_seq']} (hash {result['checkpoint_hash']})")
    if sizes:
        out.print(f"vacuum: {sizes[0] / 1e6:.1f} MB -> {sizes[1] / 1e6:.1f} MB")
