"""A real relay for tests and benchmarks: in-process on a loopback port (`start_relay`), or as a
subprocess that can be killed with SIGKILL (`RelayProcess`), over SQLite or PostgreSQL.

Also: a signing store client, and builders for valid hash-chained events and batches (the same
chain the edge writes, via `core.chain.chain_hash`).

PostgreSQL: each relay gets a fresh schema in the `test` database on 127.0.0.1:5432 (user
postgres, trust); `pg_available()` says whether that server answers.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import msgspec
import uvicorn

from cloud_relay import admin, server
from cloud_relay.sealing import KEY_FILENAME
from cloud_relay.storage import Storage, open_storage
from core.chain import GENESIS_HASH, chain_hash
from core.ids import uuid7
from core.ratelimit import AuthFailureLimit
from core.signing import StoreCredential, sign
from schemas import events as ev
from schemas.envelope import Event
from schemas.sync import (
    BATCH_CONTENT_TYPE,
    HEADER_ACKED_THROUGH,
    PROTOCOL_VERSION,
    Batch,
    BatchAck,
    batch_id,
    encode_batch,
)
from tests.support.ports import stable_port
from tests.support.process import ChildProcess

PG_BASE = os.environ.get("NOVAPOS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
READY_TIMEOUT_S = 30.0
BACKENDS = ("sqlite", "postgresql")


# --- PostgreSQL schemas ------------------------------------------------------------------------


def pg_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: not available
        return f"{type(exc).__name__}: {exc}"


_pg_problem: list[str | None] = []


def skip_without_pg(backend: str) -> None:
    """Skip the calling test, loudly, when it needs PostgreSQL and none answers."""
    if backend != "postgresql":
        return
    if not _pg_problem:
        _pg_problem.append(pg_available())
    if (problem := _pg_problem[0]) is not None:
        import warnings

        import pytest

        message = (f"POSTGRESQL RELAY TESTS SKIPPED: no PostgreSQL at {PG_BASE}: {problem}")
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)


def new_pg_schema() -> str:
    """A fresh, empty schema; returns a database URL whose search_path is that schema."""
    import psycopg

    name = f"relay_t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{PG_BASE}?options={quote(f'-csearch_path={name}')}"


def drop_pg_schema(url: str) -> None:
    import psycopg

    m = re.search(r"search_path%3D(\w+)", url)
    if not m:
        return
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {m.group(1)} CASCADE")


def database_url(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite://{data_dir.resolve() / 'relay.db'}"
    assert backend == "postgresql", backend
    return new_pg_schema()


# --- events and batches ------------------------------------------------------------------------


@dataclass
class Chain:
    """A store's log being written by a test: seq and hash continue across `events()` calls."""

    tenant_id: str
    store_id: str
    seq: int = 0
    head: bytes = GENESIS_HASH
    log: list[Event] = field(default_factory=list)
    recorded_at_ms: int = 1_772_445_600_000
    business_date: str = "2026-03-02"

    def append(self, body: bytes | ev.EventBody, *, type_: str | None = None,
               schema_version: int = 1, lane_id: str | None = "lane-1",
               stream: str = "test") -> Event:
        if isinstance(body, ev.EventBody):
            type_, schema_version, data = body.TYPE, body.SCHEMA_VERSION, ev.encode_body(body)
        else:
            data = body
        assert type_ is not None
        seq = self.seq + 1
        event_id = uuid7()  # time-ordered, as the edge writes them
        self.recorded_at_ms += 1
        digest = chain_hash(
            self.head, seq=seq, event_id=event_id, tenant_id=self.tenant_id,
            store_id=self.store_id, lane_id=lane_id, stream=stream, type=type_,
            schema_version=schema_version, recorded_at_ms=self.recorded_at_ms,
            business_date=self.business_date, body=data)
        event = Event(seq, event_id, self.tenant_id, self.store_id, lane_id, stream, type_,
                      schema_version, self.recorded_at_ms, self.business_date, data, self.head,
                      digest)
        self.seq, self.head = seq, digest
        self.log.append(event)
        return event

    def extend(self, n: int) -> list[Event]:
        """n interpretable events (cart openings)."""
        return [self.append(ev.CartOpened(cart_id=f"c{self.seq + 1}", lane_id="lane-1",
                                          currency="EUR", opened_at_ms=self.recorded_at_ms))
                for _ in range(n)]

    def batch(self, first_seq: int, last_seq: int) -> Batch:
        events = self.log[first_seq - 1:last_seq]
        assert events and events[0].seq == first_seq and events[-1].seq == last_seq
        return Batch(protocol=PROTOCOL_VERSION, batch_id=batch_id(self.store_id, first_seq,
                                                                  last_seq),
                     tenant_id=self.tenant_id, store_id=self.store_id, first_seq=first_seq,
                     last_seq=last_seq, prev_hash=events[0].prev_hash,
                     last_hash=events[-1].hash, events=events)


