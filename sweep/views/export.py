"""Writing a selection of a store to a file: NetCDF (.nc), CSV (.csv) or JSON (.json); and how every output file
of the package (exports, tables, reports, plots) is written: :func:`write_atomically`.

Output files: the folder must exist (none is created: a typo must not make folders, `/nonexistent/x.png` is
refused); a path in the system's device folders (/dev, /proc, /sys) or that is not a regular file (a device, a
FIFO, a folder) is refused; the file is written to a temporary file in the same folder, then renamed over the
target, so a full disk or a crash leaves the old file or none, never a torn one. Refusals are
:class:`OutputError` (a ValueError); a failing write (ENOSPC, EROFS, EACCES) is the OSError itself.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

FORMATS = (".nc", ".csv", ".json")
SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")
"""Folders of the system (devices, kernel interfaces) where no output file belongs."""


class OutputError(ValueError):
    """An output path refused before anything is written; the message says why."""


def _in_system_folder(folder: str) -> bool:
    real = os.path.realpath(folder)
    return any(real == f or real.startswith(f + "/") for f in SYSTEM_FOLDERS)


def check_output(out) -> Path:
    """`out` as a Path after refusing (OutputError) a path whose folder does not exist, lies in a system folder
    (SYSTEM_FOLDERS) or that exists and is not a regular file."""
    out = Path(out)
    folder = out.parent
    if _in_system_folder(str(folder)):
        raise OutputError(f"{folder} is a system folder (devices, kernel files), not a place for output files")
    if not folder.is_dir():
        raise OutputError(f"the folder {folder} does not exist (it is not created: make it first)"
                          if not folder.exists() else f"{folder} is not a folder")
    try:
        mode = os.stat(out).st_mode
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise OutputError(f"cannot check it: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device or another special file"
        raise OutputError(f"cannot write: it is {kind}, not a regular file")
    return out


def write_atomically(out, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temporary path in `out`'s folder (same suffix), then rename it to `out`
    (check_output first). A failure removes the temporary file and re-raises: `out` is left as it was."""
    out = check_output(out)
    tmp = out.parent / f".{out.stem}.{uuid.uuid4().hex[:12]}.partial{out.suffix}"
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out


def write_failure(exc: OSError) -> str:
    """One line for an output write that failed: the cause in words, with its errno name where there is one."""
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if code else ""
    lines = str(exc).splitlines()
    reason = exc.strerror or (lines[0] if lines else type(exc).__name__)
    return f"{reason} ({name})" if name and name not in reason else reason


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
    """Write `ds` (loaded) to `out` by its suffix, atomically (write_atomically); raises ValueError for an unknown
    suffix or a refused path (OutputError), OSError when the file cannot be written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown format {suffix!r}; use .nc, .csv or .json")
    if suffix == ".nc":
        ready = netcdf_ready(ds)
        return write_atomically(out, lambda tmp: ready.to_netcdf(tmp))
    if suffix == ".csv":
        frame = ds.to_dataframe()
        return write_atomically(out, lambda tmp: frame.to_csv(tmp))
    text = json.dumps(ds.to_dict(data="list"), default=str)
    return write_atomically(out, lambda tmp: tmp.write_text(text))
