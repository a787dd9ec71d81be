"""Schemathesis over the daemon's own OpenAPI, against the real daemon over real HTTP.

The acceptance criterion: at least a few thousand generated requests, and not one answered 5xx.

How it works:
- `novapos-edge serve --demo` runs as a subprocess (`tests.support.daemon`), demo catalog loaded.
- The schema is loaded from `/schema/openapi.json`; every operation is fuzzed with
  `APIOperation.as_strategy()` under Hypothesis, in positive mode (schema-valid data) and
  negative mode (data the schema forbids), and each case is sent with `Case.call`.
- The OpenAPI declares neither the bearer token nor the Idempotency-Key header, so every
  request gets them here, drawn per request: mostly the cashier token of lane-1 and a fresh
  key (so requests reach the domain), sometimes the manager token, lane-2's token, no or a
  bad token, a reused key, no key or a malformed one.
- Path parameters are drawn from real ids most of the time (carts opened before each cart
  operation: empty, with lines, voided, completed, another lane's; real line ids, orders,
  receipt numbers, SKUs and barcodes), otherwise the generated value is kept.
- Asserted: `not_a_server_error` for every case, no connection failure, the daemon still up
  and its `/metrics` showing no 5xx at all, and at least MIN_REQUESTS generated requests
  actually served (the `novapos_http_request_duration_seconds_count` delta, which is exact).
- Not asserted, only printed (`pytest -rP` or `-s`): schemathesis' conformance checks
  (status code, content type, response headers and schema, negative data rejection).

Reproduce a run: NOVAPOS_FUZZ_SEED=<seed printed on failure>. Scale it: NOVAPOS_FUZZ_SCALE=2.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.slow

MIN_REQUESTS = 3_000
SCALE = float(os.environ.get("NOVAPOS_FUZZ_SCALE", "1"))
# Examples per operation and mode; cart operations, where the domain logic is, get more.
EXAMPLES = {
    "cart": {GenerationMode.POSITIVE: 150, GenerationMode.NEGATIVE: 80},
    "other": {GenerationMode.POSITIVE: 90, GenerationMode.NEGATIVE: 60},
    "health": {GenerationMode.POSITIVE: 10},
}
REQUEST_TIMEOUT_S = 10.0
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_headers_conformance, response_schema_conformance, negative_data_rejection,
]
MAX_REPORTED = 15

SKUS = ["MILK-1L", "BREAD-500G", "COFFEE-250G", "BANANA", "TSHIRT-BLK-M"]
BARCODES = ["4006381333931"]
REUSED_KEYS = [f"fuzz-reused-{i}" for i in range(4)]

# Weighted choices, drawn by Hypothesis (so a seed reproduces them).
AUTH = ["lane-1"] * 40 + ["manager-1"] * 3 + ["lane-2"] * 2 + ["none", "bogus", "malformed"]
KEYS = ["fresh"] * 40 + ["reused"] * 3 + ["missing", "blank", "too-long", "control-char"]
KNOBS = st.fixed_dictionaries({
    "auth": st.sampled_from(AUTH),
    "key": st.sampled_from(KEYS),
    "reused": st.sampled_from(REUSED_KEYS),
    # None: keep what schemathesis generated; otherwise an index into the real ids.
    "path": st.one_of(st.integers(0, 999), st.integers(0, 999), st.none()),
    "line": st.one_of(st.integers(0, 999), st.none()),
    "body_ids": st.booleans(),
})


@dataclass
class Pools:
    """Real ids the fuzzer aims path parameters (and some body fields) at."""

    carts: list[str] = field(default_factory=list)  # refreshed before each cart operation
    fixed_carts: list[str] = field(default_factory=list)  # voided, completed, lane-2's
    line_ids: list[int] = field(default_factory=lambda: [1, 2, 3])
    orders: list[str] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)

    def for_param(self, name: str) -> list[Any]:
        return {
            "cart_id": self.carts + self.fixed_carts, "line_id": self.line_ids,
            "order_id": self.orders, "sku": SKUS, "code": BARCODES + SKUS[:1],
            "receipt_number": self.receipts, "q": ["MILK", "bread", "a", "COFFEE-250G"],
        }.get(name, [])


@dataclass
class Tally:
    sent: int = 0
    seeding: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    other_failures: Counter = field(default_factory=Counter)
    other_samples: dict[tuple[str, str], str] = field(default_factory=dict)
    unsatisfiable: list[str] = field(default_factory=list)


class Seeder:
    """Plain httpx calls that build real state for the fuzzer to hit."""

    def __init__(self, daemon: DaemonProcess, tally: Tally) -> None:
        self.clients = {lane: daemon.client(lane) for lane in ("lane-1", "lane-2")}
        self.tally = tally

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def call(self, method: str, path: str, body: Any = None, lane: str = "lane-1") -> dict:
        self.tally.seeding += 1
        headers = {"Idempotency-Key": f"seed-{uuid.uuid4()}"}
        r = self.clients[lane].request(method, path, json=body, headers=headers)
        assert r.status_code < 300, f"seeding {method} {path} {body}: {r.status_code} {r.text}"
        return r.json()

    def open_cart(self, lines: int = 0, lane: str = "lane-1") -> str:
        cart_id = self.call("POST", "/v1/carts", {"note": "fuzz seed"}, lane)["cart_id"]
        scans = [{"sku": "MILK-1L", "qty": 2}, {"sku": "BANANA", "qty_milli": 750},
                 {"barcode": BARCODES[0], "qty": 1}]
        for body in scans[:lines]:
            self.call("POST", f"/v1/carts/{cart_id}/lines", body, lane)
        return cart_id

    def completed_order(self, lane: str = "lane-1") -> dict:
        cart_id = self.open_cart(lines=2, lane=lane)
        self.call("POST", f"/v1/carts/{cart_id}/tenders",
                  {"tender_type": "cash", "amount_minor": 1_000_000}, lane)
        return self.call("POST", f"/v1/carts/{cart_id}/complete", {}, lane)

    def fixed(self, pools: Pools) -> None:
        voided = self.open_cart(lines=1)
        self.call("POST", f"/v1/carts/{voided}/void", {"reason": "fuzz seed"})
        other_lane = self.open_cart(lines=1, lane="lane-2")
        pools.fixed_carts = [voided, other_lane]
        for lane in ("lane-1", "lane-1", "lane-2"):
            order = self.completed_order(lane)
            pools.fixed_carts.append(order["cart_id"])
            pools.orders.append(order["order_id"])
            pools.receipts.append(order["receipt_number"])

    def refresh_carts(self, pools: Pools) -> None:
        pools.carts = [self.open_cart(lines=n) for n in (0, 1, 2, 3, 3)]


def _metrics(url: str) -> tuple[int, dict[str, int]]:
    """Requests the daemon has served (all routes), and how many of them got each status."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total, statuses = 0, Counter()
    for line in text.splitlines():
        if line.startswith("novapos_http_request_duration_seconds_count{"):
            labels, value = line.rsplit(" ", 1)
            status = labels.split('status="', 1)[1].split('"', 1)[0]
            total += int(float(value))
            statuses[status] += int(float(value))
    return total, dict(statuses)


