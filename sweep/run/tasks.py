"""The bodies of a sweep's tasks, whatever runs them (sweep.run.launcher): compute cells and write their data;
probe a node's view of the store.

A task never writes the cell table (the driver's, see sweep.run.runner): it returns each cell's outcome
(sweep.store.outcomes). A failure of the storage environment (a full disk, a read-only mount, an unreachable object
store) is not a failure of a cell: it is raised, so the driver stops the run and says so, and the cells run
again once the cause is gone.
"""

from __future__ import annotations

import socket
import time
import traceback
from typing import Callable, Optional

import numpy as np

from ..store import checkpoints
from .cell import Diverged
from ..config.cellconfig import CellConfig
from ..config.grid import Cell
from ..store.lease import read_holder
from ..store.location import environment_failure
from .provenance import contract, environment
from ..store.outcomes import DONE, FAILED, BatchOutcome, CellOutcome
from ..store.results_store import ResultsStore, StoreError

SHARED_STORAGE_HINT = ("A multi-node sweep needs storage every node reaches: an object-store URL "
                       "(s3://bucket/path) or a folder on a file system mounted at the same path on every node")


class StorageTrouble(Exception):
    """A storage operation of a cell failed because of its environment; carries the original error."""


def _may_checkpoint(config: CellConfig) -> bool:
    return not config.statistics and config.train.checkpoint_every < config.train.epochs


def execute_cell(store: ResultsStore, cell: Cell, attempt: int) -> CellOutcome:
    """Compute one cell: train (checkpointing into the store, resuming from a checkpoint of this cell). DONE with
    the cell's arrays for the store (sweep.run.cell.cell_arrays), or FAILED with the traceback (or the reason, for a
    training that diverged). Storage failures are raised (see the module docstring)."""
    from kernels.train import TrainState

    from .cell import cell_arrays

    idx = cell.index
    t0 = time.perf_counter()
    ckpt = checkpoints.load(store.location, idx) if _may_checkpoint(cell.config) else None
    state = None
    if ckpt is not None and int(ckpt["cell_train_seed"]) == cell.train_seed \
            and int(ckpt["cell_data_seed"]) == cell.data_seed:
        state = TrainState.from_arrays(ckpt)
    saved = [0]

    def on_checkpoint(st):
        arrays = st.to_arrays()
        arrays["cell_train_seed"] = np.array(cell.train_seed, dtype=np.uint64)
        arrays["cell_data_seed"] = np.array(cell.data_seed, dtype=np.uint64)
        try:
            checkpoints.save(store.location, idx, arrays)
        except Exception as exc:  # noqa: BLE001 - classified: the environment's, or the cell's
            if environment_failure(exc):
                raise StorageTrouble() from exc
            raise
        saved[0] += 1

    try:
        arrays = cell_arrays(cell.config, cell.data_seed, cell.train_seed, state, on_checkpoint)
    except StorageTrouble as exc:
        raise exc.__cause__ from None
    except Diverged as exc:
        return CellOutcome(FAILED, time.perf_counter() - t0, f"{exc}")
    except Exception:  # noqa: BLE001 - any error of the cell is its failure, recorded with the traceback
        return CellOutcome(FAILED, time.perf_counter() - t0, traceback.format_exc())
    return CellOutcome(DONE, time.perf_counter() - t0, arrays=arrays, checkpointed=ckpt is not None or saved[0] > 0)


WRITE_BYTES = 32 * 2**20  # a task writes its finished cells' data once they hold this much (and at its end)


def execute_batch(url: str, storage_options: Optional[dict], cells: list,
                  cell_fn: Optional[Callable] = None, attempt: int = 1) -> BatchOutcome:
    """The body of a task, whatever its launcher (sweep.run.launcher): compute `cells` one after the other
    (`cell_fn`, default execute_cell) and write their data chunks, together, at the end (or whenever WRITE_BYTES
    have piled up). `attempt`: the launcher's attempt number of this task (1, 2 for a retry after a lost worker,
    ...). A failed write raises: the driver then reruns the batch's cells one per task (or stops, for a failure
    of the storage environment)."""
    t0 = time.perf_counter()
    cell_fn = cell_fn or execute_cell
    store = ResultsStore(url, storage_options)
    try:
        store.open()  # once for the whole batch
    except FileNotFoundError as exc:  # typically a local path that is not shared between the nodes
        raise StoreError(f"{url}: the store is not visible from host {socket.gethostname()} ({exc}). "
                         + SHARED_STORAGE_HINT) from None
    results, pending, size = [], [], 0

    def write_pending():  # a failed write fails the task: the driver reruns its cells one per task
        digests = store.write_cells([(c, r.arrays) for c, r in pending])
        for c, r in pending:
            r.arrays = None
            r.digests = digests.get(tuple(int(i) for i in c.index))
            if r.checkpointed:
                checkpoints.drop(store.location, c.index)
        pending.clear()

    for cell in cells:
        r = cell_fn(store, cell, attempt)
        results.append(r)
        if r.status == DONE:
            pending.append((cell, r))
            size += sum(np.asarray(a).nbytes for a in r.arrays.values())
            if size >= WRITE_BYTES:
                write_pending()
                size = 0
    write_pending()
    return BatchOutcome(socket.gethostname(), environment(), attempt, time.perf_counter() - t0, results)


def probe_store(url: str, storage_options: Optional[dict], token: str) -> dict:
    """Run on one node before a sweep: {"problem": None when the node sees this run's store (its lease holds
    `token`) else why not, "contract": the node's sweep.run.provenance.contract(), computed here, in the worker, from
    its own environment (a worker configured for another target CPU reports it)}."""
    problem = None
    try:
        holder = read_holder(ResultsStore(url, storage_options).location)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the answer
        holder, problem = None, f"cannot read the store ({type(exc).__name__}: {exc})"
    if problem is None and holder is None:
        problem = "the store is not there (its lease cannot be read)"
    elif problem is None and holder.token != token:
        problem = "a different store is at that path (another run's lease)"
    return {"problem": problem, "contract": contract()}
