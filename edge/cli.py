"""`novapos-edge`: the store PC's command line. A thin skin over `edge.store.kernel` and friends;
every command has a Python twin the tests call directly.

Exit codes: 0 ok, 1 degraded or verification failed, 2 bad input, 3 daemon or store unavailable,
4 refused to start (the config is damaged, or disagrees with the store's database).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from core.cli_group import App
from edge.approvals.cli import approvers_app
from edge.checklists_cli import checklist_app
from edge.console import LateConsole
from edge.devices.cli import devices_app
from edge.fiscal_cli import export_app, fiscal_app
from edge.paths import default_data_dir
from edge.stock_cli import stock_app
from edge.store_cli import store_app

if TYPE_CHECKING:
    from edge.config import Config
    from edge.store.kernel import Store

EXIT_OK, EXIT_DEGRADED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3

# `App`: each sub-app becomes a command when a command line names it, and help is plain text
# (Rich's help layout costs more than the rest of `--help`): see core.cli_group.
app = App(help="NovaPOS Edge store daemon and tools.", no_args_is_help=True,
          add_completion=False)
lanes_app = App(help="Enroll, list and revoke lane tokens.", no_args_is_help=True)
catalog_app = App(help="Catalog maintenance.", no_args_is_help=True)
app.add_typer(lanes_app, name="lanes")
app.add_typer(catalog_app, name="catalog")
app.add_typer(devices_app, name="devices")
app.add_typer(approvers_app, name="approvers")
app.add_typer(stock_app, name="stock")
app.add_typer(fiscal_app, name="fiscal")
app.add_typer(export_app, name="export")
app.add_typer(checklist_app, name="checklist")
app.add_typer(store_app, name="store")

out = LateConsole()
err = LateConsole(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Store state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str, code: int) -> typer.Exit:
    from rich.markup import escape

    # The message is text, not markup: "[[devices.printers]] front: ..." must print whole.
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _config(path: Path) -> Config:
    from core.errors import ConfigError, Refused
    from edge import config as config_mod

    try:
        return config_mod.load(path)
    except (ConfigError, Refused) as exc:
        raise _fail(str(exc), exc.exit_code) from exc


def _service(data_dir: Path | None) -> Store:
    from core.errors import Refused
    from edge import compose

    path = data_dir or default_data_dir()
    config = _config(path)
    try:
        return compose.store_of(path, config)
    except Refused as exc:
        raise _fail(str(exc), exc.exit_code) from exc


@app.command()
def init(
    data_dir: DataDir = None,
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "demo-tenant",
    store: Annotated[str, typer.Option(help="Store id.")] = "store-001",
    name: Annotated[str, typer.Option(help="Store name printed on receipts.")] = "NovaPOS Demo Store",
    currency: Annotated[str, typer.Option(help="ISO 4217 currency.")] = "EUR",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the store.")] = "Europe/Berlin",
    day_close_hour: Annotated[int, typer.Option(help="Local hour the business day ends.")] = 4,
    tax_mode: Annotated[str, typer.Option(help="inclusive or exclusive.")] = "inclusive",
) -> None:
    """Create a store's data directory: config file and migrated database."""
    import msgspec

    from core.files import write_atomic
    from edge import config as config_mod
    from edge.config import StoreConfig

    path = data_dir or default_data_dir()
    cfg_path = path / config_mod.CONFIG_FILENAME
    try:
        store_cfg = msgspec.convert(
            dict(tenant_id=tenant, store_id=store, name=name, currency=currency,
                 timezone=timezone, day_close_hour=day_close_hour, tax_mode=tax_mode),
            StoreConfig,
        )
    except (msgspec.ValidationError, ValueError) as exc:
        raise _fail(f"invalid store settings: {exc}", EXIT_BAD_INPUT) from exc
    path.mkdir(parents=True, exist_ok=True)
    if cfg_path.exists():
        out.print(f"{cfg_path} exists; keeping it")
    else:
        write_atomic(cfg_path, config_mod.render_toml(store_cfg).encode(), mode=0o644)
    _service(path)  # migrates
    out.print(f"store {store_cfg.store_id} ready in {path}")


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (0 picks a free one).")] = None,
    demo_mode: Annotated[bool, typer.Option("--demo", help="Seed demo catalog and lanes.")] = False,
) -> None:
    """Run the daemon in the foreground (systemd runs this)."""
    from core import logs
    from core.errors import ConfigError, Refused
    from edge import compose, demo
    from edge.server import run
    from schemas.daemon import DaemonInfo

    path = data_dir or default_data_dir()
    config = _config(path)
    logs.configure(config.log_level)
    listen_host = host or config.api.host
    listen_port = config.api.port if port is None else port
    demo_devices = demo.DemoDevices()
    if demo_mode:
        demo_devices, config = demo.start_devices(config, path)
    try:
        daemon = compose.compose(path, config)
    except (ConfigError, Refused) as exc:
        demo_devices.stop()
        raise _fail(str(exc), exc.exit_code) from exc

    def ready(info: DaemonInfo) -> None:
        sys.stdout.write(f"novapos-edge listening on {info.url} (store {info.store_id}, data {path})\n")
        if demo_mode:
            for lane, token in demo.seed(daemon.store).items():
                sys.stdout.write(f"demo lane token {lane}: {token}\n")
            sys.stdout.write(
                f"try: curl -H 'Authorization: Bearer <token>' {info.url}/v1/catalog/items?q=milk\n"
            )
        if demo_devices.printer is not None:
            p = demo_devices.printer
            sys.stdout.write(f"demo printer on 127.0.0.1:{p.port} (control port "
                             f"{p.control_port}); receipts print to {p.paper_roll}\n")
        if demo_devices.terminal is not None:
            sys.stdout.write(f"demo payment terminal (ZVT emulator) on "
                             f"127.0.0.1:{demo_devices.terminal.port}; it approves every card\n")
        sys.stdout.flush()

    try:
        run(daemon, listen_host, listen_port, ready)
    finally:
        demo_devices.stop()


