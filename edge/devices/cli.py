"""`novapos-edge devices ...` and the daemon half of `novapos-edge status`.

They talk to the running daemon's local admin API (`edge.devices.client`). Human tables by
default, `--json` for scripts. Exit codes, as everywhere in the CLI: 0 all good, 1 something
is degraded (a device down, a health check failed, a print job failed), 2 bad input (unknown
device, bad lane), 3 the daemon is not running or not reachable.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from core.cli_group import App
from edge.console import LateConsole
from edge.paths import default_data_dir, read_daemon_info

if TYPE_CHECKING:
    from rich.table import Table

    from edge.devices.client import AdminClient

# The CLI answers `--help` and `status` in a blink: the HTTP client, the store, msgspec and Rich
# are imported by the commands that use them, not by this module.

EXIT_OK, EXIT_DEGRADED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3

devices_app = App(help="Devices attached to the running daemon: list, status, watch, "
                  "health, bindings, test print, drawer kick.", no_args_is_help=True)
out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DeviceArg = Annotated[str, typer.Argument(help="Device id (see `novapos-edge devices list`).")]


def _fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")  # text, not markup
    return typer.Exit(code)


def _call(data_dir: Path | None, fn: Callable[[AdminClient], Any]) -> Any:
    from edge.devices.client import AdminClient, AdminError, DaemonUnreachable

    path = data_dir or default_data_dir()
    try:
        client = AdminClient.connect(path)
    except DaemonUnreachable as exc:
        raise _fail(str(exc), EXIT_UNAVAILABLE) from exc
    try:
        return fn(client)
    except DaemonUnreachable as exc:
        raise _fail(str(exc), EXIT_UNAVAILABLE) from exc
    except AdminError as exc:
        # 409: the device cannot do it now (down): degraded, not the caller's mistake.
        code = EXIT_BAD_INPUT if exc.status < 500 and exc.status != 409 else EXIT_DEGRADED
        raise _fail(exc.detail, code) from exc
    finally:
        client.close()


def _json(value: Any) -> None:
    import msgspec

    out.print_json(msgspec.json.encode(value).decode())


def is_down(d: dict) -> bool:
    return d["kind"] != "unsupported" and (
        d["state"] == "error" or d["power"] in ("offline", "off_offline"))


def _state(d: dict) -> str:
    if d["kind"] == "unsupported":
        return "[dim]unsupported[/dim]"
    colour = "red" if is_down(d) else {"idle": "green", "busy": "yellow"}.get(d["state"], "dim")
    return f"[{colour}]{d['state']}[/{colour}]"


def _address(a: dict) -> str:
    if a["transport"] == "tcp":
        return f"tcp {a['host']}:{a['port']}"
    ids = f" {a['vendor_id']:04x}:{a['product_id'] or 0:04x}" if a.get("vendor_id") is not None else ""
    return f"{a['transport']} {a.get('path') or ''}{ids}".strip()


def _causes(d: dict) -> str:
    return ", ".join(c.replace("_", " ") for c in d["causes"] if c != "unsupported")


def device_table(devices: list[dict]) -> Table:
    from rich.table import Table

    table = Table()
    for name in ("device", "kind", "state", "power", "cause", "lane", "address", "driver / product"):
        # Fold, never ellipsize: ids and paths get copied into the next command.
        table.add_column(name, overflow="fold")
    for d in devices:
        table.add_row(d["device_id"], d["kind"].replace("_", " "), _state(d), d["power"],
                      f"[red]{_causes(d)}[/red]" if _causes(d) else "", d["lane_id"] or "",
                      _address(d["address"]), d["driver"] or d.get("detail") or "")
    return table


@devices_app.command("list")
def devices_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Every attached device, supported or not, with state and lane; exit 1 if any is down."""
    listing = _call(data_dir, lambda c: c.get("/v1/admin/devices"))
    if json_out:
        _json(listing)
    elif not listing["devices"]:
        out.print("no devices attached")
    else:
        out.print(device_table(listing["devices"]))
    raise typer.Exit(EXIT_DEGRADED if any(is_down(d) for d in listing["devices"]) else EXIT_OK)


@devices_app.command("status")
def devices_status(device_id: DeviceArg, data_dir: DataDir = None, json_out: JsonOut = False
                   ) -> None:
    """One device: state, cause, lane and its statistics; exit 1 if it is down."""
    d = _call(data_dir, lambda c: c.get(f"/v1/admin/devices/{device_id}"))
    if json_out:
        _json(d)
    else:
        out.print(device_table([d]))
        since = datetime.fromtimestamp(d["since_ms"] / 1000, UTC).isoformat(timespec="seconds")
        out.print(f"in this state since {since}" + (f"; {d['detail']}" if d.get("detail") else ""))
        from rich.table import Table

        stats = Table("statistic", "count")
        for name, value in sorted(d["statistics"].items()):
            stats.add_row(name.replace("_", " "), str(value))
        out.print(stats)
    raise typer.Exit(EXIT_DEGRADED if is_down(d) else EXIT_OK)


