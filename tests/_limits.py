"""Time limits of the tests, stretched by the machine's load (a helper module of the tests).

A test that waits for a subprocess or a server must give up some time, or a hang would never fail; but a fixed
limit judges the machine, not the code: on a shared 2-core machine at a load of 6 a run that takes 40 s alone
takes 120 s. So every such limit is given here as the time it needs on an idle machine, and stretched:

    limit = seconds x SWEEP_TEST_TIME_FACTOR x min(CAP, max(1, load / cores))

with `load` the highest 1-minute load average seen while waiting (`Deadline` looks again at every check), so
a load that rises mid-wait still counts. CAP keeps a hang failing: no limit grows beyond CAP times its idle
value (times the factor). `SWEEP_TEST_TIME_FACTOR` (default 1) is for a machine slower than its load says.
"""

from __future__ import annotations

import os
import subprocess
import time

CAP = 6.0


def factor() -> float:
    try:
        return max(0.1, float(os.environ.get("SWEEP_TEST_TIME_FACTOR", "1")))
    except ValueError:
        raise ValueError(f"SWEEP_TEST_TIME_FACTOR must be a number, got {os.environ['SWEEP_TEST_TIME_FACTOR']!r}")


def load_ratio() -> float:
    """The 1-minute load average per core, at least 1 (1 where the system does not tell)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return 1.0
    return max(1.0, load / (os.cpu_count() or 1))


def scaled(seconds: float) -> float:
    """`seconds` stretched by the load now (see the module docstring)."""
    return seconds * factor() * min(CAP, load_ratio())


class Deadline:
    """A limit of `seconds` on an idle machine, started now, stretched by the highest load seen until it ends."""

    def __init__(self, seconds: float):
        self.seconds, self.start, self.ratio = seconds, time.monotonic(), load_ratio()

    def limit(self) -> float:
        self.ratio = max(self.ratio, load_ratio())
        return self.seconds * factor() * min(CAP, self.ratio)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.limit() - self.elapsed()

    def expired(self) -> bool:
        return self.left() <= 0

    def __str__(self) -> str:
        return f"{self.limit():.0f} s ({self.seconds:g} s idle, load {self.ratio:.1f} per core)"


def communicate(proc: subprocess.Popen, seconds: float, input=None):
    """`proc.communicate()` within a `Deadline(seconds)`; subprocess.TimeoutExpired (the process left running,
    as communicate leaves it) once the deadline passes."""
    deadline = Deadline(seconds)
    while True:
        try:
            return proc.communicate(input, timeout=max(0.01, min(2.0, deadline.left())))
        except subprocess.TimeoutExpired:
            input = None  # sent on the first call; communicate keeps what it had not written yet
            if deadline.expired():
                raise subprocess.TimeoutExpired(proc.args, deadline.limit()) from None


def wait(proc: subprocess.Popen, seconds: float) -> int:
    """`proc.wait()` within a `Deadline(seconds)`; subprocess.TimeoutExpired once it passes."""
    deadline = Deadline(seconds)
    while True:
        try:
            return proc.wait(timeout=max(0.01, min(2.0, deadline.left())))
        except subprocess.TimeoutExpired:
            if deadline.expired():
                raise subprocess.TimeoutExpired(proc.args, deadline.limit()) from None


def run(args, seconds: float, **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run(args, **kwargs)` within a `Deadline(seconds)`: on expiry the process is killed and
    subprocess.TimeoutExpired raised, as subprocess.run does with a fixed timeout."""
    input = kwargs.pop("input", None)
    if kwargs.pop("capture_output", False):
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with subprocess.Popen(args, **kwargs) as proc:
        try:
            out, err = communicate(proc, seconds, input)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
