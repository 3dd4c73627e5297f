"""Running a sweep: cells packed into tasks that write their data; the driver holds the store's lease and
writes everything else. What runs the tasks is a launcher (sweep.run.launcher: Ray by default, or this process
with `launcher="serial"`); this module makes no Ray call.

Contract of `run_sweep`:
- one driver at a time: the driver takes the store's lease first (sweep.store.lease; a live holder refuses the run,
  naming it) and only then plans (read-only, sweep.run.plan) and changes the store: creates it (atomically),
  grows it (values appended to grid dimensions), mends metadata a growth cut short, or refuses (another
  sweep, damaged metadata, another environment), saying what differs;
- the environment bit-identity depends on (sweep.run.provenance.contract) must be the store's: a difference is
  refused, naming each, unless `allow_env_change` (the run record then notes it, and the store takes the new
  environment);
- every node that can run cells (the driver's own too) first proves it sees the store (it reads the lease's
  token) and reports its workers' environment; a store some node cannot reach, or a node whose workers' environment
  is not the store's, is refused before any cell runs;
- done cells are skipped; pending, running (an interrupted run) and failed cells run again;
- cells go to the launcher's tasks in batches sized from the measured cell time (about TASK_SECONDS of work
  per task), with at most `max_parallel` tasks in flight. A task trains its cells one after the other (checkpointing
  every `train.checkpoint_every` epochs, resuming from the last checkpoint) and writes each cell's data
  chunks; it returns the cells' outcomes to the driver, which alone writes the cell table, batched:
  `running` when a batch is sent, `done` or `failed` when it returns, checking the lease before each write
  (a driver that lost its lease stops, LeaseLost);
- an exception in a cell is recorded as `failed` with its traceback (not retried: it is deterministic); a
  lost worker or node is retried by Ray (`max_retries`); a batch lost beyond its retries, or whose data could
  not be written, is split and its cells run one per task; a failure of the storage environment (full disk,
  read-only, unreachable object store) stops the run with StorageFailure and records nothing as failed;
- a failure of Ray itself is no cell's failure: cells lost with another node beyond Ray's retries run once more;
  the local raylet dead, a node dead again, Ray's system error stop the run with RayLost naming the cause,
  the cells in flight go back to `pending`, and the rerun resumes;
- interrupted (KeyboardInterrupt: Ctrl-C, or SIGTERM / SIGHUP through the CLI) the driver stops scheduling,
  cancels the tasks in flight, keeps what came back, records the run with what it did and releases the lease:
  the rerun resumes. A closed stdout/stderr (`sweep run ... | head`) only turns the display off: the run goes
  on to its end, its log file notes it;
- one run per process (RunInProgress otherwise); `--address auto` joins only a Ray cluster this user started
  with `ray start` (sweep.run.ray_launcher.resolve_auto); the arguments are checked before anything is touched (TypeError,
  ValueError);
- results are bit-identical to an uninterrupted run, whatever was interrupted.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..store import layout

from ..config.errors import StorageFailure, StoreError
from ..store.lease import Lease, take_forced_unlocks
from ..store.location import environment_failure
from .launcher import LAUNCHERS, BatchFailed, ClusterUnreachable, ExecutorLost, Launcher, NodeLost
from .plan import Plan, check_fits, default_store, estimate_seconds, estimate_total, plan_sweep  # noqa: F401 - default_store re-exported
from .progress import Eta, RunProgress, progress_mode
from .provenance import cell_record, contract, run_record
from .runlog import RunLog, log_path
from ..store.outcomes import DONE, FAILED, PENDING, RUNNING, BatchOutcome, CellOutcome
from ..config.sweepfile import Sweep, load_sweep
from ..store.results_store import ResultsStore
from ..store.cell_table import CellTable
from .tasks import SHARED_STORAGE_HINT
from ..store.verify import is_partial

TASK_SECONDS = 1.0  # target work per task: long enough to amortise scheduling, short enough to balance and retry
MAX_BATCH = 1000
FLUSH_SECONDS = 1.0  # the driver writes the cell table at most about this often (and at the end)


class EnvironmentChanged(StoreError):
    """The environment differs from the one the store's results were computed in."""


