"""The store's layout: which arrays a sweep's store holds, and their creation, growth and healing.

Lease holder only (sweep.store.lease): every function here that writes takes the held lease and checks it first.

- Creation is atomic: the marker `_creating` is written first, then every array's metadata and the
  coordinates, then the root `zarr.json` (attributes and the consolidated listing), and the marker is removed
  last. A store with the marker is a creation that did not finish: nothing ran in it, and the next lease
  holder removes it and creates it again (``create`` does). A failure while creating removes what it wrote.
- The metadata is a function of the sweep (:func:`build`), so any array's `zarr.json` can be checked and
  restored from the sweep the root holds (:func:`metadata_problems`, :func:`restore_metadata`); the cell
  table's chunk shape, set at creation, is kept in the root attribute `table_chunks`.
- Chunk digests: a store made by this version keeps, in the cell table, the digest of each of a cell's data
  chunks bound to its key (``chunk_digest`` [G, variable], uint64, sweep.store.chunks.chunk_digest; the
  coordinate ``variable`` names the data variables; root attribute ``chunk_digests`` names the scheme).
  Stores made before have neither and stay valid (`build` lays them out only where the root attribute is).
- Growth appends values along grid dimensions: the arrays' metadata and the coordinates are rewritten for the
  grown grid, then the root in one atomic write. A growth cut short leaves arrays larger than the root's
  sweep says; the next run grows them again (same sweep) or shrinks their metadata back (the old sweep), as
  no cell of the new part can have run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import zarr
from zarr.storage import MemoryStore

from .chunks import CHECKED, DIGEST_SCHEME, FLAT_KEYS, chunk_regions, table_chunks
from ..config.errors import StoreError
from ..config.fields import canonical_json
from ..config.grid import Grid, expand
from .lease import LEASE_DIR, Lease
from ..config.names import DIGEST, DIGEST_DIM, STATISTICS_VARIABLES, VARIABLE_ATTRS, variable_dims
from .outcomes import DONE, PENDING, STATUS_NAMES
from ..config.sweepfile import Sweep, recorded_epochs
from .results_store import CREATING, LAYOUT_VERSION, ROOT, ResultsStore

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
        if next(iter(grid)).config.statistics:  # a sweep never mixes them (sweep.config.sweepfile)
            return cls((), 0, 0, 0, statistics=True)
        pairs, M, N, q = set(), 1, 2, 0
        for cell, _ in grid.representatives(LAYOUT_KEYS):
            t, d, r = cell.config.train, cell.config.data, cell.config.rbm
            pairs.add((t.epochs, t.record_every))
            M, N = max(M, r.n_hidden), max(N, d.n_visible)
            if cell.config.potts:
                q = max(q, d.q)
        # the union of the cells' recorded epochs, bounded by validation (sweep.config.sweepfile.MAX_RECORDS), no per-epoch set
        return cls(tuple(recorded_epochs(pairs).tolist()), M, N, q)

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


TABLE_ARRAYS = {  # the cell table, one value per cell: dtype, fill value, attrs (names: sweep.config.names.TABLE_VARIABLES)
    "status": ("int8", int(PENDING), {"flag_values": list(range(4)), "flag_meanings": " ".join(STATUS_NAMES),
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
DIGEST_ATTRS = {"long_name": "digest of each of the cell's data chunks bound to its key (sweep.store.chunks.chunk_digest); "
                             "0: none recorded"}


def table_fill(name: str):
    """The fill value of a cell-table array (TABLE_ARRAYS, or the chunk digests)."""
    return 0 if name == DIGEST else TABLE_ARRAYS[name][1]


def has_digests(attrs: dict) -> bool:
    """Whether a store with root attributes `attrs` keeps chunk digests (made by a version that writes them)."""
    return bool(attrs.get("chunk_digests"))


def _coord_array(values):
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    return np.array([v if isinstance(v, str) else json.dumps(list(v) if isinstance(v, tuple) else v)
                     for v in values], dtype=str)


def sweep_attributes(sweep: Sweep) -> dict:
    """The root attributes that describe the sweep itself (rewritten when the grid grows)."""
    return {"sweep_yaml": sweep.text or "", "sweep_source": str(sweep.source),
            "sweep_normalized": canonical_json(sweep.normalized()), "spec_hash": sweep.spec_hash()}


def root_attributes(sweep: Sweep, grid: Grid, environment: dict) -> dict:
    """The root attributes of a new store."""
    from ..config.version import __version__

    return {**sweep_attributes(sweep), "package_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "grid_dims": list(grid.dims),
            "layout_version": LAYOUT_VERSION, "table_chunks": list(table_chunks(grid.shape)),
            "environment": json.dumps(environment, sort_keys=True), "chunk_digests": DIGEST_SCHEME,
            "Conventions": "CF-1.10"}


def build(grid: Grid, attrs: dict) -> dict:
    """Every metadata file of the store of `grid` ({key: bytes}: each array's `zarr.json`, the coordinates'
    chunks, the root `zarr.json` with `attrs` and the consolidated listing), made in memory. The cell table's
    chunk shape is `attrs["table_chunks"]`; data variables have one chunk per cell."""
    files: dict = {}
    mem = MemoryStore(files)
    g = zarr.open_group(mem, mode="w")
    g.attrs.update(attrs)
    layout = Layout.of(grid)
    G, shape = grid.dims, grid.shape
    zipped = [n for n in grid.coords if n not in G]
    coord_attr = " ".join(zipped)
    for name, values in grid.coords.items():
        arr = _coord_array(values)
        a = g.create_array(name, shape=arr.shape, chunks=arr.shape, dtype=arr.dtype,
                           dimension_names=(grid.coord_dims[name],),
                           fill_value="" if arr.dtype.kind in "UT" else 0, attributes={"long_name": grid.coord_keys[name]})
        a[:] = arr
    for name, arr in layout.own_coords().items():
        a = g.create_array(name, shape=arr.shape, chunks=arr.shape, dtype=arr.dtype, dimension_names=(name,),
                           fill_value=0)
        a[:] = arr
    for var, dims in layout.variable_dims().items():
        dtype = np.float32 if var in FLOAT32 else np.float64
        sizes = tuple(layout.size(d) for d in dims)
        vattrs = dict(VARIABLE_ATTRS[var])
        if coord_attr:
            vattrs["coordinates"] = coord_attr
        g.create_array(var, shape=shape + sizes, chunks=(1,) * len(G) + sizes, dtype=dtype, fill_value=np.nan,
                       compressors=CHECKED, chunk_key_encoding=FLAT_KEYS, dimension_names=G + dims, attributes=vattrs)
    chunks = tuple(int(c) for c in attrs["table_chunks"])
    for var, (dtype, fill, vattrs) in TABLE_ARRAYS.items():
        vattrs = dict(vattrs)
        if coord_attr:
            vattrs["coordinates"] = coord_attr
        g.create_array(var, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill, compressors=CHECKED,
                       chunk_key_encoding=FLAT_KEYS, dimension_names=G, attributes=vattrs)
    if has_digests(attrs):
        names = np.array(list(layout.variable_dims()), dtype=str)
        a = g.create_array(DIGEST_DIM, shape=names.shape, chunks=names.shape, dtype=str,
                           dimension_names=(DIGEST_DIM,), fill_value="",
                           attributes={"long_name": "data variable of a chunk digest"})
        a[:] = names
        vattrs = dict(DIGEST_ATTRS, coordinates=coord_attr) if coord_attr else dict(DIGEST_ATTRS)
        g.create_array(DIGEST, shape=shape + names.shape, chunks=chunks + names.shape, dtype="uint64", fill_value=0,
                       compressors=CHECKED, chunk_key_encoding=FLAT_KEYS, dimension_names=G + (DIGEST_DIM,),
                       attributes=vattrs)
    zarr.consolidate_metadata(mem)
    return {k: v.to_bytes() for k, v in files.items()}


def _ours(key: str) -> bool:
    """Keys that creation never removes: the lease and the marker."""
    return key.startswith(LEASE_DIR + "/") or key == CREATING


def create(store: ResultsStore, sweep: Sweep, grid: Grid, environment: dict, lease: Lease) -> None:
    """Create the store (see the module docstring): a creation that did not finish is removed first; a failure
    removes what this one wrote."""
    loc = store.location
    lease.check()
    loc.write(CREATING, lease.holder.token.encode())
    try:
        loc.delete_many([k for k in loc.files() if not _ours(k)])
        files = build(grid, root_attributes(sweep, grid, environment))
        root = files.pop(ROOT)
        loc.write_many(files)
        loc.write(ROOT, root)
        loc.delete(CREATING)
    except BaseException:
        try:
            loc.delete_many([k for k in loc.files() if not _ours(k)])
            loc.delete(CREATING)
            loc.remove_empty_folders()
        except Exception:  # noqa: BLE001 - the marker stays: the next run removes the rest
            pass
        raise
    store.refresh()


def check_growth(old: Grid, new: Grid) -> None:
    """Refuse a grown grid that changes the per-cell sizes of the store (recorded epochs, hidden or visible
    units, Potts states): each cell's chunk holds them all."""
    a, b = Layout.of(old), Layout.of(new)
    if a != b:
        what = [n for n, x, y in (("recorded epochs", a.epochs, b.epochs), ("hidden units", a.n_hidden, b.n_hidden),
                                  ("visible units", a.n_visible, b.n_visible), ("Potts states", a.n_states, b.n_states))
                if x != y]
        raise StoreError("the extended grid changes the " + ", ".join(what) + " every cell of the store holds; "
                         "use a new --store")


