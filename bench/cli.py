"""CLI start-up benchmark: wall and CPU time of `novapos-edge --help`, a sub-app's `--help`,
`novapos-edge status` with the daemon down, and `novapos-relay --help`, against an empty
interpreter (`python -c pass`) measured in the same run.

    .venv/bin/python bench/cli.py [--runs 7]
    .venv/bin/python bench/cli.py --compare /path/to/other/checkout   # before/after, alternately
    .venv/bin/python bench/cli.py --compare ../main-copy --instructions   # + valgrind counts

What it does:
1. `novapos-edge init` on a fresh temp dir (no daemon is started: `status` reports it down,
   exit code 3, after reading the store's database).
2. Runs each command once (not counted), then `--runs` times, as a subprocess of this
   interpreter, with `PYTHONPATH` set to the tree measured (this checkout, and with `--compare`
   the other one too, the two alternating run by run so both see the same neighbours), stdout
   discarded, `COLUMNS=80`. Bytecode is cached in the temp dir (`PYTHONPYCACHEPREFIX`, even
   under `PYTHONDONTWRITEBYTECODE`), as an installed CLI has it; `--cold` keeps the caller's
   setting instead. Wall time is measured around the process (spawn to exit); CPU time is the
   child's user + system time (`os.wait4`), which other load on a shared box inflates far less.
3. With `--instructions`, counts each command's instructions once per tree under valgrind
   (cachegrind, no cache simulation): the one figure here that other load does not move.
4. Prints best and median wall and least CPU per command and tree; the last line of stdout is
   one JSON object. Targets (the best wall of this checkout): `--help` < 0.3 s, `status`
   < 0.5 s. Exit 0 when both hold, 1 otherwise, 2 when a command fails (a wrong exit code).

The box is shared: the load average at the start and the end is reported with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS_S = {"edge_help": 0.3, "edge_status": 0.5}


def _cases(data_dir: Path) -> dict[str, tuple[list[str], int]]:
    """name -> (arguments after the interpreter, expected exit code)."""
    return {
        "python_pass": (["-c", "pass"], 0),
        "edge_help": (["-m", "edge.cli", "--help"], 0),
        "edge_stock_help": (["-m", "edge.cli", "stock", "--help"], 0),
        "edge_status": (["-m", "edge.cli", "status", "--data-dir", str(data_dir)], 3),
        "relay_help": (["-m", "cloud_relay.cli", "--help"], 0),
    }


def _env(tree: Path, pycache: Path | None) -> dict[str, str]:
    drop = ("NOVAPOS_DATA_DIR", "STATE_DIRECTORY", "PYTHONPATH")
    if pycache is not None:
        drop += ("PYTHONDONTWRITEBYTECODE",)
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if pycache is not None:  # one cache per tree: the trees' modules share names
        env["PYTHONPYCACHEPREFIX"] = str(pycache / tree.name)
    return {**env, "PYTHONPATH": str(tree), "COLUMNS": "80"}


def _run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, child CPU s, exit code) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def _instructions(argv: list[str], env: dict[str, str], cwd: Path) -> int | None:
    """Instructions one run executes (valgrind's cachegrind, no cache simulation): a count the
    neighbours on a shared box do not change. None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                          "--cachegrind-out-file=/dev/null", *argv], env=env, cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in out.stderr.splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.rsplit(":", 1)[1].replace(",", "").strip())
    return None


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples]
    return {"best_wall_s": round(min(walls), 3),
            "median_wall_s": round(statistics.median(walls), 3),
            "least_cpu_s": round(min(cpus), 3), "median_cpu_s": round(statistics.median(cpus), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--compare", type=Path, default=None,
                    help="another checkout (e.g. a worktree of main) measured alternately")
    ap.add_argument("--tmp-dir", type=Path, default=None)
    ap.add_argument("--cold", action="store_true",
                    help="keep this environment's bytecode setting (with PYTHONDONTWRITEBYTECODE "
                    "every run compiles the project's modules from source)")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each command's instructions once under valgrind (slow: "
                    "~30x; independent of the box's load)")
    args = ap.parse_args()
    trees = {"this": ROOT}
    if args.compare is not None:
        trees["compare"] = args.compare.resolve()
    py = sys.executable
    load_start = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="novapos-bench-cli-", dir=args.tmp_dir))
    failures: list[str] = []
    results: dict[str, dict[str, dict[str, float]]] = {t: {} for t in trees}
    try:
        data = base / "store"
        pycache = None if args.cold else base / "pycache"
        init = subprocess.run([py, "-m", "edge.cli", "init", "--data-dir", str(data)],
                              env=_env(ROOT, pycache), cwd=ROOT, capture_output=True, text=True)
        if init.returncode != 0:
            print(f"init failed: {init.stderr[-2000:]}", file=sys.stderr)
            return 2
        cases = _cases(data)
        for name, (rest, expected) in cases.items():
            samples: dict[str, list[tuple[float, float]]] = {t: [] for t in trees}
            for tree, path in trees.items():  # warm-up, not counted: writes the bytecode cache
                _run_once([py, *rest], _env(path, pycache), path)
            for _ in range(args.runs):
                for tree, path in trees.items():
                    wall, cpu, code = _run_once([py, *rest], _env(path, pycache), path)
                    if code != expected:
                        failures.append(f"{tree} {name}: exit {code}, expected {expected}")
                    samples[tree].append((wall, cpu))
            for tree, path in trees.items():
                results[tree][name] = _summary(samples[tree])
                if args.instructions:
                    count = _instructions([py, *rest], _env(path, pycache), path)
                    results[tree][name]["instructions_m"] = (
                        None if count is None else round(count / 1e6, 1))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load_end = os.getloadavg()

    print(f"{'command':<17}{'tree':<9}{'best wall':>10}{'median':>9}{'least CPU':>11}"
          + ("  instructions" if args.instructions else ""))
    for name in cases:
        for tree in trees:
            r = results[tree][name]
            instr = r.get("instructions_m")
            print(f"{name:<17}{tree:<9}{r['best_wall_s']:>8.3f} s{r['median_wall_s']:>7.3f} s"
                  f"{r['least_cpu_s']:>9.3f} s" + ("" if instr is None else f"  {instr:,.0f} M"))
    met = {k: results["this"][k]["best_wall_s"] < limit for k, limit in TARGETS_S.items()}
    print("targets (best wall of this checkout): " + ", ".join(
        f"{k} < {v} s: {'met' if met[k] else 'MISSED'}" for k, v in TARGETS_S.items()))
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
          f"{os.cpu_count()} CPUs; {args.runs} runs each; bytecode "
          + ("as the environment has it" if args.cold else "cached"))
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    print(json.dumps({
        "bench": "cli", "runs": args.runs, "bytecode_cached": not args.cold,
        "trees": {t: str(p) for t, p in trees.items()},
        "results": results, "targets_s": TARGETS_S, "targets_met": met,
        "load_avg_start": round(load_start[0], 2), "load_avg_end": round(load_end[0], 2),
        "failures": failures,
    }))
    if failures:
        return 2
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
