"""The one seam between the runner and what executes cells, as Hydra's `Launcher`: start (or join), submit a
batch of cells, wait for batches, collect each one's outcome, cancel, close.

The runner (sweep.run.runner) holds the store's lease, plans, writes the cell table and decides what to send;
a launcher only runs batches, each with the same task body (sweep.run.tasks.execute_batch), so every launcher
writes the same bits into the same store. Two implementations:

- sweep.run.ray_launcher.RayLauncher ("ray", the default): local Ray or a cluster, batches as Ray tasks;
- sweep.run.serial_launcher.SerialLauncher ("serial"): this process, one batch after the other, no Ray (to
  debug a cell under pdb, or to test the runner without Ray).

What goes wrong under a batch reaches the runner as one of the launcher-neutral errors below, whatever the
launcher: BatchFailed (the batch did not come back: its task raised, or its worker was lost beyond the
launcher's retries), NodeLost (the node that ran it died), ExecutorLost (the executor itself failed: no batch
will come back); and ClusterUnreachable from `start`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Hashable, Optional, Sequence

from ..store.outcomes import BatchOutcome


class ClusterUnreachable(ConnectionError):
    """A Ray cluster that cannot be joined (nothing at its address, a refused token, `--address auto` with no
    cluster of this user's): the message says how."""


class BatchFailed(Exception):
    """A batch that did not come back: its task raised (the task's exception is the `__cause__`, so
    sweep.store.location.environment_failure sees a storage failure through it) or its worker was lost beyond
    the launcher's retries. str(): what happened, `TypeName: message`, as recorded for a failed cell."""


class ExecutorLost(BatchFailed):
    """The executor failed under the batch, not its cells (Ray's local raylet died, a Ray system error): no
    further batch will come back. str(): what failed, in a few words with the error's first line."""


class NodeLost(ExecutorLost):
    """The node that ran the batch died (beyond the launcher's retries); its cells may run on another node."""


@dataclass(frozen=True)
class NodeProbe:
    """One node's answer to the storage probe (sweep.run.tasks.probe_store): `where` names the node for people;
    `problem` is why it cannot run this run's cells (it does not see the store, it did not answer), None when it
    can; `contract` is the bit-identity contract its workers reported (sweep.run.provenance.contract), None when
    it did not answer."""

    where: str
    problem: Optional[str]
    contract: Optional[dict]


Handle = Hashable
"""A submitted batch, as a launcher names it (Ray: its ObjectRef): opaque to the runner, usable as a dict key."""


class Launcher(abc.ABC):
    """Runs batches of cells for the runner. One run uses one launcher: `start` once, then any number of
    `submit` / `wait` / `outcome` / `cancel`, then `close` (also after an error or an interrupt)."""

    name = "launcher"
    """How `sweep run --launcher` names it ("ray", "serial")."""

    @abc.abstractmethod
    def start(self, address: Optional[str], num_cpus: Optional[int], max_retries: int) -> None:
        """Start the executor, or join it: `address` a cluster to join (None: start one for this run, or join the
        one this process already joined), `num_cpus` the CPUs of a started one (None: all), `max_retries` the
        launcher's retries of a batch whose worker or node was lost. Raises ClusterUnreachable (a cluster that
        cannot be joined), ValueError (an argument this launcher cannot honour)."""

    @abc.abstractmethod
    def cpus(self) -> int:
        """The CPUs that run batches (at least 1): sizes the batches and the default number in flight."""

    @abc.abstractmethod
    def probe_nodes(self, url: str, storage_options: Optional[dict], token: str, timeout: float) -> list[NodeProbe]:
        """Run the storage probe (sweep.run.tasks.probe_store with these arguments) once on every node that can run
        batches, waiting at most `timeout` seconds; one NodeProbe per node ([] when there is no such node)."""

    @abc.abstractmethod
    def submit(self, url: str, storage_options: Optional[dict], cells: Sequence) -> Handle:
        """Send a batch: sweep.run.tasks.execute_batch(url, storage_options, cells, sweep.run.tasks.execute_cell,
        attempt) runs it, now or later; returns its handle at once."""

    @abc.abstractmethod
    def wait(self, handles: Sequence[Handle], timeout: float) -> list[Handle]:
        """Wait up to `timeout` seconds for at least one of `handles` to finish; return every one of them finished
        by then (maybe none), each to be collected with `outcome`. A launcher that runs batches in the caller's
        process runs the oldest unfinished one to its end instead, whatever the timeout. A KeyboardInterrupt
        raised meanwhile propagates."""

    @abc.abstractmethod
    def outcome(self, handle: Handle) -> BatchOutcome:
        """The outcome of a finished batch (returned by `wait`), collected once; raises BatchFailed, or its
        subclasses ExecutorLost and NodeLost, when the batch did not come back."""

    @abc.abstractmethod
    def cancel(self, handles: Sequence[Handle]) -> None:
        """Abandon these batches: those not started never start, those running are interrupted where the
        launcher can; their outcomes are never collected. Never raises."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the run's use of the launcher: batches not collected are forgotten. The executor may stay for the
        process's next run (Ray does: the `sweep` command stops it as it exits, sweep.run.raycompat.stop_ray).
        Never raises."""


LAUNCHERS = ("ray", "serial")
"""The names `sweep run --launcher` and `run_sweep(launcher=...)` accept."""
