"""One row per cell of a store, as a pandas DataFrame: coordinates, status, cost, final log-likelihoods and
observables (``sweep table STORE`` prints or writes it).

Not the store's cell-table writer (that is sweep.store.cell_table): this module only reads a Dataset.

Bounded memory: the per-cell columns that need weights (final epoch, log-likelihoods at it, observables) are
computed cell-batch by cell-batch, each batch sized so that its weights (every recorded epoch of a cell: a cell's
chunk is read whole) and the observables' work fit in half the memory available now (sweep.run.memory); a store
whose single cell does not fit is refused (:class:`DoesNotFit`), and ``observables=[]`` gives the table without
reading any weight.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pandas as pd
import xarray as xr

from ..science import analysis
from ..run.memory import available_memory, nbytes
from ..config.names import PER_CELL_DIMS, STATISTICS_VARIABLES
from ..store.outcomes import STATUS_NAMES

DEFAULT_OBSERVABLES = ("R", "Q", "FWHM")
"""The observables of a trained store's table when none are asked for."""
XY_ONLY = ("angular_order", "spatial_order")
"""Observables that need XY weights (a `state` dimension)."""
FORMATS = (".csv", ".parquet", ".json")
WORK_PER_VALUE = 64
"""Bytes of work per final weight in the observables (float64 copies, validity masks, complex moments)."""


class DoesNotFit(ValueError):
    """A cell whose weights and observables need more memory than is available; the message gives the numbers."""


def observable_name(name: str) -> str:
    """The canonical name in sweep.science.analysis.OBSERVABLES of `name` (case-insensitive: "fwhm" -> "FWHM");
    ValueError for an unknown one."""
    names = {k.lower(): k for k in analysis.OBSERVABLES}
    key = names.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown observable {name!r}: choose one of {', '.join(analysis.OBSERVABLES)}")
    return key


def is_statistics_store(ds: xr.Dataset) -> bool:
    """Whether `ds` holds data statistics (train.method: statistics) rather than trained weights."""
    return "weights" not in ds and all(v in ds for v in STATISTICS_VARIABLES)


def grid_coordinates(ds: xr.Dataset) -> list:
    """Names of the coordinates that label cells: every grid dimension's, each followed by the coordinates
    zipped along it, then any other coordinate over grid dimensions only (scalars left by a selection)."""
    cell_dims = set(ds["status"].dims)
    eligible = [n for n in ds.coords if n not in PER_CELL_DIMS and set(ds[n].dims) <= cell_dims]
    order = [str(d) for d in ds.attrs.get("grid_dims", ())] + [d for d in ds["status"].dims]
    names = []
    for d in order:
        for n in [d] + [n for n in eligible if ds[n].dims == (d,)]:
            if n in eligible and n not in names:
                names.append(n)
    return names + [n for n in eligible if n not in names]


def cells_table(ds: xr.Dataset, observables: Optional[Iterable[str]] = None,
                memory: Optional[int] = None) -> pd.DataFrame:
    """One row per cell of `ds` (a store's Dataset, or a selection of it), in grid order.

    Columns: every grid coordinate (zipped ones too); ``status`` (pending/running/done/failed), ``attempts``,
    ``wall_time`` (s, of the finishing attempt), ``host``; then for trained stores ``final_epoch`` (the cell's
    last recorded epoch, see sweep.science.analysis.final_weights; missing for cells with no record),
    ``loglik_train`` and ``loglik_test`` at that epoch (NaN where no exact value), and one column per
    observable of sweep.science.analysis.OBSERVABLES (R, IPR, Q, FWHM; XY stores also angular_order,
    spatial_order; case-insensitive), its value at the final epoch averaged over the cell's hidden units
    (padded units ignored) [default: R, Q, FWHM]. Statistics stores (train.method: statistics) have
    ``top_eigenvalue`` and ``top_mode_weight`` instead, and no observables. ValueError for an unknown
    observable, or one the store cannot give. The weights are read cell-batch by cell-batch within `memory` bytes
    (default: half the memory available now); DoesNotFit (a ValueError) when one cell does not fit; with
    ``observables=[]`` no weight is read (``final_epoch`` and the log-likelihoods then come from the
    log-likelihoods' records)."""
    if "status" not in ds:
        raise ValueError("not a sweep store's Dataset: it has no 'status' variable")
    statistics = is_statistics_store(ds)
    if not statistics and "weights" not in ds:
        raise ValueError(f"the dataset has neither weights nor {' nor '.join(STATISTICS_VARIABLES)}")
    if statistics:
        if observables:
            raise ValueError("a statistics store (train.method: statistics) has no weights, so no observables; "
                             f"its table shows {', '.join(STATISTICS_VARIABLES)}")
        names = []
    else:
        names = [observable_name(o) for o in (DEFAULT_OBSERVABLES if observables is None else observables)]
        names = list(dict.fromkeys(names))
        for n in names:
            if n in XY_ONLY and "state" not in ds["weights"].dims:
                raise ValueError(f"{n} needs XY weights (a 'state' dimension); this store is Ising")

    status = ds["status"]
    cell_dims = status.dims

    def flat(da) -> np.ndarray:
        return np.ravel(np.asarray(da.broadcast_like(status).transpose(*cell_dims).values))

    columns = {n: flat(ds[n]) for n in grid_coordinates(ds)}
    codes = flat(status).astype(np.int64)
    values = {"status": pd.Categorical.from_codes(codes, categories=list(STATUS_NAMES)),
              "attempts": flat(ds["attempts"]).astype(np.int64),
              "wall_time": flat(ds["wall_time"]).astype(np.float64),
              "host": np.array([str(h) for h in flat(ds["host"])], dtype=object)}
    if statistics:
        for v in STATISTICS_VARIABLES:
            values[v] = flat(ds[v]).astype(np.float64)
    else:
        values.update(_final_columns(ds, names, memory))
    clash = sorted(set(columns) & set(values))
    if clash:
        raise ValueError(f"grid coordinate(s) {', '.join(clash)} have the name of a table column")
    df = pd.DataFrame({**columns, **values})
    if names:
        df.attrs["observables"] = f"{', '.join(names)}: mean over hidden units at each cell's final epoch"
    return df


