"""Text reports of a sweep's progress: counts, time, a completion map over two grid axes, failures.

Map symbols (over the cells that share an (x, y) position, other dimensions such as seeds aggregated):
    #  all done     +  some done     R  some running (none failed)     F  some failed     .  all pending
"""

from __future__ import annotations

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
