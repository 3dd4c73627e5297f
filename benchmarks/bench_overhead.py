"""Orchestration overhead: a sweep of many tiny cells on local Ray, with the driver's memory over time.

For a sweep of `--cells` cells (default 1e4 tiny cells: N = 12, 100 samples, 1 exact epoch) on `--cpus` CPUs
it reports: total wall time; the cells' own compute (the sum of the stored wall_time: sampling and training,
without any store write); the overhead per cell, (wall * cpus - compute) / cells, in core time (store writes,
Ray scheduling, the driver, all included); throughput relative to ideal; the driver's CPU time per cell; and
the driver's resident memory (RSS) at the start of the run, at each quarter of it, and at its peak. With
`--compare N` it runs a sweep of N cells first, so that the two peaks show how driver memory scales with the
number of cells. Ray workers are started and warmed by a small sweep first (steady state), and the first
result latency of a one-cell sweep (Ray start, Numba cache, store creation included) is reported.

    python benchmarks/bench_overhead.py [--cells 10000] [--compare 1000] [--cpus 2]
                                        [--visible 12 --samples 100 --epochs 1]

The extrapolation to 1e5 cells printed at the end assumes the measured overhead per cell stays constant (the
driver streams cells: its memory grows only by a few bytes per cell of the grid, see the RSS figures).
"""

import argparse
import resource
import tempfile
import threading
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


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class RssSampler(threading.Thread):
    """The driver's RSS every 50 ms while a run lasts."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.stop = [], threading.Event()

    def run(self):
        t0 = time.perf_counter()
        while not self.stop.is_set():
            self.samples.append((time.perf_counter() - t0, rss_mb()))
            self.stop.wait(0.05)

    def quarters(self):
        t = np.array([s[0] for s in self.samples])
        m = np.array([s[1] for s in self.samples])
        return [float(m[np.searchsorted(t, q * t[-1], side="right") - 1]) for q in (0, 0.25, 0.5, 0.75, 1.0)], float(m.max())


def timed_run(tmp, name, n, args):
    url = str(Path(tmp) / f"{name}.zarr")
    sampler = RssSampler()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    sampler.start()
    t0 = time.perf_counter()
    summary = run_sweep(parse_sweep(TEMPLATE.format(n=n, N=args.visible, samples=args.samples, epochs=args.epochs),
                                    f"{name}.yaml"), store=url, num_cpus=args.cpus, progress=False)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    assert summary.ok, summary.text()
    compute = float(np.nansum(open_results(url)["wall_time"].values))
    driver_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    quarters, peak = sampler.quarters()
    per_cell = (wall * args.cpus - compute) / n
    print(f"{n} cells on {args.cpus} CPUs: wall {wall:.2f} s, cells' own compute {compute:.2f} core-s, "
          f"{n / wall:.0f} cells/s")
    print(f"  overhead per cell: {per_cell * 1e3:.2f} ms (core time); throughput {compute / (wall * args.cpus) * 100:.1f}% "
          f"of ideal; driver CPU {driver_cpu / n * 1e3:.2f} ms per cell")
    print("  driver RSS (MB) at 0/25/50/75/100% of the run: " + " / ".join(f"{q:.0f}" for q in quarters)
          + f"; peak {peak:.0f}")
    return {"wall": wall, "compute": compute, "per_cell": per_cell, "peak": peak, "start": quarters[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10000)
    ap.add_argument("--compare", type=int, default=0, help="first run a sweep of this many cells (memory scaling)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--visible", type=int, default=12, help="cell size: N")
    ap.add_argument("--samples", type=int, default=100, help="cell size: n_samples")
    ap.add_argument("--epochs", type=int, default=1, help="cell size: epochs")
    args = ap.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        one = run_sweep(parse_sweep(TEMPLATE.format(n=1, N=args.visible, samples=args.samples, epochs=args.epochs),
                                    "one.yaml"), store=str(Path(tmp) / "one.zarr"), num_cpus=args.cpus, progress=False)
        first = time.perf_counter() - t0
        assert one.ok
        # start and warm every worker (imports, Numba cache) so the timing below is steady state
        warm = run_sweep(parse_sweep(TEMPLATE.format(n=200 * args.cpus, N=12, samples=100, epochs=1), "warm.yaml"),
                         store=str(Path(tmp) / "warm.zarr"), num_cpus=args.cpus, progress=False)
        assert warm.ok
        print(f"first-result latency (1-cell sweep, Ray start included): {first:.2f} s")
        small = timed_run(tmp, "small", args.compare, args) if args.compare else None
        big = timed_run(tmp, "many", args.cells, args)
        ray.shutdown()
    if small:
        growth = (big["peak"] - small["peak"]) / (args.cells - args.compare) * 1e3
        print(f"driver peak RSS {small['peak']:.0f} MB at {args.compare} cells, {big['peak']:.0f} MB at {args.cells}: "
              f"{growth:.1f} kB per extra cell")
    per_cell_wall = big["wall"] / args.cells
    print(f"extrapolated to 1e5 such cells: about {1e5 * per_cell_wall / 60:.1f} min on {args.cpus} CPUs "
          f"({big['per_cell'] * 1e3:.2f} ms overhead per cell)")


if __name__ == "__main__":
    main()
