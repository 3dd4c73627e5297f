"""Scaling: the same sweep on a loopback Ray cluster of 1 and of 2 worker nodes, and the paper sweeps on N nodes.

    python3 benchmarks/bench_scaling.py [--workers 1,2] [--cells 24] [--samples 2000] [--epochs 80]
    python3 benchmarks/bench_scaling.py --estimate-only [--overhead 0.02] [--cpus-per-node 16]

Part 1 (root: re-executes itself in a loopback-only network namespace, like cluster/loopback.py): for each
worker count, a head node (0 CPUs) plus that many worker nodes of `--num-cpus 1` on 127.0.0.1, token
authentication on. A driver joins with the cluster address, warms every worker (imports, Numba cache) with
a small sweep, then times `run_sweep` on the benchmark sweep (PCD-10, N = 100). Reported: wall time, the
cells' own time (sum of their stored wall_time), per-cell overhead (wall x CPUs - own time) / cells, and the
speed-up of 2 workers over 1. On this 2-core machine the driver, the head and the workers share the cores.

Part 2: wall-time estimates of the paper-size sweeps (sweeps/paper/*.yaml without -small) on N nodes of C
CPUs: each cell's single-core cost from `sweep.run.plan.estimate_seconds` (the per-epoch rates measured by
benchmarks/bench_training.py) plus the measured per-cell overhead, scheduled as the runner does (cells in
grid order, each to the next free CPU). Results: benchmarks/out/scaling.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cluster"))
import loopback  # noqa: E402

TEMPLATE = """
name: scaling
seed: 3
data: {{model: ising, n_visible: 100, n_samples: {samples}, beta: 0.5}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: pcd, pcd_steps: 10, learning_rate: 0.05, batch_size: 20, epochs: {epochs}, record_every: 10}}
grid:
  train.seed: {{arange: [0, {n}, 1]}}
