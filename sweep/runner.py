"""Running a sweep: cells packed into Ray tasks that write their data; the driver writes the cell table.

Contract of `run_sweep`:
- the store is created from the grid (or reopened: the same sweep resumes, a sweep that only appends
  grid values grows the store, anything else is refused, saying what differs);
- one driver at a time: a live `_run.lock` refuses a second run; a dead driver's lock is taken over;
- on a multi-node cluster every node that can run cells first proves it sees the store (it reads the run
  lock's token); a store some node cannot reach is refused before any cell runs;
- done cells are skipped; pending, running (an interrupted run) and failed cells run again;
- cells go to Ray tasks in batches sized from the measured cell time (about TASK_SECONDS of work per task),
  with at most `max_parallel` tasks in flight (backpressure: the driver holds a bounded number of
  futures and builds cells lazily). A task trains its cells one after the other (checkpointing every
  `train.checkpoint_every` epochs into the store, resuming from the last checkpoint) and writes each
  cell's data chunks; it returns the cells' bookkeeping to the driver, which alone writes the cell table
  (status, attempts, times, host, error, provenance, seeds), batched: `running` when a batch is sent,
  `done` or `failed` when it returns. A cell whose data landed but whose row did not is recomputed;
- an exception in a cell is recorded as `failed` with its traceback (not retried: it is deterministic); a
  lost worker or node is retried by Ray (`max_retries`, the retry resumes from the checkpoints); a batch
  lost beyond its retries, or whose data could not be written, is split and its cells run one per task, so
  only a cell that itself kills its worker or cannot be stored is recorded failed;
- results are bit-identical to an uninterrupted run, whatever was interrupted.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import tasks
from .plan import Plan, estimate_total, plan_sweep
from .provenance import cell_record, run_record
from .spec import Sweep, load_sweep
from .store import DONE, FAILED, RUNNING, ResultsStore, StoreError
from .tasks import FAIL_ENV, FAULT_ENV, SHARED_STORAGE_HINT

THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
TASK_SECONDS = 1.0  # target work per task: long enough to amortise scheduling, short enough to balance and retry
MAX_BATCH = 1000
FLUSH_SECONDS = 1.0  # the driver writes the cell table at most about this often (and at the end)


def default_store(sweep: Sweep) -> str:
    return str(Path("results") / f"{sweep.name}.zarr")


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
        if self.enabled and self.last > 0:  # only a bar that was shown (not when nothing ran or Ray failed)
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


class Batcher:
    """Cells per task: about TASK_SECONDS of measured work (the first wave from the plan's estimate, at most 8
    cells), never more than MAX_BATCH, and small enough near the end that every CPU still gets work."""

    def __init__(self, estimate: float, cpus: int):
        self.per_cell = None  # measured seconds per cell (task time / cells), exponentially averaged
        self.first = int(min(8, max(1, TASK_SECONDS / max(estimate, 1e-4))))
        self.cpus = cpus

    def record(self, seconds: float, cells: int) -> None:
        x = seconds / max(cells, 1)
        self.per_cell = x if self.per_cell is None else 0.7 * self.per_cell + 0.3 * x

    def size(self, remaining: int) -> int:
        n = self.first if self.per_cell is None else int(TASK_SECONDS / max(self.per_cell, 1e-6))
        return max(1, min(n, MAX_BATCH, -(-remaining // (2 * self.cpus))))


class TableWriter:
    """The driver's batched writes of the cell table: rows accumulate and go to the store at most every
    FLUSH_SECONDS (or when many), and at the end."""

    def __init__(self, store: ResultsStore):
        self.store, self.rows, self.last = store, {}, time.time()

    def add(self, index, **fields) -> None:
        self.rows.setdefault(tuple(index), {}).update({k: v for k, v in fields.items() if v is not None})

    def maybe_flush(self) -> None:
        if self.rows and (time.time() - self.last > FLUSH_SECONDS or len(self.rows) >= 4 * MAX_BATCH):
            self.flush()

    def flush(self) -> None:
        if self.rows:
            rows, self.rows = self.rows, {}
            self.store.write_table(rows)
        self.last = time.time()


_REMOTE = {}


def _remote_functions(ray, max_retries: int):
    """The Ray remote functions, one per process (exporting a new one per run costs every worker a reload).
    The batch function looks tasks.execute_cell up when it is built, so a test can substitute it."""
    key = (max_retries, tasks.execute_cell)
    if key not in _REMOTE:
        cell_fn = tasks.execute_cell

        def run_batch(url, storage_options, cells):
            return tasks.execute_batch(url, storage_options, cells, cell_fn)

        _REMOTE[key] = (ray.remote(num_cpus=1, max_retries=max_retries)(run_batch),
                        ray.remote(num_cpus=0, max_retries=0)(tasks.probe_store))
    return _REMOTE[key]


AUTH_HINT = ("Ray clusters use token authentication (on by default): the driver needs RAY_AUTH_MODE=token and the "
             "cluster's token in RAY_AUTH_TOKEN (or a file named by RAY_AUTH_TOKEN_PATH; `ray get-auth-token` on the "
             "head node prints it)")


def _preflight(address: str, timeout: float = 5.0) -> None:
    """Fail within seconds, with a clear message, where Ray itself takes 20-40 s: nothing listening at a
    `host:port` cluster address, or a token the cluster refuses. Anything else is left to ray.init."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():  # "auto", "ray://...": Ray's own checks
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; is its head node "
                              "running (`ray start --head`), and is the address its GCS address (port 6379 by "
                              "default)?") from None
    # in a child process: Ray's client aborts its process when token mode is on and no token is found
    import subprocess

    try:
        r = subprocess.run([sys.executable, "-c", _GCS_PROBE, address, str(timeout)], capture_output=True, text=True,
                           timeout=4 * timeout + 30)
    except (OSError, subprocess.TimeoutExpired):
        return
    lines = r.stdout.strip().splitlines()
    if lines and lines[-1].startswith("auth:"):
        reason = lines[-1][len("auth:"):].strip().split(". Ensure that")[0]
        raise ConnectionError(f"cannot join the Ray cluster at {address}: {reason}. {AUTH_HINT}")
    if r.returncode != 0 and "Token authentication is enabled but Ray couldn't find an authentication token" in r.stderr:
        raise ConnectionError(f"cannot join the Ray cluster at {address}: token authentication is on and no token "
                              f"was found. {AUTH_HINT}")


