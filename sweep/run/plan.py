"""Planning a run: reconcile a sweep with its store, list the cells to run and estimate their work. Read-only:
the changes a plan calls for (create, grow, heal) are made by the run holding the store's lease.

Actions: `create` (no store yet, or a creation that did not finish, which is removed first), `resume` (the
same sweep), `extend` (values appended along grid dimensions: the store grows), `refuse` (another sweep, a
growth that would change the per-cell sizes, or damaged metadata that only `sweep verify --repair` mends;
`reasons` says what). A sweep with no grid key is refused (SpecError) before anything is read.

Bounded work: :func:`footprint` estimates, from the arrays' sizes, the memory of a cell (its training state and
recorded trajectory, the largest cell of the grid) and the bytes of a cell's data in the store (uncompressed: an
upper bound); :func:`fit_problems` compares them with this machine's memory and, for a local store, the free disk;
:func:`check_fits` (called by sweep.run.runner.run_sweep before Ray starts) raises :class:`TooLarge` unless
`allow_large`. `Plan.describe` prints the figures and the refusal `run` would give.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..config.cellconfig import CellConfig
from ..config.errors import StoreError
from ..config.grid import Grid, expand
from ..store.layout import HEALABLE, TABLE_ARRAYS, Layout, check_growth, metadata_problems
from .memory import machine_memory, nbytes
from .provenance import contract, contract_diff
from ..config.reconcile import compare_sweeps, sweep_diff
from ..store.outcomes import DONE
from ..config.sweepfile import Sweep, require_grid
from ..store.results_store import ResultsStore


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
    diff: Optional[dict] = None  # against the store's sweep (sweep.config.reconcile.sweep_diff)
    reasons: list = field(default_factory=list)  # why `run` would refuse
    new_cells: int = 0
    reclaim: bool = False  # a creation that did not finish is removed first
    heal: list = field(default_factory=list)  # metadata problems the run mends (a growth cut short)
    environment: list = field(default_factory=list)  # differences from the store's bit-identity contract
    stored_grid: Optional[Grid] = None  # the store's sweep, expanded (resume, extend): what a growth starts from

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
            for k in d.get("reordered", []):
                lines.append(f"  ~ {k}: values reordered")
            if not (d["added"] or d["removed"] or d["constants"] or d["seed"] or d["dims"] or d.get("reordered")):
                lines.append("  (no change)")
        if self.environment:
            lines.append("environment differs from the store's (bit-identity depends on it; run refuses without "
                         "--allow-env-change):")
            lines += [f"  ~ {d}" for d in self.environment]
        if self.heal:
            lines.append("metadata the run mends first (a growth cut short): "
                         + ", ".join(sorted({p.key.split('/')[0] for p in self.heal})))
        fp = footprint(self.grid)
        lines.insert(3, fp.describe(len(self.todo)))
        if self.action == "refuse":
            lines.append("run would refuse this store:")
            lines += [f"  - {r}" for r in self.reasons]
            return "\n".join(lines)
        large = fit_problems(self, fp)
        if large:
            lines.append("run would refuse this sweep without --allow-large:")
            lines += [f"  - {r}" for r in large]
        lines.append(f"run would: run {len(self.todo)} cells ({self.new_cells} new, "
                     f"{len(self.todo) - self.new_cells} unfinished or failed), skip {self.done} done")
        for c in self.todo[:50]:
            lines.append(f"  {c.label()}")
        if len(self.todo) > 50:
            lines.append(f"  ... and {len(self.todo) - 50} more")
        return "\n".join(lines)


# Seconds per parameter update of the Numba kernels, one core, N = 100 visible units, batch 100, 100 persistent
# chains, from one run (2026-12-02, 2-core AMD EPYC VM) of
#     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_training.py
# (README's performance table; 1000 updates an epoch): PCD_SWEEP[M] = (PCD-20 epoch - PCD-1 epoch) / 19 / 1000,
# one Gibbs sweep of the 100 chains; PCD_BASE[M] = PCD-1 epoch / 1000 - PCD_SWEEP[M], the rest of an update
# (data and chain terms of the gradient over 200 rows, model reload); XY_PCD20[M] = the XY row (Potts q = 10,
# double-well hidden units, PCD-20) / 1000; EXACT[M] = the exact row / 1000. Between the measured M: linear in
# M; above the largest: proportional to M. EXACT_TERMS_PER_S, the 2^M N M sum of the exact method, is from
# timing kernels.fit (benchmarks/bench_training.py's time_ours) at M = 10 and 14 (3.6e9 and 4.1e9 terms/s).
# Checked the same way: exact M = 1 scales with batch x N (0.7-1.0 ns a row-site from 1e4 to 1.6e6); PCD-20 at
# M = 3 and 10, relative to PCD-20 at M = 1 timed alongside, within 5% of this interpolation; at M = 30 (past
# rbm.DIRECT_MAX_HIDDEN) about 20% above it.
PCD_BASE = {1: 9.35e-6, 5: 13.4e-6, 20: 31.3e-6, 100: 132.0e-6}
PCD_SWEEP = {1: 3.05e-6, 5: 6.54e-6, 20: 22.5e-6, 100: 61.8e-6}
XY_PCD20 = {1: 2.53e-3, 5: 6.07e-3}
EXACT = {1: 7.6e-6, 5: 19.4e-6}
EXACT_TERMS_PER_S = 3.5e9


def _at(table: dict, M: int) -> float:
    """table[M] interpolated linearly between its keys, proportional to M above the largest, table[min] below."""
    keys = sorted(table)
    if M <= keys[0]:
        return table[keys[0]]
    if M >= keys[-1]:
        return table[keys[-1]] * M / keys[-1]
    return float(np.interp(M, keys, [table[k] for k in keys]))


def estimate_seconds(config: CellConfig) -> float:
    """Rough single-core training time of a cell, from the per-update times measured by
    benchmarks/bench_training.py (PCD_BASE, PCD_SWEEP, XY_PCD20, EXACT above), scaled to the cell's visible
    units, rows, chains, Gibbs steps and Potts states (linearly in each)."""
    d, r, t = config.data, config.rbm, config.train
    if config.statistics:  # sampling plus an N x N (Nq x Nq) correlation matrix
        width = d.n_visible * (d.q if config.potts else 1)
        return d.n_samples * (d.n_visible / 1e7 + width * width / 1e9)
    n_train = d.n_samples * (1 - t.test_fraction)
    N, M = d.n_visible, r.n_hidden
    B = min(t.batch_size, n_train)
    updates = t.epochs * -(-n_train // t.batch_size)
    size = N / 100
    if t.method == "exact":
        per = _at(EXACT, M) * B / 100 * size + max(0, 2 ** M - 2 ** 5) * N * M / EXACT_TERMS_PER_S
        # (EXACT beyond M = 5 grows like M: the data term; the sum over hidden states is the second term)
        return updates * per
    C, k = t.n_chains or t.batch_size, t.pcd_steps
    if config.potts:  # the Potts sweeps dominate: scale the measured PCD-20 update by k, chains and q
        per = _at(XY_PCD20, M) * (k / 20) * (C / 100) * (d.q / 10) * size
    else:
        per = _at(PCD_BASE, M) * (B + C) / 200 * size + _at(PCD_SWEEP, M) * k * C / 100 * size
    return updates * per


COST_KEYS = ("data.n_samples", "data.n_visible", "data.model", "data.q", "rbm.n_hidden", "train.epochs",
             "train.batch_size", "train.method", "train.pcd_steps", "train.n_chains", "train.test_fraction")


def estimate_total(grid: Grid, flat) -> float:
    """estimate_seconds summed over the cells at flat positions `flat` (one estimate per combination of the
    dimensions that set a COST_KEYS value: fast for 1e5 cells)."""
    return sum(n * estimate_seconds(cell.config) for cell, n in grid.representatives(COST_KEYS, flat))


def default_store(sweep: Sweep) -> str:
    """Where a sweep's results go when no store is given: results/<name>.zarr in the working folder."""
    return str(Path("results") / f"{sweep.name}.zarr")


