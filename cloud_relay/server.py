"""Running the relay: uvicorn on the Litestar app, optionally with TLS (uvicorn's ssl options).

The process keeps nothing between requests but its storage handle, so any number of relay
processes can serve one PostgreSQL database behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from cloud_relay.app import create_app
from cloud_relay.defaults import FORWARDED_ALLOW_IPS, now_ms
from cloud_relay.storage.base import Storage
from core.ratelimit import AuthFailureLimit



class _Server(uvicorn.Server):
    """A signal only asks the server to exit, so storage is closed by our own clean-up."""

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


def config(storage: Storage, host: str, port: int, tls_cert: Path | None = None,
           tls_key: Path | None = None, clock: Callable[[], int] = now_ms,
           loop: str = "none", auth_limit: AuthFailureLimit = AuthFailureLimit(),
           forwarded_allow_ips: str = FORWARDED_ALLOW_IPS) -> uvicorn.Config:
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    return uvicorn.Config(
        create_app(storage, clock, auth_limit), host=host, port=port, log_config=None,
        access_log=False, lifespan="off", loop=loop, http="httptools",
        timeout_graceful_shutdown=10, proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )


def bound_port(server: uvicorn.Server) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return sock.getsockname()[1]
    raise RuntimeError("server has no listening socket")


async def serve_async(storage: Storage, host: str, port: int, tls_cert: Path | None,
                      tls_key: Path | None, on_ready: Callable[[str], None],
                      auth_limit: AuthFailureLimit = AuthFailureLimit(),
                      forwarded_allow_ips: str = FORWARDED_ALLOW_IPS) -> None:
    server = _Server(config(storage, host, port, tls_cert, tls_key, auth_limit=auth_limit,
                            forwarded_allow_ips=forwarded_allow_ips))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            with contextlib.suppress(BaseException):
                task.result()
            raise SystemExit(f"novapos-relay: could not listen on {host}:{port} (port in use?)")
        await asyncio.sleep(0.01)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    on_ready(f"{'https' if tls_cert else 'http'}://{shown}:{bound_port(server)}")
    await task


def run(storage: Storage, host: str, port: int, tls_cert: Path | None, tls_key: Path | None,
        on_ready: Callable[[str], None], auth_limit: AuthFailureLimit = AuthFailureLimit(),
        forwarded_allow_ips: str = FORWARDED_ALLOW_IPS) -> None:
    try:
        import uvloop

        runner: Callable = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is optional
        runner = asyncio.run
    try:
        runner(serve_async(storage, host, port, tls_cert, tls_key, on_ready, auth_limit,
                           forwarded_allow_ips))
    finally:
        storage.close()
