"""Approvals benchmark: what an approval costs a lane, against the same discount without one,
measured in the same run over real HTTP on loopback (the daemon's app in-process, uvicorn,
a real store database; `tests.support.live_app`).

    .venv/bin/python bench/approvals.py [--carts 200] [--tmp-dir D]

For each of `--carts` carts (one T-shirt line each), on one lane:
- baseline: a 10 % discount, within the cashier limit (no rule applies, nothing recorded);
- override: a 50 % discount by the manager lane (rule applies; `approval.overridden` appended);
- approval: a cashier's 50 % discount: the 403 that records the request, the PIN approval
  (scrypt, checked off the writer), and the retry that spends the token (`approval.used`).
Also the scrypt PIN check alone, in-process. Latency per request from send to full body
(`time.perf_counter_ns`); p50/p99 in ms. The last line of stdout is one JSON object.
Exit 0 when every request answered as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.approvals import pins  # noqa: E402
from tests.edge.approvals.helpers import PIN, admin, enroll  # noqa: E402
from tests.support.live_app import start_live_app  # noqa: E402


def _ms(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] / 1e6, 3),
            "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] / 1e6, 3),
            "mean_ms": round(statistics.fmean(s) / 1e6, 3)}


def _timed(fn):
    t0 = time.perf_counter_ns()
    r = fn()
    return r, time.perf_counter_ns() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--carts", type=int, default=200)
    ap.add_argument("--tmp-dir", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-approvals-", dir=args.tmp_dir))
    live = start_live_app(tmp / "store")
    ok = True
    try:
        with admin(live.url, live.service.data_dir) as a:
            enroll(a)
        c, m = live.client(), live.client("manager-1")

        def post(client, path, body, key=None, token=None):
            headers = {"Idempotency-Key": key or uuid.uuid4().hex}
            if token:
                headers["X-Approval-Token"] = token
            return client.post(path, json=body, headers=headers)

        def cart(client) -> str:
            cid = post(client, "/v1/carts", {}).json()["cart_id"]
            post(client, f"/v1/carts/{cid}/lines", {"sku": "TSHIRT-BLK-M"})
            return cid

        small = {"line_id": 1, "kind": "percent", "value": 1000}
        half = {"line_id": 1, "kind": "percent", "value": 5000}
        base, over, ask, pin, retry, flow = [], [], [], [], [], []
        for _ in range(args.carts):
            cid = cart(c)
            r, t = _timed(lambda: post(c, f"/v1/carts/{cid}/discounts", small))
            ok &= r.status_code == 200
            base.append(t)
            cid = cart(m)
            r, t = _timed(lambda: post(m, f"/v1/carts/{cid}/discounts", half))
            ok &= r.status_code == 200
            over.append(t)
            cid = cart(c)
            key = uuid.uuid4().hex
            r, t1 = _timed(lambda: post(c, f"/v1/carts/{cid}/discounts", half, key))
            ok &= r.status_code == 403
            approval_id = r.json()["approval"]["approval_id"]
            r, t2 = _timed(lambda: post(c, f"/v1/approvals/{approval_id}/pin",
                                        {"approver_id": "anna", "pin": PIN}))
            ok &= r.status_code == 200
            token = r.json().get("token")
            r, t3 = _timed(lambda: post(c, f"/v1/carts/{cid}/discounts", half, key, token))
            ok &= r.status_code == 200
            ask.append(t1), pin.append(t2), retry.append(t3), flow.append(t1 + t2 + t3)
        stored = pins.hash_pin(PIN)
        scrypt = [_timed(lambda: pins.check_pin(PIN, stored))[1] for _ in range(20)]
    finally:
        live.close()
    figures = {
        "bench": "approvals", "carts": args.carts, "ok": bool(ok),
        "baseline_discount": _ms(base), "manager_override": _ms(over),
        "approval_required_403": _ms(ask), "pin_approval": _ms(pin),
        "token_retry": _ms(retry), "whole_approval": _ms(flow), "scrypt_check": _ms(scrypt),
        "token_retry_over_baseline_p50": round(
            statistics.median(retry) / statistics.median(base), 2),
    }
    for name, v in figures.items():
        if isinstance(v, dict):
            print(f"{name:>24}: p50 {v['p50_ms']:8.3f} ms  p99 {v['p99_ms']:8.3f} ms")
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