# --- clients -----------------------------------------------------------------------------------


class StoreClient:
    """Signs every request with the store credential, as the edge's uploader does."""

    def __init__(self, base_url: str, cred: StoreCredential, *, verify: object = True,
                 now_ms: Callable[[], int] = server.now_ms,
                 local_address: str | None = None) -> None:
        self.cred = cred
        self.now_ms = now_ms
        transport = httpx.HTTPTransport(local_address=local_address,
                                        verify=verify)  # type: ignore[arg-type]
        self.http = httpx.Client(base_url=base_url, timeout=30.0, transport=transport)

    def request(self, method: str, path_qs: str, body: bytes = b"",
                headers: dict[str, str] | None = None,
                cred: StoreCredential | None = None) -> httpx.Response:
        sent = {"Accept": "application/json", **(headers or {})}
        signed = sign(cred or self.cred, method, path_qs, body, self.now_ms(), sent)
        return self.http.request(method, path_qs, content=body, headers={**sent, **signed})

    def upload_raw(self, raw: bytes, key: str | None, *, store_id: str | None = None,
                   acked_through: int | None = None) -> httpx.Response:
        headers = {"Content-Type": BATCH_CONTENT_TYPE}
        if key is not None:
            headers["Idempotency-Key"] = key
        if acked_through is not None:
            headers[HEADER_ACKED_THROUGH] = str(acked_through)
        return self.request("POST", f"/v1/stores/{store_id or self.cred.store_id}/batches",
                            raw, headers)

    def upload(self, batch: Batch, **kwargs) -> httpx.Response:
        return self.upload_raw(encode_batch(batch), batch.batch_id, **kwargs)

    def ack(self, batch: Batch) -> BatchAck:
        resp = self.upload(batch)
        assert resp.status_code == 200, resp.text
        return msgspec.json.decode(resp.content, type=BatchAck)

    def get(self, path_qs: str) -> httpx.Response:
        return self.request("GET", path_qs)

    def close(self) -> None:
        self.http.close()


# --- in-process relay --------------------------------------------------------------------------


class Clock:
    """Real time plus an offset the test can move (for signature-skew tests)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return server.now_ms() + self.offset_ms


@dataclass
class Relay:
    url: str
    backend: str
    database_url: str
    storage: Storage
    clock: Clock
    key_file: Path
    _server: uvicorn.Server
    _thread: threading.Thread
    _clients: list = field(default_factory=list)

    @property
    def cli_args(self) -> tuple[str, ...]:
        """`novapos-relay` options naming this relay's database and secret key file."""
        return ("--database", self.database_url, "--secret-key-file", str(self.key_file))

    def enroll(self, tenant_id: str = "t1", store_id: str = "s1") -> StoreCredential:
        return admin.enroll_store(self.storage, tenant_id, store_id, self.clock())

    def hq_token(self, tenant_id: str = "t1") -> str:
        return admin.create_hq_token(self.storage, tenant_id, self.clock()).token

    def store_client(self, cred: StoreCredential, **kwargs) -> StoreClient:
        client = StoreClient(self.url, cred, **kwargs)
        self._clients.append(client)
        return client

    def hq_client(self, token: str, local_address: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                              timeout=30.0,
                              transport=httpx.HTTPTransport(local_address=local_address))
        self._clients.append(client)
        return client

    def close(self, drop: bool = True) -> None:
        for c in self._clients:
            c.close()
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.storage.close()
        if drop and self.backend == "postgresql":
            drop_pg_schema(self.database_url)


