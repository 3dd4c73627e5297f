"""One row per cell of a store, as a pandas DataFrame: coordinates, status, cost, final log-likelihoods and
observables (``sweep table STORE`` prints or writes it).

Not the store's cell-table writer (that is sweep.table): this module only reads a Dataset.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import pandas as pd
import xarray as xr

from . import analysis
from .names import PER_CELL_DIMS, STATISTICS_VARIABLES
from .results import STATUS_NAMES

DEFAULT_OBSERVABLES = ("R", "Q", "FWHM")
"""The observables of a trained store's table when none are asked for."""
XY_ONLY = ("angular_order", "spatial_order")
"""Observables that need XY weights (a `state` dimension)."""
FORMATS = (".csv", ".parquet", ".json")


def observable_name(name: str) -> str:
    """The canonical name in sweep.analysis.OBSERVABLES of `name` (case-insensitive: "fwhm" -> "FWHM");
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


def cells_table(ds: xr.Dataset, observables: Optional[Iterable[str]] = None) -> pd.DataFrame:
    """One row per cell of `ds` (a store's Dataset, or a selection of it), in grid order.

    Columns: every grid coordinate (zipped ones too); ``status`` (pending/running/done/failed), ``attempts``,
    ``wall_time`` (s, of the finishing attempt), ``host``; then for trained stores ``final_epoch`` (the cell's
    last recorded epoch, see sweep.analysis.final_weights; missing for cells with no record),
    ``loglik_train`` and ``loglik_test`` at that epoch (NaN where no exact value), and one column per
    observable of sweep.analysis.OBSERVABLES (R, IPR, Q, FWHM; XY stores also angular_order,
    spatial_order; case-insensitive), its value at the final epoch averaged over the cell's hidden units
    (padded units ignored) [default: R, Q, FWHM]. Statistics stores (train.method: statistics) have
    ``top_eigenvalue`` and ``top_mode_weight`` instead, and no observables. ValueError for an unknown
    observable, or one the store cannot give."""
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
        final = analysis.final_weights(ds["weights"]).load()
        last = final.coords["final_epoch"]
        values["final_epoch"] = pd.array([int(e) if np.isfinite(e) else pd.NA for e in flat(last)], dtype="Int64")
        for v in ("loglik_train", "loglik_test"):
            if v in ds:
                ll = ds[v]
                values[v] = flat(ll.where(ll["epoch"] == last).sum("epoch", min_count=1)).astype(np.float64)
        for n in names:
            values[n] = flat(analysis.order_parameter(final, n, over=("hidden",))).astype(np.float64)
    clash = sorted(set(columns) & set(values))
    if clash:
        raise ValueError(f"grid coordinate(s) {', '.join(clash)} have the name of a table column")
    df = pd.DataFrame({**columns, **values})
    if names:
        df.attrs["observables"] = f"{', '.join(names)}: mean over hidden units at each cell's final epoch"
    return df


def write_cells_table(df: pd.DataFrame, out) -> Path:
    """Write a cells_table to `out` by its suffix: .csv, .json (a list of row objects; NaN as null) or .parquet
    (needs pyarrow or fastparquet). ValueError for another suffix or a missing parquet engine; OSError when
    the file cannot be written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown format {suffix or '(no suffix)'!r}; use .csv, .parquet or .json")
    if suffix == ".parquet" and not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise ValueError(".parquet needs pyarrow, which is not installed (pip install pyarrow); "
                         "or write .csv or .json")
    if suffix == ".csv":
        df.to_csv(out, index=False)
    elif suffix == ".json":
        df.to_json(out, orient="records", indent=1)
    else:
        df.to_parquet(out, index=False)
    return out


__all__ = ["DEFAULT_OBSERVABLES", "FORMATS", "cells_table", "grid_coordinates", "is_statistics_store",
           "observable_name", "write_cells_table"]
