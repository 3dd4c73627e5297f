"""Checking a store, and repairing it: metadata, every chunk of every cell, stray partial files.

:func:`verify` reports
- metadata problems: every array's `zarr.json` present and as the store's sweep lays it out, the coordinates,
  and the root's consolidated listing consistent with the arrays (sweep.store.layout.metadata_problems); root
  attributes that do not read (`environment`, `runs`);
- corrupt chunks (checksum or decoding errors), as the cells they hold; in stores with chunk digests, every
  done cell's data chunks against the digests its row records (sweep.store.chunks.chunk_digest: content and place),
  so a chunk moved or copied from another cell, rewritten with a recomputed CRC, or missing is a corrupt cell
  too (stores made before digests: `notes` says once that these place checks are unavailable); torn cells
  (status done, data missing); stray `*.partial` files (a writer killed mid-write). While a live driver holds
  the store, its `*.partial` files are writes in flight, not stray: they are counted in `in_flight` only.
With `repair` (holding the lease: refused while a run holds the store): metadata restored from the sweep,
corrupt or torn cells marked pending (`sweep run` recomputes exactly them, to identical bits), a corrupt table
chunk rewritten (its cells recomputed), partial files removed; a `runs` or `environment` attribute that does not
read is kept aside (`runs_unreadable`, `environment_unreadable`) and replaced by an empty one: the next run then
finds the environment unrecorded and refuses without --allow-env-change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import zarr

from .chunks import chunk_digest, chunk_regions, fast_chunk_values, fast_codecs, table_chunks
from .layout import TABLE_ARRAYS, Problem, expected_files, has_digests, metadata_problems, restore_metadata, table_fill
from .lease import Lease, live_holder
from ..config.names import DIGEST, DIGEST_DIM
from .outcomes import DONE, PENDING
from .results_store import ROOT, ResultsStore
from .cell_table import CellTable


@dataclass
class Report:
    cells: int = 0
    metadata: list = field(default_factory=list)  # [Problem]
    corrupt: dict = field(default_factory=dict)  # cell index -> ["variable: error", ...]
    torn: list = field(default_factory=list)  # cell indices
    partial_files: list = field(default_factory=list)  # keys
    in_flight: list = field(default_factory=list)  # keys of partial files of the live driver (not problems)
    notes: list = field(default_factory=list)  # remarks said once (not problems)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not (self.metadata or self.corrupt or self.torn or self.partial_files)


def is_partial(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.endswith(".partial") or ".partial." in name


NO_DIGESTS = ("this store was made before chunk digests: its chunks are checked against their checksums only, "
              "not against their place (a chunk moved or copied from another cell is not found)")
MOVED = "its chunk is not the one recorded for this cell (moved or copied from another cell, or rewritten)"


def verify(store: ResultsStore, repair: bool = False, lease: Optional[Lease] = None) -> Report:
    """Check the store (see the module docstring); with `repair`, mend what was found (`lease` held)."""
    if repair and lease is None:
        raise ValueError("repair needs the store's lease")
    rep = Report()
    bad_attrs = store.attribute_problems()
    rep.metadata = [Problem(ROOT, "attributes", detail) for _, detail in bad_attrs]
    expected = expected_files(store)
    rep.metadata += metadata_problems(store, expected)
    broken = {p.key.rsplit("/", 1)[0] for p in rep.metadata if p.kind in ("missing", "unreadable", "differs")}
    if repair and rep.metadata:
        restore_metadata(store, [p for p in rep.metadata if p.kind != "attributes"], lease, expected)
        if bad_attrs:
            attrs = store.attrs()
            lease.check()
            store.update_root_attrs(**{name: "[]" if name == "runs" else "{}" for name, _ in bad_attrs},
                                    **{f"{name}_unreadable": str(attrs.get(name)) for name, _ in bad_attrs})
        broken = set()  # restored: its chunks are checked below
    dims = store.dims()
    arrays = {}  # the arrays with readable metadata, opened one by one (a broken one must not hide the others)
    for key in expected:
        name = key[:-len("/zarr.json")] if key.endswith("/zarr.json") else None
        if name is None or name in broken:
            continue
        try:
            arrays[name] = zarr.open_array(store.location.zarr_store(), path=name, mode="r")
        except Exception as exc:  # noqa: BLE001 - unreadable metadata is a metadata problem
            rep.metadata.append(Problem(key, "unreadable", f"{name}: {type(exc).__name__}: {str(exc)[:120]}"))
    shape = tuple(json.loads(expected["status/zarr.json"].decode())["shape"])
    rep.cells = int(np.prod(shape))
    per_cell = [name for name, a in arrays.items() if tuple(a.metadata.dimension_names or ())[:len(dims)] == dims]
    direct = [name for name in per_cell if name not in TABLE_ARRAYS and name != DIGEST and fast_codecs(arrays[name])
              and arrays[name].chunks[:len(dims)] == (1,) * len(dims)]
    broken_table = []  # (variable, selection) of corrupt chunks of the cell table: rewritten by repair
    status = np.full(shape, -1, dtype=np.int8)
    probe = "weights" if "weights/zarr.json" in expected else "top_eigenvalue"
    has_data = np.zeros(shape, dtype=bool)
    digest_vars = None
    if not has_digests(store.attrs()):
        rep.notes.append(NO_DIGESTS)
    elif DIGEST in arrays and DIGEST_DIM in arrays:
        digest_vars = {str(v): j for j, v in enumerate(np.asarray(arrays[DIGEST_DIM][...]).tolist())}
        digests = np.zeros(shape + (len(digest_vars),), dtype=np.uint64)
        known = np.zeros(shape, dtype=bool)  # cells whose digest chunk decoded
    region = table_chunks(shape)  # read up to 1024 cells at once; chunk by chunk only where that fails
    for name in [n for n in per_cell if n not in direct]:  # the cell table first: the data are checked against it
        a = arrays[name]
        for outer in chunk_regions(region, shape):
            try:
                parts = [(outer, a[outer])]
            except Exception:  # noqa: BLE001 - find the corrupt chunks inside
                parts = _read_chunks(a, outer, name, rep.corrupt, broken_table)
            for sel, block in parts:
                if name == "status":
                    status[sel] = block
                elif name == probe:
                    has_data[sel] = np.isfinite(block).reshape(block.shape[:len(dims)] + (-1,)).any(-1)
                elif name == DIGEST and digest_vars is not None and block.shape[len(dims):] == (len(digest_vars),):
                    digests[sel] = block
                    known[sel] = True
    unrecorded = set()  # done cells whose row records no digest (written without one): checksums only
    for name in direct:  # one object per cell: read directly
        a = arrays[name]
        j = None if digest_vars is None else digest_vars.get(name)
        for idx, values, err, digest in _read_cell_chunks(store, a, shape):
            if err is not None:
                rep.corrupt.setdefault(idx, []).append(f"{name}: {err}")
                continue
            if name == probe and values is not None:
                has_data[idx] = bool(np.isfinite(values).any())
            if j is None or status[idx] != DONE or not known[idx]:
                continue
            recorded = int(digests[idx + (j,)])
            if digest is None:
                if recorded and name != probe:  # a missing probe chunk is a torn cell (below)
                    rep.corrupt.setdefault(idx, []).append(f"{name}: its chunk is missing")
            elif recorded == 0:
                unrecorded.add(idx)
            elif recorded != digest:
                rep.corrupt.setdefault(idx, []).append(f"{name}: {MOVED}")
    if unrecorded:
        rep.notes.append(f"{len(unrecorded)} done cells have no chunk digests recorded in their rows: their chunks are "
                         "checked against their checksums only")
    if probe in arrays:
        rep.torn = [tuple(int(i) for i in idx) for idx in zip(*np.nonzero((status == DONE) & ~has_data))
                    if tuple(int(i) for i in idx) not in rep.corrupt]
    rep.corrupt = {tuple(int(i) for i in k): v for k, v in rep.corrupt.items()}
    partials = [k for k in store.location.files() if is_partial(k)]
    if partials and not repair and live_holder(store.location) is not None:
        rep.in_flight = partials  # the running driver's writes in flight
    else:
        rep.partial_files = partials
    if repair and (rep.corrupt or rep.torn or rep.partial_files or rep.metadata):
        table = CellTable(store, lease)
        for name, sel in broken_table:  # a fresh chunk: every cell it holds is recomputed
            table.reset(name, sel, table_fill(name))
        table.write({idx: {"status": PENDING, "error": "marked for recomputation by `sweep verify --repair`"}
                     for idx in list(rep.corrupt) + rep.torn})
        lease.check()
        store.location.delete_many(rep.partial_files)
        rep.repaired = True
    return rep


def cell_label(store: ResultsStore, idx: tuple) -> str:
    """A cell named by its coordinate values, `beta=0.5, seed=1` (by position, `beta[0]`, where a coordinate
    does not read)."""
    out = []
    for d, i in zip(store.dims(), idx):
        try:
            value = np.asarray(zarr.open_array(store.location.zarr_store(), path=d, mode="r")[int(i)]).item()
            out.append(f"{d}={value}")
        except Exception:  # noqa: BLE001 - a damaged coordinate: the position
            out.append(f"{d}[{i}]")
    return ", ".join(out)


def find_corrupt(store: ResultsStore, within: Optional[dict] = None, variables=None) -> Optional[str]:
    """After a read of the store failed: the first chunk of the cells `within` ({dimension: positions}; default
    every cell) and the per-cell `variables` (default all) that does not decode, as one line naming the store,
    the variable and the cell by its coordinate values, with the command that repairs it; None when every such
    chunk decodes (the failure was something else)."""
    import itertools

    dims = store.dims()
    g = store.group("r")
    shape = tuple(g["status"].shape)
    ranges = [list((within or {}).get(d, range(n))) for d, n in zip(dims, shape)]
    names = [n for n in (variables or list(g.array_keys()))
             if n in g and tuple(g[n].metadata.dimension_names or ())[:len(dims)] == dims]
    fix = f"; `sweep verify {store.url} --repair` marks it for recomputation"
    for name in names:
        a = g[name]
        if fast_codecs(a) and a.chunks[:len(dims)] == (1,) * len(dims):
            own = (0,) * (len(a.shape) - len(dims))
            for idx in itertools.product(*ranges):
                key = f"{name}/{a.metadata.encode_chunk_key(tuple(idx) + own)}"
                raw = store.location.read(key)
                if raw is None:
                    continue
                try:
                    fast_chunk_values(a, raw)
                except Exception as exc:  # noqa: BLE001 - this one
                    return (f"{store.url}: a corrupt chunk: {name} of the cell {cell_label(store, idx)} "
                            f"({type(exc).__name__}: {str(exc)[:100]}){fix}")
            continue
        for sel in chunk_regions(a.chunks[:len(dims)], shape):
            if not all(any(s_.start <= i < s_.stop for i in r) for s_, r in zip(sel, ranges)):
                continue
            try:
                a[sel]
            except Exception as exc:  # noqa: BLE001 - this one
                first = tuple(next(i for i in r if s_.start <= i < s_.stop) for s_, r in zip(sel, ranges))
                return (f"{store.url}: a corrupt chunk: {name} of the cells from {cell_label(store, first)} "
                        f"({type(exc).__name__}: {str(exc)[:100]}){fix}")
    return None


def _read_cell_chunks(store: ResultsStore, a, shape: tuple, at_once: int = 4096):
    """Yield (cell index, values or None when the chunk was never written, error text or None, the chunk's
    digest (sweep.store.chunks.chunk_digest) or None when it was never written) for every per-cell chunk of `a`, read
    as whole objects (concurrently on an object store) and decoded with fast_chunk_values, which checks the
    CRC32C and the size."""
    name = a.path.rsplit("/", 1)[-1]
    cells = list(np.ndindex(*shape))
    own = (0,) * (len(a.shape) - len(shape))
    for start in range(0, len(cells), at_once):
        part = cells[start:start + at_once]
        keys = {f"{name}/{a.metadata.encode_chunk_key(idx + own)}": idx for idx in part}
        raw = store.location.read_many(keys)
        for key, idx in keys.items():
            if key not in raw:
                yield idx, None, None, None
                continue
            try:
                values = fast_chunk_values(a, raw[key])
            except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
                yield idx, None, f"{type(exc).__name__}: {str(exc)[:120]}", None
                continue
            yield idx, values, None, chunk_digest(key, raw[key])


def _read_chunks(a, outer, name, corrupt, broken_table) -> list:
    """The readable chunks of `a` inside the region `outer` as [(selection, block)]; the cells of the others
    go to `corrupt` (and, for the cell table, their chunk to `broken_table`)."""
    out = []
    for sel in chunk_regions(a.chunks[:len(outer)], a.shape[:len(outer)], within=outer):
        try:
            out.append((sel, a[sel]))
        except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
            for idx in np.ndindex(*(s_.stop - s_.start for s_ in sel)):
                cell = tuple(int(i + s_.start) for i, s_ in zip(idx, sel))
                corrupt.setdefault(cell, []).append(f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
            if name in TABLE_ARRAYS:
                broken_table.append((name, sel))
    return out


__all__ = ["Problem", "Report", "is_partial", "verify"]