@devices_app.command("health")
def devices_health(
    device_id: DeviceArg,
    level: Annotated[str, typer.Option(help="internal (self-test) or external (visible action, "
                                       "e.g. a test print).")] = "internal",
    data_dir: DataDir = None, json_out: JsonOut = False,
) -> None:
    """Run a device health check; exit 1 when it fails."""
    if level not in ("internal", "external"):
        raise _fail(f"--level must be internal or external, not {level!r}", EXIT_BAD_INPUT)
    result = _call(data_dir, lambda c: c.request(
        "POST", f"/v1/admin/devices/{device_id}/health", {"level": level}, idempotent=True))
    if json_out:
        _json(result)
    else:
        mark = "[green]ok[/green]" if result["ok"] else "[red]FAILED[/red]"
        causes = ", ".join(result["causes"])
        out.print(f"{device_id} {level} health: {mark} {result['detail']}"
                  + (f" ({causes})" if causes else ""))
    raise typer.Exit(EXIT_OK if result["ok"] else EXIT_DEGRADED)


@devices_app.command("bind")
def devices_bind(
    device_id: DeviceArg,
    lane_id: Annotated[str, typer.Argument(help="Lane the device serves.")],
    scan_adds_to_cart: Annotated[Optional[bool], typer.Option(
        "--scan-adds-to-cart/--scan-only",
        help="Scans add items to the lane's open cart (default: the store setting).")] = None,
    data_dir: DataDir = None, json_out: JsonOut = False,
) -> None:
    """Bind a device to a lane (kept across restarts and re-plugging)."""
    body: dict[str, Any] = {"lane_id": lane_id}
    if scan_adds_to_cart is not None:
        body["scan_adds_to_cart"] = scan_adds_to_cart
    binding = _call(data_dir, lambda c: c.request(
        "PUT", f"/v1/admin/devices/{device_id}/binding", body, idempotent=True))
    if json_out:
        _json(binding)
    else:
        out.print(f"{device_id} bound to lane {binding['lane_id']}")


@devices_app.command("unbind")
def devices_unbind(device_id: DeviceArg, data_dir: DataDir = None) -> None:
    """Remove a device's lane binding."""
    _call(data_dir, lambda c: c.request("DELETE", f"/v1/admin/devices/{device_id}/binding",
                                        idempotent=True))
    out.print(f"{device_id} is no longer bound to a lane")


@devices_app.command("test-print")
def devices_test_print(device_id: DeviceArg, data_dir: DataDir = None,
                       json_out: JsonOut = False) -> None:
    """Queue a test page on a receipt printer (it prints as soon as the printer can)."""
    job = _call(data_dir, lambda c: c.request(
        "POST", f"/v1/admin/devices/{device_id}/test-print", {}, idempotent=True))
    if json_out:
        _json(job)
    else:
        out.print(f"test page queued on {device_id} (job {job['job_id']}, {job['state']})")


@devices_app.command("kick-drawer")
def devices_kick_drawer(device_id: DeviceArg, data_dir: DataDir = None,
                        json_out: JsonOut = False) -> None:
    """Open the cash drawer wired to a receipt printer; exit 1 if the printer cannot."""
    status = _call(data_dir, lambda c: c.request(
        "POST", f"/v1/admin/devices/{device_id}/kick-drawer", {}, idempotent=True))
    if json_out:
        _json(status)
    else:
        out.print(f"drawer pulse sent through {device_id}")


def _describe_event(kind: str, data: Any) -> str:
    if kind in ("device.attached", "device.detached"):
        return f"{kind:16} {data['device_id']} ({data['kind']}) {_address(data['address'])}"
    if kind == "device.state":
        causes = _causes(data)
        return f"{kind:16} {data['device_id']} {data['state']} {data['power']}" + (
            f" ({causes})" if causes else "")
    if kind == "scan":
        s = data["scan"]
        lane = data["lane_id"] or "no lane"
        return f"{kind:16} {s['device_id']} {s['code']} -> {lane}: {data['outcome']}"
    return f"{kind:16} {data}"


