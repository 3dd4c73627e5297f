"""Sweeps of RBM trainings: YAML grids -> Ray tasks -> one Zarr store, queried with xarray.

Python API (the CLI is a thin layer over it):
    run_cell(spec) -> xarray.Dataset            one fully specified cell, no Ray, no store
    run_sweep(path_or_sweep, store=...)         run or resume a sweep (local Ray or a cluster)
    open_results(path) -> xarray.Dataset        the store, lazily
    cells_table(ds) -> pandas.DataFrame         one row per cell: coordinates, status, final observables
    load_sweep(path), parse_sweep(text)         validated sweep files (SpecError on bad input)
    plan(path_or_sweep, store=None) -> Plan     what run_sweep would do, changing nothing (.describe())
    status(store) -> StoreStatus                counts, who runs it, time left, map, failures (.text())
    verify(store, repair=False, sweep=None)     check every cell; repair metadata, mark cells to recompute
    unlock(store, force=False) -> Holder|None   free a store whose driver is gone
    report(store, out) -> Path                  one self-contained HTML report
Each `sweep` command is a short function over these (sweep.cli.commands).
"""

from .config.version import __version__

_API = {"run_cell": "run.cell", "cells_table": "views.table", "run_sweep": "run.runner", "SpecError": "config.sweepfile",
        "load_sweep": "config.sweepfile", "parse_sweep": "config.sweepfile", "open_results": "store.results_store", "plan": "run.plan",
        "status": ("views.status", "store_status"), "verify": "run.maintenance", "unlock": "run.maintenance",
        "report": ("views.report", "write_report")}
"""The API's names and their modules, imported when first used (PEP 562): `import sweep` and the `sweep`
command start in a fraction of a second, and a Ctrl-C at once is no traceback."""


def __getattr__(name):
    if name in _API:
        import importlib

        module, attribute = _API[name] if isinstance(_API[name], tuple) else (_API[name], name)
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))

__all__ = ["SpecError", "__version__", "cells_table", "load_sweep", "open_results", "parse_sweep", "plan", "report",
           "run_cell", "run_sweep", "status", "unlock", "verify"]