_GCS_PROBE = """
import sys
from ray._raylet import GcsClient
import ray.exceptions
try:
    GcsClient(address=sys.argv[1]).get_all_node_info(timeout=float(sys.argv[2]))
    print("ok")
except ray.exceptions.AuthenticationError as exc:
    print("auth: " + " ".join(str(exc).split()))
except Exception as exc:
    print("other: " + type(exc).__name__)
"""


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
        _preflight(address)
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:  # what _preflight did not catch
            reason = str(exc).split(". Ensure that")[0]  # Ray's own long hint replaced by ours
            raise ConnectionError(f"cannot join the Ray cluster at {address}: {reason}. {AUTH_HINT}") from None
    else:
        # "local": a new local instance, never a cluster that `ray start` left on this machine (Ray's default)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env,
                 object_store_memory=100 * 1024 * 1024, logging_level="ERROR", log_to_driver=False)
    return ray


def check_storage(ray, probe, url: str, storage_options: Optional[dict], token: str, timeout: float = 120) -> None:
    """Refuse, before any cell runs, a store that a node able to run cells cannot reach: a probe task pinned to
    each such node reads the run lock's token. Skipped when the only such node is the driver's own."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    own = ray.get_runtime_context().get_node_id()
    if not nodes or [n["NodeID"] for n in nodes] == [own]:
        return
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
        url, storage_options, token): n for n in nodes}
    ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
    bad = []
    for ref, node in refs.items():
        where = f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:8]}, host {node.get('NodeManagerHostname', '?')})"
        if ref not in ready:
            bad.append(f"{where}: no answer to the storage probe in {timeout:.0f} s")
            continue
        try:
            why = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a node that cannot even run the probe
            why = f"{type(exc).__name__}: {exc}"
        if why:
            bad.append(f"{where}: {why}")
    if bad:
        kind = "a local path" if "://" not in url or url.startswith("file://") else "this store"
        raise StoreError(f"{url}: {kind} that {len(bad)} of the cluster's {len(nodes)} nodes cannot reach; no cell "
                         "was run.\n  - " + "\n  - ".join(bad) + "\n" + SHARED_STORAGE_HINT)


def run_sweep(sweep_or_path, store: Optional[str] = None, address: Optional[str] = None,
              max_parallel: Optional[int] = None, storage_options: Optional[dict] = None,
              progress: bool = True, num_cpus: Optional[int] = None, max_retries: int = 3) -> RunSummary:
    """Run (or resume) every cell not yet done; returns a RunSummary (``.ok`` when all are done).

    `max_parallel`: tasks in flight (default 2 per CPU of the cluster). `storage_options` (fsspec) travel with
    every task: leave credentials out of them, each node reads its own from its environment
    (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role)."""
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
    stop = threading.Event()
    run_pos = None

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
        if len(plan.todo):
            ray = _init_ray(address, num_cpus)
            task, probe_fn = _remote_functions(ray, max_retries)
            check_storage(ray, probe_fn, task_url, storage_options, token)  # a refused run records no run
        run_pos = st.record_run(run_record())
        if len(plan.todo):
            ran = _dispatch(ray, task, plan, st, task_url, storage_options, max_parallel, bar, failures)
    finally:
        bar.close()
        stop.set()
        try:
            if run_pos is not None:
                st.finish_run(run_pos, end=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), cells_run=ran)
        finally:
            st.release_lock(token)
    status = st.group("r")["status"][...]
    done = int((status == DONE).sum())
    return RunSummary(url, plan.grid.size, done, int((status == FAILED).sum()), ran, time.time() - t0, failures)


def _dispatch(ray, task, plan: Plan, st: ResultsStore, url: str, storage_options: Optional[dict],
              max_parallel: Optional[int], bar: "Progress", failures: list) -> int:
    """Send the plan's cells to Ray in batches, at most `max_parallel` tasks in flight, and write the cell table
    from what comes back; returns the number of cells that came back (done or failed)."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    limit = max_parallel or 2 * cpus
    attempts = st.group("r")["attempts"][...]  # of earlier runs (the store already has the grid's shape)
    table = TableWriter(st)
    batcher = Batcher(_estimate(plan), cpus)
    sent = 0  # cells of plan.todo sent so far (in grid order)
    alone: deque = deque()  # cells of a batch lost beyond its retries: one per task
    inflight: dict = {}  # future -> list of cells
    ran = 0
    bar.show(force=True)
    try:
        while sent < len(plan.todo) or alone or inflight:
            while (sent < len(plan.todo) or alone) and len(inflight) < limit:
                if alone:
                    cells = [alone.popleft()]
                else:
                    n = batcher.size(len(plan.todo) - sent)
                    cells = list(plan.todo[sent:sent + n])
                    sent += len(cells)
                for c in cells:
                    table.add(c.index, status=RUNNING, attempts=int(attempts[c.index]) + 1)
                inflight[task.remote(url, storage_options, cells)] = cells
            bar.running = min(sum(len(c) for c in inflight.values()), cpus)
            ready, rest = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            if ready and rest:  # collect everything else that is already finished
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                cells = inflight.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - worker or node lost beyond the retries, or no store
                    err = f"{type(exc).__name__}: {exc}"
                    if len(cells) > 1:
                        alone.extend(cells)  # find the cell that kills its worker or its write, if one does
                        bar.note(f"a task of {len(cells)} cells was lost ({err.splitlines()[0][:120]}); "
                                 "running its cells one per task")
                        continue
                    res = {"host": "", "environment": None, "attempt": 1, "seconds": 0.0,
                           "cells": [{"status": FAILED, "error": err} for c in cells]}
                batcher.record(res["seconds"], len(cells))
                for c, r in zip(cells, res["cells"]):
                    ran += 1
                    tries = int(attempts[c.index]) + res["attempt"]
                    if r["status"] == DONE:
                        bar.done += 1
                        table.add(c.index, status=DONE, attempts=tries, host=res["host"], wall_time=r["wall_time"],
                                  error="" if tries > 1 else None, cell_data_seed=np.uint64(c.data_seed),
                                  cell_train_seed=np.uint64(c.train_seed),
                                  provenance=cell_record(c.data_seed, c.train_seed, tries, r["wall_time"],
                                                         res["environment"]))
                    else:
                        bar.failed += 1
                        failures.append((c.index, c.label(), r.get("error", "")))
                        table.add(c.index, status=FAILED, attempts=tries, host=res["host"], error=r.get("error", ""),
                                  wall_time=r.get("wall_time"))
                        bar.note(f"failed: {c.label()}: "
                                 f"{(r.get('error') or '').strip().splitlines()[-1:] or ['?']}")
            table.maybe_flush()
            bar.show()
    finally:
        table.flush()  # what came back is kept, even when the driver is interrupted
        bar.running = 0
    return ran


def _estimate(plan: Plan) -> float:
    """The mean estimated time of the cells to run (sizes the first wave of batches)."""
    return estimate_total(plan.grid, plan.todo.flat) / len(plan.todo) if len(plan.todo) else 1.0
