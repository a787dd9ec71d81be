"""Promotion evaluation benchmark: a 100-line cart against 5,000 active rules.

    .venv/bin/python bench/promotions.py [--rules 5000] [--lines 100] [--skus 20000]
        [--categories 1000] [--iterations 300] [--naive-iterations 10] [--seeds 1[,2,3]]
        [--against DIR]

One run measures, on the same bundle and the same carts:
- `indexed`: `core.promotions.evaluate`, which looks only at the rules indexed under the
  cart's SKUs and categories (plus cart-wide rules) — what the lane runs on every cart change;
- `naive`: `core.promotions.evaluate_naive`, every rule looked at against every line.
- `against` (with `--against DIR`): the indexed evaluator of another checkout, e.g. main's
  (`git worktree add --detach /tmp/main main`), on the same bundle and carts, its evaluations
  interleaved with this tree's one by one, so both see the same machine in the same seconds.
  DIR's `core` is loaded beside this tree's; `schemas` is this tree's (the rules are built
  once), so DIR must not differ from this tree in `schemas/promotions.py`.
All must give the same result for every cart (checked; a mismatch exits 1).

The bundle mixes every rule kind: percent and amount off items and categories, fixed prices,
buy X get Y, mix and match, multi-buy tiers, spend thresholds and a few cart-wide rules, in
exclusive groups and stackable ones, with some coupons. Each cart is 100 lines drawn so that
a realistic share of them hits a promotion.

Figures are per evaluation: wall time (`time.perf_counter_ns`) and the thread's CPU time
(`time.thread_time_ns`, which leaves out time spent waiting for a core on a shared machine;
compare `load1` in the JSON). With several seeds (each its own bundle and carts) the figures
are printed per seed and pooled in the JSON. The last line of stdout is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import promotions as p  # noqa: E402
from schemas import promotions as sp  # noqa: E402

NOW = datetime(2026, 6, 15, 12, 0)


def make_rules(rnd: random.Random, n: int, skus: int, cats: int) -> list[sp.Rule]:
    rules = []
    for i in range(n):
        kind = rnd.choices(range(8), weights=[30, 15, 10, 15, 8, 10, 4, 8])[0]
        if rnd.random() < 0.1:
            target = sp.Target(categories=(f"cat{rnd.randrange(cats)}",))
        else:
            target = sp.Target(skus=tuple(f"sku{rnd.randrange(skus)}"
                                          for _ in range(rnd.randint(1, 5))))
        effect: sp.Effect
        if kind == 0:
            effect = sp.PercentOff(rnd.choice([500, 1000, 1500, 2000, 2500]))
        elif kind == 1:
            effect = sp.AmountOff(rnd.choice([10, 20, 50, 100]))
        elif kind == 2:
            effect = sp.FixedPrice(rnd.choice([99, 199, 299]))
        elif kind == 3:
            effect = sp.BuyXGetY(rnd.randint(1, 3), 1, rnd.choice([5000, 10000]),
                                 rnd.choice(["cheapest", "dearest"]))
        elif kind == 4:
            effect = sp.MixMatch(rnd.randint(2, 4), rnd.choice([300, 500, 800]))
        elif kind == 5:
            effect = sp.MultiBuy((sp.Tier(2, 500), sp.Tier(4, 1000)))
        elif kind == 6:
            effect = sp.SpendThreshold(rnd.choice([2000, 5000]), rnd.choice([100, 300]))
        else:
            effect = sp.PercentOff(1000, "cart") if rnd.random() < 0.5 else \
                sp.AmountOff(200, "cart")
        if kind in (6, 7) and rnd.random() < 0.7:
            target = sp.Target(categories=(f"cat{rnd.randrange(cats)}",))
        coupon = sp.Coupon(f"C{i}") if rnd.random() < 0.03 else None
        rules.append(sp.Rule(
            rule_id=f"r{i:05d}", name=f"rule {i}", effect=effect, target=target,
            priority=rnd.randint(0, 3), coupon=coupon,
            group=f"g{rnd.randrange(n // 4)}" if rnd.random() < 0.4 else None,
            exclusive=rnd.random() < 0.02,
            base="original" if rnd.random() < 0.2 else "discounted",
            starts_local="2026-06-01T00:00", ends_local="2026-07-01T00:00",
        ))
    # A handful of cart-wide rules, the kind every cart is a candidate for.
    for j in range(5):
        rules.append(sp.Rule(f"cart{j}", f"cart-wide {j}",
                             sp.SpendThreshold(5000 + 1000 * j, 200 + 100 * j), group="spend"))
    return rules


def make_cart(rnd: random.Random, rules: list[sp.Rule], n_lines: int, skus: int, cats: int
              ) -> list[p.CartLine]:
    promoted = [s for r in rules for s in r.target.skus]
    lines = []
    for line_id in range(1, n_lines + 1):
        sku = rnd.choice(promoted) if rnd.random() < 0.3 else f"sku{rnd.randrange(skus)}"
        lines.append(p.CartLine(line_id, sku, rnd.randint(50, 3000), rnd.randint(1, 4) * 1000,
                                "each", (f"cat{rnd.randrange(cats)}",)))
    return lines


def percentile(sorted_ns: list[int], q: float) -> float:
    k = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[k] / 1e6


def summary(times: list[int], cpu: list[int]) -> dict:
    times, cpu = sorted(times), sorted(cpu)
    return {"n": len(times), "p50_ms": round(percentile(times, 0.5), 3),
            "p99_ms": round(percentile(times, 0.99), 3), "max_ms": round(times[-1] / 1e6, 3),
            "mean_ms": round(sum(times) / len(times) / 1e6, 3),
            "cpu_p50_ms": round(percentile(cpu, 0.5), 3),
            "cpu_p99_ms": round(percentile(cpu, 0.99), 3)}


def measure(fns, carts, ctx, iterations: int) -> list[tuple[list[int], list[int], list]]:
    """Each (evaluate, active) on the same carts, interleaved one evaluation at a time (the
    order alternating), so every one sees the machine as it is in those seconds."""
    out: list[tuple[list[int], list[int], list]] = [([], [], []) for _ in fns]
    for i in range(iterations):
        cart = carts[i % len(carts)]
        for j in (range(len(fns)) if i % 2 == 0 else reversed(range(len(fns)))):
            fn, active = fns[j]
            times, cpu, results = out[j]
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            res = fn(cart, active, ctx)
            times.append(time.perf_counter_ns() - t0)
            cpu.append(time.thread_time_ns() - c0)
            if i < len(carts):
                results.append(res)
    return out


def load_against(tree: Path):
    """`core.promotions` of another checkout, loaded beside this tree's: its own `core`
    modules, this tree's `schemas` (so both evaluators read the same rule objects)."""
    def ours() -> dict:
        return {k: m for k, m in sys.modules.items() if k == "core" or k.startswith("core.")}

    saved = ours()
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(tree))
    try:
        return importlib.import_module("core.promotions")
    finally:
        sys.path.remove(str(tree))
        for k in ours():
            del sys.modules[k]
        sys.modules.update(saved)