def _headers(daemon: DaemonProcess, knobs: dict) -> dict[str, str]:
    headers: dict[str, str] = {}
    auth = knobs["auth"]
    if auth in daemon.tokens:
        headers["Authorization"] = f"Bearer {daemon.tokens[auth]}"
    elif auth == "bogus":
        headers["Authorization"] = "Bearer npe_" + "x" * 43
    elif auth == "malformed":
        headers["Authorization"] = "Basic Zm9vOmJhcg=="
    key = knobs["key"]
    headers["Idempotency-Key"] = {
        "fresh": f"fuzz-{uuid.uuid4()}", "reused": knobs["reused"], "blank": "   ",
        "too-long": "k" * 300, "control-char": "fuzz\tkey",
    }.get(key, "")
    if key == "missing":
        del headers["Idempotency-Key"]
    return headers


def _aim(case: Any, pools: Pools, knobs: dict) -> None:
    """Point path/query parameters (and id-like body fields) at real data, per the knobs."""
    for name in list(case.path_parameters or {}):
        pool = pools.for_param(name)
        pick = knobs["line"] if name == "line_id" else knobs["path"]
        if pool and pick is not None:
            case.path_parameters[name] = pool[pick % len(pool)]
    for name in list(case.query or {}):
        pool = pools.for_param(name)
        if pool and knobs["path"] is not None:
            case.query[name] = pool[knobs["path"] % len(pool)]
    body = case.body
    if knobs["body_ids"] and isinstance(body, dict):
        pick = knobs["path"] or 0
        if isinstance(body.get("sku"), str):
            body["sku"] = SKUS[pick % len(SKUS)]
        if isinstance(body.get("barcode"), str):
            body["barcode"] = BARCODES[pick % len(BARCODES)]
        if isinstance(body.get("line_id"), int):
            body["line_id"] = pools.line_ids[pick % len(pools.line_ids)]