class RayLost(ConnectionError):
    """Ray failed under the run (the local raylet died, the driver's node died): no cell's fault; the cells in
    flight are left pending and the rerun resumes. The message names the store and the cause."""


class RunInProgress(RuntimeError):
    """run_sweep was called while another run_sweep runs in this process: one run per process."""


_ACTIVE = threading.Lock()
_active_store: list = []


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
    environment_change: list = field(default_factory=list)
    log: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.done == self.total

    def text(self) -> str:
        s = (f"{self.done}/{self.total} cells done, {self.failed} failed, {self.ran} run now, "
             f"{self.wall_time:.1f}s; store {self.store}")
        for idx, label, err in self.failures[:10]:
            s += f"\n  failed: {label}: {err.strip().splitlines()[-1] if err.strip() else 'unknown error'}"
        if len(self.failures) > 10:
            s += f"\n  ... and {len(self.failures) - 10} more failed cells (`sweep status STORE` lists them)"
        if self.log:
            s += f"\nlog: {self.log}"
        return s


@dataclass
class Tally:
    """What this run did so far (kept current, so an interrupted run records it)."""

    ran: int = 0
    done: int = 0
    failed: int = 0


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

    def __init__(self, table: CellTable):
        self.table, self.rows, self.last = table, {}, time.time()

    def add(self, index, **fields) -> None:
        self.rows.setdefault(tuple(index), {}).update({k: v for k, v in fields.items() if v is not None})

    def maybe_flush(self) -> None:
        if self.rows and (time.time() - self.last > FLUSH_SECONDS or len(self.rows) >= 4 * MAX_BATCH):
            self.flush()

    def flush(self) -> None:
        if self.rows:
            rows, self.rows = self.rows, {}
            self.table.write(rows)
        self.last = time.time()


def check_storage(launcher: Launcher, url: str, storage_options: Optional[dict], token: str,
                  timeout: float = 120) -> dict:
    """Refuse, before any cell runs, a store that a node able to run cells cannot reach: a probe task pinned to
    each such node reads the lease's token (Launcher.probe_nodes). Returns {node description: its bit-identity
    contract, computed by its worker}; the driver's own node is probed too, since its workers may not share the
    driver's environment (a Ray started elsewhere, a runtime_env setting NUMBA_CPU_NAME)."""
    nodes = launcher.probe_nodes(url, storage_options, token, timeout)
    bad, contracts = [], {}
    for node in nodes:
        if node.contract is not None:
            contracts[node.where] = node.contract
        if node.problem:
            bad.append(f"{node.where}: {node.problem}")
    if bad:
        kind = "a local path" if "://" not in url or url.startswith("file://") else "this store"
        raise StoreError(f"{url}: {kind} that {len(bad)} of the cluster's {len(nodes)} nodes cannot reach; no cell "
                         "was run.\n  - " + "\n  - ".join(bad) + "\n" + SHARED_STORAGE_HINT)
    return contracts


def environment_refusal(url: str, differences: list, where: str = "") -> EnvironmentChanged:
    return EnvironmentChanged(
        f"{url}: the environment{where} differs from the one the store's results were computed in, so new cells "
        "would not be bit-identical to a run in that environment:\n  - " + "\n  - ".join(differences)
        + "\nrun in the store's environment, or pass --allow-env-change to continue here (the run record notes it)")


def _refuse(plan: Plan, allow_env_change: bool) -> None:
    """Raise what the plan refuses: another sweep, damaged metadata, another environment (unless allowed)."""
    if plan.action == "refuse":
        raise StoreError("\n".join(plan.reasons))
    if plan.environment and not allow_env_change:
        raise environment_refusal(plan.store.url, plan.environment)


