"""Orchestration overhead: a sweep of many tiny cells on local Ray.

Reports, for a sweep of `--cells` cells (default tiny: N = 12, 100 samples, 1 exact epoch) on `--cpus` CPUs:
total wall time, the cells' own compute (sum of stored wall_time), overhead per cell
(wall * cpus - compute) / cells, throughput relative to ideal (steady state: the Ray workers are started
and warmed by a small sweep first), and the first-result latency of a one-cell sweep (Ray start, Numba
cache load, store creation included).

    python benchmarks/bench_overhead.py [--cells 200] [--cpus 2] [--visible 12 --samples 100 --epochs 1]

The cells' own time is the stored wall_time: data sampling, training and the cell's store writes.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sweep import open_results, parse_sweep, run_sweep

TEMPLATE = """
name: overhead
data: {{model: ising, n_visible: {N}, n_samples: {samples}}}
rbm: {{hidden: spin, n_hidden: 1}}
train: {{method: exact, epochs: {epochs}, batch_size: 50, record_every: {epochs}}}
grid:
  train.seed: {{arange: [0, {n}, 1]}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--visible", type=int, default=12, help="cell size: N")
    ap.add_argument("--samples", type=int, default=100, help="cell size: n_samples")
    ap.add_argument("--epochs", type=int, default=1, help="cell size: epochs")
    args = ap.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        one = run_sweep(parse_sweep(TEMPLATE.format(n=1, N=args.visible, samples=args.samples, epochs=args.epochs), "one.yaml"), store=str(Path(tmp) / "one.zarr"),
                        num_cpus=args.cpus, progress=False)
        first = time.perf_counter() - t0
        assert one.ok
        # start and warm every worker (imports, Numba cache) so the timing below is steady state
        warm = run_sweep(parse_sweep(TEMPLATE.format(n=4 * args.cpus, N=12, samples=100, epochs=1), "warm.yaml"),
                         store=str(Path(tmp) / "warm.zarr"), num_cpus=args.cpus, progress=False)
        assert warm.ok
        url = str(Path(tmp) / "many.zarr")
        t0 = time.perf_counter()
        summary = run_sweep(parse_sweep(TEMPLATE.format(n=args.cells, N=args.visible, samples=args.samples, epochs=args.epochs), "many.yaml"), store=url,
                            num_cpus=args.cpus, progress=False)
        wall = time.perf_counter() - t0
        assert summary.ok
        compute = float(np.nansum(open_results(url)["wall_time"].values))
        ray.shutdown()
    per_cell = (wall * args.cpus - compute) / args.cells
    print(f"first-result latency (1-cell sweep, Ray start included): {first:.2f} s")
    print(f"{args.cells} cells on {args.cpus} CPUs: wall {wall:.2f} s, cells' own compute {compute:.2f} core-s")
    print(f"overhead per cell: {per_cell * 1e3:.1f} ms (core time); throughput "
          f"{compute / (wall * args.cpus) * 100:.1f}% of ideal; {args.cells / wall:.1f} cells/s")


if __name__ == "__main__":
    main()
