"""The results store: one Zarr (v3) group per sweep, readable with plain ``xarray.open_zarr(path)``.

Layout (dims in brackets; G = the grid dimensions in sweep-file order):
    weights          [G, epoch, hidden, visible(, state)] float32   NaN past a cell's last record
    visible_fields   [G, epoch, visible(, state)]         float32
    hidden_theta, hidden_gamma [G, epoch, hidden]         float32
    loglik_train, loglik_test  [G, epoch]                 float64   NaN where no exact value
    (statistics sweeps: top_eigenvalue, top_mode_weight [G] float64 instead)
    status           [G] int8, CF flag_values 0..3 = pending running done failed
    attempts [G] int32 · wall_time [G] float64 (s) · host, error, provenance [G] str ·
    cell_data_seed, cell_train_seed [G] uint64
    chunk_digest     [G, variable] uint64: per cell, the digest of each data variable's chunk bound to its key
        (sweep.store.chunks.chunk_digest: BLAKE2b-64 of the key, NUL, the stored bytes; 0 = none recorded), written by
        the driver with the cell's row; `sweep verify` checks every done cell's chunks against it, so a chunk
        moved or copied to another cell, or rewritten with a recomputed CRC, is found. Stores made before it
        (no root attribute `chunk_digests`) lack it and the `variable` coordinate, and are read as before.
    coordinates: every grid coordinate (zip'd keys along their dimension), epoch, hidden, visible, state,
        variable (the data variables, in chunk_digest's order)
    root attrs: sweep_yaml, sweep_source, sweep_normalized (JSON), spec_hash, package_version, created,
        grid_dims, layout_version, table_chunks, environment (JSON: what bit-identity depends on), runs (JSON),
        chunk_digests (the digest scheme; absent in stores made before digests)
    checkpoints/<cell>.npz (outside the Zarr hierarchy): training states of unfinished cells
    _lease/<generation>.json: the driver that holds the store (sweep.store.lease)
    _creating: present only while the store is being created (sweep.store.layout)

Who writes what: tasks write the data chunks of their cells (one chunk per cell and variable, whole) and
their checkpoints; the driver holding the lease writes everything else: creation, growth, healing and
repair (sweep.store.layout, sweep.store.verify), the cell table (sweep.store.cell_table), the root attributes. This module is the
narrow interface they share: the location, the root attributes, and the data-chunk writes of the tasks.
"""

from __future__ import annotations

import json
import warnings
from typing import Optional

import numpy as np
import xarray as xr
import zarr

from .chunks import chunk_digest, chunk_regions, fast_chunk_bytes, fast_codecs
from ..config.errors import StorageFailure, StoreError  # noqa: F401 - re-exported: the store's errors
from .location import Location
from .outcomes import DONE, FAILED, PENDING, RUNNING, STATUS_NAMES, CellStatus  # noqa: F401 - re-exported
from ..config.sweepfile import Sweep, parse_sweep

warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part", category=UserWarning)
warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component", category=UserWarning)

LAYOUT_VERSION = 2
"""The store layout this package writes (root attribute `layout_version`); other layouts are refused."""
CREATING = "_creating"
"""The marker of a store being created: written first, removed last (sweep.store.layout.create)."""
ROOT = "zarr.json"
SWEEP_ATTRS = ("sweep_yaml", "grid_dims")


