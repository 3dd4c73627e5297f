"""Progress of a run: a live bar in a terminal or a notebook, plain lines elsewhere, and an honest ETA.

- In a terminal, and in Jupyter (rich renders a live display there), a rich.progress bar: cells done of all,
  cells/s, failures, cells running, the ETA. Without a terminal (CI, nohup, a pipe) one plain line every
  PLAIN_EVERY seconds.
- The ETA comes from the plan's per-cell work estimates (sweep.run.plan.estimate_seconds), scaled by the ratio of
  the measured to the estimated time of the cells finished so far, divided among the CPUs still busy:
  ``ETA = (estimated seconds left) * (measured / estimated so far) / min(CPUs, cells left)``. Before the
  first cell finishes the ratio is 1: the plan's estimate, never "nan".
- A closed output (`sweep run ... | head`, a closed terminal: BrokenPipeError, or a write to a closed file)
  never fails a run: the display turns itself off and `closed` says why; the run goes on.
"""

from __future__ import annotations

import errno
import functools
import sys
import time
from typing import Optional

PLAIN_EVERY = 5.0


class Eta:
    """The ETA of a run from per-cell estimates (see the module docstring)."""

    def __init__(self, estimated_left: float, cells_left: int, cpus: int):
        self.left, self.cells_left, self.cpus = float(estimated_left), int(cells_left), max(1, int(cpus))
        self.measured = self.estimated = 0.0

    def finished(self, estimate: float, seconds: float) -> None:
        """A cell of estimated `estimate` seconds finished after `seconds` of computation."""
        self.left = max(0.0, self.left - estimate)
        self.cells_left = max(0, self.cells_left - 1)
        self.measured += max(seconds, 0.0)
        self.estimated += max(estimate, 0.0)

    @property
    def ratio(self) -> float:
        return self.measured / self.estimated if self.estimated > 0 and self.measured > 0 else 1.0

    def seconds(self) -> float:
        if not self.cells_left:
            return 0.0
        return self.left * self.ratio / min(self.cpus, self.cells_left)


def format_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def output_closed(exc: BaseException) -> bool:
    """Whether `exc` is a write to an output nobody reads any more (a closed pipe or file)."""
    return (isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)
            or (isinstance(exc, ValueError) and "closed file" in str(exc)))


def _quiet(method):
    """A display method that turns the display off, instead of raising, when its output was closed."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.closed:
            return None
        try:
            return method(self, *args, **kwargs)
        except (OSError, ValueError) as exc:
            if not output_closed(exc):
                raise
            self.closed = f"{type(exc).__name__}: {exc}"
            self.mode, self._bar = "off", None
            return None

    return wrapper


class RunProgress:
    """The progress display of one run. `mode`: "auto" (a live bar where there is a terminal or a notebook,
    plain lines otherwise), "plain", or "off"."""

    def __init__(self, total: int, already: int, eta: Eta, mode: str = "auto", stream=None):
        self.total, self.already, self.eta = total, already, eta
        self.done = self.failed = self.running = 0
        self.stream = stream or sys.stderr
        self.t0 = time.time()
        self.last = 0.0
        self.mode = mode
        self._bar = None
        self.closed = ""  # why the output was found closed ("" while it is open)
        if mode == "auto":
            from rich.console import Console

            console = Console(file=self.stream)
            if console.is_terminal or console.is_jupyter:
                self._start_bar(console)
            else:
                self.mode = "plain"

    @_quiet
    def _start_bar(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                             console=console, transient=False, refresh_per_second=4)
        self._task = self._bar.add_task("cells", total=self.total, completed=self.already, info=self.info())
        self._bar.start()

    def rate(self) -> float:
        el = time.time() - self.t0
        return self.done / el if el > 0 else 0.0

    def info(self) -> str:
        return (f"{self.rate():.2f} cells/s | {self.running} running | {self.failed} failed | "
                f"ETA {format_seconds(self.eta.seconds())}")

    def line(self) -> str:
        n = self.already + self.done
        return f"{n}/{self.total} cells done, " + self.info()

    @_quiet
    def show(self, force: bool = False) -> None:
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.already + self.done, info=self.info())
            return
        now = time.time()
        if force or now - self.last >= PLAIN_EVERY:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now

    @_quiet
    def note(self, text: str) -> None:
        """A line above the bar (a failed cell, a lost task)."""
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    @_quiet
    def close(self) -> None:
        if self._bar is not None:
            self.show()
            self._bar.stop()
            self._bar = None
        elif self.mode == "plain" and self.last > 0:
            self.show(force=True)


def progress_mode(progress: Optional[bool | str]) -> str:
    """run_sweep's `progress` argument as a RunProgress mode (True: "auto", False: "off")."""
    if progress is True or progress is None:
        return "auto"
    if progress is False:
        return "off"
    if progress not in ("auto", "plain", "off"):
        raise ValueError(f"progress must be True, False, 'auto', 'plain' or 'off', got {progress!r}")
    return progress
