"""Writing a selection of a store to a file: NetCDF (.nc), CSV (.csv) or JSON (.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

FORMATS = (".nc", ".csv", ".json")


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """A copy that NetCDF-3 (scipy) can hold: scalar or string attributes, byte strings, no 64-bit unsigned
    ints (seeds become text), no Zarr encodings."""

    def attrs(a):
        return {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)) for k, v in a.items()}

    ds = ds.copy()
    ds.attrs = attrs(ds.attrs)
    for name in list(ds.variables):
        ds[name].encoding = {}  # the Zarr encodings (uint64 fill values, codecs) do not apply to NetCDF
        var = ds[name]
        if var.dtype.kind in "UTO" or var.dtype == np.uint64:
            raw = np.array([str(x).encode() for x in np.ravel(var.values)] or [b""]).reshape(var.shape)
            ds[name] = var.copy(data=raw)
        ds[name].attrs = attrs(var.attrs)
    return ds


def export(ds: xr.Dataset, out) -> Path:
    """Write `ds` (loaded) to `out` by its suffix; raises ValueError for an unknown suffix, OSError when the
    file cannot be written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown format {suffix!r}; use .nc, .csv or .json")
    if suffix == ".nc":
        netcdf_ready(ds).to_netcdf(out)
    elif suffix == ".csv":
        ds.to_dataframe().to_csv(out)
    else:
        out.write_text(json.dumps(ds.to_dict(data="list"), default=str))
    return out