def start_relay(backend: str, data_dir: Path, *, database: str | None = None,
                tls: tuple[Path, Path] | None = None, secret_key: str | None = None,
                auth_limit: AuthFailureLimit = AuthFailureLimit(), port: int = 0) -> Relay:
    """A relay on a free loopback port (or `port`: a relay back on the address it had),
    running in a thread of this process; its secret key file (unless `secret_key` is given)
    is `data_dir`'s."""
    url = database or database_url(backend, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / KEY_FILENAME
    storage = open_storage(url, secret_key, key_file=key_file)
    clock = Clock()
    cfg = server.config(storage, "127.0.0.1", port, *(tls or (None, None)), clock=clock,
                        loop="asyncio", auth_limit=auth_limit)
    srv = uvicorn.Server(cfg)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            storage.close()
            raise RuntimeError("relay test server did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    return Relay(f"{scheme}://127.0.0.1:{server.bound_port(srv)}", backend, url, storage, clock,
                 key_file, srv, thread)


# --- subprocess relay --------------------------------------------------------------------------

_LISTEN = re.compile(r"novapos-relay listening on (\S+)")


@dataclass
class RelayProcess(ChildProcess):
    """`novapos-relay serve` as a real process: start, kill9, stop, restart on the same port.
    Its data directory (the secret key file) is the log file's directory."""

    database: str
    log_path: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    url: str = ""
    extra_args: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return self.log_path.parent

    def open_storage(self) -> Storage:
        """The database as the process opens it (same key file)."""
        return open_storage(self.database, key_file=self.data_dir / KEY_FILENAME)

    def start(self) -> RelayProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.port == 0:  # outside the ephemeral range: still free when it restarts
            self.port = stable_port()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the drain thread closes it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloud_relay.cli", "serve", "--database", self.database,
             "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port),
             *self.extra_args],
            stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def drain(stream, sink) -> None:
            try:
                for chunk in iter(stream.readline, b""):
                    sink.write(chunk)
                    sink.flush()
                    lines.put(chunk.decode(errors="replace"))
            finally:
                lines.put(None)
                sink.close()

        assert self.proc.stdout is not None
        threading.Thread(target=drain, args=(self.proc.stdout, log), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill9()
                raise RuntimeError(f"relay not ready in {READY_TIMEOUT_S}s: {self.log_tail()}"
                                   ) from None
            if line is None:
                self.proc.wait(timeout=10)
                raise RuntimeError(f"relay exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if m := _LISTEN.search(line):
                self.url = m.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                return self

    def enroll(self, tenant_id: str = "t1", store_id: str = "s1") -> StoreCredential:
        """Enroll through the database directly (works whether or not the process runs)."""
        storage = self.open_storage()
        try:
            return admin.enroll_store(storage, tenant_id, store_id, server.now_ms())
        finally:
            storage.close()

    def hq_token(self, tenant_id: str = "t1") -> str:
        storage = self.open_storage()
        try:
            return admin.create_hq_token(storage, tenant_id, server.now_ms()).token
        finally:
            storage.close()

    def store_client(self, cred: StoreCredential) -> StoreClient:
        return StoreClient(self.url, cred)





def iter_ledger(client: httpx.Client, limit: int = 1000, after: str | None = None
                ) -> Iterator[dict]:
    """Every ledger event of the HQ token's tenant, following cursors."""
    while True:
        params = {"limit": str(limit)}
        if after:
            params["after"] = after
        resp = client.get("/v1/ledger", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        yield from page["events"]
        after = page["next_cursor"]
        if not page["more"]:
            return


def ingest_rate(backend: str, data_dir: Path, *, events: int = 100_000,
                batch_events: int = 2_000, stores: int = 1) -> float:
    """Relay ingest throughput (events/s): `stores` stores upload `events` events in total, in
    prebuilt signed batches, concurrently, to a relay running as its own process. For
    benchmarks (`pg_ingest_events_per_s`); no test asserts on it."""
    url = database_url(backend, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    storage = open_storage(url, key_file=data_dir / KEY_FILENAME)
    per_store = events // stores
    work = []
    for i in range(stores):
        cred = admin.enroll_store(storage, "bench", f"bench-{i}", server.now_ms())
        chain = Chain("bench", f"bench-{i}")
        chain.extend(per_store)
        work.append((cred, [(encode_batch(chain.batch(f, min(per_store, f + batch_events - 1))),
                             batch_id(f"bench-{i}", f, min(per_store, f + batch_events - 1)))
                            for f in range(1, per_store + 1, batch_events)]))
    storage.close()
    data_dir.mkdir(parents=True, exist_ok=True)
    relay = RelayProcess(url, data_dir / "relay-bench.log").start()
    try:
        def upload(cred: StoreCredential, batches: list[tuple[bytes, str]]) -> None:
            client = StoreClient(relay.url, cred)
            for raw, key in batches:
                resp = client.upload_raw(raw, key)
                assert resp.status_code == 200, resp.text
            client.close()

        threads = [threading.Thread(target=upload, args=w) for w in work]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        relay.stop()
        if backend == "postgresql":
            drop_pg_schema(url)
    return per_store * stores / elapsed
