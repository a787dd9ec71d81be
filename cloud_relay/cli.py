"""`novapos-relay`: the cloud relay's command line, a thin skin over `cloud_relay.admin`,
`cloud_relay.downsync`, `cloud_relay.export` and the server.

The database: --database URL, else $NOVAPOS_RELAY_DATABASE, else SQLite `relay.db` in the data
directory (--data-dir, $NOVAPOS_RELAY_DATA_DIR, $STATE_DIRECTORY, ~/.local/state/novapos-relay).
The key that seals store secrets (`cloud_relay.sealing`): $NOVAPOS_RELAY_SECRET_KEY, else the
key file (--secret-key-file, $NOVAPOS_RELAY_SECRET_KEY_FILE, else `relay-secret.key` in the
data directory), created at the first start.
Exit codes: 0 ok, 2 bad input, 3 database unavailable, 4 refused to start (the secret key is
missing, damaged or not the one this database's secrets were sealed with).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cloud_relay import admin, cursor, downsync, hq
from cloud_relay import export as export_mod
from cloud_relay import promotions, promotions_cli
from cloud_relay.sealing import KEY_FILENAME, new_key
from cloud_relay.defaults import FORWARDED_ALLOW_IPS, now_ms
from cloud_relay.storage import Storage, open_storage
from cloud_relay.storage.sqlite import DB_FILENAME
from core import logs
from core.errors import DomainError, Refused
from core.files import create_atomic, write_atomic
from core.ratelimit import AuthFailureLimit

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_REFUSED = 0, 2, 3, 4
ENV_KEY_FILE = "NOVAPOS_RELAY_SECRET_KEY_FILE"

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
err = Console(stderr=True, soft_wrap=True)  # a message is one line, never cut by a width

Database = Annotated[str | None, typer.Option(
    "--database", help="sqlite:///path/relay.db or postgresql://… (default: SQLite in the data "
    "directory)")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Relay state directory.")]
KeyFile = Annotated[Path | None, typer.Option(
    "--secret-key-file", envvar=ENV_KEY_FILE, show_envvar=False,
    help=f"Key sealing store secrets (default: {KEY_FILENAME} in the data directory; created "
    "at the first start).")]
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
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    return typer.Exit(code)


def key_file_path(key_file: Path | None, data_dir: Path | None) -> Path:
    return key_file or (data_dir or default_data_dir()) / KEY_FILENAME


def _open(database: str | None, data_dir: Path | None, key_file: Path | None = None) -> Storage:
    url = database_url(database, data_dir)
    try:
        return open_storage(url, key_file=key_file_path(key_file, data_dir))
    except Refused as exc:
        raise _fail(exc.detail, exc.exit_code) from exc
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
    key_file: KeyFile = None,
    auth_max_failures: Annotated[int, typer.Option(
        min=1, envvar="NOVAPOS_RELAY_AUTH_MAX_FAILURES", show_envvar=False,
        help="Refused credentials per peer and window before it is answered 429."
    )] = AuthFailureLimit().max_failures,
    auth_window_s: Annotated[float, typer.Option(
        min=0.001, envvar="NOVAPOS_RELAY_AUTH_WINDOW_S", show_envvar=False,
        help="The failed-authentication window, seconds.")] = AuthFailureLimit().window_s,
    auth_max_peers: Annotated[int, typer.Option(
        min=1, envvar="NOVAPOS_RELAY_AUTH_MAX_PEERS", show_envvar=False,
        help="Peers the failed-authentication limit remembers.")] = AuthFailureLimit().max_peers,
    forwarded_allow_ips: Annotated[str, typer.Option(
        envvar="FORWARDED_ALLOW_IPS", show_envvar=False,
        help="Proxies whose X-Forwarded-For names the peer (comma-separated; '*' for any).")
    ] = FORWARDED_ALLOW_IPS,
) -> None:
    """Run the relay in the foreground."""
    if (tls_cert is None) != (tls_key is None):
        raise _fail("--tls-cert and --tls-key go together", EXIT_BAD_INPUT)
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise _fail(f"cannot read {path}", EXIT_BAD_INPUT)
    logs.configure()  # JSON lines on stdout, the relay's and uvicorn's alike
    limit = AuthFailureLimit(auth_max_failures, auth_window_s, auth_max_peers)
    storage = _open(database, data_dir, key_file)

    def ready(url: str) -> None:
        sys.stdout.write(f"novapos-relay listening on {url} ({storage.backend}, epoch "
                         f"{storage.epoch})\n")
        sys.stdout.flush()

    from cloud_relay.server import run  # the web stack: only the server needs it

    run(storage, host, port, tls_cert, tls_key, ready, limit, forwarded_allow_ips)


@stores_app.command("enroll")
def stores_enroll(
    tenant: Tenant, store: Annotated[str, typer.Option("--store")],
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write the credential to this file (mode 0600) instead of stdout.")] = None,
    database: Database = None, data_dir: DataDir = None, key_file: KeyFile = None,
) -> None:
    """Issue a store credential as JSON (give it to the store, keep it secret)."""
    storage = _open(database, data_dir, key_file)
    try:
        cred = admin.enroll_store(storage, tenant, store, now_ms())
        # With HQ's promotions key, if HQ registered one: the store pins it at enrollment.
        doc = msgspec.json.encode(promotions.enrollment(storage, cred)) + b"\n"
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    if out_file is None:
        sys.stdout.write(doc.decode())
        return
    write_atomic(out_file, doc, mode=0o600)
    out.print(f"credential of {tenant}/{store} (key {cred.key_id}) written to {out_file}",
              highlight=False)


@stores_app.command("list")
def stores_list(tenant: Annotated[str | None, typer.Option("--tenant")] = None,
                database: Database = None, data_dir: DataDir = None,
                key_file: KeyFile = None,
                json_out: JsonOut = False) -> None:
    """Enrolled stores (never their secrets)."""
    storage = _open(database, data_dir, key_file)
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
def stores_revoke(store: Annotated[str, typer.Argument(help="Store id.")], tenant: Tenant,
                  database: Database = None, data_dir: DataDir = None,
                  key_file: KeyFile = None) -> None:
    """Revoke a store's credential (its ledger stays); re-enroll to issue a new one."""
    storage = _open(database, data_dir, key_file)
    try:
        storage.revoke_store(tenant, store, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    out.print(f"revoked the credential of store {tenant}/{store}", highlight=False)


@token_app.command("create")
def token_create(tenant: Tenant, database: Database = None, data_dir: DataDir = None,
                 key_file: KeyFile = None) -> None:
    """Create an HQ bearer token for one tenant; prints it as JSON (shown once)."""
    storage = _open(database, data_dir, key_file)
    try:
        token = admin.create_hq_token(storage, tenant, now_ms())
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    sys.stdout.write(msgspec.json.encode(token).decode() + "\n")


@token_app.command("revoke")
def token_revoke(token_id: str, database: Database = None, data_dir: DataDir = None,
                 key_file: KeyFile = None) -> None:
    """Revoke an HQ token by its id."""
    storage = _open(database, data_dir, key_file)
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
    key_file: KeyFile = None,
    json_out: JsonOut = False,
) -> None:
    """Publish a catalog to every store of the tenant, all or nothing."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc}", EXIT_BAD_INPUT) from exc
    storage = _open(database, data_dir, key_file)
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
    database: Database = None, data_dir: DataDir = None, key_file: KeyFile = None,
) -> None:
    """Forget old idempotency keys (their acks). Dedupe does not depend on them."""
    storage = _open(database, data_dir, key_file)
    try:
        count = storage.prune_keys(now_ms() - older_than_days * 86_400_000)
    finally:
        storage.close()
    out.print(f"pruned {count} idempotency key(s) older than {older_than_days} day(s)",
              highlight=False)


@app.command("rotate-epoch")
def rotate_epoch(database: Database = None, data_dir: DataDir = None,
                 key_file: KeyFile = None) -> None:
    """After restoring the database from a backup (relays stopped): a new epoch, so HQ readers
    resync instead of trusting cursors the restore invalidated."""
    storage = _open(database, data_dir, key_file)
    try:
        old, new = storage.epoch, storage.rotate_epoch()
    finally:
        storage.close()
    out.print(f"relay epoch {old} -> {new}; HQ cursors of {old} now answer 409 resync",
              highlight=False)


@app.command("secret-key")
def secret_key(out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write it to this new file (mode 0600; never replaces one).")] = None,
) -> None:
    """A new key for sealing store secrets at rest, for a database that has none yet (the
    relay makes its own key file at the first start; this is for setting one up beforehand,
    e.g. as NOVAPOS_RELAY_SECRET_KEY for every relay process of one PostgreSQL database)."""
    key = new_key() + "\n"
    if out_file is None:
        sys.stdout.write(key)
        return
    if not create_atomic(out_file, key.encode(), mode=0o600):
        raise _fail(f"{out_file} exists; a key is never replaced (the secrets it sealed "
                    "would be lost)", EXIT_BAD_INPUT)
    out.print(f"key written to {out_file}", highlight=False)


@quarantine_app.command("recheck")
def quarantine_recheck(tenant: Tenant, database: Database = None,
                       data_dir: DataDir = None, key_file: KeyFile = None) -> None:
    """Re-try quarantined events with this build (after an upgrade); release the ones it reads."""
    storage = _open(database, data_dir, key_file)
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
    body: Annotated[str, typer.Option(
        "--body", help="jsonl: 'both' (each line a LedgerEvent: the body as JSON when "
        "interpretable and always as body_b64) or 'once' (the body once: as JSON when "
        "interpretable with body_b64 null, else as body_b64 with body null; about half the "
        "bytes, about twice as fast).")] = "both",
    database: Database = None, data_dir: DataDir = None, key_file: KeyFile = None,
) -> None:
    """Write the tenant's ledger in ledger order, with a progress bar on stderr (an --out file
    appears only once complete)."""
    if fmt not in export_mod.FORMATS:
        raise _fail(f"--format must be one of {', '.join(export_mod.FORMATS)}", EXIT_BAD_INPUT)
    if body not in export_mod.BODIES:
        raise _fail(f"--body must be one of {', '.join(export_mod.BODIES)}", EXIT_BAD_INPUT)
    if fmt != "jsonl" and body != "both":
        raise _fail("--body once is for --format jsonl (CSV carries the body once, as "
                    "body_b64)", EXIT_BAD_INPUT)
    storage = _open(database, data_dir, key_file)
    try:
        start = cursor.decode(after, storage.epoch)
        total = storage.ledger_count(tenant, start)
        progress = Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, transient=False)
        with progress:
            task = progress.add_task("ledger", total=total)
            advance = lambda n: progress.advance(task, n)  # noqa: E731
            if out_file is None:
                sys.stdout.flush()
                written, resume = export_mod.export(
                    storage, tenant, fmt, sys.stdout.buffer if fmt == "jsonl" else sys.stdout,
                    after, on_page=advance, body=body)
                sys.stdout.buffer.flush()
            else:
                written, resume = export_mod.export_file(storage, tenant, fmt, out_file, after,
                                                         on_page=advance, body=body)
    except DomainError as exc:
        raise _domain_error(exc) from exc
    finally:
        storage.close()
    err.print(f"exported {written} event(s); resume with --after {resume}", highlight=False)


promotions_cli.register(app, _open, _fail, _domain_error, now_ms)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