def grow(store: ResultsStore, sweep: Sweep, old: Grid, lease: Lease) -> Grid:
    """Grow the store to `sweep`, whose grid appends values to the store's (sweep.config.reconcile said 'extends');
    returns the new grid."""
    new = expand(sweep)
    check_growth(old, new)
    attrs = {**store.attrs(), **sweep_attributes(sweep)}
    files = build(new, attrs)
    root = files.pop(ROOT)
    lease.check()
    store.location.write_many(files)
    store.location.write(ROOT, root)  # the new sweep and its listing in one atomic write
    store.refresh()
    return new


# ------------------------------------------------------------------------------------- checking metadata
@dataclass(frozen=True)
class Problem:
    """One metadata problem: `key` (a store key), `kind` (missing | unreadable | shape | differs | listing |
    coordinates) and a one-line `detail`."""

    key: str
    kind: str
    detail: str


def expected_files(store: ResultsStore, sweep: Optional[Sweep] = None) -> dict:
    """The metadata files the store's sweep (or `sweep`) lays out, with the store's root attributes."""
    sweep = sweep or store.sweep()
    return build(expand(sweep), store.attrs())


def metadata_problems(store: ResultsStore, expected: Optional[dict] = None) -> list:
    """Compare every array's `zarr.json`, every coordinate chunk and the root's consolidated listing with what
    the store's sweep lays out."""
    loc = store.location
    expected = expected if expected is not None else expected_files(store)
    out = []
    keys = [k for k in expected if k != ROOT]
    actual = loc.read_many(keys)
    for key in keys:
        want = expected[key]
        got = actual.get(key)
        array = key.rsplit("/", 1)[0] if key.endswith("/zarr.json") else key.split("/", 1)[0]
        if key.endswith("zarr.json"):
            if got is None:
                out.append(Problem(key, "missing", f"{array}: its metadata ({key}) is missing"))
                continue
            try:
                g, w = json.loads(got.decode()), json.loads(want.decode())
            except (ValueError, UnicodeDecodeError):
                out.append(Problem(key, "unreadable", f"{array}: its metadata ({key}) is not valid JSON"))
                continue
            if g != w:
                same_but_shape = _same_but_size(g, w)
                kind = "shape" if same_but_shape else "differs"
                detail = (f"{array}: shape {g.get('shape')} where the sweep lays out {w.get('shape')}" if same_but_shape
                          else f"{array}: its metadata ({key}) differs from what the sweep lays out")
                out.append(Problem(key, kind, detail))
        elif got != want:
            out.append(Problem(key, "coordinates", f"{array}: the coordinate values differ from the sweep's"))
    try:
        listed = json.loads(loc.read(ROOT).decode()).get("consolidated_metadata")
        want = json.loads(expected[ROOT].decode())["consolidated_metadata"]
        if listed != want:
            out.append(Problem(ROOT, "listing", "the root's consolidated listing differs from the arrays' metadata"))
    except (AttributeError, ValueError, KeyError):
        out.append(Problem(ROOT, "listing", "the root's consolidated listing is missing or unreadable"))
    return out