@lanes_app.command("enroll")
def lanes_enroll(
    lane_id: Annotated[str, typer.Argument(help="Lane id, e.g. lane-3.")],
    role: Annotated[str, typer.Option(help="cashier or manager.")] = "cashier",
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Issue a bearer token for a lane. The token is shown once; only its hash is stored."""
    import msgspec

    if role not in ("cashier", "manager"):
        raise _fail(f"role must be cashier or manager, not {role!r}", EXIT_BAD_INPUT)
    if not lane_id or len(lane_id) > 64 or not lane_id.replace("-", "").replace("_", "").isalnum():
        raise _fail("lane id must be 1-64 letters, digits, '-' or '_'", EXIT_BAD_INPUT)
    enrollment = _service(data_dir).enroll_lane(lane_id, role)  # type: ignore[arg-type]
    if json_out:
        out.print_json(msgspec.json.encode(
            {"lane_id": lane_id, "role": role, "token": enrollment.token,
             "token_id": enrollment.token_id}).decode())
    else:
        out.print(f"lane {lane_id} ({role}) token: {enrollment.token}")


@lanes_app.command("list")
def lanes_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Enrolled lane tokens (never the tokens themselves)."""
    import msgspec
    from rich.table import Table

    from edge import lanes
    from edge.store.db import open_connection

    svc = _service(data_dir)
    conn = open_connection(svc.db_path)
    rows = lanes.listing(conn)
    conn.close()
    if json_out:
        out.print_json(msgspec.json.encode(rows).decode())
        return
    table = Table("lane", "role", "token id", "revoked")
    for r in rows:
        table.add_row(r["lane_id"], r["role"], r["token_id"], "yes" if r["revoked_at_ms"] else "")
    out.print(table)


@lanes_app.command("revoke")
def lanes_revoke(lane_id: str, data_dir: DataDir = None) -> None:
    """Revoke every token of a lane (effective within 30 s on a running daemon)."""
    from edge import lanes
    from edge.store.db import open_connection

    svc = _service(data_dir)
    conn = open_connection(svc.db_path)
    count = lanes.revoke(conn, lane_id=lane_id, now_ms=svc.clock.now_ms())
    conn.close()
    if not count:
        raise _fail(f"lane {lane_id} has no active token", EXIT_BAD_INPUT)
    out.print(f"revoked {count} token(s) of lane {lane_id}")


loyalty_app = App(help="Loyalty: the tenant's key for customer look-ups and data.",
                  no_args_is_help=True)
app.add_typer(loyalty_app, name="loyalty")


@loyalty_app.command("import-key")
def loyalty_import_key(data_dir: DataDir = None) -> None:
    """Store the tenant's loyalty key (base64, read from stdin: HQ's GET /v1/hq/loyalty/key
    `key_b64`) in the data directory, mode 0600. Restart the daemon to use it."""
    import base64
    import binascii

    from core.errors import InvalidInput
    from edge.loyalty.service import import_key

    path = data_dir or default_data_dir()
    config = _config(path)
    try:
        key = base64.b64decode(sys.stdin.read().strip(), validate=True)
        written = import_key(path, config.loyalty, key)
    except (binascii.Error, InvalidInput) as exc:
        raise _fail(f"not a tenant loyalty key (32 bytes, base64): {exc}", EXIT_BAD_INPUT) from exc
    out.print(f"loyalty key written to {written}")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="Catalog JSON document or CSV file.")],
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Import a catalog file, all or nothing. Bad rows are listed with their row numbers."""
    import msgspec

    from core.errors import DomainError
    from edge.catalog.service import import_document, parse_upload

    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc}", EXIT_BAD_INPUT) from exc
    svc = _service(data_dir)
    svc.writer.open()
    try:
        doc, csv_lines = parse_upload(raw, is_csv=file.suffix.lower() == ".csv")
        result = svc.writer.run_sync(
            lambda tx: import_document(tx, doc, lane_id=None, csv_lines=csv_lines)
        )
    except DomainError as exc:
        for e in exc.extra.get("errors", []):
            err.print(f"{e['field']}: {e['message']}")
        raise _fail(exc.detail, exc.exit_code) from exc
    finally:
        svc.writer.close()
    if json_out:
        out.print_json(msgspec.json.encode(result).decode())
    else:
        out.print(f"imported {result.products} products, {result.prices} prices, "
                  f"{result.tax_classes} tax classes ({result.events} events, head seq {result.last_seq})")


@app.command("verify")
def verify_cmd(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Check the hash chain and that the read models equal a rebuild from the log."""
    import msgspec

    from edge.store.rebuild import verify as verify_store

    svc = _service(data_dir)
    report = verify_store(svc.db_path, svc.layout)
    if json_out:
        out.print_json(msgspec.json.encode({
            "ok": report.ok, "events": report.chain.events, "head_seq": report.chain.head_seq,
            "chain_ok": report.chain.ok, "broken_at_seq": report.chain.broken_at_seq,
            "reason": report.chain.reason, "mismatched_tables": report.mismatched_tables,
        }).decode())
    else:
        if report.chain.ok:
            out.print(f"chain ok: {report.chain.events} events, head seq {report.chain.head_seq}")
        else:
            out.print(f"[red]chain broken at seq {report.chain.broken_at_seq}:[/red] {report.chain.reason}")
        for table, diff in report.mismatched_tables.items():
            out.print(f"[red]projection {table} differs from rebuild:[/red] {diff}")
        if not report.mismatched_tables:
            out.print(f"projections ok: rebuilt from {report.rebuilt_events} events, identical")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_DEGRADED)


