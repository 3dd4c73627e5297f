"""The results store: one Zarr (v3) group per sweep, readable with plain ``xarray.open_zarr(path)``.

Layout (dims in brackets; G = the grid dimensions in sweep-file order):
    weights          [G, epoch, hidden, visible(, state)] float32   NaN past a cell's last record
    visible_fields   [G, epoch, visible(, state)]         float32
    hidden_theta, hidden_gamma [G, epoch, hidden]         float32
    loglik_train, loglik_test  [G, epoch]                 float64   NaN where no exact value
    status           [G] int8, CF flag_values 0..3 = pending running done failed
    attempts [G] int32 · wall_time [G] float64 (s) · host, error [G] str · cell_data_seed, cell_train_seed [G] uint64
    coordinates: every grid coordinate (zip'd keys along their dimension), epoch, hidden, visible, state
    root attrs: sweep_yaml, sweep_normalized (JSON), spec_hash, package_version, created
    checkpoints/<cell>.npz (outside the Zarr hierarchy): TrainState arrays of unfinished cells
    _run.lock: JSON {host, pid, token, heartbeat} of the driver running the sweep

Data variables have one chunk per cell (chunk size 1 along each grid dimension): the tasks write them,
concurrently, and never share a chunk, so they need no lock. The cell table (status, attempts, wall_time,
host, error, provenance, seeds) is written by the driver alone, in batches, so its chunks span up to
TABLE_CHUNK_CELLS cells (few store objects per cell). A cell's data land before its table row says
`done`; a cell whose data landed but whose row did not is simply recomputed, to identical bits. Chunk
codecs, keys and whole-chunk writes: sweep.chunks. The grid can only grow by appending values along a
dimension: positions of existing cells never change. Padding: hidden/visible/state sizes are the maximum
over the grid, NaN beyond a cell's size.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Optional

import fsspec
import numpy as np
import xarray as xr
import zarr
from zarr.core.sync import sync

from .cell import STATISTICS_VARIABLES, VARIABLE_ATTRS, is_statistics, variable_dims
from .chunks import (CHECKED, FLAT_KEYS, chunk_region, chunk_regions, fast_chunk_bytes, fast_chunk_values,
                     fast_codecs, put_files, table_chunks)
from .grid import Grid
from .spec import Sweep, canonical_json, sweep_from_dict

STATUS_NAMES = ("pending", "running", "done", "failed")
PENDING, RUNNING, DONE, FAILED = range(4)

warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component", category=UserWarning)


class StoreError(Exception):
    """A store that cannot be used as asked (different sweep, locked by another run, ...)."""


def _version() -> str:
    from . import __version__

    return __version__


def cell_key(index) -> str:
    return "c" + "-".join(str(int(i)) for i in index)


def _fs(url: str, storage_options: Optional[dict]):
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    return fs, path.rstrip("/")


# ------------------------------------------------------------------------------------- layout
LAYOUT_KEYS = ("train.epochs", "train.record_every", "rbm.n_hidden", "data.n_visible", "data.model", "data.q")
"""The keys that set a cell's per-cell axes (Layout.of looks at one cell per combination of them)."""


@dataclass(frozen=True)
class Layout:
    """Sizes of the per-cell axes over the whole grid."""

    epochs: tuple  # recorded epochs (union over cells), sorted
    n_hidden: int
    n_visible: int
    n_states: int  # 0 when every cell is Ising
    statistics: bool = False  # data-statistics cells (no RBM): scalar variables only

    @classmethod
    def of(cls, grid: Grid) -> "Layout":
        if is_statistics(next(iter(grid)).spec):  # a sweep never mixes them (sweep.spec)
            return cls((), 0, 0, 0, statistics=True)
        epochs, M, N, q = set(), 1, 2, 0
        for cell, _ in grid.representatives(LAYOUT_KEYS):
            t, d, r = cell.spec["train"], cell.spec["data"], cell.spec["rbm"]
            epochs.update(range(0, t["epochs"] + 1, t["record_every"]))
            epochs.add(t["epochs"])  # the last epoch is always recorded (kernels.train.fit)
            M, N = max(M, r["n_hidden"]), max(N, d["n_visible"])
            if d["model"] == "xy":
                q = max(q, d["q"])
        return cls(tuple(sorted(epochs)), M, N, q)

    def own_coords(self) -> dict:
        """The per-cell axes as coordinate arrays (none for data-statistics stores)."""
        if self.statistics:
            return {}
        own = {"epoch": np.array(self.epochs, dtype=np.int64), "hidden": np.arange(self.n_hidden),
               "visible": np.arange(self.n_visible)}
        if self.n_states:
            own["state"] = np.arange(self.n_states)
        return own

    def variable_dims(self) -> dict:
        if self.statistics:
            return {v: () for v in STATISTICS_VARIABLES}
        return variable_dims(bool(self.n_states))

    def size(self, dim: str) -> int:
        return {"epoch": len(self.epochs), "hidden": self.n_hidden, "visible": self.n_visible,
                "state": self.n_states}[dim]


