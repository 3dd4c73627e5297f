"""Text reports of a sweep's progress: counts, time, a completion map over two grid axes, failures.

Map symbols (over the cells that share an (x, y) position, other dimensions such as seeds aggregated):
    #  all done     +  some done     R  some running (none failed)     F  some failed     .  all pending
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..config.names import REPLICA_DIMS
from ..store.outcomes import DONE, FAILED, PENDING, RUNNING, STATUS_NAMES

LEGEND = "# all done   + some done   R running   F failed   . pending"


def counts(status: np.ndarray) -> dict:
    return {name: int((status == k).sum()) for k, name in enumerate(STATUS_NAMES)}


def summary(ds: xr.Dataset, driver: str | None = None, driver_known: bool = True, sweep=None) -> str:
    """`<file>: N cells: ... pending, ... running, ... done, ... failed`, who runs the sweep, and the time spent
    and left. `driver`: the live holder of the store's lease (a description), None when no driver holds it:
    cells marked running are then stale (nobody runs them; the next `sweep run` does). `sweep`: the store's
    sweep (a Sweep: ResultsStore.sweep() or stored_sweep(ds)), for the time left from the cells' estimates; None
    for the mean time of a done cell."""
    st = ds["status"].values
    c = counts(st)
    done = st == DONE
    wall = ds["wall_time"].values
    spent = float(np.nansum(wall[done]))
    left = _time_left(sweep, st, spent)
    text = f"{ds.attrs.get('sweep_source', '')}: {st.size} cells: " + ", ".join(f"{v} {k}" for k, v in c.items())
    if driver:
        text += f"\nbeing run by {driver}"
    elif driver_known and c["running"]:
        text += (f"\n{c['running']} running: stale, no driver holds the store (its run was interrupted); "
                 "`sweep run` with the same sweep file resumes them")
    left_text = "unknown (no cell done, no sweep file stored)" if left is None else f"{left:.1f} core-s"
    return text + f"\ntime spent in done cells: {spent:.1f} core-s; estimated left: {left_text}"


def stored_sweep(ds: xr.Dataset):
    """The sweep a store's Dataset holds (its `sweep_yaml` attribute, parsed), None when it holds none that parses
    (an old store). For a Dataset alone: a command that opened the store has it already (ResultsStore.sweep())."""
    from ..config.sweepfile import parse_sweep

    try:
        return parse_sweep(ds.attrs["sweep_yaml"], ds.attrs.get("sweep_source", "<store>"))
    except Exception:  # noqa: BLE001 - no sweep file stored, or one that no longer parses: no per-cell estimates
        return None


def _time_left(sweep, st: np.ndarray, spent: float) -> float | None:
    """Core-seconds left: the plan's per-cell estimates (sweep.run.plan.estimate_seconds) of the cells not done, times
    the measured/estimated ratio of the done ones (1 before any is done), as the run's ETA does. Without the
    store's sweep: the mean time of a done cell times the cells left (None when none is done)."""
    done = st == DONE
    try:
        from ..config.grid import expand
        from ..run.plan import estimate_total

        if sweep is None:
            raise ValueError("no sweep file stored")
        grid = expand(sweep)
        if tuple(grid.shape) != st.shape:
            raise ValueError("the table is not the sweep's grid")
        flat = done.ravel()
        estimated_done = estimate_total(grid, np.flatnonzero(flat)) if flat.any() else 0.0
        ratio = spent / estimated_done if estimated_done > 0 and spent > 0 else 1.0
        return estimate_total(grid, np.flatnonzero(~flat)) * ratio
    except Exception:  # noqa: BLE001 - an old store or no sweep file: the mean of the done cells
        return (st.size - done.sum()) * (spent / done.sum()) if done.sum() else None


def default_axes(dims) -> list:
    """The completion map's axes when none are asked for: the first two grid dimensions that are not replicas
    (replicas are aggregated), or the first ones when there are fewer."""
    dims = list(dims)
    physical = [d for d in dims if d not in REPLICA_DIMS]
    return (physical + [d for d in dims if d in REPLICA_DIMS])[:2]


def _symbol(values: np.ndarray) -> str:
    if (values == FAILED).any():
        return "F"
    if (values == DONE).all():
        return "#"
    if (values == RUNNING).any():
        return "R"
    if (values == DONE).any():
        return "+"
    return "."