@app.command()
def status(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Daemon, database, disk, sync, print queues and devices at a glance; exit 1 when anything
    is degraded, 3 when the daemon is not running."""
    from edge.devices.cli import store_status
    from edge.store.db import DB_FILENAME

    path = data_dir or default_data_dir()
    if not (path / DB_FILENAME).exists():
        raise _fail(f"no store database in {path} (run `novapos-edge init`)", EXIT_UNAVAILABLE)
    raise typer.Exit(store_status(path, json_out))


# --- sync ------------------------------------------------------------------------------

sync_app = App(help="Upload to and down-sync from the cloud relay.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")


@sync_app.command("enroll")
def sync_enroll(
    credential: Annotated[Path, typer.Option("--credential", help="Credential JSON issued by "
                                             "`novapos-relay stores enroll`.")],
    relay_url: Annotated[str | None, typer.Option(help="Relay URL, written to [sync] in "
                                                     "config.toml if not set there.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Install the store's relay credential (kept mode 0600 in the data dir) and pin the HQ
    promotions key the enrollment document carries (another key than a pinned one: refused)."""

    import msgspec

    from core.files import write_atomic
    from core.signing import StoreCredential
    from edge import config as config_mod
    from edge.paths import read_daemon_info
    from edge.promotions import keys as promotion_keys
    from schemas.relay import StoreEnrollment
    from sync.engine import resolve

    path = data_dir or default_data_dir()
    svc = _service(path)
    try:
        doc = msgspec.json.decode(credential.read_bytes(), type=StoreEnrollment)
        cred = StoreCredential(doc.tenant_id, doc.store_id, doc.key_id, doc.secret_b64)
        if len(cred.secret) < 16:
            raise ValueError("secret shorter than 16 bytes")
        hq_key = promotion_keys.checked(doc.promotions_public_key) \
            if doc.promotions_public_key else None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise _fail(f"{credential} is not a store credential: {exc}", EXIT_BAD_INPUT) from exc
    ident = svc.identity
    if (cred.tenant_id, cred.store_id) != (ident.tenant_id, ident.store_id):
        raise _fail(f"the credential is for {cred.tenant_id}/{cred.store_id}; this store is "
                    f"{ident.tenant_id}/{ident.store_id}", EXIT_BAD_INPUT)
    if relay_url is not None and not relay_url.startswith(("http://", "https://")):
        raise _fail(f"relay URL must start with http:// or https://, not {relay_url!r}",
                    EXIT_BAD_INPUT)
    config = _config(path)
    pinned = ""
    if hq_key is not None:  # HQ's promotions key: pinned now; another one is refused
        svc.writer.open()
        try:
            pinning = svc.writer.run_sync(lambda tx: promotion_keys.pin(tx, hq_key, "enrollment"))
        finally:
            svc.writer.close()
        if pinning.outcome == "refused":
            raise _fail(f"{pinning.detail}; nothing installed", EXIT_BAD_INPUT)
        pinned = f"; {pinning.detail}"
    target = resolve(path, config.sync.credential_file)
    write_atomic(target, msgspec.json.encode(cred), mode=0o600)
    cfg_path = path / config_mod.CONFIG_FILENAME
    if relay_url is not None and not config.sync.relay_url:
        old = cfg_path.read_bytes() if cfg_path.exists() else b""
        line = f"\n[sync]\nrelay_url = {msgspec.json.encode(relay_url).decode()}\n"
        write_atomic(cfg_path, old + line.encode(), mode=0o644)
    out.print(f"store {cred.store_id} enrolled with key {cred.key_id}; credential in {target}"
              + pinned + (" (restart the daemon to start syncing)" if read_daemon_info(path) else ""))


@sync_app.command("status")
def sync_status_cmd(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Upload cursor, lag, relay watermark, last error, alarms; exit 1 on open alarms."""
    import msgspec

    from edge.store.db import DB_FILENAME
    from edge.sync_link import status as sync_status

    path = data_dir or default_data_dir()
    if not (path / DB_FILENAME).exists():
        raise _fail(f"no store database in {path} (run `novapos-edge init`)", EXIT_UNAVAILABLE)
    svc = _service(path)
    st = sync_status(svc, _config(path).sync)
    if json_out:
        out.print_json(msgspec.json.encode(st).decode())
    else:
        out.print(f"relay    {st.relay_url or '(not configured)'}"
                  + ("" if st.configured else " [yellow]not enrolled[/yellow]"))
        out.print(f"cursor   acked {st.acked_seq} of {st.head_seq} (lag {st.lag_events} events)"
                  + (f", in flight {st.frozen_batch}" if st.frozen_batch else ""))
        out.print(f"relay    watermark {st.relay_high_seq}, epoch {st.relay_epoch or '-'}")
        age = "never" if st.last_success_age_s is None else f"{st.last_success_age_s:.0f} s ago"
        out.print(f"success  {age}; consecutive failures {st.consecutive_failures}")
        if st.last_error:
            out.print(f"error    {st.last_error}")
        out.print(f"down     applied change {st.applied_change_id}, "
                  f"{st.changes_rejected} rejected"
                  + (f", [red]{st.changes_held} held[/red] (kinds this release does not know: "
                     f"{', '.join(st.held_change_kinds)}; upgrade the store)"
                     if st.changes_held else ""))
        if st.chain_broken_at_seq is not None:
            out.print(f"[red]chain    the store's log is broken at seq {st.chain_broken_at_seq}"
                      "[/red]: events before it are uploaded, none from it on")
        for a in st.alarms:
            if a.open:
                out.print(f"[red]ALARM[/red] {a.reason} (x{a.count}) at seq {a.seq}: {a.detail}")
    raise typer.Exit(EXIT_DEGRADED if st.open_alarms else EXIT_OK)


@sync_app.command("now")
def sync_now(
    data_dir: DataDir = None,
    timeout_s: Annotated[float, typer.Option(help="Foreground drain: give up after.")] = 300.0,
) -> None:
    """Sync at once: wake the running daemon, or (daemon stopped) drain in the foreground."""
    import os
    import signal

    from edge import compose
    from edge.paths import read_daemon_info

    path = data_dir or default_data_dir()
    info = read_daemon_info(path)
    if info is not None:
        try:
            os.kill(info.pid, signal.SIGUSR1)
        except ProcessLookupError:
            info = None
        else:
            out.print(f"asked the daemon (pid {info.pid}) to sync now")
            return
    from edge.sync_link import drain_once

    svc = _service(path)
    try:
        st = drain_once(svc, _config(path).sync, compose.appliers_for(_config(path), path),
                        timeout_s=timeout_s)
    except RuntimeError as exc:
        raise _fail(str(exc), EXIT_UNAVAILABLE) from exc
    out.print(f"synced: acked {st.acked_seq} of {st.head_seq}, "
              f"applied change {st.applied_change_id}")
    raise typer.Exit(EXIT_DEGRADED if st.open_alarms else EXIT_OK)


# --- reports ---------------------------------------------------------------------------

report_app = App(help="Store reports, read from the store's own log.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("z")
def report_z(
    business_date: Annotated[str | None, typer.Option(
        "--date", help="Business day YYYY-MM-DD (default: the current one).")] = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """End-of-day (Z) report: sales, tenders, refunds, offline cards declined after forwarding.
    Reads the database file directly (daemon running or not); HQ's reconciliation of the same
    day equals it field for field once synced."""
    import msgspec
    from rich.table import Table

    from core.clock import SystemClock
    from core.errors import DomainError, Refused
    from edge.reports import zreport
    from edge.store.db import (DB_FILENAME, identity_matches, open_connection,
                                register_dictionaries)
    from edge.store.writer import StoreIdentity

    path = data_dir or default_data_dir()
    if not (path / DB_FILENAME).exists():
        raise _fail(f"no store database in {path} (run `novapos-edge init`)", EXIT_UNAVAILABLE)
    # The log alone, read-only: no store (migrations, writer, every domain) is composed.
    config = _config(path)
    s = config.store
    identity = StoreIdentity(s.tenant_id, s.store_id, s.tz, s.day_close_hour)
    try:
        day = (zreport.parse_business_date(business_date) if business_date is not None
               else zreport.today(identity, SystemClock().now_ms()))
    except DomainError as exc:
        raise _fail(exc.detail, exc.exit_code) from exc
    conn = open_connection(path / DB_FILENAME, readonly=True)
    try:
        identity_matches(conn, {"tenant_id": s.tenant_id, "store_id": s.store_id,
                                "currency": s.currency, "timezone": s.timezone})
        register_dictionaries(conn)
        report = zreport.z_report_for_day(conn, s.store_id, day)
    except Refused as exc:
        raise _fail(str(exc), exc.exit_code) from exc
    finally:
        conn.close()
    if json_out:
        out.print_json(msgspec.json.encode(report).decode())
        return
    money = _money_formatter(report.currency or s.currency)
    out.print(f"Z report  store {report.store_id}  business day {report.business_date}")
    out.print(f"sales     {report.sales_count}   gross {money(report.gross_minor)}   "
              f"discounts {money(report.discount_minor)}   total {money(report.total_minor)}")
    out.print(f"tax       {money(report.tax_minor)}   net of tax {money(report.net_minor)}   "
              f"change {money(report.change_due_minor)}   rounding {money(report.rounding_minor)}")
    table = Table("tender", "count", "tendered", "change", "refunds", "refunded", "net")
    for t in report.tenders:
        table.add_row(t.tender_type, str(t.count), money(t.amount_minor), money(t.change_minor),
                      str(t.refunds_count), money(t.refunded_minor), money(t.net_minor))
    out.print(table)
    out.print(f"refunds   {report.refunds_count}   {money(report.refunds_minor)}")
    if report.forward_declined_count:
        out.print(f"[red]offline cards declined after forwarding: "
                  f"{report.forward_declined_count} ({money(report.forward_declined_minor)})"
                  "[/red]")


def _money_formatter(currency: str):
    from core.money import format_minor

    return lambda amount_minor: format_minor(amount_minor, currency)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
