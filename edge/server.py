"""Running the daemon: uvicorn on the Litestar app, systemd notify/watchdog, background
housekeeping (idempotency-key pruning), and a `daemon.json` that tells local tools where the
daemon listens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import msgspec
import structlog
import uvicorn

from core.files import write_atomic
from edge import sdnotify
from edge.app import create_asgi
from edge.compose import Daemon
from edge.paths import DAEMON_FILENAME
from edge.store.kernel import Store
from schemas.daemon import DaemonInfo

if TYPE_CHECKING:
    from edge import mdns

log = structlog.get_logger("novapos.daemon")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would kill the process before the
    daemon's own clean-up (writer stop, daemon.json); here a signal only asks it to exit."""

    # Called first thing at shutdown: ends long-lived responses (the device SSE streams),
    # which graceful shutdown would otherwise wait on until its timeout.
    on_shutdown: Callable[[], None] | None = None

    async def shutdown(self, sockets=None) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


def _bound_port(server: uvicorn.Server) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return sock.getsockname()[1]
    raise RuntimeError("server has no listening socket")


async def _housekeeping(service: Store, interval_s: int, server: uvicorn.Server) -> None:
    watchdog_s = sdnotify.watchdog_interval_s()
    tick_s = min(interval_s, watchdog_s) if watchdog_s else interval_s
    since_prune_s = float(interval_s)  # prune once at start
    while not server.should_exit:
        if since_prune_s >= interval_s:
            since_prune_s = 0.0
            try:
                pruned = await service.prune_idempotency_keys_async()
                if pruned:
                    log.info("pruned idempotency keys", count=pruned)
            except Exception:  # noqa: BLE001 - housekeeping must never kill the daemon
                log.exception("idempotency key pruning failed")
        if watchdog_s:
            sdnotify.notify("WATCHDOG=1")
        await asyncio.sleep(tick_s)
        since_prune_s += tick_s


def _advertiser(daemon: Daemon, host: str, port: int) -> mdns.Advertiser | None:
    service = daemon.store
    cfg = daemon.config.devices
    if not cfg.mdns:
        return None
    # Imported here, once the daemon is ready: python-zeroconf and dbus-fast (for avahi) are
    # about 50 ms and 4 MB that a daemon with advertising off never needs.
    from edge import mdns

    ident = service.identity
    return mdns.Advertiser(
        mdns.plan(ident.store_id, ident.tenant_id, host, port, list(cfg.mdns_interfaces))
    )


async def _advertise(advertiser: mdns.Advertiser) -> None:
    # In the background: mDNS probing takes a second or two and must not delay readiness.
    try:
        await advertiser.start()
    except Exception as exc:  # noqa: BLE001 - lanes can still be configured by hand
        log.warning(
            "mDNS advertising failed; lanes need the daemon's address configured", error=str(exc)
        )


def _sync_now(daemon: Daemon) -> None:
    if daemon.sync_engine is not None:
        daemon.sync_engine.wake()


async def serve_async(
    daemon: Daemon,
    host: str,
    port: int,
    on_ready: Callable[[DaemonInfo], None],
) -> None:
    service = daemon.store
    config = uvicorn.Config(
        create_asgi(daemon), host=host, port=port, log_config=None, access_log=False,
        lifespan="on", loop="none", http="httptools", timeout_graceful_shutdown=10,
        # No proxy stands in front of the daemon: the peer the admin loopback check and the
        # failed-authentication limit see is the TCP peer, never an X-Forwarded-For claim.
        proxy_headers=False,
    )
    server = _Server(config)

    def end_streams() -> None:
        daemon.devices.hub.close_all()
        daemon.approvals.close_streams()

    server.on_shutdown = end_streams
    # `novapos-edge sync now` pokes the daemon with SIGUSR1: run a sync round at once. Installed
    # before daemon.json names our pid: SIGUSR1's default action would kill the daemon.
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _sync_now, daemon)
    serve_task = asyncio.create_task(server.serve())
    while not server.started:
        if serve_task.done():
            with contextlib.suppress(BaseException):  # uvicorn exits the task on bind errors
                serve_task.result()
            raise SystemExit(f"novapos-edge: could not listen on {host}:{port} (port in use?)")
        await asyncio.sleep(0.01)
    bound = _bound_port(server)
    display_host = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    info = DaemonInfo(
        os.getpid(),
        f"http://{display_host}:{bound}",
        host,
        bound,
        service.identity.store_id,
        service.identity.tenant_id,
    )
    info_path = service.data_dir / DAEMON_FILENAME
    write_atomic(info_path, msgspec.json.encode(info), mode=0o644)
    on_ready(info)
    sdnotify.notify(f"READY=1\nSTATUS=serving store {info.store_id} on {info.url}")
    keeper = asyncio.create_task(
        _housekeeping(service, daemon.config.idempotency.prune_interval_s, server)
    )
    advertiser = _advertiser(daemon, host, bound)
    advertising = asyncio.create_task(_advertise(advertiser)) if advertiser else None
    try:
        await serve_task
    finally:
        sdnotify.notify("STOPPING=1")
        if advertiser is not None and advertising is not None:
            advertising.cancel()
            with contextlib.suppress(BaseException):
                await advertising
            with contextlib.suppress(Exception):
                await advertiser.stop()
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()


def run(daemon: Daemon, host: str, port: int, on_ready: Callable[[DaemonInfo], None]) -> None:
    try:
        import uvloop

        runner: Callable = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is optional
        log.info("uvloop not available; using asyncio's loop")
        runner = asyncio.run
    daemon.start()
    try:
        runner(serve_async(daemon, host, port, on_ready))
    finally:
        daemon.stop()
