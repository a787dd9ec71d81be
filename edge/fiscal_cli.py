"""`novapos-edge fiscal ...` and `novapos-edge export ...`: the signed period archive, its
offline verification, and the DSFinV-K export, all generated from the store's log alone.

Imports are lazy (inside the commands): `--help` stays fast. Exit codes as everywhere in the
CLI: 0 ok, 1 verification failed, 2 bad input, 3 no store.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole
from edge.paths import default_data_dir

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3

fiscal_app = App(help="The signed fiscal journal: period archives and their offline "
                 "check.", no_args_is_help=True)
export_app = App(help="Exports from the store's log (DSFinV-K).", no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
FromDay = Annotated[str, typer.Option("--from", help="First business day, YYYY-MM-DD.")]
ToDay = Annotated[str, typer.Option("--to", help="Last business day, YYYY-MM-DD.")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _days(from_day: str, to_day: str) -> tuple[str, str]:
    try:
        a, b = date.fromisoformat(from_day), date.fromisoformat(to_day)
    except ValueError as exc:
        raise _fail(f"--from and --to must be YYYY-MM-DD: {exc}", EXIT_BAD_INPUT) from exc
    if a > b:
        raise _fail("--from is after --to", EXIT_BAD_INPUT)
    return a.isoformat(), b.isoformat()


def _open_store(data_dir: Path | None):
    """(data dir, config, read-only connection) of the store, or exit 3/4."""
    from core.errors import ConfigError, Refused
    from edge import config as config_mod
    from edge.store.db import DB_FILENAME, open_connection

    path = data_dir or default_data_dir()
    if not (path / DB_FILENAME).exists():
        raise _fail(f"no store database in {path} (run `novapos-edge init`)", EXIT_UNAVAILABLE)
    try:
        cfg = config_mod.load(path)
    except (ConfigError, Refused) as exc:
        raise _fail(str(exc), exc.exit_code) from exc
    return path, cfg, open_connection(path / DB_FILENAME, readonly=True)


@fiscal_app.command("archive")
def archive_cmd(
    archive: Annotated[Path, typer.Argument(help="The archive file to write.")],
    from_day: FromDay, to_day: ToDay, data_dir: DataDir = None,
) -> None:
    """Write the signed period archive of business days FROM..TO: the log's events with their
    signatures, and daily, monthly and yearly grand totals, each line signed and chained."""
    from edge.fiscal import archive as arch
    from edge.fiscal.signer import SignerUnavailable, SoftwareSigner

    a, b = _days(from_day, to_day)
    path, cfg, conn = _open_store(data_dir)
    try:
        signer = SoftwareSigner.load_or_create(path)
        n = arch.write(archive, conn, cfg.store.store_id, signer, a, b)
    except SignerUnavailable as exc:
        raise _fail(exc.detail, EXIT_UNAVAILABLE) from exc
    finally:
        conn.close()
    out.print(f"archive {archive}: {n} records, business days {a}..{b}, key {signer.key_id}")


@fiscal_app.command("verify")
def verify_cmd(
    archive: Annotated[Path, typer.Argument(help="An archive written by `fiscal archive`.")],
    public_key: Annotated[Optional[str], typer.Option(
        "--public-key", help="The store's public key (base64) as HQ knows it; default: the "
        "key the archive names.")] = None,
    json_out: JsonOut = False,
) -> None:
    """Check an archive offline: every record's signature and chain, the events' hash chain
    and fiscal signatures, and every grand total; names the first bad record."""
    import msgspec

    from edge.fiscal import archive as arch

    if not archive.exists():
        raise _fail(f"no archive {archive}", EXIT_BAD_INPUT)
    v = arch.verify(archive, public_key)
    if json_out:
        out.print_json(msgspec.json.encode(v).decode())
    elif v.ok:
        out.print(f"archive ok: {v.records} records, signed by key {v.key_id}")
    else:
        out.print(f"[red]archive BAD at record {v.bad_record}[/red] ({v.kind or 'unknown'}): "
                  f"{v.reason}")
    raise typer.Exit(EXIT_OK if v.ok else EXIT_FAILED)


@export_app.command("dsfinvk")
def dsfinvk_cmd(
    directory: Annotated[Path, typer.Argument(help="Directory to write the export into.")],
    from_day: FromDay, to_day: ToDay, data_dir: DataDir = None, json_out: JsonOut = False,
) -> None:
    """DSFinV-K 2.4 export of business days FROM..TO into DIR (new or empty): every file of
    the master data, cash point closing and single record modules, with index.xml and its
    DTD, from the log alone; see docs/fiscal.md for the files."""
    import msgspec

    from core.errors import InvalidInput
    from edge.fiscal import dsfinvk

    a, b = _days(from_day, to_day)
    path, cfg, conn = _open_store(data_dir)
    try:
        summary = dsfinvk.export(directory, conn, cfg, a, b)
    except InvalidInput as exc:
        raise _fail(exc.detail, EXIT_BAD_INPUT) from exc
    finally:
        conn.close()
    if json_out:
        out.print_json(msgspec.json.encode(summary).decode())
    else:
        out.print(f"DSFinV-K export in {directory}: {summary.closings} cash point closing(s), "
                  f"{summary.transactions} transaction(s), files: {', '.join(summary.files)}")
