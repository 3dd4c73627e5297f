"""The serial launcher (sweep.run.launcher): every batch runs in this process, one after the other, with the
task body Ray runs (sweep.run.tasks.execute_batch): the same store, the same bits, no Ray imported. To debug a
cell under pdb (`python -m pdb -m sweep run FILE --launcher serial`), or to test the runner without Ray.

- `submit` only queues a batch; `wait` runs the oldest queued one of the handles it is given to its end (the
  timeout cannot cut a batch short) and returns it: the runner shows its progress and writes the cell table
  between batches;
- a batch's attempt is always 1 (nothing retries: a crash of the process is the crash of the run), and this
  process is the one node: its storage probe runs here;
- an exception of the task body (a failed write, a storage failure) is the batch's BatchFailed, as under Ray;
  a KeyboardInterrupt (Ctrl-C, or a signal through the CLI) stops the batch where it is and propagates: its
  cells not yet written are abandoned, the runner keeps what came back before; so does pdb's `quit` (BdbQuit);
- `cancel` and `close` drop queued batches.
"""

from __future__ import annotations

import bdb
import socket
from typing import Optional, Sequence

from . import tasks
from .launcher import BatchFailed, Launcher, NodeProbe
from ..store.outcomes import BatchOutcome


class SerialBatch:
    """A batch queued in this process: its arguments, then its outcome or the error it raised."""

    def __init__(self, number: int, url: str, storage_options: Optional[dict], cells: Sequence):
        self.number, self.args, self.size = number, (url, storage_options, list(cells)), len(cells)
        self.finished = False
        self.result: Optional[BatchOutcome] = None
        self.error: Optional[BaseException] = None

    def __repr__(self) -> str:
        return f"SerialBatch({self.number}, {self.size} cells, finished={self.finished})"

    def run(self) -> None:
        """Run the task body here (tasks.execute_cell looked up now, so a test can substitute it)."""
        try:
            self.result = tasks.execute_batch(*self.args, tasks.execute_cell, 1)
        except bdb.BdbQuit:  # the debugger's user quits: the run stops
            raise
        except Exception as exc:  # noqa: BLE001 - the batch's failure, collected by `outcome` (not KeyboardInterrupt)
            self.error = exc
        self.finished = True
        self.args = None  # the cells are no longer needed


class SerialLauncher(Launcher):
    """Batches run in this process, one after the other (see the module docstring)."""

    name = "serial"

    def __init__(self):
        self.queued: dict = {}  # batch number -> SerialBatch, submitted, neither collected nor cancelled
        self.count = 0

    def start(self, address: Optional[str], num_cpus: Optional[int], max_retries: int) -> None:
        if address:
            raise ValueError("the serial launcher runs cells in this process and joins no cluster: leave the address "
                             "out, or use the ray launcher")

    def cpus(self) -> int:
        return 1

    def probe_nodes(self, url: str, storage_options: Optional[dict], token: str, timeout: float) -> list[NodeProbe]:
        answer = tasks.probe_store(url, storage_options, token)
        return [NodeProbe(f"this process (host {socket.gethostname()})", answer["problem"], answer["contract"])]

    def submit(self, url: str, storage_options: Optional[dict], cells: Sequence) -> SerialBatch:
        self.count += 1
        batch = SerialBatch(self.count, url, storage_options, cells)
        self.queued[batch.number] = batch
        return batch

    def wait(self, handles: Sequence[SerialBatch], timeout: float) -> list[SerialBatch]:
        live = [b for b in handles if b.number in self.queued]  # neither collected nor cancelled
        finished = [b for b in live if b.finished]
        if finished or not live:
            return finished
        oldest = min(live, key=lambda b: b.number)
        oldest.run()
        return [oldest]

    def outcome(self, handle: SerialBatch) -> BatchOutcome:
        if self.queued.get(handle.number) is not handle or not handle.finished:
            raise ValueError(f"{handle!r}: not a finished batch of this launcher (wait returns those)")
        del self.queued[handle.number]
        if handle.error is not None:
            error, handle.error = handle.error, None
            raise BatchFailed(f"{type(error).__name__}: {error}") from error
        return handle.result

    def cancel(self, handles: Sequence[SerialBatch]) -> None:
        for b in handles:
            if self.queued.pop(b.number, None) is not None:
                b.args = None

    def close(self) -> None:
        self.cancel(list(self.queued.values()))