def plan(sweep: "Sweep | str | Path", store: Optional[str] = None, storage_options: Optional[dict] = None) -> Plan:
    """What `run_sweep` would do (`sweep plan`), changing nothing: `sweep` a Sweep or a sweep file, `store` its
    path or URL (default: default_store), `storage_options` None for those of the environment. The Plan's
    `describe()` is the text `sweep plan` prints."""
    from ..config.sweepfile import load_sweep
    from ..store.options import storage_options as options_from_environment

    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    url = store or default_store(sweep)
    return plan_sweep(sweep, url, options_from_environment(url) if storage_options is None else storage_options)


def plan_sweep(sweep: Sweep, store: "str | ResultsStore", storage_options: Optional[dict] = None) -> Plan:
    """Reconcile a sweep with its store, a URL (with its `storage_options`) or a ResultsStore already opened (whose
    parsed sweep the plan then shares); read-only. Raises StoreError for a location `sweep run` never touches,
    SpecError for a sweep with no grid key."""
    require_grid(sweep)
    grid = expand(sweep)
    if not isinstance(store, ResultsStore):
        store = ResultsStore(store, storage_options)
    store_url = store.url
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
    old_grid = expand(old)
    if verdict == "extends":
        try:
            check_growth(old_grid, grid)  # as sweep.store.layout.grow will, before anything runs
        except StoreError as exc:
            return Plan(sweep, grid, store, "refuse", CellList(grid, []), 0, diff, [f"{store_url}: {exc}"],
                        environment=env)
    old_shape = old_grid.shape
    status = store.group("r")["status"][tuple(slice(0, n) for n in old_shape)]  # a growth cut short: clip
    done = np.zeros(grid.shape, dtype=bool)
    done[tuple(slice(0, n) for n in status.shape)] = status == DONE
    inside = np.zeros(grid.shape, dtype=bool)
    inside[tuple(slice(0, n) for n in old_shape)] = True
    todo = np.flatnonzero(~done)
    return Plan(sweep, grid, store, "extend" if verdict == "extends" else "resume", CellList(grid, todo),
                int(done.sum()), diff, [], int((~inside).sum()), heal=[p for p in problems if p.kind in HEALABLE],
                environment=env, stored_grid=old_grid)