"""


# ------------------------------------------------------------------------------------- the driver
def driver(args) -> None:
    """Inside the cluster: warm the workers, time the sweep, print one JSON line."""
    import numpy as np
    import ray

    from sweep import open_results, parse_sweep, run_sweep

    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    tmp = Path(args.tmp)
    warm = parse_sweep(TEMPLATE.format(n=4 * cpus, samples=200, epochs=2), "warm.yaml")
    assert run_sweep(warm, store=str(tmp / f"warm{cpus}.zarr"), progress=False).ok
    sweep = parse_sweep(TEMPLATE.format(n=args.cells, samples=args.samples, epochs=args.epochs), "scaling.yaml")
    url = str(tmp / f"scaling{cpus}.zarr")
    t0 = time.perf_counter()
    summary = run_sweep(sweep, store=url, progress=False)
    wall = time.perf_counter() - t0
    assert summary.ok, summary.text()
    own = open_results(url)["wall_time"].values
    from sweep.config.grid import expand
    from sweep.run.plan import estimate_seconds

    est = sum(estimate_seconds(c.config) for c in expand(sweep))
    print(json.dumps({"cpus": cpus, "cells": args.cells, "wall_s": wall, "own_s": float(np.nansum(own)),
                      "mean_cell_s": float(np.nanmean(own)), "estimated_s": est}), flush=True)
    ray.shutdown()


def measure(args) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="scal", dir="/tmp") as tmp:
        for n in [int(x) for x in args.workers.split(",")]:
            t0 = time.perf_counter()
            with loopback.LoopbackCluster(workers=n, cpus_per_worker=1) as cluster:
                started = time.perf_counter() - t0
                out = subprocess.run([sys.executable, __file__, "--driver", "--tmp", tmp, "--cells", str(args.cells),
                                      "--samples", str(args.samples), "--epochs", str(args.epochs)],
                                     env=cluster.env(), capture_output=True, text=True, timeout=900)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if out.returncode or not lines:
                raise SystemExit(f"driver on {n} worker node(s) failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            row = dict(json.loads(lines[-1]), workers=n, cluster_start_s=started)
            row["overhead_per_cell_s"] = (row["wall_s"] * row["cpus"] - row["own_s"]) / row["cells"]
            rows.append(row)
            print(f"{n} worker node(s): {row['wall_s']:.2f} s wall for {row['cells']} cells "
                  f"({row['own_s']:.2f} s of cells' own time, {row['mean_cell_s']:.3f} s per cell, overhead "
                  f"{1000 * row['overhead_per_cell_s']:.0f} ms per cell; cluster start {started:.1f} s)", flush=True)
    if len(rows) >= 2:
        print(f"speed-up {rows[0]['workers']} -> {rows[-1]['workers']} worker nodes: "
              f"{rows[0]['wall_s'] / rows[-1]['wall_s']:.2f}x (ideal {rows[-1]['workers'] / rows[0]['workers']:.0f}x)")
    return rows


# ------------------------------------------------------------------------------------- paper estimate
def makespan(costs: list[float], slots: int) -> float:
    """Cells started in grid order, each on the CPU that frees first (the runner's queue)."""
    free = [0.0] * min(slots, len(costs))
    heapq.heapify(free)
    end = 0.0
    for c in costs:
        t = heapq.heappop(free) + c
        end = max(end, t)
        heapq.heappush(free, t)
    return end


def estimate(overhead: float, cpus_per_node: int, nodes=(1, 4, 16, 64)) -> list[dict]:
    from sweep import load_sweep
    from sweep.config.grid import expand
    from sweep.run.plan import estimate_seconds

    rows, every = [], []
    for f in sorted((ROOT / "sweeps" / "paper").glob("*.yaml")):
        if "-small" in f.stem:  # fig5-small-1e6 too
            continue
        costs = [estimate_seconds(c.config) + overhead for c in expand(load_sweep(f))]
        every += costs
        row = {"sweep": f.name, "cells": len(costs), "core_hours": sum(costs) / 3600,
               "longest_cell_h": max(costs) / 3600}
        for n in nodes:
            row[f"wall_h_{n}"] = makespan(costs, n * cpus_per_node) / 3600
        rows.append(row)
    total = [sum(r[f"wall_h_{n}"] for r in rows) for n in nodes]
    # all sweeps at once (one driver each, separate stores): the longest cells start first in the best case
    together = [makespan(sorted(every, reverse=True), n * cpus_per_node) / 3600 for n in nodes]
    head = "| sweep | cells | core-hours | longest cell (h) | " + " | ".join(
        f"{n} node{'s' if n > 1 else ''} (h)" for n in nodes) + " |"
    print(f"\npaper sweeps on N nodes of {cpus_per_node} CPUs (per-cell cost from estimate_seconds, "
          f"+{overhead * 1000:.0f} ms overhead per cell; one after another: total)")
    print(head)
    print("|" + "---|" * (4 + len(nodes)))
    for r in rows:
        print(f"| {r['sweep']} | {r['cells']} | {r['core_hours']:.2f} | {r['longest_cell_h']:.2f} | "
              + " | ".join(f"{r[f'wall_h_{n}']:.2f}" for n in nodes) + " |")
    print(f"| all, in turn | {sum(r['cells'] for r in rows)} | {sum(r['core_hours'] for r in rows):.2f} | "
          f"{max(r['longest_cell_h'] for r in rows):.2f} | " + " | ".join(f"{t:.2f}" for t in total) + " |")
    print(f"| all at once | {len(every)} | {sum(every) / 3600:.2f} | {max(every) / 3600:.2f} | "
          + " | ".join(f"{t:.2f}" for t in together) + " |")
    rows.append({"sweep": "all at once", "cells": len(every), "core_hours": sum(every) / 3600,
                 "longest_cell_h": max(every) / 3600, **{f"wall_h_{n}": t for n, t in zip(nodes, together)}})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", default="1,2", help="worker-node counts to compare (default 1,2)")
    ap.add_argument("--cells", type=int, default=24)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--estimate-only", action="store_true", help="only the paper-sweep estimate (no cluster)")
    ap.add_argument("--overhead", type=float, default=None, help="per-cell overhead for the estimate, s "
                    "[default: measured; 0.027 with --estimate-only, README's bench_overhead]")
    ap.add_argument("--cpus-per-node", type=int, default=16)
    ap.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        driver(args)
        return 0
    rows = []
    if not args.estimate_only:
        if not loopback.loopback_only():
            if os.environ.get("LOOPBACK_REEXEC"):
                raise SystemExit("still not in a loopback-only network namespace after `unshare -n`")
            if os.geteuid() != 0:
                raise SystemExit("needs root, to create a loopback-only network namespace (unshare -n)")
            return subprocess.call(loopback.namespace_command([sys.executable, __file__] + sys.argv[1:]),
                                   env=dict(os.environ, LOOPBACK_REEXEC="1"))
        rows = measure(args)
    overhead = args.overhead if args.overhead is not None else (
        max(r["overhead_per_cell_s"] for r in rows) if rows else 0.027)
    if rows:
        r = rows[0]
        print(f"estimate_seconds vs measured, benchmark cells: {r['estimated_s']:.2f} s estimated, "
              f"{r['own_s']:.2f} s measured ({r['own_s'] / r['estimated_s']:.2f}x)")
    paper = estimate(overhead, args.cpus_per_node)
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "scaling.json").write_text(json.dumps({"measured": rows, "paper_estimate": paper,
                                                  "overhead_s": overhead, "cpus_per_node": args.cpus_per_node},
                                                 indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