def _send(case: Any, daemon: DaemonProcess, session: requests.Session, pools: Pools,
          knobs: dict, tally: Tally) -> None:
    _aim(case, pools, knobs)
    headers = _headers(daemon, knobs)
    label = case.operation.label
    tally.sent += 1
    tally.by_operation[label] += 1
    try:
        response = case.call(base_url=daemon.url, session=session, headers=headers,
                             timeout=REQUEST_TIMEOUT_S)
    except requests.RequestException as exc:
        tally.transport_errors.append(f"{label}: {exc!r}\n{case.as_curl_command(headers=headers, base_url=daemon.url)}")
        return
    tally.statuses[response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        server_error = any(isinstance(f, ServerError) for f in group.exceptions)
        if server_error or response.status_code >= 500:
            tally.server_errors.append(f"{group.message}\nresponse body: {response.text[:2000]}")
        for failure in group.exceptions:
            if isinstance(failure, ServerError):
                continue
            bucket = (label, failure.title)
            tally.other_failures[bucket] += 1
            tally.other_samples.setdefault(bucket, f"{failure.message}".strip()[:500])
    else:
        if response.status_code >= 500:  # not_a_server_error configured away? never let it pass
            tally.server_errors.append(f"{label} -> {response.status_code}: {response.text[:2000]}")


def _kind(op: Any) -> str:
    if op.path.startswith("/health"):
        return "health"
    return "cart" if op.path.startswith("/v1/carts") else "other"


def _fuzz(op: Any, mode: GenerationMode, examples: int, run_seed: int, send: Any) -> None:
    @seed(run_seed)
    @settings(
        max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False,
    )
    @given(case=op.as_strategy(generation_mode=mode), knobs=KNOBS)
    def run(case: Any, knobs: dict) -> None:
        send(case, knobs)

    run()


def _report(tally: Tally, elapsed: float, served: int, run_seed: int) -> str:
    lines = [
        f"seed {run_seed}: {tally.sent} generated requests ({served} served by the daemon, "
        f"plus {tally.seeding} seeding) in {elapsed:.1f}s, {tally.sent / max(elapsed, 1e-9):.0f}/s",
        f"statuses: {dict(sorted(tally.statuses.items()))}",
        "per operation: " + ", ".join(f"{k}={v}" for k, v in sorted(tally.by_operation.items())),
    ]
    if tally.unsatisfiable:
        lines.append(f"no data generated for: {tally.unsatisfiable}")
    if tally.other_failures:
        lines.append("conformance check failures (not asserted):")
        for (label, title), count in sorted(tally.other_failures.items()):
            lines.append(f"  {count:5d}  {label}: {title}")
            lines.append("         " + tally.other_samples[(label, title)].replace("\n", "\n         "))
    return "\n".join(lines)


def _daemon_errors(daemon: DaemonProcess) -> str:
    assert daemon.log_path is not None
    errors = []
    for line in Path(daemon.log_path).read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "critical", "exception"):
            errors.append(line[:3000])
    return "\n".join(errors[:MAX_REPORTED])


@pytest.fixture
def daemon(tmp_path: Path):
    proc = DaemonProcess(tmp_path / "store").start()
    try:
        yield proc
    finally:
        proc.stop()


def test_schemathesis_finds_no_server_error(daemon: DaemonProcess) -> None:
    run_seed = int(os.environ.get("NOVAPOS_FUZZ_SEED") or random.randrange(2**32))
    tally = Tally()
    pools = Pools()
    seeder = Seeder(daemon, tally)
    seeder.fixed(pools)

    schema = schemathesis.openapi.from_url(f"{daemon.url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    # The import could replace the catalog other operations aim at: run it last.
    operations.sort(key=lambda op: op.path == "/v1/catalog/imports")

    served_before, _ = _metrics(daemon.url)
    seeding_before = tally.seeding
    started = time.monotonic()
    with requests.Session() as session:

        def send(case: Any, knobs: dict) -> None:
            _send(case, daemon, session, pools, knobs, tally)

        for op in operations:
            kind = _kind(op)
            for mode, examples in EXAMPLES[kind].items():
                if kind == "cart":
                    seeder.refresh_carts(pools)
                try:
                    _fuzz(op, mode, max(1, int(examples * SCALE)), run_seed, send)
                except Unsatisfiable:
                    tally.unsatisfiable.append(f"{op.label} ({mode.value})")
    elapsed = time.monotonic() - started
    seeder.close()
    served_after, statuses = _metrics(daemon.url)
    # Every scrape is counted once it has been answered: the first one is in `served_after`.
    served = served_after - served_before - 1 - (tally.seeding - seeding_before)

    report = _report(tally, elapsed, served, run_seed)
    print(report)
    problems = []
    if tally.server_errors:
        problems.append(f"{len(tally.server_errors)} requests answered 5xx; first ones:\n\n"
                        + "\n\n".join(tally.server_errors[:MAX_REPORTED]))
    if tally.transport_errors:
        problems.append(f"{len(tally.transport_errors)} requests got no answer:\n"
                        + "\n".join(tally.transport_errors[:MAX_REPORTED]))
    fivexx = {s: n for s, n in statuses.items() if s.startswith("5")}
    if fivexx:
        problems.append(f"daemon /metrics counts 5xx answers: {fivexx}")
    if daemon.proc is None or daemon.proc.poll() is not None:
        problems.append("the daemon exited during the run")
    if problems:
        pytest.fail("\n\n".join(problems) + f"\n\n{report}\n\ndaemon errors:\n{_daemon_errors(daemon)}",
                    pytrace=False)
    assert tally.sent >= MIN_REQUESTS * min(SCALE, 1), report
    assert served >= MIN_REQUESTS * min(SCALE, 1), report