# ------------------------------------------------------------------------------------- bounded work
class TooLarge(StoreError):
    """A sweep whose cell would not fit this machine's memory, or whose store would not fit the free disk; the
    message names the sweep file and the numbers, one line each (run with allow_large / --allow-large to try
    anyway)."""


def cell_memory(config: CellConfig, records: int, chunk: int) -> int:
    """Rough peak bytes of memory of one cell in its worker, from its arrays' sizes: the data samples (int8, and
    the training copy), the training state (parameters in float64 with the model's tables, gradients and a
    checkpoint's copy; chains and minibatch rows), the recorded trajectory (kept as float64 records, stacked, then
    converted to float32) and the cell's data chunk as the store lays it out (`chunk` bytes, encoded once more)."""
    d, r, t = config.data, config.rbm, config.train
    N, n = d.n_visible, d.n_samples
    Q = d.q if config.potts else 1
    data = 2 * n * N
    if config.statistics:  # the correlation matrix of the N (Nq) one-hot units and its eigenvectors
        width = N * Q
        return data + 3 * 8 * width * width
    M = r.n_hidden
    params = M * N * Q + N * Q + 2 * M
    C = 0 if t.method == "exact" else (t.n_chains or t.batch_size)
    B = t.batch_size
    state = 8 * 8 * params + (B + C) * (N + 8 * M) + 2 * C * N
    if t.method == "exact":
        state += min((1 << min(M, 62)) * (N + 1), 1 << 22) * 8  # the 2^M moments scratch, when it fits 32 MB
    trajectory = records * (params + 2) * (8 + 8 + 4)
    return int(data + state + trajectory + 2 * chunk)


