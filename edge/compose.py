"""The composition root: the daemon built from explicit, typed constructors.

`DOMAINS` lists every domain once, in dependency order; from it come the store's read models
and schema (`layout`), the HTTP routes and the down-sync appliers. `compose` builds the store
kernel and the services that run in the background (payments over the terminals, printing,
devices, the sync engine) and `Daemon.lifespan` runs them for as long as the app serves. The
HTTP app (`edge.app`) is handed these objects through dependency injection; nothing looks
anything up at run time.

Adding a domain: its package (with a `domain.py` holding its `Domain`), its contracts in
`schemas/`, and one line in `DOMAINS` (plus its config section in `edge.config.Config`, and a
constructor line here if it runs a background service). docs/architecture.md walks through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec
import structlog

from core.clock import Clock
from core.signing import StoreCredential
from edge import domain, lanes
from edge.approvals.domain import DOMAIN as APPROVALS
from edge.approvals.rules import ApprovalPolicy
from edge.approvals.service import ApprovalService
from edge.carts.domain import DOMAIN as CARTS
from edge.carts.model import Policy
from edge.catalog.domain import DOMAIN as CATALOG
from edge.checklists.alarms import overdue_check
from edge.checklists.domain import DOMAIN as CHECKLISTS
from edge.config import Config
from edge.devices.domain import DOMAIN as DEVICES
from edge.devices.service import DeviceService
from edge.devices.statistics import SqliteStatistics
from edge.inventory.domain import DOMAIN as INVENTORY
from edge.pickup.domain import DOMAIN as PICKUP
from edge.pickup.service import PickupService
from edge.store.retention import RetentionTimer
from edge.loyalty.domain import DOMAIN as LOYALTY
from edge.loyalty import delivery as loyalty_delivery
from edge.loyalty.service import Loyalty
from edge.fiscal.domain import DOMAIN as FISCAL
from edge.fiscal.journal import Journal
from edge.fiscal.signer import SignerUnavailable, SoftwareSigner
from edge.orders.domain import DOMAIN as ORDERS
from edge.payments.domain import DOMAIN as PAYMENTS
from edge.printing.domain import DOMAIN as PRINTING
from edge.printing.service import PrintService
from edge.promotions import install as promotion_install
from edge.promotions.domain import DOMAIN as PROMOTIONS
from edge.reports.domain import DOMAIN as REPORTS
from edge.returns.commands import ReturnsPolicy
from edge.returns.customers import CustomerHasher
from edge.returns.domain import DOMAIN as RETURNS
from edge.store import log_migrations, migrations
from edge.store.kernel import Store
from edge.store.layout import Layout
from edge.sync_link import engine_for
from edge.tender.domain import DOMAIN as TENDER
from edge.tender.service import Payments
from edge.tender.terminals import Terminals
from edge.tills.alarms import SafeDropAlarm, safe_drop_check
from edge.tills.domain import DOMAIN as TILLS
from sync import migrations as sync_migrations
from sync.engine import SyncEngine, load_credential, resolve
from sync.port import ChangeApplier
from sync.status import chain_check

log = structlog.get_logger("novapos.daemon")

DOMAINS: tuple[domain.Domain, ...] = (
    CATALOG, FISCAL, PROMOTIONS, PAYMENTS, APPROVALS, CARTS, LOYALTY, TENDER, ORDERS, PRINTING,
    DEVICES, REPORTS, RETURNS, INVENTORY, PICKUP, CHECKLISTS, TILLS,
)
# Down-sync kinds the daemon applies outside any domain: HQ revoking a lane's tokens.
_STORE_APPLIERS: Mapping[str, ChangeApplier] = {"lane.token_revoked": lanes.apply_revocations}


def layout(domains: tuple[domain.Domain, ...] = DOMAINS) -> Layout:
    schema = ((migrations.COMPONENT, migrations.MIGRATIONS),
              (log_migrations.COMPONENT, log_migrations.MIGRATIONS),
              (sync_migrations.COMPONENT, sync_migrations.MIGRATIONS),
              *((d.name, d.migrations) for d in domains if d.migrations))
    return Layout(domain.projector(domains), schema)


def appliers(domains: tuple[domain.Domain, ...] = DOMAINS) -> dict[str, ChangeApplier]:
    return {**domain.appliers(domains), **_STORE_APPLIERS}


def appliers_for(config: Config, data_dir: Path,
                 loyalty: Loyalty | None = None) -> dict[str, ChangeApplier]:
    """Every applier, with those that need configuration (the HQ promotions key) or the data
    directory (the tenant's loyalty key, opened with the store's credential; `loyalty`, the
    running service, takes it at once)."""
    def credential() -> StoreCredential | None:
        try:
            return load_credential(resolve(data_dir, config.sync.credential_file))
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    return {**appliers(), promotion_install.KIND: promotion_install.applier(config.promotions),
            loyalty_delivery.KIND: loyalty_delivery.applier(
                data_dir, config.loyalty, credential,
                loyalty.provision if loyalty is not None else lambda key: None)}


def policy_of(config: Config) -> Policy:
    s = config.store
    return Policy(
        store_id=s.store_id, store_name=s.name, currency=s.currency, tax_mode=s.tax_mode,
        lock_ttl_ms=config.price_lock.ttl_s * 1000, on_expiry=config.price_lock.on_expiry,
        manager_threshold_bp=config.discounts.manager_threshold_bp,
        cash_increment_minor=config.tender.cash_rounding_minor,
        refund_manager_above_minor=config.tender.refund_manager_above_minor,
        promotion_region=config.promotions.region,
        refuse_negative_stock=config.inventory.on_negative == "refuse",
    )


def approval_policy_of(config: Config) -> ApprovalPolicy:
    return ApprovalPolicy.of(config.approvals, config.store.store_id,
                             discount_above_bp=config.discounts.manager_threshold_bp,
                             refund_above_minor=config.tender.refund_manager_above_minor)


def store_of(data_dir: Path, config: Config, clock: Clock | None = None) -> Store:
    """The store kernel alone (CLI commands that need no device or terminal)."""
    store = Store(data_dir, config.store, layout(), clock, writer=config.writer,
                  idempotency=config.idempotency)
    journal = journal_of(data_dir, config, store.identity.store_id)
    if journal is not None:  # every writer of the store signs: the numbers stay gap-free
        store.writer.sealer = journal.seal
    return store


def journal_of(data_dir: Path, config: Config, store_id: str) -> Journal | None:
    """The fiscal journal with the store's signer; a signer that cannot start is an outage
    (events are recorded unsigned, and say so), never a store that cannot sell."""
    if not config.fiscal.enabled:
        return None
    try:
        return Journal(store_id, SoftwareSigner.load_or_create(data_dir))
    except SignerUnavailable as exc:
        log.error("fiscal signer unavailable: events will be recorded unsigned",
                  reason=exc.detail)
        return Journal(store_id, None, exc.detail)


@dataclass
class Daemon:
    config: Config
    store: Store
    policy: Policy
    printing: PrintService
    terminals: Terminals
    payments: Payments
    devices: DeviceService
    appliers: Mapping[str, ChangeApplier]
    approvals: ApprovalService
    loyalty: Loyalty
    pickup: PickupService | None = field(default=None)
    sync_engine: SyncEngine | None = field(default=None)
    returns_policy: ReturnsPolicy | None = field(default=None)
    safe_drop: SafeDropAlarm | None = field(default=None)

    def start(self) -> None:
        """Open the store and start the print workers (before the event loop runs)."""
        self.store.start()
        self.printing.start()

    def stop(self) -> None:
        self.printing.stop()
        self.store.stop()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Everything that runs while the app serves, started in dependency order and stopped
        in reverse: the writer's batching task, payments' reconciler, devices, sync."""
        writer = asyncio.create_task(self.store.writer.serve(), name="store-writer")
        self.printing.attach_loop(asyncio.get_running_loop())
        # Payments left pending by a crash are reconciled from the start; stored offline card
        # payments are forwarded when the link is back.
        payments = asyncio.create_task(self.payments.run(lambda: False), name="payments")
        # After the writer: device events and counters go through it.
        await self.devices.start()
        if self.safe_drop is not None:  # warns on the lanes' streams, the devices hub's
            self.safe_drop.attach_loop(asyncio.get_running_loop())
        # Uploads the log and applies down-sync in the background; a store without a relay
        # URL or credential runs without it.
        engine = engine_for(self.store, self.config.sync, self.appliers)
        self.sync_engine = engine
        syncing = asyncio.create_task(engine.run(), name="sync-engine") if engine else None
        pickup = (asyncio.create_task(self.pickup.run(), name="pickup-sweeper")
                  if self.pickup else None)
        # Once a store-local day: acknowledged events older than the age leave the hot log.
        retention = asyncio.create_task(
            RetentionTimer(self.store, layout(), self.config.retention).run(), name="retention")
        try:
            yield
        finally:
            await _cancel(retention)
            if pickup is not None:
                await _cancel(pickup)
            if syncing is not None:
                await _cancel(syncing)
            self.sync_engine = None
            if self.safe_drop is not None:
                self.safe_drop.attach_loop(None)
            await self.devices.stop()
            await _cancel(payments)
            await self.payments.close()
            self.printing.attach_loop(None)
            await _cancel(writer)


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def compose(data_dir: Path, config: Config, clock: Clock | None = None) -> Daemon:
    for key in config.moved_keys:
        log.warning("config key moved: read from its old place; move it to [devices]", key=key)
    store = store_of(data_dir, config, clock)
    store.add_advisory_check("event_chain", chain_check)  # a break found by the sync engine
    store.add_advisory_check("safe_drop", safe_drop_check(config.cash.safe_drop_above_minor))
    store.add_advisory_check("checklists", overdue_check(store.clock, store.identity))
    loyalty = Loyalty.from_data_dir(data_dir, config.loyalty)
    # Carts come before loyalty: the cart policy is handed who a cart is for (the tier of
    # its customer) for segment-only promotions.
    policy = replace(policy_of(config), segment_of=loyalty.tier_of)
    statistics = SqliteStatistics()  # device counters, persisted through the writer
    printing = PrintService(
        config.printing, printers=list(config.devices.printers),
        default_printer=config.devices.default_printer, db_path=store.db_path,
        writer=store.writer, clock=store.clock, policy=policy, tz=store.identity.tz,
        registry=store.metrics.registry, statistics=statistics,
    )
    store.on_commit(printing.committed)
    terminals = Terminals.from_config(config.devices.terminals,
                                      config.devices.terminal_for_lane, config.tender,
                                      config.store.currency, statistics)
    payments = Payments(store, policy, config.tender, terminals, store.metrics, loyalty)
    devices = DeviceService(store, config.devices, policy=policy, printing=printing,
                            terminals=terminals, statistics=statistics,
                            terminal_status_timeout_s=config.tender.terminal_status_timeout_s)
    approvals = ApprovalService(store, approval_policy_of(config))
    pickup = PickupService(store, config.pickup, devices.hub.publish)
    safe_drop = SafeDropAlarm(store, config.cash.safe_drop_above_minor, devices.hub.publish)
    return Daemon(config, store, policy, printing, terminals, payments, devices,
                  appliers_for(config, data_dir, loyalty), approvals, loyalty,
                  returns_policy=returns_policy_of(data_dir, config), pickup=pickup,
                  safe_drop=safe_drop)


def returns_policy_of(data_dir: Path, config: Config) -> ReturnsPolicy:
    limit = config.returns.manager_above_minor
    return ReturnsPolicy(
        cfg=config.returns, store_id=config.store.store_id, currency=config.store.currency,
        manager_above_minor=config.tender.refund_manager_above_minor if limit is None else limit,
        hasher=CustomerHasher(data_dir), approvals=approval_policy_of(config))