def _final_columns(ds: xr.Dataset, names: list, memory: Optional[int]) -> dict:
    """final_epoch, loglik_train / loglik_test at it, and the observables `names` (mean over hidden units of the
    final weights), flat in grid order, computed in batches of cells (see the module docstring)."""
    status = ds["status"]
    cell_dims, shape, n = status.dims, status.shape, status.size
    w = ds["weights"]
    inner = [d for d in w.dims if d not in cell_dims]
    if "epoch" not in inner:
        raise ValueError(f"the weights have no 'epoch' dimension ({', '.join(map(str, w.dims))})")
    inner = ["epoch"] + [d for d in inner if d != "epoch"]
    w = w.transpose(*cell_dims, *inner)
    sizes = [w.sizes[d] for d in inner]
    n_epochs, per_final = sizes[0], int(np.prod(sizes[1:], dtype=np.int64))
    epochs = np.asarray(w["epoch"].values if "epoch" in w.coords else np.arange(n_epochs), dtype=np.float64)
    logliks = [v for v in ("loglik_train", "loglik_test") if v in ds]
    # without observables, the records are found from the log-likelihoods (one value an epoch), not the weights
    probe = ds[logliks[0]].transpose(*cell_dims, "epoch") if not names and logliks else w
    chunk = int(np.prod([probe.sizes[d] for d in probe.dims if d not in cell_dims], dtype=np.int64)) \
        * probe.dtype.itemsize
    per_cell = 2 * chunk + (WORK_PER_VALUE * per_final if names else 0) + 16 * n_epochs  # one observable at a time
    budget = available_memory() // 2 if memory is None else int(memory)
    if per_cell > budget:
        what = f"{' x '.join(map(str, sizes))} values over ({', '.join(inner)})"
        raise DoesNotFit(f"one cell's weights are {nbytes(chunk)} uncompressed ({what}) and its observables need "
                         f"about {nbytes(per_cell)} in all, more than the {nbytes(budget)} of memory this table may "
                         "use; --observable none gives the table without them")
    batch = max(1, min(n, budget // max(per_cell, 1)))
    last_all = np.zeros(n, dtype=np.int64)
    recorded_all = np.zeros(n, dtype=bool)
    out = {k: np.full(n, np.nan) for k in logliks + list(names)}
    for start in range(0, n, batch):
        flat_idx = np.arange(start, min(n, start + batch))
        where = {d: xr.DataArray(i, dims="cell") for d, i in zip(cell_dims, np.unravel_index(flat_idx, shape))}
        block = np.asarray(probe.isel(where).values)  # (cells, epoch, ...): each cell's chunk, read once
        k = len(flat_idx)
        has = np.isfinite(block.reshape(k, n_epochs, -1)).any(-1)
        recorded = has.any(-1)
        last = np.where(recorded, n_epochs - 1 - np.argmax(has[:, ::-1], axis=-1), 0) if n_epochs else \
            np.zeros(k, dtype=np.int64)
        last_all[flat_idx], recorded_all[flat_idx] = last, recorded
        for v in logliks:
            ll = np.asarray(ds[v].transpose(*cell_dims, "epoch").isel(where).values, dtype=np.float64)
            got = ll[np.arange(k), last] if n_epochs else np.full(k, np.nan)
            out[v][flat_idx] = np.where(recorded, got, np.nan)
        if names:
            final = block[np.arange(k), last].astype(np.float64)
            final[~recorded] = np.nan
            da = xr.DataArray(final, dims=["cell"] + inner[1:])
            for name in names:
                out[name][flat_idx] = np.asarray(analysis.order_parameter(da, name, over=("hidden",)).values,
                                                 dtype=np.float64)
        del block
    final_epoch = np.where(recorded_all, epochs[last_all] if n_epochs else np.nan, np.nan)
    columns = {"final_epoch": pd.array([int(e) if np.isfinite(e) else pd.NA for e in final_epoch], dtype="Int64")}
    columns.update(out)
    return columns


def write_cells_table(df: pd.DataFrame, out) -> Path:
    """Write a cells_table to `out` by its suffix: .csv, .json (a list of row objects; NaN as null) or .parquet
    (needs pyarrow or fastparquet), atomically (sweep.views.export.write_atomically). ValueError for another suffix, a
    missing parquet engine or a refused path; OSError when the file cannot be written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown format {suffix or '(no suffix)'!r}; use .csv, .parquet or .json")
    if suffix == ".parquet" and not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise ValueError(".parquet needs pyarrow, which is not installed (pip install pyarrow); "
                         "or write .csv or .json")
    from .export import write_atomically

    if suffix == ".csv":
        return write_atomically(out, lambda tmp: df.to_csv(tmp, index=False))
    if suffix == ".json":
        return write_atomically(out, lambda tmp: df.to_json(tmp, orient="records", indent=1))
    return write_atomically(out, lambda tmp: df.to_parquet(tmp, index=False))


__all__ = ["DEFAULT_OBSERVABLES", "DoesNotFit", "FORMATS", "cells_table", "grid_coordinates", "is_statistics_store",
           "observable_name", "write_cells_table"]