@devices_app.command("watch")
def devices_watch(
    data_dir: DataDir = None, json_out: JsonOut = False,
    count: Annotated[Optional[int], typer.Option(help="Stop after this many events.")] = None,
) -> None:
    """Follow attach/detach, state changes and scans live (Ctrl-C to stop)."""
    def follow(client: AdminClient) -> int:
        seen = 0
        for kind, data in client.events():
            if kind == "snapshot":
                if not json_out:
                    out.print(device_table(data["devices"]))
                continue
            if kind == "end":
                err.print(f"stream ended by the daemon ({data})")
                return EXIT_UNAVAILABLE if data == "shutdown" else EXIT_OK
            if json_out:
                _json({"event": kind, "data": data})
            else:
                out.print(_describe_event(kind, data), highlight=False)
            seen += 1
            if count is not None and seen >= count:
                return EXIT_OK
        return EXIT_UNAVAILABLE

    try:
        code = _call(data_dir, follow)
    except KeyboardInterrupt:
        code = EXIT_OK
    raise typer.Exit(code)


# --- novapos-edge status ---------------------------------------------------------------------


def _local_report(path: Path) -> dict[str, Any]:
    from edge.store import eventlog
    from edge.store.db import DB_FILENAME, open_connection

    db = path / DB_FILENAME
    conn = open_connection(db, readonly=True)
    try:
        head_seq, _ = eventlog.head(conn)
        orders = conn.execute("SELECT count(*) FROM orders").fetchall()[0][0]
    finally:
        conn.close()
    return {"db_bytes": sum(p.stat().st_size for p in path.glob(DB_FILENAME + "*")),
            "free_disk_bytes": shutil.disk_usage(path).free, "events": head_seq, "orders": orders}


def store_status(path: Path, json_out: bool) -> int:
    """Print the store status and return the exit code (the `status` command's body)."""
    from edge.devices.client import AdminClient, AdminError, DaemonUnreachable

    info = read_daemon_info(path)
    daemon: dict[str, Any] = {"running": False, "url": info.url if info else None, "ready": None}
    remote: dict[str, Any] | None = None
    reason = None
    try:
        client = AdminClient.connect(path)
        try:
            remote = client.get("/v1/admin/status")
        finally:
            client.close()
    except (DaemonUnreachable, AdminError) as exc:
        reason = str(exc)
    if remote is None:
        report: dict[str, Any] = {"daemon": daemon, **_local_report(path), "degraded": True,
                                  "problems": [f"daemon: {reason}"]}
    else:
        daemon.update(running=True, ready=remote["daemon"]["ready"])
        db = remote["database"]
        report = {"daemon": daemon, "store_id": remote["store_id"], **db,
                  "sync": remote["sync"], "print_queues": remote["print_queues"],
                  "devices": remote["devices"], "devices_down": remote["devices_down"],
                  "problems": remote["problems"], "warnings": remote["warnings"],
                  "degraded": remote["degraded"]}
    if json_out:
        _json(report)
    else:
        _print_status(report, reason)
    if remote is None:
        return EXIT_UNAVAILABLE
    return EXIT_DEGRADED if report["degraded"] else EXIT_OK


def _print_status(r: dict[str, Any], reason: str | None) -> None:
    d = r["daemon"]
    if not d["running"]:
        out.print(f"daemon   [red]NOT RUNNING[/red] {reason or ''}", highlight=False)
    else:
        state = "[green]ready[/green]" if d["ready"] else "[yellow]not ready[/yellow]"
        out.print(f"daemon   {state} {d['url']}", highlight=False)
    low = r["free_disk_bytes"] < 1024**3
    out.print(f"database {r['db_bytes'] / 1024**2:.1f} MiB, {r['events']} events, "
              f"{r['orders']} orders")
    out.print(f"disk     {r['free_disk_bytes'] / 1024**3:.1f} GiB free"
              + (" [red](low)[/red]" if low else ""))
    if not d["running"]:
        return
    sync = r["sync"]
    if sync is None or not sync["configured"]:
        out.print("sync     not configured (no relay enrolled: `novapos-edge sync enroll`)")
    else:
        age = sync["last_success_age_s"]
        ok = "never" if age is None else f"{age:.0f} s ago"
        alarms = sync["open_alarms"]
        out.print(f"sync     outbox {sync['lag_events']} events not yet acked, last success {ok}"
                  + (f", [red]{alarms} open alarm(s)[/red]" if alarms else ""))
        if sync.get("chain_broken_at_seq") is not None:
            out.print(f"sync     [red]event log chain broken at seq {sync['chain_broken_at_seq']}"
                      "[/red]: the events before it are uploaded, none from it on")
    for q in r["print_queues"]:
        line = f"printing {q['device_id']}: {q['queued']} queued"
        if q["failed"]:
            line += f", {q['failed']} failed (reprint from the lane)"
        out.print(line, highlight=False)
    supported = [x for x in r["devices"] if x["kind"] != "unsupported"]
    down = [x for x in supported if is_down(x)]
    out.print(f"devices  {len(supported)} attached, "
              + (f"[red]{len(down)} down[/red]" if down else "[green]none down[/green]"))
    if down:
        out.print(device_table(down))
    for w in r.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    for p in r.get("problems", []):
        out.print(f"[red]problem:[/red] {p}", highlight=False)
