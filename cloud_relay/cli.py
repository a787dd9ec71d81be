"""`novapos-relay`: the cloud relay's command line, a thin skin over `cloud_relay.admin`,
`cloud_relay.downsync`, `cloud_relay.export` and the server.

The database: --database URL, else $NOVAPOS_RELAY_DATABASE, else SQLite `relay.db` in the data
directory (--data-dir, $NOVAPOS_RELAY_DATA_DIR, $STATE_DIRECTORY, ~/.local/state/novapos-relay).
Exit codes: 0 ok, 2 bad input, 3 database unavailable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cloud_relay import admin, cursor, downsync, hq
from cloud_relay import export as export_mod
from cloud_relay.sealing import ENV_KEY, new_key
from cloud_relay.server import now_ms, run
from cloud_relay.storage import Storage, open_storage
from cloud_relay.storage.sqlite import DB_FILENAME
from core import logs
from core.errors import DomainError

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 2, 3

app = typer.Typer(help="NovaPOS cloud relay: store ledgers in, HQ ledger out.",
                  no_args_is_help=True, add_completion=False)
stores_app = typer.Typer(help="Enroll, list and revoke store credentials.", no_args_is_help=True)
token_app = typer.Typer(help="HQ bearer tokens (tenant-scoped).", no_args_is_help=True)
catalog_app = typer.Typer(help="Publish catalog changes to stores.", no_args_is_help=True)
app.add_typer(stores_app, name="stores")
app.add_typer(token_app, name="hq-token")
quarantine_app = typer.Typer(help="Events the relay could not interpret.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(quarantine_app, name="quarantine")

out = Console(soft_wrap=True)
err = Console(stderr=True)

Database = Annotated[str | None, typer.Option(
    "--database", help="sqlite:///path/relay.db or postgresql://… (default: SQLite in the data "
    "directory)")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Relay state directory.")]
Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def default_data_dir() -> Path:
    for var in ("NOVAPOS_RELAY_DATA_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "novapos-relay"


def database_url(database: str | None, data_dir: Path | None) -> str:
    url = database or os.environ.get("NOVAPOS_RELAY_DATABASE")
    if url:
        return url
    return f"sqlite://{(data_dir or default_data_dir()).resolve() / DB_FILENAME}"


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def _open(database: str | None, data_dir: Path | None) -> Storage:
    url = database_url(database, data_dir)
    try:
        return open_storage(url, os.environ.get(ENV_KEY) or None)
    except Exception as exc:
        raise _fail(f"cannot open the relay database {url}: {exc}", EXIT_UNAVAILABLE) from exc


def _domain_error(exc: DomainError) -> typer.Exit:
    for e in exc.extra.get("errors", []):
        err.print(f"row {e.get('row', '')} {e.get('field', '')}: {e.get('message', '')}",
                  markup=False, highlight=False)
    return _fail(exc.detail, exc.exit_code)


@app.command()
def serve(
    database: Database = None,
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8750,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key.")] = None,
) -> None:
    """Run the relay in the foreground."""
    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together", EXIT_BAD_INPUT)
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise _fail(f"cannot read {path}", EXIT_BAD_INPUT)
    logs.configure()  # JSON lines on stdout, the relay's and uvicorn's alike
    storage = _open(database, data_dir)

    def ready(url: str) -> None:
        sys.stdout.write(f"novapos-relay listening on {url} ({storage.backend}, epoch "
                         f"{storage.epoch})\n")
        sys.stdout.flush()

    run(storage, host, port, tls_cert, tls_key, ready)


@stores_app.command("enroll")
def stores_enroll(tenant: Tenant, store: Annotated[str, typer.Option("--store")],
                  database: Database = None, data_dir: DataDir = None) -> None:
    """Issue a store credential; prints it as JSON (give it to the store, keep it secret)."""
    storage = _open(database, data_dir)
    try:
        cred = admin.enroll_store(storage, tenant, store, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    sys.stdout.write(msgspec.json.encode(cred).decode() + "\n")


@stores_app.command("list")
def stores_list(tenant: Annotated[str | None, typer.Option("--tenant")] = None,
                database: Database = None, data_dir: DataDir = None,
                json_out: JsonOut = False) -> None:
    """Enrolled stores (never their secrets)."""
    storage = _open(database, data_dir)
    try:
        rows = storage.list_stores(tenant)
    finally:
        storage.close()
    if json_out:
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
        return
    table = Table("tenant", "store", "key id", "revoked")
    for r in rows:
        table.add_row(r.tenant_id, r.store_id, r.key_id, "yes" if r.revoked_at_ms else "")
    out.print(table)


@stores_app.command("revoke")
def stores_revoke(store: Annotated[str, typer.Argument(help="Store id.")],
                  database: Database = None, data_dir: DataDir = None) -> None:
    """Revoke a store's credential (its ledger stays); re-enroll to issue a new one."""
    storage = _open(database, data_dir)
    try:
        storage.revoke_store(store, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    out.print(f"revoked the credential of store {store}", highlight=False)


@token_app.command("create")
def token_create(tenant: Tenant, database: Database = None, data_dir: DataDir = None) -> None:
    """Create an HQ bearer token for one tenant; prints it as JSON (shown once)."""
    storage = _open(database, data_dir)
    try:
        token = admin.create_hq_token(storage, tenant, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    sys.stdout.write(msgspec.json.encode(token).decode() + "\n")


@token_app.command("revoke")
def token_revoke(token_id: str, database: Database = None, data_dir: DataDir = None) -> None:
    """Revoke an HQ token by its id."""
    storage = _open(database, data_dir)
    try:
        storage.revoke_hq_token(token_id, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    out.print(f"revoked {token_id}", highlight=False)


@catalog_app.command("publish")
def catalog_publish(
    file: Annotated[Path, typer.Argument(help="Catalog JSON document or CSV (edge format).")],
    tenant: Tenant, database: Database = None, data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """Publish a catalog to every store of the tenant, all or nothing."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc}", EXIT_BAD_INPUT) from exc
    storage = _open(database, data_dir)
    try:
        result = downsync.publish_catalog_file(storage, admin.check_id("tenant", tenant), raw,
                                               file.suffix.lower() == ".csv", now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    if json_out:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        out.print(f"published {result.changes} change(s) for tenant {tenant}"
                  + (f" (ids {result.first_change_id}-{result.last_change_id})"
                     if result.changes else ""), highlight=False)


@app.command("prune-keys")
def prune_keys(
    older_than_days: Annotated[int, typer.Option(min=1, help="Keep keys younger than this.")] = 30,
    database: Database = None, data_dir: DataDir = None,
) -> None:
    """Forget old idempotency keys (their acks). Dedupe does not depend on them."""
    storage = _open(database, data_dir)
    try:
        count = storage.prune_keys(now_ms() - older_than_days * 86_400_000)
    finally:
        storage.close()
    out.print(f"pruned {count} idempotency key(s) older than {older_than_days} day(s)",
              highlight=False)


@app.command("rotate-epoch")
def rotate_epoch(database: Database = None, data_dir: DataDir = None) -> None:
    """After restoring the database from a backup (relays stopped): a new epoch, so HQ readers
    resync instead of trusting cursors the restore invalidated."""
    storage = _open(database, data_dir)
    try:
        old, new = storage.epoch, storage.rotate_epoch()
    finally:
        storage.close()
    out.print(f"relay epoch {old} -> {new}; HQ cursors of {old} now answer 409 resync",
              highlight=False)


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for sealing store secrets at rest (set it as NOVAPOS_RELAY_SECRET_KEY
    on every relay process and CLI call of this database)."""
    sys.stdout.write(new_key() + "\n")


@quarantine_app.command("recheck")
def quarantine_recheck(tenant: Tenant, database: Database = None,
                       data_dir: DataDir = None) -> None:
    """Re-try quarantined events with this build (after an upgrade); release the ones it reads."""
    storage = _open(database, data_dir)
    try:
        released, left = hq.recheck_quarantine(storage, tenant)
    finally:
        storage.close()
    out.print(f"released {released} event(s) from quarantine; {left} remain", highlight=False)


@app.command("export")
def export(
    tenant: Tenant,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out_file: Annotated[Path | None, typer.Option("--out", help="File (default stdout).")] = None,
    after: Annotated[str | None, typer.Option("--after", help="Resume after this cursor.")] = None,
    database: Database = None, data_dir: DataDir = None,
) -> None:
    """Write the tenant's ledger in ledger order, with a progress bar on stderr."""
    if fmt not in export_mod.FORMATS:
        raise _fail(f"--format must be one of {', '.join(export_mod.FORMATS)}", EXIT_BAD_INPUT)
    storage = _open(database, data_dir)
    try:
        start = cursor.decode(after, storage.epoch)
        total = storage.ledger_count(tenant, start)
        sink = (open(out_file, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
                if out_file else sys.stdout)
        progress = Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, transient=False)
        try:
            with progress:
                task = progress.add_task("ledger", total=total)
                written, resume = export_mod.export(
                    storage, tenant, fmt, sink, after,
                    on_page=lambda n: progress.advance(task, n))
        finally:
            if out_file:
                sink.close()
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    err.print(f"exported {written} event(s); resume with --after {resume}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