CELL_VARS = {  # per-cell bookkeeping: dtype, fill value, attrs
    "status": ("int8", PENDING, {"flag_values": list(range(4)), "flag_meanings": " ".join(STATUS_NAMES),
                                 "long_name": "cell status"}),
    "attempts": ("int32", 0, {"long_name": "number of times the cell was started"}),
    "wall_time": ("float64", np.nan, {"long_name": "compute time of the finishing attempt (sampling and training)",
                                      "units": "s"}),
    "host": (str, "", {"long_name": "host that computed the cell"}),
    "error": (str, "", {"long_name": "error of the last failed attempt (traceback)"}),
    "provenance": (str, "", {"long_name": "JSON: software versions, source commit, host, seeds, attempts, "
                                          "wall time of the finishing attempt"}),
    "cell_data_seed": ("uint64", 0, {"long_name": "seed of the cell's data stream"}),
    "cell_train_seed": ("uint64", 0, {"long_name": "seed of the cell's training stream"}),
}
FLOAT32 = ("weights", "visible_fields", "hidden_theta", "hidden_gamma")


def _coord_array(values):
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([v if isinstance(v, str) else json.dumps(list(v) if isinstance(v, tuple) else v)
                     for v in values], dtype=str)


# ------------------------------------------------------------------------------------- the store
class ResultsStore:
    """A sweep's Zarr store at a local path or fsspec URL (``s3://bucket/path``)."""

    def __init__(self, url: str, storage_options: Optional[dict] = None):
        self.url = str(url)
        self.storage_options = storage_options or None
        self.fs, self.root = _fs(self.url, storage_options)

    # -- opening
    def exists(self) -> bool:
        return self.fs.exists(self.root + "/zarr.json")

    def check_usable(self) -> None:
        """Raise StoreError unless the location holds a store `sweep run` wrote, or nothing yet: never touch a
        Zarr store of something else, or overwrite a folder that holds other files."""
        if self.exists():
            attrs = self.attrs()
            if "sweep_yaml" not in attrs or "grid_dims" not in attrs:
                raise StoreError("a Zarr store that `sweep run` did not write (it has no sweep attributes); "
                                 "use another --store")
        elif self.fs.exists(self.root) and self.fs.isdir(self.root) and self.fs.ls(self.root):
            raise StoreError("a folder that holds other files, not a sweep store; use an empty or new --store "
                             "path")
        elif self.fs.exists(self.root) and not self.fs.isdir(self.root):
            raise StoreError("a file, not a sweep store; use another --store path")

    def group(self, mode: str = "r+") -> zarr.Group:
        return zarr.open_group(self.url, mode=mode, storage_options=self.storage_options, use_consolidated=False)

    def attrs(self) -> dict:
        return dict(self.group("r").attrs)

    def sweep(self) -> Sweep:
        a = self.attrs()
        import yaml

        return sweep_from_dict(yaml.safe_load(a["sweep_yaml"]), source=a.get("sweep_source", "<store>"),
                               text=a["sweep_yaml"])

    def dims(self) -> tuple:
        return tuple(self.attrs()["grid_dims"])

    # -- creation and growth
    def create(self, sweep: Sweep, grid: Grid) -> None:
        """Write the metadata of every array (no chunks), the coordinates and the root attrs."""
        layout = Layout.of(grid)
        g = zarr.open_group(self.url, mode="w", storage_options=self.storage_options)
        g.attrs.update(
            sweep_yaml=sweep.text or "", sweep_source=str(sweep.source),
            sweep_normalized=canonical_json(sweep.normalized()), spec_hash=sweep.spec_hash(),
            package_version=_version(), created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            grid_dims=list(grid.dims), Conventions="CF-1.10",
        )
        self._write_arrays(g, grid, layout)
        zarr.consolidate_metadata(g.store)

    def _write_arrays(self, g: zarr.Group, grid: Grid, layout: Layout) -> None:
        G, shape = grid.dims, grid.shape
        zipped = [n for n in grid.coords if n not in G]
        coord_attr = " ".join(zipped)
        for name, values in grid.coords.items():
            arr = _coord_array(values)
            a = g.create_array(name, shape=arr.shape, chunks=arr.shape, dtype=arr.dtype,
                               dimension_names=(grid.coord_dims[name],),
                               fill_value="" if arr.dtype.kind in "UT" else 0,
                               attributes={"long_name": grid.coord_keys[name]}, overwrite=True)
            a[:] = arr
        for name, arr in layout.own_coords().items():
            a = g.create_array(name, shape=arr.shape, chunks=arr.shape, dtype=arr.dtype,
                               dimension_names=(name,), fill_value=0, overwrite=True)
            a[:] = arr
        for var, dims in layout.variable_dims().items():
            dtype = np.float32 if var in FLOAT32 else np.float64
            sizes = tuple(layout.size(d) for d in dims)
            attrs = dict(VARIABLE_ATTRS[var])
            if coord_attr:
                attrs["coordinates"] = coord_attr
            g.create_array(var, shape=shape + sizes, chunks=(1,) * len(G) + sizes, dtype=dtype, fill_value=np.nan,
                           compressors=CHECKED, chunk_key_encoding=FLAT_KEYS, dimension_names=G + dims,
                           attributes=attrs, overwrite=True)
        for var, (dtype, fill, attrs) in CELL_VARS.items():
            attrs = dict(attrs)
            if coord_attr:
                attrs["coordinates"] = coord_attr
            g.create_array(var, shape=shape, chunks=table_chunks(shape), dtype=dtype, fill_value=fill,
                           compressors=CHECKED, chunk_key_encoding=FLAT_KEYS, dimension_names=G, attributes=attrs,
                           overwrite=True)

    def grow(self, sweep: Sweep, new: Grid, old: Grid) -> None:
        """Extend the arrays to a grid that appends values along existing dimensions."""
        layout_new, layout_old = Layout.of(new), Layout.of(old)
        if layout_new.epochs[:len(layout_old.epochs)] != layout_old.epochs or \
                layout_new.n_states and not layout_old.n_states:
            raise StoreError("the extended grid changes the recorded epochs or the visible-unit type of "
                             "existing cells; use a new store")
        g = self.group()
        for name, values in new.coords.items():
            arr = _coord_array(values)
            a = g[name]
            a.resize(arr.shape)
            a[:] = arr.astype(a.dtype) if arr.dtype.kind not in "UT" else arr
        for name, arr in layout_new.own_coords().items():
            g[name].resize(arr.shape)
            g[name][:] = arr
        for var, dims in layout_new.variable_dims().items():
            g[var].resize(new.shape + tuple(layout_new.size(d) for d in dims))
        for var in CELL_VARS:
            g[var].resize(new.shape)
        # then the sweep (one atomic write of the root metadata, consolidated listing kept), then the listing:
        # a driver killed in between leaves a store that the next run grows again or heals (heal_metadata)
        self._update_root_attrs(sweep_yaml=sweep.text or "", sweep_normalized=canonical_json(sweep.normalized()),
                                spec_hash=sweep.spec_hash())
        zarr.consolidate_metadata(g.store)

    def _update_root_attrs(self, **attrs) -> None:
        """Update root attributes in one atomic write of the root `zarr.json` that keeps its consolidated
        listing (zarr writes a local file by rename, an object store by one PUT): readers and tasks that open
        the store meanwhile never see it without the listing."""
        g = zarr.open_group(self.url, mode="r+", storage_options=self.storage_options, use_consolidated=True)
        g.attrs.update(attrs)

    def heal_metadata(self) -> bool:
        """Re-consolidate when the consolidated listing disagrees with the arrays (a driver killed while growing
        the store); returns whether it did. Driver only, holding the run lock."""
        listed = zarr.open_group(self.url, mode="r", storage_options=self.storage_options, use_consolidated=True)
        actual = self.group()
        if all(listed[k].shape == actual[k].shape for k in CELL_VARS if k in actual):
            return False
        zarr.consolidate_metadata(actual.store)
        return True

    # -- cells
    def open(self) -> None:
        """Open the store for cell writes, once per object (a task opens it once per batch): the group from its
        consolidated metadata, the recorded epochs. Raises FileNotFoundError where there is no store.

        The consolidated metadata is current: only the driver changes metadata, and it re-consolidates
        after creating or growing the store, before any task runs."""
        if getattr(self, "_group", None) is None:
            self._group = zarr.open_group(self.url, mode="r+", storage_options=self.storage_options,
                                          use_consolidated=True)
            self._handles, self._fast = {}, {}
            self._epochs = np.asarray(self._group["epoch"][...]) if "epoch" in self._group else None

    def _array(self, name: str) -> zarr.Array:
        """Array handle, cached on this object."""
        self.open()
        if name not in self._handles:
            self._handles[name] = self._group[name]
            self._fast[name] = fast_codecs(self._handles[name])
        return self._handles[name]

    def _write(self, assignments) -> None:
        """Write [(variable, selection, block), ...] concurrently (one round trip), in one batch."""
        arrays = {name: self._array(name) for name, _, _ in assignments}

        async def write_all():
            await asyncio.gather(*(arrays[name].async_array.setitem(sel, block) for name, sel, block in assignments))

        sync(write_all())

    def read_cell_table(self) -> dict:
        """status, attempts, wall_time, error, host of every cell (whole arrays)."""
        g = self.group("r")
        return {k: g[k][...] for k in ("status", "attempts", "wall_time", "error", "host")}

    def write_table(self, rows) -> None:
        """Write the cell table for many cells: `rows` maps a cell index to {variable: value} (status, attempts,
        wall_time, host, error, provenance, cell_data_seed, cell_train_seed). Driver only: a table chunk spans many cells,
        so each touched chunk is read, updated and rewritten whole, all chunks concurrently; `status` goes
        last, in a second round, after the rest of its row has landed."""
        rows = {tuple(int(i) for i in idx): fields for idx, fields in dict(rows).items()}
        rest = {idx: {k: v for k, v in f.items() if k != "status"} for idx, f in rows.items()}
        status = {idx: {"status": f["status"]} for idx, f in rows.items() if "status" in f}
        for part in (rest, status):
            by_var: dict = {}
            for idx, fields in part.items():
                for var, value in fields.items():
                    by_var.setdefault(var, []).append((idx, value))
            if by_var:
                self._rewrite_chunks(by_var)

    def _rewrite_chunks(self, by_var: dict) -> None:
        jobs = []
        for var, items in by_var.items():
            a = self._array(var)
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

    def write_cells(self, items) -> None:
        """Write the data variables of cells into their own chunks (padded with NaN), all at once: `items` is
        [(cell, arrays), ...] with arrays as from sweep.cell.cell_arrays (`epoch` holds the recorded epochs).
        A cell's table row is the driver's. Each chunk is written whole (a local file by rename, an object by
        one PUT), encoded here (fast_chunk_bytes) for arrays with this package's codecs, else by zarr."""
        self.open()
        files, slow = {}, []
        for cell, arrays in items:
            pos = None if "epoch" not in arrays else np.searchsorted(self._epochs, arrays["epoch"])
            if pos is not None and not np.array_equal(self._epochs[np.minimum(pos, len(self._epochs) - 1)],
                                                      arrays["epoch"]):
                raise StoreError(f"{self.url}: the store's epoch coordinate lacks epochs this cell records "
                                 f"({sorted(set(arrays['epoch'].tolist()) - set(self._epochs.tolist()))}); it was "
                                 "created by another version of this package: use a new --store")
            for var, vals in arrays.items():
                if var == "epoch":
                    continue
                a = self._array(var)
                vals = np.asarray(vals)
                block = np.full(a.shape[len(cell.index):], np.nan, dtype=a.dtype)
                if pos is not None and vals.ndim:
                    block[(pos,) + tuple(slice(0, n) for n in vals.shape[1:])] = vals
                else:
                    block[tuple(slice(0, n) for n in vals.shape)] = vals
                if not self._fast[var]:
                    slow.append((var, tuple(slice(int(i), int(i) + 1) for i in cell.index),
                                 block[(np.newaxis,) * len(cell.index)]))
                else:
                    key = a.metadata.encode_chunk_key(tuple(int(i) for i in cell.index) + (0,) * block.ndim)
                    files[f"{self.root}/{var}/{key}"] = fast_chunk_bytes(block)
        put_files(self.fs, files)
        if slow:
            self._write(slow)

    # -- integrity
    def verify(self, repair: bool = False) -> dict:
        """Read every chunk of every per-cell variable; report corrupt chunks (checksum or decoding errors) as
        the cells they hold, torn cells (status done, data missing) and stray partial files. With `repair`:
        corrupt or torn cells are marked pending (so `sweep run` recomputes exactly them, to identical bits)
        and partial files removed (refused while a run holds the store)."""
        g = self.group()
        dims = tuple(self.attrs()["grid_dims"])
        shape = g["status"].shape
        per_cell = [name for name, a in g.arrays() if tuple(a.metadata.dimension_names or ())[:len(dims)] == dims]
        corrupt: dict = {}
        broken_table = []  # (variable, selection) of corrupt chunks of the cell table: rewritten by repair
        status = np.full(shape, -1, dtype=np.int8)
        probe = "weights" if "weights" in g else "top_eigenvalue"
        has_data = np.zeros(shape, dtype=bool)
        region = table_chunks(shape)  # read up to 1024 cells at once; chunk by chunk only where that fails
        for name in per_cell:
            a = g[name]
            if name not in CELL_VARS and fast_codecs(a) and a.chunks[:len(dims)] == (1,) * len(dims):
                for idx, values, err in self._read_cell_chunks(a, shape):  # one object per cell: read directly
                    if err is not None:
                        corrupt.setdefault(idx, []).append(f"{name}: {err}")
                    elif name == probe and values is not None:
                        has_data[idx] = bool(np.isfinite(values).any())
                continue
            for outer in chunk_regions(region, shape):
                try:
                    parts = [(outer, a[outer])]
                except Exception:  # noqa: BLE001 - find the corrupt chunks inside
                    parts = self._read_chunks(a, outer, name, corrupt, broken_table)
                for sel, block in parts:
                    if name == "status":
                        status[sel] = block
                    elif name == probe:
                        has_data[sel] = np.isfinite(block).reshape(block.shape[:len(dims)] + (-1,)).any(-1)
        torn = [tuple(int(i) for i in idx) for idx in zip(*np.nonzero((status == DONE) & ~has_data))
                if tuple(int(i) for i in idx) not in corrupt]
        partial = [p for p in self.fs.find(self.root) if p.endswith(".partial") or ".partial." in p.rsplit("/", 1)[-1]]
        report = {"cells": int(np.prod(shape)), "corrupt": {tuple(int(i) for i in k): v for k, v in corrupt.items()},
                  "torn": torn, "partial_files": partial, "repaired": False}
        if repair and (corrupt or torn or partial):
            lock = self.read_lock()
            if lock and self.lock_is_live(lock):
                raise StoreError("a `sweep run` holds this store; repair it after the run ends")
            for name, sel in broken_table:  # a fresh chunk: every cell it holds is recomputed
                dtype, fill, _ = CELL_VARS[name]
                g[name][sel] = np.full(tuple(s_.stop - s_.start for s_ in sel), fill, dtype=object if dtype is str else dtype)
            self.write_table({idx: {"status": PENDING, "error": "marked for recomputation by `sweep verify --repair`"}
                              for idx in list(report["corrupt"]) + torn})
            for p in partial:
                self.fs.rm(p)
            report["repaired"] = True
        return report

    def _read_cell_chunks(self, a: zarr.Array, shape: tuple, at_once: int = 4096):
        """Yield (cell index, values or None when the chunk was never written, error text or None) for every
        per-cell chunk of `a`, read as whole objects (concurrently on an object store) and decoded with
        fast_chunk_values, which checks the CRC32C and the size."""
        name = a.path.rsplit("/", 1)[-1]
        cells = list(np.ndindex(*shape))
        own = (0,) * (len(a.shape) - len(shape))
        for start in range(0, len(cells), at_once):
            part = cells[start:start + at_once]
            paths = {f"{self.root}/{name}/{a.metadata.encode_chunk_key(idx + own)}": idx for idx in part}
            raw = self.fs.cat(list(paths), on_error="omit")
            for path, idx in paths.items():
                if path not in raw:
                    yield idx, None, None
                    continue
                try:
                    yield idx, fast_chunk_values(a, raw[path]), None
                except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
                    yield idx, None, f"{type(exc).__name__}: {str(exc)[:120]}"

    @staticmethod
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
                if name in CELL_VARS:
                    broken_table.append((name, sel))
        return out

    # -- runs (driver only: root attributes)
    def record_run(self, record: dict) -> int:
        """Append a run record to the root attribute `runs` (JSON list); returns its position."""
        runs = json.loads(self.attrs().get("runs", "[]"))
        runs.append(record)
        self._update_root_attrs(runs=json.dumps(runs))
        return len(runs) - 1

    def finish_run(self, position: int, **fields) -> None:
        runs = json.loads(self.attrs().get("runs", "[]"))
        if 0 <= position < len(runs):
            runs[position].update(fields)
            self._update_root_attrs(runs=json.dumps(runs))

    # -- checkpoints (npz, no pickle)
    def _ckpt_path(self, index) -> str:
        return f"{self.root}/checkpoints/{cell_key(index)}.npz"

    def save_checkpoint(self, index, arrays: dict) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = self._ckpt_path(index)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.partial"
        with self.fs.open(tmp, "wb") as f:
            f.write(buf.getvalue())
        self.fs.mv(tmp, path)  # atomic rename on a local disk; a single PUT on object stores

    def load_checkpoint(self, index) -> Optional[dict]:
        import io

        path = self._ckpt_path(index)
        try:
            with self.fs.open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def drop_checkpoint(self, index) -> None:
        try:
            self.fs.rm(self._ckpt_path(index))
        except FileNotFoundError:
            pass

    # -- the run lock
    def _lock_path(self) -> str:
        return self.root + "/_run.lock"

    def read_lock(self) -> Optional[dict]:
        try:
            with self.fs.open(self._lock_path(), "rb") as f:
                return json.loads(f.read().decode())
        except (FileNotFoundError, ValueError):
            return None

    def lock_is_live(self, lock: dict, stale_after: float = 30.0) -> bool:
        if lock.get("host") == socket.gethostname():
            try:
                os.kill(int(lock["pid"]), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return time.time() - float(lock.get("heartbeat", 0)) < stale_after * 4
        return time.time() - float(lock.get("heartbeat", 0)) < stale_after

    def acquire_lock(self) -> str:
        """Take the run lock, or raise StoreError naming the live run that holds it."""
        lock = self.read_lock()
        if lock and self.lock_is_live(lock):
            raise StoreError(f"{self.url} is being run by another `sweep run` (host {lock.get('host')}, "
                             f"pid {lock.get('pid')}, since {lock.get('started')}); wait for it to finish, "
                             "or stop it, then rerun to resume")
        token = uuid.uuid4().hex
        self._write_lock(token, started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        time.sleep(0.05)
        now = self.read_lock()
        if not now or now.get("token") != token:
            raise StoreError(f"{self.url}: another `sweep run` took the store at the same moment")
        return token

    def _write_lock(self, token: str, started: str) -> None:
        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": token,
                           "started": started, "heartbeat": time.time()})
        with self.fs.open(self._lock_path(), "wb") as f:
            f.write(body.encode())

    def heartbeat(self, token: str) -> None:
        lock = self.read_lock()
        if lock and lock.get("token") == token:
            self._write_lock(token, lock.get("started", ""))

    def release_lock(self, token: str) -> None:
        lock = self.read_lock()
        if lock and lock.get("token") == token:
            self.fs.rm(self._lock_path())


def open_results(path: str, storage_options: Optional[dict] = None) -> xr.Dataset:
    """The sweep's results as an xarray Dataset (lazy; equivalent to ``xarray.open_zarr(path)``)."""
    return xr.open_zarr(path, storage_options=storage_options, consolidated=None)
