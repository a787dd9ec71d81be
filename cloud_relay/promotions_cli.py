"""`novapos-relay promotions ...`: HQ's key, publishing a signed bundle, simulating one over
the synced ledger, and coupon overuse. A thin skin over `cloud_relay.promotions`; `register`
adds the commands to the relay CLI with its own storage opener and error exits.

    novapos-relay promotions keygen --out KEY            a new Ed25519 key (PEM, mode 0600);
                                                         prints the public key stores pin
    novapos-relay promotions register-key --key KEY --tenant T
                                                         stores enrolled from now on pin it
    novapos-relay promotions publish FILE --key KEY --tenant T
    novapos-relay promotions simulate FILE --from D --to D [--store S] [--tz Z]
                                      [--segment TIER] --tenant T
    novapos-relay promotions overuse --tenant T
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from rich.console import Console

from cloud_relay import promotions
from core.errors import DomainError
from core.files import create_atomic
from core.promotions.bundle import key_id_of, public_key_b64, sign
from core.promotions.rules import validate_bundle
from schemas import promotions as sp

EXIT_BAD_INPUT = 2
out = Console(highlight=False)
Tenant = Annotated[str, typer.Option("--tenant", help="Tenant id.")]
Database = Annotated[str | None, typer.Option("--database", help="Relay database URL.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Relay state directory.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SecretKeyFile = Annotated[Path | None, typer.Option(
    "--secret-key-file", help="The relay's secret key file (default: in the data dir).")]


def load_key(path: Path) -> Ed25519PrivateKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def read_bundle(path: Path) -> sp.Bundle:
    bundle = msgspec.json.decode(path.read_bytes(), type=sp.Bundle)
    validate_bundle(bundle)
    return bundle


def register(app: typer.Typer, open_storage: Callable, fail: Callable[[str, int], typer.Exit],
             domain_error: Callable[[DomainError], typer.Exit], now_ms: Callable[[], int]) -> None:
    sub = typer.Typer(help="Promotion bundles: sign, publish, simulate; coupon overuse.",
                      no_args_is_help=True)
    app.add_typer(sub, name="promotions")

    def bad(message: str) -> typer.Exit:
        return fail(message, EXIT_BAD_INPUT)

    @sub.command("keygen")
    def keygen(out_file: Annotated[Path, typer.Option("--out", help="Private key file.")]
               ) -> None:
        """A new HQ signing key. Register it (`register-key`) so that stores pin it at
        enrollment, or set the hq_public_key it prints in a store's \\[promotions]."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        if not create_atomic(out_file, pem):
            raise bad(f"{out_file} exists; not overwritten")
        public = public_key_b64(key)
        out.print(f"key {key_id_of(public)} in {out_file}\nhq_public_key = \"{public}\"")

    @sub.command("register-key")
    def register_key(key: Annotated[Path, typer.Option("--key", help="HQ's private key (PEM); "
                                                       "only its public half is recorded.")],
                     tenant: Tenant, database: Database = None, data_dir: DataDir = None,
                     secret_key_file: SecretKeyFile = None) -> None:
        """Register HQ's public key: stores enrolled from now on pin it at enrollment, stores
        enrolled before pin it from down-sync; a store refuses any other key afterwards."""
        try:
            public = public_key_b64(load_key(key))
        except (OSError, ValueError) as exc:
            raise bad(f"cannot read {key}: {exc}") from exc
        storage = open_storage(database, data_dir, secret_key_file)
        try:
            got = promotions.register_key(
                storage, tenant, msgspec.json.encode(sp.HqPublicKey(public_key_b64=public)),
                now_ms())
        except DomainError as exc:
            raise domain_error(exc) from exc
        finally:
            storage.close()
        out.print(f"HQ promotions key {got.key_id} registered for tenant {tenant}")

    @sub.command("publish")
    def publish(file: Annotated[Path, typer.Argument(help="Bundle JSON (schemas.promotions.Bundle).")],
                key: Annotated[Path, typer.Option("--key", help="HQ's private key (PEM).")],
                tenant: Tenant, database: Database = None, data_dir: DataDir = None,
                secret_key_file: SecretKeyFile = None,
                json_out: JsonOut = False) -> None:
        """Sign the bundle with HQ's key and publish it to every store of the tenant."""
        try:
            signed = sign(read_bundle(file), load_key(key))
        except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise bad(f"cannot sign {file}: {exc}") from exc
        storage = open_storage(database, data_dir, secret_key_file)
        try:
            result = promotions.publish(storage, tenant, msgspec.json.encode(signed), now_ms())
        except DomainError as exc:
            raise domain_error(exc) from exc
        finally:
            storage.close()
        if json_out:
            sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
        else:
            out.print(f"published promotion bundle (key {signed.key_id}) for tenant {tenant} "
                      f"as change {result.first_change_id}")

    @sub.command("simulate")
    def simulate(file: Annotated[Path, typer.Argument(help="Candidate bundle JSON.")],
                 date_from: Annotated[str, typer.Option("--from", help="First business day.")],
                 date_to: Annotated[str, typer.Option("--to", help="Last business day.")],
                 tenant: Tenant,
                 store: Annotated[str | None, typer.Option("--store")] = None,
                 tz: Annotated[str, typer.Option("--tz", help="Stores' time zone.")] = "UTC",
                 segment: Annotated[str | None, typer.Option(
                     "--segment", help="Every basket as this customer segment (loyalty tier); "
                     "default: the tier each sale's customer had.")] = None,
                 database: Database = None, data_dir: DataDir = None,
                secret_key_file: SecretKeyFile = None,
                 json_out: JsonOut = False) -> None:
        """Replay the synced baskets of those days under the bundle: per rule and store, the
        baskets it hits and what it would give, against what promotions gave."""
        try:
            bundle = read_bundle(file)
            zone = ZoneInfo(tz)
        except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError,
                ZoneInfoNotFoundError) as exc:
            raise bad(f"cannot read {file}: {exc}") from exc
        storage = open_storage(database, data_dir, secret_key_file)
        try:
            report = promotions.simulate(storage, tenant, bundle, date_from, date_to, store, zone,
                                         segment or None)
        finally:
            storage.close()
        if json_out:
            sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
            return
        out.print(f"{report.baskets} basket(s) {date_from}..{date_to}: the bundle would give "
                  f"{report.discount_minor}, promotions gave {report.given_minor}")
        for r in report.rows:
            out.print(f"  {r.rule_id:24} {r.store_id:12} hits {r.baskets_hit:6}  would give "
                      f"{r.discount_minor:10}  | given in {r.baskets_given:6}: {r.given_minor}")

    @sub.command("overuse")
    def overuse(tenant: Tenant, database: Database = None, data_dir: DataDir = None,
                secret_key_file: SecretKeyFile = None,
                json_out: JsonOut = False) -> None:
        """Coupon codes redeemed more often across stores than they may be."""
        storage = open_storage(database, data_dir, secret_key_file)
        try:
            report = promotions.overuse(storage, tenant)
        finally:
            storage.close()
        if json_out:
            sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
            return
        for r in report.coupons:
            out.print(f"{r.code}: used {r.used} of {r.max_uses} ({r.rule_id}) "
                      + ", ".join(f"{s}: {n}" for s, n in r.stores.items()))
        if not report.coupons:
            out.print("no coupon used beyond its allowance")
