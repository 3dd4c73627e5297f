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

_API = {"run_cell": "cell", "cells_table": "cells", "run_sweep": "runner", "SpecError": "spec", "load_sweep": "spec",
        "parse_sweep": "spec", "open_results": "store"}
"""The API's names and their modules, imported when first used (PEP 562): `import sweep` and the `sweep`
command start in a fraction of a second, and a Ctrl-C at once is no traceback."""


def __getattr__(name):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))

__all__ = ["SpecError", "__version__", "cells_table", "load_sweep", "open_results", "parse_sweep", "run_cell", "run_sweep"]