def comparable(result) -> tuple:
    # The other checkout's `Result` is another class: compare the values.
    return dataclasses.astuple(result)


def speedup(before: dict, after: dict) -> str:
    def x(key: str) -> str:
        return f"{before[key] / max(after[key], 1e-9):.2f}x"
    return (f"{x('cpu_p50_ms')} faster at CPU p50, {x('cpu_p99_ms')} at CPU p99; "
            f"wall {x('p50_ms')} / {x('p99_ms')}")


def run_seed(args, seed: int, other) -> dict:
    rnd = random.Random(seed)
    rules = make_rules(rnd, args.rules, args.skus, args.categories)
    bundle = sp.Bundle(1, 0, tuple(rules))
    t0 = time.perf_counter()
    active = p.compile_rules(bundle, "s1")
    compile_ms = (time.perf_counter() - t0) * 1000
    carts = [make_cart(rnd, rules, args.lines, args.skus, args.categories)
             for _ in range(args.carts)]
    ctx = p.Context("s1", NOW)
    fns = [(p.evaluate, active)]
    if other is not None:
        fns.append((other.evaluate, other.compile_rules(bundle, "s1")))
    for fn, act in fns:  # warm-up
        for cart in carts[:2]:
            fn(cart, act, ctx)
    timed = measure(fns, carts, ctx, max(args.iterations, args.carts))
    naive = measure([(p.evaluate_naive, active)], carts, ctx,
                    max(args.naive_iterations, args.carts))[0]
    res_i = timed[0][2]
    same = res_i == naive[2] and all(
        [comparable(r) for r in res] == [comparable(r) for r in res_i] for _, _, res in timed[1:])
    applied = [len(r.applied) for r in res_i]
    saved = [r.discount_minor for r in res_i]
    print(f"seed {seed}: bundle: {len(rules)} rules compiled in {compile_ms:.1f} ms; carts: "
          f"{args.carts} x {args.lines} lines; promotions applied per cart "
          f"{min(applied)}-{max(applied)}, saving {min(saved)}-{max(saved)} minor units")
    raw = {"indexed": timed[0][:2], "naive": naive[:2]}
    if other is not None:
        raw["against"] = timed[1][:2]
    for name, (times, cpu) in raw.items():
        m = summary(times, cpu)
        print(f"  {name:8} wall p50 {m['p50_ms']} ms  p99 {m['p99_ms']} ms  max {m['max_ms']} ms; "
              f"cpu p50 {m['cpu_p50_ms']} ms  p99 {m['cpu_p99_ms']} ms  ({m['n']} evaluations)")
    if other is not None:
        print(f"  this tree against {args.against}: "
              f"{speedup(summary(*raw['against']), summary(*raw['indexed']))}")
    print(f"  same results: {same}")
    return {"rules": len(rules), "compile_ms": round(compile_ms, 1), "raw": raw, "same": same,
            "applied": applied}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=int, default=5000)
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--skus", type=int, default=20_000)
    ap.add_argument("--categories", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--naive-iterations", type=int, default=10)
    ap.add_argument("--carts", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1, help="one seed (see --seeds)")
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=None,
                    help="comma-separated seeds, each its own bundle and carts")
    ap.add_argument("--against", type=Path, default=None,
                    help="another checkout whose evaluator to time on the same carts")
    args = ap.parse_args()

    other = load_against(args.against.resolve()) if args.against is not None else None
    seeds = args.seeds or [args.seed]
    runs = [run_seed(args, seed, other) for seed in seeds]
    pooled = {name: summary([t for r in runs for t in r["raw"][name][0]],
                            [c for r in runs for c in r["raw"][name][1]])
              for name in runs[0]["raw"]}
    indexed, naive = pooled["indexed"], pooled["naive"]
    same = all(r["same"] for r in runs)
    applied = [a for r in runs for a in r["applied"]]
    if len(runs) > 1:
        print(f"all seeds {','.join(map(str, seeds))}:")
        for name, m in pooled.items():
            print(f"  {name:8} wall p50 {m['p50_ms']} ms  p99 {m['p99_ms']} ms; cpu p50 "
                  f"{m['cpu_p50_ms']} ms  p99 {m['cpu_p99_ms']} ms  ({m['n']} evaluations)")
    if other is not None:
        print(f"against {args.against}: {speedup(pooled['against'], indexed)}")
    print(f"same results: {same}; speed-up at p99: "
          f"{naive['p99_ms'] / max(indexed['p99_ms'], 1e-9):.1f}x; target p99 < 5 ms: "
          f"{'met' if indexed['p99_ms'] < 5 else 'NOT met'} (wall), "
          f"{'met' if indexed['cpu_p99_ms'] < 5 else 'NOT met'} (CPU time)")
    doc = {"rules": runs[0]["rules"], "lines": args.lines,
           "compile_ms": max(r["compile_ms"] for r in runs),
           "indexed": indexed, "naive": naive, "same_results": same,
           "applied_per_cart": [min(applied), max(applied)],
           "target_p99_ms": 5, "target_met": indexed["p99_ms"] < 5,
           "cpu_target_met": indexed["cpu_p99_ms"] < 5,
           "load1": round(os.getloadavg()[0], 2), "seeds": seeds}
    if other is not None:
        doc["against"] = {"tree": str(args.against), **pooled["against"]}
    if len(runs) > 1:
        doc["per_seed"] = {str(seed): {name: summary(*r["raw"][name]) for name in r["raw"]}
                           for seed, r in zip(seeds, runs)}
    print(json.dumps(doc))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