class ResultsStore:
    """A sweep's Zarr store at a local path or fsspec URL (``s3://bucket/path``)."""

    def __init__(self, url: str, storage_options: Optional[dict] = None):
        self.location = Location(url, storage_options)
        self.url = self.location.url
        self.storage_options = self.location.storage_options
        self._group = None
        self._stored: Optional[tuple] = None  # ((sweep_yaml, sweep_source), the Sweep parsed from them)

    # -- state
    def exists(self) -> bool:
        """Whether a complete store is there (root metadata written, creation finished)."""
        return self.location.exists(ROOT) and not self.location.exists(CREATING)

    def state(self) -> str:
        """'absent' (nothing, or only a lease), 'incomplete' (a creation that did not finish: reclaimable by
        the lease holder), 'store' (a complete store of this package), 'foreign' (a Zarr store of something
        else), 'damaged' (this package's store whose root metadata is missing or unreadable: `root_problem`
        says how), 'folder' (a folder of other files), 'file'. Raises StoreError for a local path that is a
        symbolic link loop or a link to nothing."""
        loc = self.location
        loc.check_path()
        if loc.is_file():
            return "file"
        if loc.exists(CREATING):
            return "incomplete"
        ours = loc.exists("status/zarr.json")
        if loc.exists(ROOT):
            problem = self.root_problem()
            if problem is None:
                return "store"
            if ours or problem.startswith("root attribute"):
                return "damaged"
            return "foreign"
        names = [n for n in loc.list() if n != "_lease"]
        if not names:
            return "absent"
        return "damaged" if ours else "folder"

    def root_problem(self) -> Optional[str]:
        """Why the root metadata cannot be used as a sweep store's (missing, not JSON, sweep attributes of the
        wrong type or a sweep file that no longer parses), None when it can (or it is some other Zarr group's:
        no sweep attributes at all)."""
        if not self.location.exists(ROOT):
            return "its root metadata (zarr.json) is missing"
        try:
            attrs = self.attrs()
        except StoreError as exc:
            return str(exc)
        if not any(k in attrs for k in SWEEP_ATTRS):
            return "its root metadata (zarr.json) has no sweep attributes"
        if not isinstance(attrs.get("sweep_yaml"), str):
            return f"root attribute sweep_yaml is {type(attrs.get('sweep_yaml')).__name__}, not a sweep file's text"
        dims = attrs.get("grid_dims")
        if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
            return "root attribute grid_dims is not a list of dimension names"
        try:
            self._parse(attrs)
        except Exception as exc:  # noqa: BLE001 - SpecError, or whatever else a damaged text makes the parser raise
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            return f"root attribute sweep_yaml is not a valid sweep file ({first})"
        return None

    def attribute_problems(self) -> list:
        """[(attribute, detail)] for root attributes other than the sweep's that do not read: `environment`
        and `runs` (JSON)."""
        attrs = self.attrs()
        out = []
        for name, kind in (("environment", dict), ("runs", list)):
            raw = attrs.get(name)
            if raw is None or (name == "environment" and raw == ""):
                continue
            try:
                value = json.loads(raw) if isinstance(raw, str) else raw
                ok = isinstance(value, kind) and (name != "runs" or all(isinstance(r, dict) for r in value))
            except ValueError:
                ok = False
            if not ok:
                what = "mapping" if kind is dict else "list of records"
                out.append((name, f"root attribute {name} is not valid JSON of a {what}"))
        return out

    def check_usable(self, attributes: bool = True, table: bool = True) -> str:
        """The store's state (see `state`), after refusing (StoreError) a location `sweep run` must never touch:
        a Zarr store of something else, a folder that holds other files, a file, a store of another layout,
        or a store whose root metadata is gone or unreadable; and for a store, unless turned off, root
        attributes that do not read (`attributes`) or a cell-table status that does not decode (`table`), each
        with the `sweep verify` command that mends it."""
        state = self.state()
        if state == "foreign":
            raise StoreError("a Zarr store that `sweep run` did not write (it has no sweep attributes); use another "
                             "--store")
        if state == "folder":
            raise StoreError("a folder that holds other files, not a sweep store; use an empty or new --store path")
        if state == "file":
            raise StoreError("a file, not a sweep store; use another --store path")
        if state == "damaged":
            why = self.root_problem() or "zarr.json is missing"
            raise StoreError(f"a sweep store whose root metadata is damaged: {why}; `sweep verify {self.url} --repair "
                             "--sweep FILE` restores it from the sweep file it was made with")
        if state == "store":
            version = self.attrs().get("layout_version", 1)
            if version != LAYOUT_VERSION:
                raise StoreError(f"a store of layout {version}, written by another version of rbm-sweep (this one "
                                 f"reads layout {LAYOUT_VERSION}); use a new --store, or the version that wrote it")
            if attributes:
                for _, detail in self.attribute_problems():
                    raise StoreError(f"{detail}; `sweep verify {self.url} --repair` mends it")
            if table:
                self.read_status()
        return state

    # -- metadata
    def group(self, mode: str = "r") -> zarr.Group:
        """The root group, from the arrays' own metadata (not the consolidated listing)."""
        return zarr.open_group(self.location.zarr_store(), mode=mode, use_consolidated=False)

    def root_metadata(self) -> dict:
        """The root `zarr.json` as a mapping; StoreError when it is missing or not a Zarr group's JSON."""
        try:
            raw = self.location.read(ROOT)
        except IsADirectoryError:
            raise StoreError("its root metadata (zarr.json) is a folder, not a file") from None
        if raw is None:
            raise StoreError(f"{self.url}: no sweep store there")
        try:
            meta = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError):
            raise StoreError("its root metadata (zarr.json) is not valid JSON") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("attributes", {}), dict):
            raise StoreError("its root metadata (zarr.json) is not a Zarr group's")
        return meta

    def attrs(self) -> dict:
        return dict(self.root_metadata().get("attributes", {}))

    def sweep(self) -> Sweep:
        """The store's sweep (its root attributes' sweep file, validated); StoreError when the root cannot be used
        (root_problem). Parsed once per text: the checks before it and every later call share the Sweep."""
        problem = self.root_problem()
        if problem is not None:
            raise StoreError(problem)
        return self._parse(self.attrs())

    def _parse(self, attrs: dict) -> Sweep:
        key = (attrs["sweep_yaml"], str(attrs.get("sweep_source", "<store>")))
        if self._stored is None or self._stored[0] != key:
            self._stored = (key, parse_sweep(key[0], source=key[1]))
        return self._stored[1]

    def dims(self) -> tuple:
        return tuple(self.attrs()["grid_dims"])

    def environment(self) -> Optional[dict]:
        raw = self.attrs().get("environment")
        if not raw:
            return None
        try:
            env = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            env = None
        if not isinstance(env, dict):
            raise StoreError("root attribute environment is not valid JSON of a mapping; "
                             f"`sweep verify {self.url} --repair` mends it")
        return env

    def read_status(self) -> np.ndarray:
        """The cell table's `status`, whole; StoreError naming the cells of the first chunk that does not decode
        (or the array's metadata, when that does not read)."""
        try:
            a = self.group("r")["status"]
        except Exception as exc:  # noqa: BLE001 - any failure to open it is damage
            if _environment(exc):
                raise
            raise StoreError(f"the cell table's status cannot be opened ({type(exc).__name__}: "
                             f"{str(exc)[:120]}); `sweep verify {self.url} --repair` restores it") from None
        try:
            return np.asarray(a[...])
        except Exception as exc:  # noqa: BLE001 - find the chunk
            if _environment(exc):
                raise
        for sel in chunk_regions(a.chunks, a.shape):
            try:
                a[sel]
            except Exception as exc:  # noqa: BLE001 - this one
                where = ", ".join(f"{d}[{s_.start}..{s_.stop - 1}]" for d, s_ in
                                  zip(a.metadata.dimension_names or (), sel))
                raise StoreError(f"a chunk of the cell table's status is corrupt (cells {where}: "
                                 f"{type(exc).__name__}: {str(exc)[:120]}); `sweep verify {self.url} --repair` "
                                 "marks its cells for recomputation") from None
        return np.asarray(a[...])

    def update_root_attrs(self, **attrs) -> None:
        """Update root attributes in one atomic write of the root `zarr.json` that keeps its consolidated
        listing: readers and tasks opening the store meanwhile never see it without the listing. Lease holder
        only."""
        meta = self.root_metadata()
        meta.setdefault("attributes", {}).update(attrs)
        self.location.write(ROOT, json.dumps(meta, indent=2).encode())

    def runs(self) -> list:
        raw = self.attrs().get("runs", "[]")
        try:
            runs = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            runs = None
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise StoreError("root attribute runs is not valid JSON of a list of records; "
                             f"`sweep verify {self.url} --repair` mends it")
        return runs

    def record_run(self, record: dict) -> int:
        """Append a run record to the root attribute `runs` (JSON list); returns its position."""
        runs = self.runs()
        runs.append(record)
        self.update_root_attrs(runs=json.dumps(runs))
        return len(runs) - 1

    def finish_run(self, position: int, **fields) -> None:
        runs = self.runs()
        if 0 <= position < len(runs):
            runs[position].update(fields)
            self.update_root_attrs(runs=json.dumps(runs))

    def refresh(self) -> None:
        """Forget the metadata read so far (after the lease holder changed it): the next access reads it anew."""
        self._group = None

    # -- data chunks (tasks)
    def open(self) -> None:
        """Open the store for cell writes, once per object (a task opens it once per batch): the group from its
        consolidated metadata, the recorded epochs. Raises FileNotFoundError where there is no store.

        The consolidated metadata is current: only the lease holder changes metadata, and it consolidates
        after creating or growing the store, before any task runs."""
        if self._group is None:
            if not self.location.exists(ROOT):
                raise FileNotFoundError(self.location.path(ROOT))
            self._group = zarr.open_group(self.location.zarr_store(), mode="r+", use_consolidated=True)
            self._handles, self._fast = {}, {}
            self._epochs = np.asarray(self._group["epoch"][...]) if "epoch" in self._group else None
            self._digested = ([str(v) for v in np.asarray(self._group["variable"][...]).tolist()]
                              if "chunk_digest" in self._group and "variable" in self._group else None)

    def array(self, name: str) -> zarr.Array:
        """Array handle from the consolidated listing, cached on this object."""
        self.open()
        if name not in self._handles:
            self._handles[name] = self._group[name]
            self._fast[name] = fast_codecs(self._handles[name])
        return self._handles[name]

    def digest_variables(self) -> Optional[list]:
        """The data variables in the order of the cell table's `chunk_digest`, None for a store without digests."""
        self.open()
        return self._digested

    def write_cells(self, items) -> dict:
        """Write the data variables of cells into their own chunks (padded with NaN), all at once: `items` is
        [(cell, arrays), ...] with arrays as from sweep.run.cell.cell_arrays (`epoch` holds the recorded epochs).
        Each chunk is written whole (a local file by rename, an object by one PUT), encoded here
        (fast_chunk_bytes) for arrays with this package's codecs, else by zarr. Returns {cell index: [digest of
        each variable's chunk as stored, in `digest_variables` order (sweep.store.chunks.chunk_digest; 0 for a variable
        the cell has none of)]}, empty for a store without digests: the driver records them with the cell's row."""
        self.open()
        files, slow, keys = {}, [], {}
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
                a = self.array(var)
                vals = np.asarray(vals)
                block = np.full(a.shape[len(cell.index):], np.nan, dtype=a.dtype)
                if pos is not None and vals.ndim:
                    block[(pos,) + tuple(slice(0, n) for n in vals.shape[1:])] = vals
                else:
                    block[tuple(slice(0, n) for n in vals.shape)] = vals
                key = f"{var}/{a.metadata.encode_chunk_key(tuple(int(i) for i in cell.index) + (0,) * block.ndim)}"
                keys.setdefault(tuple(int(i) for i in cell.index), {})[var] = key
                if not self._fast[var]:
                    slow.append((a, tuple(slice(int(i), int(i) + 1) for i in cell.index),
                                 block[(np.newaxis,) * len(cell.index)]))
                else:
                    files[key] = fast_chunk_bytes(block)
        self.location.write_many(files)
        for a, sel, block in slow:
            a[sel] = block
        if self._digested is None:
            return {}
        out = {}
        for idx, by_var in keys.items():
            row = []
            for var in self._digested:
                key = by_var.get(var)
                stored = None if key is None else files[key] if key in files else self.location.read(key)
                row.append(0 if stored is None else chunk_digest(key, stored))
            out[idx] = row
        return out


def _environment(exc: BaseException) -> bool:
    from .location import environment_failure

    return environment_failure(exc) is not None


def open_results(path: str, storage_options: Optional[dict] = None) -> xr.Dataset:
    """The sweep's results as an xarray Dataset (lazy; equivalent to ``xarray.open_zarr(path)``)."""
    return xr.open_zarr(Location(path, storage_options).zarr_store(), consolidated=None)
