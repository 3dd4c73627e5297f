"""Grid expansion: the cells of a sweep and their seeds (the syntax is :mod:`sweep.config.gridsyntax`).

Seeds (per cell, unsigned 64-bit, see :func:`derive_seeds`): ``sha256`` of the canonical JSON
(:func:`sweep.config.fields.canonical_json`) of ``{"master_seed": S, "stream": STREAM, "params": P}``, first
8 bytes as a big-endian unsigned integer, where

- data stream: ``STREAM = "data"``, ``P`` = the resolved ``data`` section without ``seed``; an
  explicit (non-null) ``data.seed`` is used as the data seed instead;
- train stream: ``STREAM = "train"``, ``P`` = the whole resolved cell ``{data, rbm, train}`` (with
  ``data.seed`` as written, ``train.seed`` and ``n_chains`` resolved) minus the bookkeeping keys
  :data:`TRAIN_SEED_EXCLUDED`, which must not change the trajectory.

Values pass through the field types first (``beta: 1`` is ``1.0``), so seeds depend on parameter
values only: not on grid order, grid position, ranges vs lists, or other values on the grid.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from .cellconfig import CellConfig
from .fields import canonical_json, copy_value, format_value, resolve
from .gridsyntax import MAX_CELLS, MAX_VALUES, Dimension, coord_name  # noqa: F401 - re-exported
from .sweepfile import Sweep

TRAIN_SEED_EXCLUDED = ("train.record_every", "train.checkpoint_every")

# ---------------------------------------------------------------------------------------------
# seeds


def _hash64(master_seed: int, stream: str, params: Any) -> int:
    text = canonical_json({"master_seed": master_seed, "stream": stream, "params": params})
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def data_seed(master_seed: int, data: Mapping[str, Any]) -> int:
    """Data-stream seed of a resolved ``data`` section (its explicit ``seed`` if not null)."""
    if data.get("seed") is not None:
        return int(data["seed"])
    return _hash64(master_seed, "data", {k: v for k, v in data.items() if k != "seed"})


def train_seed(master_seed: int, spec: Mapping[str, Mapping[str, Any]]) -> int:
    """Train-stream seed of a resolved cell spec ``{data, rbm, train}`` (``n_chains: None`` is
    read as ``batch_size``, as :func:`sweep.config.sweepfile.resolve` does)."""
    params = resolve(spec, {})
    for key in TRAIN_SEED_EXCLUDED:
        section, name = key.split(".")
        params[section].pop(name, None)
    return _hash64(master_seed, "train", params)


def derive_seeds(master_seed: int, spec: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    """(data_seed, train_seed) of a resolved cell spec (as :func:`sweep.config.sweepfile.resolve` gives, or a
    :class:`~sweep.config.cellconfig.CellConfig`'s ``as_dict()``)."""
    return data_seed(master_seed, spec["data"]), train_seed(master_seed, spec)


# ---------------------------------------------------------------------------------------------
# cells


def _coord(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


@dataclass(frozen=True)
class Cell:
    """One grid cell.

    ``index``: position in the grid (one int per dimension); ``params``: dotted key -> value of
    every grid key (dimensions and zip'd coordinates); ``coords``: coordinate name -> value;
    ``config``: the resolved configuration (:class:`~sweep.config.cellconfig.CellConfig`: ``config.data.beta``,
    ``config.as_dict()`` for the plain ``{"data", "rbm", "train"}`` dict); ``data_seed``, ``train_seed``.
    """

    index: tuple[int, ...]
    params: dict[str, Any]
    coords: dict[str, Any]
    config: CellConfig
    data_seed: int
    train_seed: int

    def label(self) -> str:
        """``"beta=0.1, seed=0, n_samples=100"`` (coordinates in dimension order)."""
        return ", ".join(f"{n}={format_value(v)}" for n, v in self.coords.items())


class Grid:
    """The expanded grid of a :class:`~sweep.config.sweepfile.Sweep`.

    ``dims``: dimension names in order; ``shape``; ``size``; ``dimensions``: the
    :class:`Dimension` objects; ``coords``: coordinate name -> list of values, for every dimension
    and every zip'd key (list values as tuples); ``coord_dims``: coordinate name -> the dimension it
    lies along (a dimension maps to itself); ``coord_keys``: coordinate name -> dotted key.
    Iterating yields every :class:`Cell` in C order (last dimension fastest).
    """

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.dimensions: tuple[Dimension, ...] = tuple(sweep.dims)
        self.dims = tuple(d.name for d in self.dimensions)
        self.shape = tuple(d.size for d in self.dimensions)
        self.size = math.prod(self.shape)
        self.coords: dict[str, list] = {}
        self.coord_dims: dict[str, str] = {}
        self.coord_keys: dict[str, str] = {}
        for d in self.dimensions:
            for key, name in zip(d.keys, d.names):
                self.coords[name] = [_coord(v) for v in d.values[key]]
                self.coord_dims[name] = d.name
                self.coord_keys[name] = key

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Cell]:
        for index in itertools.product(*(range(n) for n in self.shape)):
            yield self.cell(index)

    def cell(self, index: tuple[int, ...]) -> Cell:
        """The cell at ``index`` (one non-negative int per dimension)."""
        index = tuple(int(i) for i in index)
        if len(index) != len(self.shape) or not all(0 <= i < n for i, n in zip(index, self.shape)):
            raise IndexError(f"index {index} is outside the grid of shape {self.shape}")
        params = {k: d.values[k][i] for d, i in zip(self.dimensions, index) for k in d.keys}
        coords = {n: self.coords[n][i] for d, i in zip(self.dimensions, index) for n in d.names}
        spec = resolve(self.sweep.base, params)
        ds, ts = derive_seeds(self.sweep.seed, spec)
        return Cell(index, copy_value(params), coords, CellConfig.of(spec), ds, ts)

    def representatives(self, keys, flat=None) -> list[tuple[Cell, int]]:
        """One cell per combination of the dimensions that vary any of `keys` (dotted keys), the other
        dimensions at their first value, with how many of the cells at flat C-order positions `flat` (default:
        all) share that combination. What depends only on `keys` is then computed once per combination, not
        once per cell (a 1e5-cell grid over beta and seed has one combination)."""
        import numpy as np

        flat = np.arange(self.size) if flat is None else np.asarray(flat, dtype=np.int64)
        if not len(flat):
            return []
        varying = [i for i, d in enumerate(self.dimensions) if any(k in keys for k in d.keys)]
        positions = np.unravel_index(flat, self.shape)
        columns = np.stack([positions[i] for i in varying] + [np.zeros(len(flat), dtype=np.int64)], axis=1)
        combos, counts = np.unique(columns, axis=0, return_counts=True)
        out = []
        for combo, n in zip(combos, counts):
            index = [0] * len(self.shape)
            for i, v in zip(varying, combo):
                index[i] = int(v)
            out.append((self.cell(tuple(index)), int(n)))
        return out

    def index(self, **coords: Any) -> tuple[int, ...]:
        """Index of the cell with the given value of every dimension: ``grid.index(beta=0.5)``."""
        missing = [d for d in self.dims if d not in coords]
        extra = [c for c in coords if c not in self.dims]
        if missing or extra:
            raise KeyError(f"give exactly the dimensions {self.dims}; missing {missing}, "
                           f"unknown {extra}")
        out = []
        for d in self.dims:
            value = _coord(coords[d])
            if value not in self.coords[d]:
                raise KeyError(f"{d}={value!r} is not on the grid ({self.coords[d]})")
            out.append(self.coords[d].index(value))
        return tuple(out)

    def xarray_coords(self) -> dict[str, tuple[str, list]]:
        """``{name: (dim, values)}``, ready for ``xarray.Dataset(coords=...)``."""
        return {n: (self.coord_dims[n], list(v)) for n, v in self.coords.items()}


def expand(sweep: Sweep) -> Grid:
    """Expand a validated sweep into its :class:`Grid` of cells."""
    return Grid(sweep)
