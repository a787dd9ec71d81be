"""`novapos-edge approvers ...`: enroll approvers (name and PIN), list them with their lockout
and devices, enroll a manager device's Ed25519 public key, revoke one. The Python API twins
are `edge.approvals.commands` (and the admin API, `/v1/admin/approvers`, on a running
daemon). They write the store database directly, as `lanes` does: approvers and device keys
are kept outside the event log, so a running daemon sees them at its next request.
Exit codes: 0 done, 2 bad input (unknown approver or device, bad key or PIN), 3 no store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole
from edge.paths import default_data_dir

if TYPE_CHECKING:
    import apsw

EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 2, 3
approvers_app = App(help="Manager approvers: PINs and enrolled devices.",
                    no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _conn(data_dir: Path | None) -> apsw.Connection:
    from edge.store.db import DB_FILENAME, open_connection

    path = (data_dir or default_data_dir()) / DB_FILENAME
    if not path.exists():
        raise _fail(f"no store database at {path}: run `novapos-edge init` and start the "
                    "daemon once", EXIT_UNAVAILABLE)
    conn = open_connection(path)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'approvers'").fetchall():
        conn.close()
        raise _fail("this store's database predates approvals: start the daemon once to "
                    "upgrade it", EXIT_UNAVAILABLE)
    return conn


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@approvers_app.command("add")
def add(
    approver_id: Annotated[str, typer.Argument(help="Approver id, e.g. anna.")],
    name: Annotated[str, typer.Option(help="The approver's name, for the audit trail.")],
    pin: Annotated[Optional[str], typer.Option(help="4-12 digits (asked for when omitted).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Enroll an approver, or set a new PIN (which lifts a lockout)."""
    import msgspec

    from edge.approvals import commands, pins
    from schemas.approvals import EnrollApprover

    if pin is None:
        pin = typer.prompt("PIN", hide_input=True, confirmation_prompt=True)
    try:
        req = msgspec.convert({"approver_id": approver_id, "name": name, "pin": pin},
                              EnrollApprover)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from exc
    conn = _conn(data_dir)
    try:
        with conn:
            commands.enroll_approver(conn, req.approver_id, req.name, pins.hash_pin(req.pin),
                                     _now_ms())
    finally:
        conn.close()
    out.print(f"approver {approver_id} enrolled")


@approvers_app.command("list")
def listing(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Approvers, their wrong-PIN count and lockout, and their devices (never PINs)."""
    import msgspec
    from rich.table import Table

    from edge.approvals import views

    conn = _conn(data_dir)
    try:
        found = views.approvers(conn)
    finally:
        conn.close()
    if json_out:
        out.print_json(msgspec.json.encode(found).decode())
        return
    table = Table("approver", "name", "wrong PINs", "locked until (ms)", "devices", "revoked")
    for a in found.approvers:
        table.add_row(a.approver_id, a.name, str(a.failures), str(a.locked_until_ms or ""),
                      ", ".join(a.devices), ", ".join(a.revoked_devices))
    out.print(table)


@approvers_app.command("enroll-device")
def enroll_device(
    approver_id: Annotated[str, typer.Argument(help="The approver who holds the device.")],
    device_id: Annotated[str, typer.Argument(help="A new device id, e.g. anna-phone.")],
    public_key: Annotated[str, typer.Option(help="Raw 32-byte Ed25519 public key, base64.")],
    data_dir: DataDir = None,
) -> None:
    """Enroll a manager device's public key: its signed statements approve remotely."""
    import msgspec

    from core.errors import DomainError
    from edge.approvals import commands
    from schemas.approvals import EnrollDevice

    try:
        req = msgspec.convert({"device_id": device_id, "public_key": public_key}, EnrollDevice)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from exc
    conn = _conn(data_dir)
    try:
        with conn:
            commands.enroll_device(conn, approver_id, req, _now_ms())
    except DomainError as exc:
        raise _fail(exc.detail, EXIT_BAD_INPUT) from exc
    finally:
        conn.close()
    out.print(f"device {device_id} enrolled for {approver_id}")


@approvers_app.command("revoke-device")
def revoke_device(
    device_id: Annotated[str, typer.Argument(help="The device whose key to revoke.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a device's key: its decisions and unspent approvals stop working at once."""
    from core.errors import DomainError
    from edge.approvals import commands

    conn = _conn(data_dir)
    try:
        with conn:
            commands.revoke_device(conn, device_id, _now_ms())
    except DomainError as exc:
        raise _fail(exc.detail, EXIT_BAD_INPUT) from exc
    finally:
        conn.close()
    out.print(f"device {device_id} revoked")