def _prepare(plan: Plan, lease: Lease) -> list:
    """Make the store what the plan says, as the lease holder: create, grow or mend it. Returns the environment
    differences accepted (allow_env_change), [] when none."""
    st = plan.store
    if plan.action == "create":
        layout.create(st, plan.sweep, plan.grid, contract(), lease)
        return []
    if plan.heal:
        layout.restore_metadata(st, plan.heal, lease)
    if plan.action == "extend":
        layout.grow(st, plan.sweep, plan.stored_grid, lease)
    stored = st.environment()
    if plan.environment or (stored and set(contract()) - set(stored)):  # changed, or recorded before some entries
        lease.check()
        st.update_root_attrs(environment=json.dumps(contract(), sort_keys=True))
    _remove_stray_partials(st, lease)
    return list(plan.environment)


def _remove_stray_partials(st: ResultsStore, lease: Lease) -> None:
    """After a run that did not end cleanly (its record has no end), remove the `*.partial` files a killed
    writer left (local stores only: object stores have none). No writer runs now: this driver holds the lease
    and has started no task."""
    runs = st.runs()
    if not st.location.local or not runs or runs[-1].get("end"):
        return
    lease.check()
    st.location.delete_many([k for k in st.location.files() if is_partial(k)])


def run_sweep(sweep_or_path, store: Optional[str] = None, address: Optional[str] = None,
              max_parallel: Optional[int] = None, storage_options: Optional[dict] = None,
              progress=True, num_cpus: Optional[int] = None, max_retries: int = 3,
              allow_env_change: bool = False, overrides: Optional[dict] = None, verbose: bool = False,
              log: bool = True, stop: Optional[threading.Event] = None, allow_large: bool = False,
              launcher="ray") -> RunSummary:
    """Run (or resume) every cell not yet done; returns a RunSummary (``.ok`` when all are done).

    `max_parallel`: tasks in flight (default 2 per CPU of the cluster). `storage_options` (fsspec) travel with
    every task: leave credentials out of them, each node reads its own from its environment
    (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role). `overrides`: dotted key -> value
    applied to the sweep file before validation (sweep.config.overrides), e.g. {"train.epochs": 50}. `progress`: True
    (a live bar, or plain lines without a terminal), False, or "auto" / "plain" / "off"; `verbose`: a line per
    finished cell; `log`: write the run's log beside the store (sweep.run.runlog); `stop`: an event that, once set
    (a signal handler's), stops the run as KeyboardInterrupt does, even where Ray swallowed the interrupt (Ray
    does while it starts); `allow_large`: run a sweep whose cell would not fit this machine's memory or whose
    store would not fit the free disk (sweep.run.plan.check_fits, checked before Ray starts); `launcher`: what runs
    the cells (sweep.run.launcher), "ray" (local Ray, or the cluster at `address`), "serial" (this process, one
    batch after the other, no Ray: to debug a cell under pdb; no `address`), or a Launcher. Raises StoreError (a store
    that cannot be used as asked: LeaseHeld, EnvironmentChanged, TooLarge, ...), StorageFailure (the storage environment
    failed), ConnectionError (a cluster that cannot be joined), KeyboardInterrupt (the store is left
    consistent and released), RunInProgress (another run_sweep runs in this process), TypeError / ValueError
    (arguments, checked before anything is touched)."""
    _check_arguments(sweep_or_path, store=store, address=address, max_parallel=max_parallel,
                     storage_options=storage_options, num_cpus=num_cpus, max_retries=max_retries,
                     allow_env_change=allow_env_change, overrides=overrides, stop=stop, allow_large=allow_large,
                     launcher=launcher)
    progress_mode(progress)
    if isinstance(sweep_or_path, (str, os.PathLike)):
        sweep = load_sweep(sweep_or_path, overrides)
    elif overrides:
        raise ValueError("overrides apply to a sweep file: give its path, or a Sweep already overridden "
                         "(sweep.load_sweep(path, overrides))")
    else:
        sweep = sweep_or_path
    url = os.fspath(store) if store is not None else default_store(sweep)
    if not _ACTIVE.acquire(blocking=False):
        raise RunInProgress(f"{url}: another run_sweep is running in this process (store "
                            f"{_active_store[0] if _active_store else '?'}); one run per process: wait for it to "
                            "finish, or run this sweep in another process")
    _active_store[:] = [url]
    try:
        return _run_sweep(sweep, url, address, max_parallel, storage_options, progress, num_cpus, max_retries,
                          allow_env_change, verbose, log, stop, allow_large, make_launcher(launcher))
    finally:
        _active_store.clear()
        _ACTIVE.release()


