"""Fault injection for the tests: the `sweep` command line with faults installed, configured by environment.

    python tests/faults.py run FILE --store S ...      # as `sweep run`, with the faults below

- FAULT_KILL_AFTER_CHECKPOINT=k: a worker SIGKILLs itself right after the k-th checkpoint of a cell's first
  attempt (Ray then retries the task, which resumes from that checkpoint).
- FAULT_FAIL_CELLS=text: every cell whose label contains `text` raises (a deterministic cell failure).
- FAULT_KILL_DRIVER_AT_WRITE=k: the driver SIGKILLs itself just before its k-th file write to a local store,
  the lease's own files not counted (creation writes a few dozen files, growth a few dozen, the cell table
  one per chunk): a kill at an exact instant of creation or growth.
- FAULT_KILL_WORKER_AT_CELL=text: the first attempt of a cell whose label contains `text` SIGKILLs its worker.
- FAULT_CELL_DELAY=seconds: every cell's task sleeps that long before it computes (same bits, a run long enough
  on an idle machine to be interrupted mid-run).

Production code has no fault hooks: these wrap sweep.run.tasks.execute_cell (the task body's `cell_fn` seam,
looked up when the Ray functions are built) and sweep.store.location.Location's writes, in this process only; Ray
takes the wrapper to its workers by value (it is defined in __main__).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def install() -> None:
    from sweep.run import tasks
    from sweep.store.location import Location

    kill_after = int(os.environ.get("FAULT_KILL_AFTER_CHECKPOINT", "0") or 0)
    fail = os.environ.get("FAULT_FAIL_CELLS", "")
    kill_cell = os.environ.get("FAULT_KILL_WORKER_AT_CELL", "")
    delay = float(os.environ.get("FAULT_CELL_DELAY", "0") or 0)
    original = tasks.execute_cell

    if kill_after or fail or kill_cell or delay:
        def faulty_cell(store, cell, attempt):
            import os
            import signal
            import time

            time.sleep(delay)

            from sweep.run import cell as cell_module
            from sweep.store import checkpoints

            compute = cell_module.cell_arrays

            def broken(*args, **kwargs):  # raises inside the cell's computation: a recorded cell failure
                raise RuntimeError(f"injected failure (FAULT_FAIL_CELLS={fail})")

            if kill_cell and kill_cell in cell.label() and attempt == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            save, count = checkpoints.save, [0]

            def counting_save(loc, index, arrays):
                save(loc, index, arrays)
                count[0] += 1
                if kill_after and attempt == 1 and count[0] == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)

            checkpoints.save = counting_save
            if fail and fail in cell.label():
                cell_module.cell_arrays = broken
            try:
                return original(store, cell, attempt)
            finally:
                checkpoints.save, cell_module.cell_arrays = save, compute

        tasks.execute_cell = faulty_cell

    at_write = int(os.environ.get("FAULT_KILL_DRIVER_AT_WRITE", "0") or 0)
    if at_write:
        written = [0]

        def counted(method):
            def wrapper(self, key, *args, **kwargs):
                if not key.startswith("_lease/"):  # the lease's renewals run on a timer: not counted
                    written[0] += 1
                    if written[0] == at_write:
                        os.kill(os.getpid(), signal.SIGKILL)
                return method(self, key, *args, **kwargs)
            return wrapper

        for name in ("write", "create"):  # a local store's write_many writes file by file through `write`
            setattr(Location, name, counted(getattr(Location, name)))


if __name__ == "__main__":
    from sweep.cli.entry import quiet_interrupts, run

    quiet_interrupts()
    install()
    from sweep.cli import app

    sys.argv[0] = "sweep"
    run(app)