def status_map(ds: xr.Dataset, x: str, y: str | None = None) -> str:
    """The completion map: rows are values of `y`, columns values of `x` (one row when `y` is None)."""
    status = ds["status"]
    for d in (x, y):
        if d is not None and d not in status.dims:
            raise ValueError(f"{d!r} is not a grid dimension; dimensions: {', '.join(status.dims)}")
    order = [d for d in (y, x) if d is not None]
    other = [d for d in status.dims if d not in order]
    arr = status.transpose(*order, *other).values
    if y is None:
        arr = arr[np.newaxis]
    xs = [str(v) for v in status[x].values]
    ys = [str(v) for v in status[y].values] if y is not None else [""]
    width = max([len(s) for s in ys] + [len(y or "")])
    lead = f"{x}: "
    lines = [f"{(y or ''):>{width}} | {lead}" + " ".join(xs)]
    for i, label in enumerate(ys):
        cells = [_symbol(arr[i, j]).center(len(xs[j])) for j in range(len(xs))]
        lines.append(f"{label:>{width}} | {' ' * len(lead)}" + " ".join(cells).rstrip())
    lines.append(LEGEND + (f"   (aggregated over {', '.join(other)})" if other else ""))
    return "\n".join(lines)


def failures(ds: xr.Dataset, full: bool = False) -> str:
    """One line per failed cell with the last line of its error, or the whole traceback (`full`)."""
    st = ds["status"].values
    err = ds["error"].values
    dims = ds["status"].dims
    out = []
    for idx in zip(*np.nonzero(st == FAILED)):
        label = ", ".join(f"{d}={ds[d].values[i]}" for d, i in zip(dims, idx))
        text = str(err[idx]).strip()
        lines = text.splitlines()
        out.append(f"failed {label}:\n{text}" if full else f"failed {label}: {lines[-1] if lines else ''}")
    return "\n".join(out)


__all__ = ["LEGEND", "PENDING", "counts", "failures", "status_map", "stored_sweep", "summary"]


@dataclass
class StoreStatus:
    """A store's status at one moment (`sweep.status(store)`, `sweep status STORE`): its Dataset, the live
    holder of its lease (None: no driver holds it), and its sweep (for the time left). `text()` is what
    `sweep status` prints; `counts`, `finished` and the Dataset are there for a notebook."""

    url: str
    dataset: xr.Dataset
    holder: object = None  # sweep.store.lease.Holder, or None
    sweep: object = None  # sweep.config.sweepfile.Sweep, or None for an old store

    @property
    def counts(self) -> dict:
        """Cells per status name: pending, running, done, failed."""
        return counts(self.dataset["status"].values)

    @property
    def finished(self) -> bool:
        """Every cell done or failed (nothing left for a run)."""
        st = self.dataset["status"].values
        return bool(((st == DONE) | (st == FAILED)).all())

    def lease_note(self) -> str:
        """A line about a lease file that does not read (empty when there is none)."""
        h = self.holder
        if h is None or not h.problem:
            return ""
        return (f"lease: {h.key} is not a valid lease ({h.problem}); `sweep run` takes the store over once it is "
                "seen unchanged for a lease period, `sweep unlock` removes it")

    def summary(self) -> str:
        """Counts, who runs the sweep, time spent and left."""
        h = self.holder
        valid = h is not None and not h.problem
        return summary(self.dataset, h.describe() if valid else None, driver_known=h is None, sweep=self.sweep)

    def text(self, axes: list | None = None, tracebacks: bool = False) -> str:
        """What `sweep status` prints: the summary, the completion map over one or two grid dimensions
        (default_axes when None; ValueError for a dimension the grid lacks, or more than two), the lease note and
        the failed cells (with their tracebacks: `tracebacks`)."""
        axes = list(axes) if axes else default_axes(self.dataset["status"].dims)
        if not 1 <= len(axes) <= 2:
            raise ValueError("give one or two grid dimensions, e.g. beta,n_samples")
        parts = [self.summary(), status_map(self.dataset, axes[0], axes[1] if len(axes) > 1 else None),
                 self.lease_note(), failures(self.dataset, full=tracebacks)]
        return "\n".join(p for p in parts if p)


def store_status(store, storage_options: dict | None = None) -> StoreStatus:
    """The status of `store` (a path or URL, or a ResultsStore already opened): raises StoreError for a location
    that holds no usable sweep store (one line, naming what is wrong); the storage environment's failures pass."""
    from ..config.errors import StoreError
    from ..store.lease import live_holder
    from ..store.options import storage_options as options_from_environment
    from ..store.results_store import ResultsStore, open_results

    if isinstance(store, ResultsStore):
        st = store
    else:
        st = ResultsStore(store, options_from_environment(store) if storage_options is None else storage_options)
    state = st.check_usable()
    if state != "store":
        raise StoreError("no sweep store there (expected a Zarr group written by `sweep run`)"
                         + ("; its creation did not finish: `sweep run` creates it again" if state == "incomplete"
                            else ""))
    ds = open_results(st.url, st.storage_options)
    return StoreStatus(st.url, ds, live_holder(st.location), st.sweep())
