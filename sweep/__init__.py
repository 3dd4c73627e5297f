"""Sweeps of RBM trainings: YAML grids -> Ray tasks -> one Zarr store, queried with xarray.

Python API (the CLI is a thin layer over it):
    run_cell(spec) -> xarray.Dataset            one fully specified cell, no Ray, no store
    run_sweep(path_or_sweep, store=...)         run or resume a sweep (local Ray or a cluster)
    open_results(path) -> xarray.Dataset        the store, lazily
    cells_table(ds) -> pandas.DataFrame         one row per cell: coordinates, status, final observables
    load_sweep(path), parse_sweep(text)         validated sweep files (SpecError on bad input)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rbm-sweep")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0+unknown"

from .cell import run_cell  # noqa: E402
from .cells import cells_table  # noqa: E402
from .runner import run_sweep  # noqa: E402
from .spec import SpecError, load_sweep, parse_sweep  # noqa: E402
from .store import open_results  # noqa: E402

__all__ = ["SpecError", "__version__", "cells_table", "load_sweep", "open_results", "parse_sweep", "run_cell", "run_sweep"]