@dataclass(frozen=True)
class Footprint:
    """What a sweep's cells need: `cell_memory` (bytes, the largest cell: cell_memory), `cell_data` (bytes of one
    cell's data chunks in the store, uncompressed), `table` (bytes of the cell table's fixed-size columns per
    cell; the text columns, host, error and provenance, come on top), `fixed` (coordinates and metadata)."""

    cell_memory: int
    cell_data: int
    table: int
    fixed: int

    def store_bytes(self, cells: int) -> int:
        """Bytes of data (uncompressed: an upper bound) that `cells` cells put in the store."""
        return cells * (self.cell_data + self.table)

    def describe(self, cells: int) -> str:
        """One line: the memory per cell, and the store's data for `cells` cells (to run)."""
        return (f"memory per cell: up to about {nbytes(self.cell_memory)} (training state and recorded trajectory); "
                f"store: up to {nbytes(self.store_bytes(cells) + self.fixed)} of data for these {cells} cells "
                f"({nbytes(self.cell_data)} a cell, uncompressed)" if cells else
                f"memory per cell: up to about {nbytes(self.cell_memory)} (training state and recorded trajectory); "
                f"store: {nbytes(self.cell_data)} of data a cell, uncompressed")


def footprint(grid: Grid) -> Footprint:
    """The Footprint of `grid` (one estimate per combination of the dimensions that set a size: fast for 1e5
    cells; bounded, as validation bounds the recorded epochs: sweep.config.sweepfile.MAX_RECORDS)."""
    from ..config.sweepfile import recorded_epochs

    lay = Layout.of(grid)
    if lay.statistics:
        chunk = 8 * len(lay.variable_dims())
    else:
        sizes = {"epoch": len(lay.epochs), "hidden": lay.n_hidden, "visible": lay.n_visible, "state": lay.n_states}
        chunk = 0
        for var, dims in lay.variable_dims().items():
            itemsize = 8 if var.startswith("loglik") else 4
            chunk += itemsize * int(np.prod([sizes[d] for d in dims], dtype=object))
    keys = COST_KEYS + ("train.record_every", "train.n_chains")
    memory = 0
    for cell, _ in grid.representatives(keys):
        t = cell.config.train
        records = 0 if cell.config.statistics else len(recorded_epochs({(t.epochs, t.record_every)}))
        memory = max(memory, cell_memory(cell.config, records, chunk))
    table = sum(np.dtype(dtype).itemsize for dtype, _, _ in TABLE_ARRAYS.values() if dtype is not str)
    fixed = 8 * (len(lay.epochs) + lay.n_hidden + lay.n_visible + lay.n_states) + 64 * sum(grid.shape) + 65536
    return Footprint(memory, chunk, table, fixed)


def free_disk(path: str) -> tuple[str, int]:
    """(the existing folder at or above `path`, bytes free on its file system)."""
    where = os.path.abspath(path)
    while not os.path.isdir(where) and os.path.dirname(where) != where:
        where = os.path.dirname(where)
    return where, shutil.disk_usage(where).free


def fit_problems(plan: Plan, fp: Optional[Footprint] = None) -> list:
    """Why `plan`'s cells would not fit: a cell larger than this machine's memory; a local store whose data to
    write (the cells to run, with their table rows; the coordinates and metadata too when it is created) exceed
    the free disk. One line each, naming the sweep file and the numbers; [] when they fit."""
    fp = fp or footprint(plan.grid)
    out = []
    source = plan.sweep.source
    memory = machine_memory()
    if fp.cell_memory > memory:
        out.append(f"{source}: a cell needs about {nbytes(fp.cell_memory)} of memory (its training state and "
                   f"recorded trajectory), more than the {nbytes(memory)} of this machine; lower data.n_visible, "
                   "rbm.n_hidden, data.n_samples or raise train.record_every, or pass --allow-large")
    loc = plan.store.location
    if loc.local and len(plan.todo):
        write = fp.store_bytes(len(plan.todo)) + (fp.fixed if plan.action == "create" else 0)
        where, free = free_disk(loc.root)
        if write > free:
            out.append(f"{source}: the store needs up to {nbytes(write)} of disk for {len(plan.todo)} cells "
                       f"({nbytes(fp.cell_data)} a cell, uncompressed), more than the {nbytes(free)} free at "
                       f"{where}; free space, use another --store, or pass --allow-large (compression may make it "
                       "fit)")
    return out


def check_fits(plan: Plan, allow_large: bool = False) -> None:
    """Raise TooLarge with fit_problems' lines unless they are none or `allow_large`."""
    if allow_large:
        return
    problems = fit_problems(plan)
    if problems:
        raise TooLarge("\n".join(problems))