def _check_arguments(sweep_or_path, **a) -> None:
    """run_sweep's arguments as the CLI checks them: a TypeError or ValueError naming the argument."""
    from ..config.sweepfile import Sweep as SweepType

    def kind(name, ok, what):
        if a[name] is not None and not ok(a[name]):
            raise TypeError(f"run_sweep: {name} must be {what}, got {a[name]!r}")

    if not isinstance(sweep_or_path, (str, os.PathLike, SweepType)):
        raise TypeError(f"run_sweep: the sweep must be a sweep file's path or a Sweep, got {sweep_or_path!r}")
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    kind("store", lambda v: isinstance(v, (str, os.PathLike)), "a path or URL (str or os.PathLike)")
    kind("address", lambda v: isinstance(v, str), "a Ray address (str)")
    kind("storage_options", lambda v: isinstance(v, dict), "a dict")
    kind("overrides", lambda v: isinstance(v, dict), "a dict")
    for name in ("max_parallel", "num_cpus", "max_retries"):
        kind(name, is_int, "an integer")
    kind("allow_env_change", lambda v: isinstance(v, bool), "True or False")
    kind("allow_large", lambda v: isinstance(v, bool), "True or False")
    kind("stop", lambda v: callable(getattr(v, "is_set", None)), "a threading.Event")
    if a["store"] is not None and not os.fspath(a["store"]):
        raise ValueError("run_sweep: store must not be empty")
    for name, low in (("max_parallel", 1), ("num_cpus", 1), ("max_retries", 0)):
        if a[name] is not None and a[name] < low:
            raise ValueError(f"run_sweep: {name} must be >= {low}, got {a[name]}")
    if a["max_retries"] is None:
        raise TypeError("run_sweep: max_retries must be an integer, got None")
    if not isinstance(a["launcher"], (str, Launcher)):
        raise TypeError(f"run_sweep: launcher must be one of {', '.join(LAUNCHERS)} or a Launcher, got {a['launcher']!r}")
    if isinstance(a["launcher"], str) and a["launcher"] not in LAUNCHERS:
        raise ValueError(f"run_sweep: launcher must be one of {', '.join(LAUNCHERS)}, got {a['launcher']!r}")
    if a["address"] and getattr(a["launcher"], "name", a["launcher"]) == "serial":
        raise ValueError("run_sweep: the serial launcher runs the cells in this process and joins no cluster: leave "
                         "address out")


def make_launcher(choice) -> Launcher:
    """The launcher `choice` names ("ray", "serial"; sweep.run.launcher), or `choice` itself (a Launcher)."""
    if isinstance(choice, Launcher):
        return choice
    if choice == "serial":
        from .serial_launcher import SerialLauncher

        return SerialLauncher()
    from .ray_launcher import RayLauncher

    return RayLauncher()


