"""Checkpoints of unfinished cells: `checkpoints/<cell>.npz` beside the Zarr hierarchy (npz, no pickle).

Written by the task computing the cell, atomically (sweep.store.location.Location.write: a local file by rename,
an object by one PUT), so a killed task leaves the previous checkpoint or the new one; dropped once the cell's
data landed. A checkpoint is a function of the cell (its training is deterministic), so a rival writer can
only write the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from typing import Optional

import numpy as np

from .location import Location

FOLDER = "checkpoints"


def cell_key(index) -> str:
    """`c3-0-1`: a cell's name in the checkpoint folder."""
    return "c" + "-".join(str(int(i)) for i in index)


def _key(index) -> str:
    return f"{FOLDER}/{cell_key(index)}.npz"


def save(loc: Location, index, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    loc.write(_key(index), buf.getvalue())


def load(loc: Location, index) -> Optional[dict]:
    """The arrays of the cell's checkpoint, None when it has none (or an unreadable one, which is ignored: the
    cell then starts over, to the same bits)."""
    raw = loc.read(_key(index))
    if raw is None:
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return None


def drop(loc: Location, index) -> None:
    loc.delete(_key(index))