def _single_chunk(meta: dict) -> bool:
    chunks = meta.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
    return chunks is not None and list(chunks) == list(meta.get("shape", []))


def _same_but_size(a: dict, b: dict) -> bool:
    """Whether two arrays' metadata differ at most in size: the shape, and the chunk shape of arrays held in one
    chunk each (the coordinates), which a growth changes."""
    drop = {"shape", "chunk_grid"} if _single_chunk(a) and _single_chunk(b) else {"shape"}
    return {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


HEALABLE = ("shape", "listing", "coordinates")
"""Problems a run mends by itself: what a growth cut short leaves. Others need `sweep verify --repair`."""


def restore_metadata(store: ResultsStore, problems: list, lease: Lease, expected: Optional[dict] = None) -> None:
    """Rewrite the metadata files behind `problems` from the sweep, then the root's listing (keeping its
    attributes) in one atomic write."""
    expected = expected if expected is not None else expected_files(store)
    lease.check()
    store.location.write_many({p.key: expected[p.key] for p in problems if p.key != ROOT})
    root = store.root_metadata()
    root["consolidated_metadata"] = json.loads(expected[ROOT].decode())["consolidated_metadata"]
    store.location.write(ROOT, json.dumps(root, indent=2).encode())
    store.refresh()


def restore_root(store: ResultsStore, sweep: Sweep, environment: dict, lease: Lease) -> None:
    """Write a root `zarr.json` for a store that lost it (or whose root is unreadable), from the sweep file
    (`sweep verify --repair --sweep`): the sweep's attributes, the cell table's chunk shape as its arrays have it,
    and, where the old root still reads, its environment, creation time and run records (else this
    environment; run records are gone). Refuses (StoreError) a sweep that is not the store's: another grid
    shape, other coordinate values, or seeds that differ from those of the cells the store holds
    (:func:`prove_sweep`)."""
    grid = expand(sweep)
    raw = store.location.read("status/zarr.json")
    try:
        meta = json.loads(raw.decode()) if raw else {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    if not isinstance(meta, dict) or tuple(meta.get("shape", ())) != grid.shape \
            or tuple(meta.get("dimension_names") or ()) != grid.dims:
        meta = meta if isinstance(meta, dict) else {}
        raise StoreError(f"the sweep's grid {dict(zip(grid.dims, grid.shape))} is not the store's "
                         f"({dict(zip(meta.get('dimension_names') or (), meta.get('shape', ())))}); give the sweep "
                         "file the store was made with")
    prove_sweep(store, sweep, grid)
    attrs = root_attributes(sweep, grid, environment)
    attrs["table_chunks"] = list(meta["chunk_grid"]["configuration"]["chunk_shape"])
    attrs["created"] = "unknown (root metadata restored " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + ")"
    old = _old_attributes(store)
    for key in ("environment", "runs", "created", "package_version"):
        if isinstance(old.get(key), str):
            attrs[key] = old[key]
    if not store.location.exists(f"{DIGEST}/zarr.json"):  # a store made before chunk digests
        attrs.pop("chunk_digests", None)
    files = build(grid, attrs)
    lease.check()
    store.location.write(ROOT, files[ROOT])
    store.refresh()


def _old_attributes(store: ResultsStore) -> dict:
    """The attributes of a root that is there but damaged (unreadable ones: {})."""
    try:
        return store.attrs()
    except (StoreError, OSError):
        return {}


def prove_sweep(store: ResultsStore, sweep: Sweep, grid: Grid) -> None:
    """Refuse (StoreError naming the first mismatch, stored vs claimed) a sweep that is not the one the store's
    cells were computed from: each coordinate the store keeps must hold the sweep's values (the grid's and the
    per-cell axes: epochs, units), and each cell with a stored seed (every cell that finished) must have the
    data and training seeds the sweep derives for it. The seeds derive from the master seed and every value of
    the cell's resolved specification (sweep.config.grid), so they prove the specification too; a corrupt table chunk
    proves nothing and is skipped (`verify --repair` then recomputes its cells)."""
    loc = store.location
    zstore = loc.zarr_store()
    claimed = {name: _coord_array(values) for name, values in grid.coords.items()}
    claimed.update(Layout.of(grid).own_coords())
    for name, want in claimed.items():
        try:
            got = np.asarray(zarr.open_array(zstore, path=name, mode="r")[...])
        except Exception:  # noqa: BLE001 - a coordinate that cannot be read proves nothing (restored later)
            continue
        same = got.shape == want.shape and (got.astype(str) == want.astype(str)).all() if got.dtype.kind in "UTSO" \
            else got.shape == want.shape and np.array_equal(got, want)
        if not same:
            raise StoreError(f"{sweep.source} is not the sweep this store was made with: coordinate {name}: stored "
                             f"{_short(got)}, the file gives {_short(want)}; give the sweep file the store was made "
                             "with")
    arrays = {}
    for name in ("status", "cell_data_seed", "cell_train_seed"):
        try:
            arrays[name] = zarr.open_array(zstore, path=name, mode="r")
        except Exception:  # noqa: BLE001 - without its metadata the array proves nothing
            pass
    if "cell_data_seed" not in arrays and "cell_train_seed" not in arrays:
        return
    a = arrays["cell_data_seed"] if "cell_data_seed" in arrays else arrays["cell_train_seed"]
    for sel in chunk_regions(a.chunks, grid.shape):
        part = {}
        for name, arr in arrays.items():
            try:
                part[name] = np.asarray(arr[sel])
            except Exception:  # noqa: BLE001 - a corrupt chunk proves nothing
                pass
        held = np.zeros(tuple(s_.stop - s_.start for s_ in sel), dtype=bool)
        for name in ("cell_data_seed", "cell_train_seed"):
            if name in part:
                held |= part[name] != 0
        if "status" in part:
            held |= part["status"] == int(DONE)
        for local in zip(*np.nonzero(held)):
            idx = tuple(int(i + s_.start) for i, s_ in zip(local, sel))
            cell = grid.cell(idx)
            for name, want in (("cell_data_seed", cell.data_seed), ("cell_train_seed", cell.train_seed)):
                if name in part and int(part[name][local]) != int(want):
                    what = "data" if name == "cell_data_seed" else "training"
                    raise StoreError(f"{sweep.source} is not the sweep this store was made with: cell {cell.label()}: "
                                     f"stored {what} seed {int(part[name][local])}, the file derives {int(want)} "
                                     "(another master seed or other parameter values); give the sweep file the "
                                     "store was made with")


def _short(values: np.ndarray) -> str:
    items = values.tolist()
    return str(items if len(items) <= 8 else items[:8] + ["..."])