def _run_sweep(sweep: Sweep, url: str, address, max_parallel, storage_options, progress, num_cpus, max_retries,
               allow_env_change, verbose, log, stop, allow_large, launcher: Launcher) -> RunSummary:
    # tasks get an absolute path: Ray workers do not run in the driver's folder (on a cluster, not on its machine)
    t0 = time.time()
    record = run_record()  # this run's record: its command names the lease holder and heads the log
    st = ResultsStore(url, storage_options)
    task_url = st.location.root if st.location.local else url
    try:
        st.check_usable()  # refuse a location `sweep run` never touches before making anything there
        made_folder = st.location.makedirs()
        lease = Lease.acquire(st.location, command=record["command"], stop=stop)
    except OSError as exc:
        raise _storage_failure(url, exc) from None
    try:
        run = _Run(st, lease, made_folder)
    except BaseException:  # a signal between taking the lease and holding it in the run: give it back
        lease.release()
        raise
    try:
        try:
            plan = plan_sweep(sweep, st)
            _refuse(plan, allow_env_change)
            check_fits(plan, allow_large)
            if len(plan.todo):  # join Ray before changing the store: an unreachable cluster leaves it as it was
                run.launcher = launcher
                launcher.start(address, num_cpus, max_retries)
                _stop_requested(stop)
            run.accepted = _prepare(plan, lease)
            if len(plan.todo):
                run.log = RunLog(log_path(url, st.location.root if st.location.local else None, sweep.name)
                                 if log else None)
                run.log.write(f"{record['command']}\n" + "\n".join(plan.describe().splitlines()[:3]))
                from .cell import check_kernel_cache  # damaged compiled kernels removed (and logged) before dispatch

                for name in check_kernel_cache():
                    run.log.write(f"damaged Numba cache file removed, its kernel compiles again: {name}")
                nodes = check_storage(launcher, task_url, storage_options, lease.holder.token)
                run.accepted += _check_nodes(url, st, nodes, allow_env_change)
                for line in run.accepted:
                    run.log.write(f"environment change accepted: {line}")
            if run.accepted:
                record["environment_change"] = run.accepted
            forced = take_forced_unlocks(lease)
            if forced:  # `sweep unlock --force` freed the store since the last run: the record says so
                record["forced_unlock"] = forced
                for f in forced:
                    run.log.write(f"the store was freed by `sweep unlock --force` at {f.get('at')} (lease of host "
                                  f"{f.get('host')}, pid {f.get('pid')}, since {f.get('since')})")
            lease.check()
            run.position = st.record_run(record)
            if len(plan.todo):
                cpus = launcher.cpus()
                eta = Eta(estimate_total(plan.grid, plan.todo.flat), len(plan.todo), cpus)
                run.bar = RunProgress(plan.grid.size, plan.done, eta, progress_mode(progress))
                _dispatch(launcher, plan, CellTable(st, lease), task_url, storage_options, max_parallel, run,
                          cpus, verbose, stop)
        except OSError as exc:
            cause = environment_failure(exc)
            if cause is None or isinstance(exc, (ClusterUnreachable, RayLost)):
                raise
            raise _storage_failure(url, exc) from None
    except BaseException as exc:
        run.finish(interrupted=isinstance(exc, KeyboardInterrupt), error=exc)
        raise
    run.finish(interrupted=False)
    status = st.group("r")["status"][...]
    summary = RunSummary(url, plan.grid.size, int((status == DONE).sum()), int((status == FAILED).sum()), run.tally.ran,
                         time.time() - t0, run.failures, run.accepted,
                         str(run.log.path) if run.log is not None and run.log.path else None)
    return summary


def _storage_failure(url: str, exc: BaseException) -> StorageFailure:
    cause = environment_failure(exc) or f"{type(exc).__name__}: {exc}"
    where = getattr(exc, "filename", None)
    return StorageFailure(f"{url}: {cause}" + (f" ({where})" if where else "")
                          + "; the run stopped and the store keeps every cell finished so far: remove the cause "
                          "and rerun the same command to resume")


