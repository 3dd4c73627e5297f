"""The cell table: status, attempts, wall_time, host, error, provenance, seeds and chunk digests of every cell.

Written by the lease holder alone (the driver), in batches: a table chunk spans up to TABLE_CHUNK_CELLS cells,
so each touched chunk is read, updated and rewritten whole, all chunks concurrently, and `status` goes last,
in a second round, after the rest of its rows has landed. The lease is checked before every write: a driver
that lost it writes nothing more (sweep.store.lease.LeaseLost).
"""

from __future__ import annotations

import asyncio
from typing import Optional

import numpy as np
from zarr.core.sync import sync

from .chunks import chunk_region
from .lease import Lease
from .results_store import ResultsStore

READ = ("status", "attempts", "wall_time", "error", "host")


def read_table(store: ResultsStore, names=READ) -> dict:
    """Whole arrays of the table's variables `names`, from the arrays' own metadata."""
    g = store.group("r")
    return {k: g[k][...] for k in names}


class CellTable:
    """Writes rows of a store's cell table, holding `lease` (None only for a store nobody else can see, such
    as one a test builds)."""

    def __init__(self, store: ResultsStore, lease: Optional[Lease]):
        self.store, self.lease = store, lease

    def write(self, rows) -> None:
        """`rows` maps a cell index to {variable: value}; status last (see the module docstring)."""
        rows = {tuple(int(i) for i in idx): fields for idx, fields in dict(rows).items()}
        rest = {idx: {k: v for k, v in f.items() if k != "status"} for idx, f in rows.items()}
        status = {idx: {"status": int(f["status"])} for idx, f in rows.items() if "status" in f}
        for part in (rest, status):
            by_var: dict = {}
            for idx, fields in part.items():
                for var, value in fields.items():
                    by_var.setdefault(var, []).append((idx, value))
            if by_var:
                if self.lease is not None:
                    self.lease.check()
                self._rewrite_chunks(by_var)

    def _rewrite_chunks(self, by_var: dict) -> None:
        jobs = []
        for var, items in by_var.items():
            a = self.store.array(var)
            groups: dict = {}
            for idx, value in items:
                groups.setdefault(tuple(i // c for i, c in zip(idx, a.chunks)), []).append((idx, value))
            jobs += [(a, chunk_region(key, a.chunks, a.shape), members) for key, members in groups.items()]

        async def rewrite(a, sel, members):
            block = np.array(await a.async_array.getitem(sel))
            for idx, value in members:
                block[tuple(i - s.start for i, s in zip(idx, sel))] = value
            await a.async_array.setitem(sel, block)

        async def rewrite_all():
            await asyncio.gather(*(rewrite(*job) for job in jobs))

        sync(rewrite_all())

    def reset(self, name: str, sel: tuple, fill) -> None:
        """Rewrite the region `sel` of table variable `name` with its fill value (a corrupt chunk: its cells are
        recomputed)."""
        if self.lease is not None:
            self.lease.check()
        a = self.store.group("r+")[name]
        shape = tuple(s_.stop - s_.start for s_ in sel) + tuple(a.shape[len(sel):])  # chunk_digest: [G, variable]
        a[sel] = np.full(shape, fill, dtype=object if a.dtype.kind in "OUT" else a.dtype)
