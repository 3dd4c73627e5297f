"""Running a sweep: one Ray task per cell, each writing its own chunks of the store; resumable.

Contract of `run_sweep`:
- the store is created from the grid (or reopened: the same sweep resumes, a sweep that only appends
  grid values grows the store, anything else is refused, saying what differs);
- one driver at a time: a live `_run.lock` refuses a second run; a dead driver's lock is taken over;
- done cells are skipped; pending, running (an interrupted run) and failed cells run again;
- a task writes status `running`, trains (checkpointing every `train.checkpoint_every` epochs into the
  store, resuming from the last checkpoint), writes its data, then `done`; an exception in the cell is
  recorded as `failed` with its traceback (not retried: it is deterministic); a lost worker or node is
  retried by Ray (`max_retries`), the retry resumes from the checkpoint;
- results are bit-identical to an uninterrupted run, whatever was interrupted.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .grid import Cell, Grid
from .provenance import cell_record, run_record
from .spec import Sweep, load_sweep
from .store import DONE, FAILED, RUNNING, STATUS_NAMES, ResultsStore, StoreError, compare_sweeps, sweep_diff

THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
# Fault injection for the tests (inert unless set): SIGKILL the worker after the k-th checkpoint of a
# cell's first attempt; raise inside every cell whose label contains the given text.
FAULT_ENV = "SWEEP_TEST_KILL_AFTER_CHECKPOINT"
FAIL_ENV = "SWEEP_TEST_FAIL_CELLS"


def default_store(sweep: Sweep) -> str:
    return str(Path("results") / f"{sweep.name}.zarr")


# ------------------------------------------------------------------------------------- one cell
def execute_cell(url: str, storage_options: Optional[dict], cell: Cell) -> dict:
    """Run one cell into the store (the body of the Ray task). Returns a small summary dict."""
    from kernels.train import TrainState

    from .cell import cell_dataset

    store = ResultsStore(url, storage_options)
    idx = cell.index
    try:
        attempts = int(store.read_cell("attempts", idx)) + 1
    except FileNotFoundError as exc:  # typically a local path that is not shared between the nodes
        raise StoreError(f"{url}: the store is not visible from host {socket.gethostname()} ({exc}); on a "
                         "cluster the store must be an object-store URL (s3://bucket/path) or a folder on a file "
                         "system mounted at the same path on every node") from None
    host = socket.gethostname()
    store.set_status(idx, RUNNING, attempts=attempts, host=host)
    t0 = time.perf_counter()
    ckpt = store.load_checkpoint(idx)
    state = None
    if ckpt is not None and int(ckpt["cell_train_seed"]) == cell.train_seed \
            and int(ckpt["cell_data_seed"]) == cell.data_seed:
        state = TrainState.from_arrays(ckpt)
    kill_after = int(os.environ.get(FAULT_ENV, "0") or 0)
    saved = [0]

    def on_checkpoint(st):
        arrays = st.to_arrays()
        arrays["cell_train_seed"] = np.array(cell.train_seed, dtype=np.uint64)
        arrays["cell_data_seed"] = np.array(cell.data_seed, dtype=np.uint64)
        store.save_checkpoint(idx, arrays)
        saved[0] += 1
        if kill_after and attempts == 1 and saved[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    resumed_from = state.epoch if state is not None else 0
    try:
        fail = os.environ.get(FAIL_ENV)
        if fail and fail in cell.label():
            raise RuntimeError(f"injected failure ({FAIL_ENV}={fail})")
        store.write_cell(cell, cell_dataset(cell.spec, cell.data_seed, cell.train_seed, state, on_checkpoint))
    except Exception:
        err = traceback.format_exc()
        store.set_status(idx, FAILED, error=err, wall_time=time.perf_counter() - t0)
        return {"index": idx, "status": "failed", "error": err, "attempts": attempts}
    wall = time.perf_counter() - t0
    store.set_status(idx, DONE, error="" if attempts > 1 else None, wall_time=wall,  # "" clears an old error
                     provenance=cell_record(cell.data_seed, cell.train_seed, attempts, wall))
    if ckpt is not None or saved[0]:
        store.drop_checkpoint(idx)
    return {"index": idx, "status": "done", "wall_time": wall, "attempts": attempts,
            "resumed_from_epoch": resumed_from}


# ------------------------------------------------------------------------------------- planning
@dataclass
class Plan:
    sweep: Sweep
    grid: Grid
    store: ResultsStore
    action: str  # "create" | "resume" | "extend" | "refuse"
    todo: list = field(default_factory=list)  # cells to run
    done: int = 0
    diff: Optional[dict] = None  # against the store's sweep (sweep.store.sweep_diff)
    reasons: list = field(default_factory=list)  # why `run` would refuse
    new_cells: int = 0

    def describe(self) -> str:
        secs = sum(estimate_seconds(c.spec) for c in self.todo)
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


def plan_sweep(sweep: Sweep, store_url: str, storage_options: Optional[dict] = None,
               create: bool = True) -> Plan:
    """Reconcile a sweep with its store (creating or growing it when `create`)."""
    grid = sweep.expand()
    store = ResultsStore(store_url, storage_options)
    if not store.exists():
        if create:
            store.create(sweep, grid)
        return Plan(sweep, grid, store, "create", list(grid), 0, None, [], grid.size)
    old = store.sweep()
    verdict, reasons = compare_sweeps(old, sweep)
    diff = sweep_diff(old, sweep)
    if verdict == "differs":
        if not create:
            return Plan(sweep, grid, store, "refuse", [], 0, diff, reasons)
        raise StoreError(f"{store_url} holds a different sweep ({old.source}); what differs:\n  - "
                         + "\n  - ".join(reasons)
                         + "\nuse another --store, or only append values to grid dimensions")
    action = "resume"
    if verdict == "extends":
        action = "extend"
        if create:
            store.grow(sweep, grid, old.expand())
    status = store.group("r")["status"][...]
    todo, done, new_cells = [], 0, 0
    for cell in grid:
        inside = all(i < n for i, n in zip(cell.index, status.shape))
        if inside and status[cell.index] == DONE:
            done += 1
        else:
            todo.append(cell)
            new_cells += not inside
    return Plan(sweep, grid, store, action, todo, done, diff, [], new_cells)


# ------------------------------------------------------------------------------------- progress
class Progress:
    """A one-line live progress report (done / running / failed, rate, ETA) on stderr."""

    def __init__(self, total: int, already: int, stream=None, enabled: bool = True):
        self.total, self.already = total, already
        self.done = self.failed = self.running = 0
        self.t0 = time.time()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = 0.0

    def line(self) -> str:
        el = time.time() - self.t0
        rate = self.done / el if el > 0 else 0.0
        left = self.total - self.already - self.done - self.failed
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        n = self.already + self.done
        width = 24
        fill = int(width * n / max(self.total, 1))
        return (f"[{'#' * fill}{'.' * (width - fill)}] {n}/{self.total} done, {self.running} running, "
                f"{self.failed} failed | {rate:.2f} cells/s | ETA {eta}")

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.time()
        if self.tty:
            if force or now - self.last > 0.2:
                self.stream.write("\r" + self.line() + "\033[K")
                self.stream.flush()
                self.last = now
        elif force or now - self.last > 10:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.show(force=True)

    def close(self) -> None:
        if self.enabled:
            self.show(force=True)
            if self.tty:
                self.stream.write("\n")


# ------------------------------------------------------------------------------------- running
@dataclass
class RunSummary:
    store: str
    total: int
    done: int
    failed: int
    ran: int
    wall_time: float
    failures: list

    @property
    def ok(self) -> bool:
        return self.done == self.total

    def text(self) -> str:
        s = (f"{self.done}/{self.total} cells done, {self.failed} failed, {self.ran} run now, "
             f"{self.wall_time:.1f}s; store {self.store}")
        for idx, label, err in self.failures[:10]:
            s += f"\n  failed: {label}: {err.strip().splitlines()[-1] if err.strip() else 'unknown error'}"
        return s


_REMOTE = {}


def _remote_execute_cell(ray, max_retries: int):
    """One Ray remote function per process (exporting a new one per run costs every worker a reload).
    Looked up through the module so a test can substitute execute_cell."""
    key = (max_retries, execute_cell)
    if key not in _REMOTE:
        _REMOTE[key] = ray.remote(num_cpus=1, max_retries=max_retries)(execute_cell)
    return _REMOTE[key]


AUTH_HINT = ("Ray clusters use token authentication (on by default): the driver needs RAY_AUTH_MODE=token and the "
             "cluster's token in RAY_AUTH_TOKEN (or a file named by RAY_AUTH_TOKEN_PATH; `ray get-auth-token` on the "
             "head node prints it)")


def _init_ray(address: Optional[str], num_cpus: Optional[int]):
    import ray

    if ray.is_initialized():  # a notebook or test that already joined Ray
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None  # RAY_ADDRESS joins a cluster like --address
    env = dict(THREAD_ENV)
    for var in (FAULT_ENV, FAIL_ENV):
        if var in os.environ:
            env[var] = os.environ[var]
    runtime_env = {"env_vars": env}
    if address:
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:  # a wrong token: ConnectionError, 20 s
            reason = str(exc).split(". Ensure that")[0]  # Ray's own long hint replaced by ours
            raise ConnectionError(f"cannot join the Ray cluster at {address}: {reason}. {AUTH_HINT}") from None
    else:
        # "local": a new local instance, never a cluster that `ray start` left on this machine (Ray's default)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env,
                 object_store_memory=100 * 1024 * 1024, logging_level="ERROR", log_to_driver=False)
    return ray


def run_sweep(sweep_or_path, store: Optional[str] = None, address: Optional[str] = None,
              max_parallel: Optional[int] = None, storage_options: Optional[dict] = None,
              progress: bool = True, num_cpus: Optional[int] = None, max_retries: int = 3) -> RunSummary:
    """Run (or resume) every cell not yet done; returns a RunSummary (``.ok`` when all are done).

    `storage_options` (fsspec) travel with every task: leave credentials out of them, each node reads its own
    from its environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""
    sweep = load_sweep(sweep_or_path) if isinstance(sweep_or_path, (str, Path)) else sweep_or_path
    url = store or default_store(sweep)
    # tasks get an absolute path: Ray workers do not run in the driver's folder (on a cluster, not on its machine)
    task_url = url if "://" in url else os.path.abspath(url)
    t0 = time.time()
    probe = ResultsStore(url, storage_options)
    if probe.exists():  # refuse a concurrent run before touching anything
        lock = probe.read_lock()
        if lock and probe.lock_is_live(lock):
            probe.acquire_lock()  # raises with the holder's identity
    plan = plan_sweep(sweep, url, storage_options)
    st = plan.store
    token = st.acquire_lock()
    run_pos = st.record_run(run_record())
    stop = threading.Event()

    def beat():
        while not stop.wait(5.0):
            try:
                st.heartbeat(token)
            except Exception:  # noqa: BLE001 - a missed heartbeat must not kill the run
                pass

    hb = threading.Thread(target=beat, daemon=True)
    hb.start()
    bar = Progress(plan.grid.size, plan.done, enabled=progress)
    failures, ran = [], 0
    try:
        if plan.todo:
            ray = _init_ray(address, num_cpus)
            task = _remote_execute_cell(ray, max_retries)
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            limit = max_parallel or 4 * cpus  # bounded in-flight futures: backpressure on the driver
            queue = list(plan.todo)
            queue.reverse()  # pop() from the end, in grid order
            inflight = {}
            bar.show(force=True)
            while queue or inflight:
                while queue and len(inflight) < limit:
                    cell = queue.pop()
                    inflight[task.remote(task_url, storage_options, cell)] = cell
                bar.running = min(len(inflight), cpus)
                refs = list(inflight)
                ready, rest = ray.wait(refs, num_returns=1, timeout=0.5)
                if ready and rest:  # collect everything else that is already finished
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                for ref in ready:
                    cell = inflight.pop(ref)
                    ran += 1
                    try:
                        res = ray.get(ref)
                    except Exception as exc:  # worker/node lost beyond the retries
                        err = f"{type(exc).__name__}: {exc}"
                        st.set_status(cell.index, FAILED, error=err)
                        res = {"status": "failed", "error": err}
                    if res["status"] == "done":
                        bar.done += 1
                    else:
                        bar.failed += 1
                        failures.append((cell.index, cell.label(), res.get("error", "")))
                        bar.note(f"failed: {cell.label()}: "
                                 f"{(res.get('error') or '').strip().splitlines()[-1:] or ['?']}")
                bar.show()
            bar.running = 0
    finally:
        bar.close()
        stop.set()
        try:
            st.finish_run(run_pos, end=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), cells_run=ran)
        finally:
            st.release_lock(token)
    status = st.group("r")["status"][...]
    done = int((status == DONE).sum())
    return RunSummary(url, plan.grid.size, done, int((status == FAILED).sum()), ran, time.time() - t0, failures)


def status_counts(url: str, storage_options: Optional[dict] = None) -> dict:
    st = ResultsStore(url, storage_options)
    status = st.group("r")["status"][...]
    return {name: int((status == k).sum()) for k, name in enumerate(STATUS_NAMES)}