def _check_nodes(url: str, st: ResultsStore, nodes: dict, allow: bool) -> list:
    """Compare each cluster node's bit-identity contract with the store's."""
    from .provenance import contract_diff

    stored = st.environment()
    accepted = []
    for where, theirs in nodes.items():
        diff = contract_diff(stored, theirs)
        if diff and not allow:
            raise environment_refusal(url, diff, f" of {where}")
        accepted += [f"{where}: {d}" for d in diff]
    return accepted


class _Run:
    """What one run holds and did: the store and its lease, the progress display, the log, the tally."""

    def __init__(self, st: ResultsStore, lease: Lease, made_folder: bool):
        self.st, self.lease, self.made_folder = st, lease, made_folder
        self.position = None  # of its record in the store's `runs`
        self.tally, self.failures, self.accepted = Tally(), [], []
        self.bar: Optional[RunProgress] = None
        self.log = RunLog(None)
        self.launcher: Optional[Launcher] = None  # once the run starts it
        self.output_closed = False

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.note(text)
        self.log.write(text)

    def finish(self, interrupted: bool, error: Optional[BaseException] = None) -> None:
        """End the run: the run record counts what it did (also when interrupted), the lease is released, and a
        store that could not even be created leaves no folder behind. Nothing here (a closed output, a failing
        store) keeps the lease from being released."""
        self.lease.wind_down()
        t = self.tally
        try:
            if self.launcher is not None:
                self.launcher.close()
            if self.bar is not None:
                self.bar.close()  # never raises for a closed output (sweep.run.progress)
            self.log.write(("interrupted" if interrupted else f"stopped: {error}" if error else "finished")
                           + f": {t.ran} cells run ({t.done} done, {t.failed} failed)")
            self.log.close()
            if self.position is not None and self.lease.lost is None:
                self.lease.check()
                self.st.finish_run(self.position, end=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   cells_run=t.ran, cells_done=t.done, cells_failed=t.failed, interrupted=interrupted)
        except Exception:  # noqa: BLE001 - the store may be what failed; the lease is released regardless
            pass
        finally:
            try:
                self.lease.release()
            except Exception:  # noqa: BLE001 - a lease nobody renews expires by itself
                self.lease.stop_heartbeat()
            if self.made_folder and self.st.state() == "absent":
                self.st.location.remove_empty_folders()


