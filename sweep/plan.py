"""Planning a run: reconcile a sweep with its store (create, resume, extend or refuse), list the cells to run
and estimate their work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .grid import Grid, expand
from .spec import Sweep
from .reconcile import compare_sweeps, sweep_diff
from .store import DONE, ResultsStore, StoreError


class CellList:
    """The cells of a grid at given flat (C-order) positions, built on demand: a plan of 1e5 cells holds
    their positions, not 1e5 resolved specs."""

    def __init__(self, grid: Grid, flat):
        self.grid, self.flat = grid, np.asarray(flat, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.flat)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return CellList(self.grid, self.flat[i])
        return self.grid.cell(np.unravel_index(int(self.flat[i]), self.grid.shape))

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class Plan:
    sweep: Sweep
    grid: Grid
    store: ResultsStore
    action: str  # "create" | "resume" | "extend" | "refuse"
    todo: CellList = None  # cells to run, in grid order
    done: int = 0
    diff: Optional[dict] = None  # against the store's sweep (sweep.store.sweep_diff)
    reasons: list = field(default_factory=list)  # why `run` would refuse
    new_cells: int = 0

    def describe(self) -> str:
        secs = estimate_total(self.grid, self.todo.flat)
        lines = [f"sweep {self.sweep.name!r}: {self.grid.size} cells over "
                 + " x ".join(f"{d}({n})" for d, n in zip(self.grid.dims, self.grid.shape)),
                 f"store {self.store.url}: {self.action}; {self.done} done, {len(self.todo)} to run",
                 f"work estimate: about {secs:.3g} core-seconds of training (rates of benchmarks/bench_training.py)"]
        if self.diff is not None:
            d = self.diff
            lines.append("against the store's sweep:")
            for k, v in d["added"].items():
                lines.append(f"  + {k}: {v}")
            for k, v in d["removed"].items():
                lines.append(f"  - {k}: {v}")
            for k, a, b in d["constants"]:
                lines.append(f"  ~ {k}: {a!r} -> {b!r}")
            if d["seed"]:
                lines.append(f"  ~ master seed: {d['seed'][0]} -> {d['seed'][1]}")
            if d["dims"]:
                lines.append(f"  ~ grid dimensions: {d['dims'][0]} -> {d['dims'][1]}")
            if not (d["added"] or d["removed"] or d["constants"] or d["seed"] or d["dims"]):
                lines.append("  (no change)")
        if self.action == "refuse":
            lines.append("run would refuse this store:")
            lines += [f"  - {r}" for r in self.reasons]
            return "\n".join(lines)
        lines.append(f"run would: run {len(self.todo)} cells ({self.new_cells} new, "
                     f"{len(self.todo) - self.new_cells} unfinished or failed), skip {self.done} done")
        for c in self.todo[:50]:
            lines.append(f"  {c.label()}")
        if len(self.todo) > 50:
            lines.append(f"  ... and {len(self.todo) - 50} more")
        return "\n".join(lines)


def estimate_seconds(spec: dict) -> float:
    """Rough single-core training time of a cell, from the rates measured by benchmarks/bench_training.py:
    data term ~1.2e9 site-weight products/s; PCD ~3e8 visible-unit updates/s; exact 2^M sum ~1e8 terms/s."""
    d, r, t = spec["data"], spec["rbm"], spec["train"]
    if t["method"] == "statistics":  # sampling plus an N x N (Nq x Nq) correlation matrix
        width = d["n_visible"] * (d["q"] if d["model"] == "xy" else 1)
        return d["n_samples"] * (d["n_visible"] / 1e7 + width * width / 1e9)
    n_train = d["n_samples"] * (1 - t["test_fraction"])
    states = d["q"] if d["model"] == "xy" else 1
    N, M = d["n_visible"], r["n_hidden"]
    updates = t["epochs"] * -(-n_train // t["batch_size"])
    cost = t["epochs"] * n_train * N * M / 1.2e9
    if t["method"] == "exact":
        cost += updates * (2 ** M) * N * M * states / 1e8
    else:
        cost += updates * (t["n_chains"] or t["batch_size"]) * t["pcd_steps"] * N * max(M / 5, 1) * states / 3e8
    return cost


COST_KEYS = ("data.n_samples", "data.n_visible", "data.model", "data.q", "rbm.n_hidden", "train.epochs",
             "train.batch_size", "train.method", "train.pcd_steps", "train.n_chains", "train.test_fraction")


def estimate_total(grid: Grid, flat) -> float:
    """estimate_seconds summed over the cells at flat positions `flat` (one estimate per combination of the
    dimensions that set a COST_KEYS value: fast for 1e5 cells)."""
    return sum(n * estimate_seconds(cell.spec) for cell, n in grid.representatives(COST_KEYS, flat))


def plan_sweep(sweep: Sweep, store_url: str, storage_options: Optional[dict] = None,
               create: bool = True) -> Plan:
    """Reconcile a sweep with its store (creating or growing it when `create`)."""
    grid = expand(sweep)
    store = ResultsStore(store_url, storage_options)
    store.check_usable()
    everything = CellList(grid, np.arange(grid.size))
    if not store.exists():
        if create:
            store.create(sweep, grid)
        return Plan(sweep, grid, store, "create", everything, 0, None, [], grid.size)
    old = store.sweep()
    verdict, reasons = compare_sweeps(old, sweep)
    diff = sweep_diff(old, sweep)
    if verdict == "differs":
        if not create:
            return Plan(sweep, grid, store, "refuse", CellList(grid, []), 0, diff, reasons)
        raise StoreError(f"{store_url} holds a different sweep ({old.source}); what differs:\n  - "
                         + "\n  - ".join(reasons)
                         + "\nuse another --store, or only append values to grid dimensions")
    action = "resume"
    if verdict == "extends":
        action = "extend"
        if create:
            store.grow(sweep, grid, expand(old))
    elif create:
        store.heal_metadata()
    status = store.group("r")["status"][...]
    inside = np.zeros(grid.shape, dtype=bool)
    inside[tuple(slice(0, n) for n in status.shape)] = True
    done = np.zeros(grid.shape, dtype=bool)
    done[tuple(slice(0, n) for n in status.shape)] = status == DONE
    todo = np.flatnonzero(~done)
    return Plan(sweep, grid, store, action, CellList(grid, todo), int(done.sum()), diff, [],
                int((~inside).sum()))


