"""The bodies of the Ray tasks of a sweep: compute cells and write their data; probe a node's view of the store.

A task never writes the cell table (the driver's, see sweep.runner): it returns each cell's bookkeeping.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import traceback
from typing import Callable, Optional

import numpy as np

from .grid import Cell
from .provenance import environment
from .store import DONE, FAILED, ResultsStore, StoreError

# Fault injection for the tests (inert unless set): SIGKILL the worker after the k-th checkpoint of a
# cell's first attempt; raise inside every cell whose label contains the given text.
FAULT_ENV = "SWEEP_TEST_KILL_AFTER_CHECKPOINT"
FAIL_ENV = "SWEEP_TEST_FAIL_CELLS"
SHARED_STORAGE_HINT = ("A multi-node sweep needs storage every node reaches: an object-store URL "
                       "(s3://bucket/path) or a folder on a file system mounted at the same path on every node")


def _may_checkpoint(spec: dict) -> bool:
    t = spec["train"]
    return t["method"] != "statistics" and t["checkpoint_every"] < t["epochs"]


def execute_cell(store: ResultsStore, cell: Cell, attempt: int) -> dict:
    """Compute one cell: train (checkpointing into the store, resuming from a checkpoint of this cell). Returns
    its bookkeeping for the driver: status (done | failed), wall_time (the computation: sampling and
    training), error (traceback); and, when done, `arrays` for the store
    (sweep.cell.cell_arrays) and `checkpointed` (a checkpoint to drop once the data landed)."""
    from kernels.train import TrainState

    from .cell import cell_arrays

    idx = cell.index
    t0 = time.perf_counter()
    ckpt = store.load_checkpoint(idx) if _may_checkpoint(cell.spec) else None
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
        if kill_after and attempt == 1 and saved[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    try:
        fail = os.environ.get(FAIL_ENV)
        if fail and fail in cell.label():
            raise RuntimeError(f"injected failure ({FAIL_ENV}={fail})")
        arrays = cell_arrays(cell.spec, cell.data_seed, cell.train_seed, state, on_checkpoint)
    except Exception:
        return {"status": FAILED, "error": traceback.format_exc(), "wall_time": time.perf_counter() - t0}
    return {"status": DONE, "wall_time": time.perf_counter() - t0, "arrays": arrays,
            "checkpointed": ckpt is not None or saved[0] > 0}


def _task_attempt() -> int:
    """1 for a task's first execution, 2 for Ray's first retry of it (after a lost worker or node), ..."""
    try:
        import ray

        return int(ray._private.worker.global_worker.core_worker.get_current_task_attempt_number()) + 1
    except Exception:  # noqa: BLE001 - outside Ray, or an API this Ray lacks
        return 1


WRITE_BYTES = 32 * 2**20  # a task writes its finished cells' data once they hold this much (and at its end)


def execute_batch(url: str, storage_options: Optional[dict], cells: list, cell_fn: Optional[Callable] = None) -> dict:
    """The body of a Ray task: compute `cells` one after the other (`cell_fn`, default execute_cell) and write
    their data chunks, together, at the end (or whenever WRITE_BYTES have piled up). Returns {host,
    environment, attempt, seconds, cells: [bookkeeping of each cell, without its arrays]}. A failed write
    raises: the driver then reruns the batch's cells one per task."""
    t0 = time.perf_counter()
    cell_fn = cell_fn or execute_cell
    store = ResultsStore(url, storage_options)
    try:
        store.open()  # once for the whole batch
    except FileNotFoundError as exc:  # typically a local path that is not shared between the nodes
        raise StoreError(f"{url}: the store is not visible from host {socket.gethostname()} ({exc}). "
                         + SHARED_STORAGE_HINT) from None
    attempt = _task_attempt()
    results, pending, size = [], [], 0

    def write_pending():  # a failed write fails the task: the driver reruns its cells one per task
        store.write_cells([(c, r.pop("arrays")) for c, r in pending])
        for c, r in pending:
            if r.pop("checkpointed"):
                store.drop_checkpoint(c.index)
        pending.clear()

    for cell in cells:
        r = cell_fn(store, cell, attempt)
        results.append(r)
        if r["status"] == DONE:
            pending.append((cell, r))
            size += sum(np.asarray(a).nbytes for a in r["arrays"].values())
            if size >= WRITE_BYTES:
                write_pending()
                size = 0
    write_pending()
    return {"host": socket.gethostname(), "environment": environment(), "attempt": attempt,
            "seconds": time.perf_counter() - t0, "cells": results}


def probe_store(url: str, storage_options: Optional[dict], token: str) -> Optional[str]:
    """Run on one node before a sweep: None when the node sees this run's store (its run lock holds `token`),
    else why not."""
    try:
        lock = ResultsStore(url, storage_options).read_lock()
    except Exception as exc:  # noqa: BLE001 - any failure to read is the answer
        return f"cannot read the store ({type(exc).__name__}: {exc})"
    if lock is None:
        return "the store is not there (its run lock cannot be read)"
    if lock.get("token") != token:
        return "a different store is at that path (another run's lock)"
    return None