def _dispatch(launcher: Launcher, plan: Plan, table: CellTable, url: str, storage_options: Optional[dict],
              max_parallel: Optional[int], run: _Run, cpus: int, verbose: bool,
              stop: Optional[threading.Event] = None) -> None:
    """Send the plan's cells to the launcher in batches, at most `max_parallel` tasks in flight, and write the cell
    table from what comes back (counted in `run.tally` as it comes, shown on `run.bar`, noted in `run.log`). A
    dispatch that stops before its end (interrupted, Ray lost, a storage failure) cancels the batches in flight."""
    st, bar, tally = plan.store, run.bar, run.tally
    limit = max_parallel or 2 * cpus
    attempts = st.group("r")["attempts"][...]  # of earlier runs (the store already has the grid's shape)
    writer = TableWriter(table)
    batcher = Batcher(_estimate(plan), cpus)
    sent = 0  # cells of plan.todo sent so far (in grid order)
    alone: deque = deque()  # cells of a batch lost beyond its retries: one per task
    inflight: dict = {}  # launcher's handle -> list of cells
    requeued: set = set()  # indices of cells sent again after their node died (once each)
    bar.show(force=True)
    completed = False
    try:
        while sent < len(plan.todo) or alone or inflight:
            _stop_requested(stop)
            while (sent < len(plan.todo) or alone) and len(inflight) < limit:
                if alone:
                    cells = [alone.popleft()]
                else:
                    n = batcher.size(len(plan.todo) - sent)
                    cells = list(plan.todo[sent:sent + n])
                    sent += len(cells)
                for c in cells:
                    writer.add(c.index, status=RUNNING, attempts=int(attempts[c.index]) + 1)
                inflight[launcher.submit(url, storage_options, cells)] = cells
            bar.running = min(sum(len(c) for c in inflight.values()), cpus)
            ready = launcher.wait(list(inflight), timeout=0.5)
            for handle in ready:
                cells = inflight.pop(handle)
                try:
                    res = launcher.outcome(handle)
                except ExecutorLost as lost:  # Ray itself failed under the batch (NodeLost: the node that ran it)
                    if isinstance(lost, NodeLost) and not requeued & {c.index for c in cells}:
                        requeued.update(c.index for c in cells)  # another node: its cells once more, elsewhere
                        alone.extend(cells)
                        run.note(f"{len(cells)} cells lost with their node ({str(lost)[:120]}); running them again")
                        continue
                    # Ray failed, not the cells: they go back to pending, with those still in flight
                    for c in cells + [c for more in inflight.values() for c in more]:
                        writer.add(c.index, status=PENDING, attempts=int(attempts[c.index]))
                    raise RayLost(f"{st.url}: {lost}; the run stopped, no cell was recorded as failed, and the "
                                  "cells it was running are pending again: rerun the same command to resume")
                except BatchFailed as exc:  # worker lost beyond the retries, a failed write, or no store
                    if environment_failure(exc):
                        raise _storage_failure(st.url, exc) from None
                    err = str(exc)
                    if len(cells) > 1:
                        alone.extend(cells)  # find the cell that kills its worker or its write, if one does
                        run.note(f"a task of {len(cells)} cells was lost ({err.splitlines()[0][:120]}); "
                                 "running its cells one per task")
                        continue
                    res = BatchOutcome("", None, 1, 0.0, [CellOutcome(FAILED, error=err) for _ in cells])
                batcher.record(res.seconds, len(cells))
                for c, r in zip(cells, res.cells):
                    tally.ran += 1
                    bar.eta.finished(estimate_seconds(c.config), r.wall_time)
                    tries = int(attempts[c.index]) + res.attempt
                    if r.status == DONE:
                        bar.done += 1
                        tally.done += 1
                        writer.add(c.index, status=DONE, attempts=tries, host=res.host, wall_time=r.wall_time,
                                   error="" if tries > 1 else None, cell_data_seed=np.uint64(c.data_seed),
                                   cell_train_seed=np.uint64(c.train_seed),
                                   provenance=cell_record(c.data_seed, c.train_seed, tries, r.wall_time,
                                                          res.environment),
                                   chunk_digest=None if r.digests is None else np.array(r.digests, dtype=np.uint64))
                        if verbose:
                            run.note(f"done: {c.label()} ({r.wall_time:.2f} s on {res.host}, attempt {tries})")
                    else:
                        bar.failed += 1
                        tally.failed += 1
                        run.failures.append((c.index, c.label(), r.error))
                        writer.add(c.index, status=FAILED, attempts=tries, host=res.host, error=r.error,
                                   wall_time=r.wall_time)
                        last = (r.error or "").strip().splitlines()[-1:] or ["?"]
                        bar.note(f"failed: {c.label()}: {last[0]}")
                        run.log.write(f"failed: {c.label()} (attempt {tries}, host {res.host}):\n{r.error}")
            writer.maybe_flush()
            bar.show()
            if bar.closed and not run.output_closed:
                run.output_closed = True
                run.log.write(f"the output was closed ({bar.closed}); the run goes on without a display")
        completed = True
    finally:
        bar.running = 0
        if not completed and inflight:
            launcher.cancel(list(inflight))
        try:
            writer.flush()  # what came back is kept, even when the driver is interrupted
        except Exception:  # noqa: BLE001 - a full disk or a lost lease: the rerun recomputes those cells
            if completed:
                raise


def _stop_requested(stop: Optional[threading.Event]) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def _estimate(plan: Plan) -> float:
    """The mean estimated time of the cells to run (sizes the first wave of batches)."""
    return estimate_total(plan.grid, plan.todo.flat) / len(plan.todo) if len(plan.todo) else 1.0
