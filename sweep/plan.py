"""Planning a run: reconcile a sweep with its store, list the cells to run and estimate their work. Read-only:
the changes a plan calls for (create, grow, heal) are made by the run holding the store's lease.

Actions: `create` (no store yet, or a creation that did not finish, which is removed first), `resume` (the
same sweep), `extend` (values appended along grid dimensions: the store grows), `refuse` (another sweep, or
damaged metadata that only `sweep verify --repair` mends; `reasons` says what).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .grid import Grid, expand
from .layout import HEALABLE, metadata_problems
from .provenance import contract, contract_diff
from .reconcile import compare_sweeps, sweep_diff
from .results import DONE
from .spec import Sweep
from .store import ResultsStore


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
    diff: Optional[dict] = None  # against the store's sweep (sweep.reconcile.sweep_diff)
    reasons: list = field(default_factory=list)  # why `run` would refuse
    new_cells: int = 0
    reclaim: bool = False  # a creation that did not finish is removed first
    heal: list = field(default_factory=list)  # metadata problems the run mends (a growth cut short)
    environment: list = field(default_factory=list)  # differences from the store's bit-identity contract

    def describe(self) -> str:
        secs = estimate_total(self.grid, self.todo.flat)
        lines = [f"sweep {self.sweep.name!r}: {self.grid.size} cells over "
                 + " x ".join(f"{d}({n})" for d, n in zip(self.grid.dims, self.grid.shape)),
                 f"store {self.store.url}: {self.action}; {self.done} done, {len(self.todo)} to run",
                 f"work estimate: about {secs:.3g} core-seconds of training (rates of benchmarks/bench_training.py)"]
        if self.reclaim:
            lines.append("  (a creation of this store that did not finish is removed first)")
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
        if self.environment:
            lines.append("environment differs from the store's (bit-identity depends on it; run refuses without "
                         "--allow-env-change):")
            lines += [f"  ~ {d}" for d in self.environment]
        if self.heal:
            lines.append("metadata the run mends first (a growth cut short): "
                         + ", ".join(sorted({p.key.split('/')[0] for p in self.heal})))
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


def plan_sweep(sweep: Sweep, store_url: str, storage_options: Optional[dict] = None) -> Plan:
    """Reconcile a sweep with its store (read-only; raises StoreError for a location `sweep run` never touches)."""
    grid = expand(sweep)
    store = ResultsStore(store_url, storage_options)
    state = store.check_usable()
    everything = CellList(grid, np.arange(grid.size))
    if state in ("absent", "incomplete"):
        return Plan(sweep, grid, store, "create", everything, 0, None, [], grid.size, reclaim=state == "incomplete")
    old = store.sweep()
    verdict, reasons = compare_sweeps(old, sweep)
    diff = sweep_diff(old, sweep)
    env = contract_diff(store.environment(), contract())
    if verdict == "differs":
        return Plan(sweep, grid, store, "refuse", CellList(grid, []), 0, diff,
                    [f"{store_url} holds a different sweep ({old.source}); what differs:"] + reasons
                    + ["use another --store, or only append values to grid dimensions"], environment=env)
    problems = metadata_problems(store)
    damage = [p for p in problems if p.kind not in HEALABLE]
    if damage:
        return Plan(sweep, grid, store, "refuse", CellList(grid, []), 0, diff,
                    [f"damaged metadata: {p.detail}" for p in damage]
                    + [f"`sweep verify {store_url} --repair` restores it from the store's sweep"], environment=env)
    old_shape = expand(old).shape
    status = store.group("r")["status"][tuple(slice(0, n) for n in old_shape)]  # a growth cut short: clip
    done = np.zeros(grid.shape, dtype=bool)
    done[tuple(slice(0, n) for n in status.shape)] = status == DONE
    inside = np.zeros(grid.shape, dtype=bool)
    inside[tuple(slice(0, n) for n in old_shape)] = True
    todo = np.flatnonzero(~done)
    return Plan(sweep, grid, store, "extend" if verdict == "extends" else "resume", CellList(grid, todo),
                int(done.sum()), diff, [], int((~inside).sum()), heal=[p for p in problems if p.kind in HEALABLE],
                environment=env)
