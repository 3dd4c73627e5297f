"""One sweep cell: sample its data, train its RBM, return the recorded trajectory.

``run_cell(spec)`` takes one fully specified cell (the YAML sections ``data``, ``rbm``, ``train`` and
optionally the master ``seed``, no grid; a dict) and returns an ``xarray.Dataset``; no Ray, no store. The sweep
runner calls :func:`compute_cell` with a checkpoint callback instead, so long cells resume. The other functions
take the cell's resolved configuration, a :class:`~sweep.config.cellconfig.CellConfig` (``cell.config``).

The data seed and the training seed derive from the master seed and the cell's parameter values
(:func:`sweep.config.grid.derive_seeds`): ``run_cell`` on a grid cell's ``config.as_dict()`` with the sweep's master
``seed`` gives that cell's result.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import xarray as xr

import kernels
from kernels.train import TrainConfig, TrainState

from ..config.cellconfig import CellConfig, DataSpec
from ..config.names import STATISTICS_VARIABLES, VARIABLE_ATTRS, variable_dims
from ..config.names import TRAJECTORY_VARIABLES as VARIABLES
from ..config.grid import expand
from ..config.sweepfile import sweep_from_dict
def resolve_cell(spec: dict) -> tuple[CellConfig, int, int]:
    """Validate a single-cell spec (a dict); returns (its resolved CellConfig, data_seed, train_seed)."""
    raw = {k: v for k, v in spec.items() if k in ("data", "rbm", "train", "seed", "name")}
    if "grid" in spec:
        raise ValueError("run_cell takes one cell: remove `grid` (use sweep.expand for grids)")
    cell = expand(sweep_from_dict(raw, source="<cell>")).cell(())
    return cell.config, cell.data_seed, cell.train_seed


def train_config(config: CellConfig) -> TrainConfig:
    """The kernels' TrainConfig of a cell's resolved configuration."""
    d, r, t = config.data, config.rbm, config.train
    return TrainConfig(
        visible="potts" if config.potts else "spin",
        q=d.q if config.potts else 2,
        hidden=r.hidden, n_hidden=r.n_hidden, fields=r.fields, gamma=r.gamma, theta=r.theta,
        method=t.method, pcd_steps=t.pcd_steps, n_chains=t.n_chains,
        learning_rate=t.learning_rate, batch_size=t.batch_size, epochs=t.epochs,
        record_every=t.record_every, init_std=t.init_std,
    )


def sample_data(data: DataSpec, seed: int) -> np.ndarray:
    """All n_samples configurations of the cell's data model (`config.data`; exact samplers)."""
    n, N, beta = data.n_samples, data.n_visible, data.beta
    couplings = tuple(float(c) for c in data.couplings)
    if data.model == "ising":
        if couplings == (1.0,):
            return kernels.sample_ising(n, N, beta, seed)
        # Ising with other couplings: the q = 2 cosine ring, K(0) = 1, K(1) = -1, v = 1 - 2x
        x = kernels.sample_xy(n, N, 2, beta, seed, kernel="cosine", couplings=couplings)
        return (1 - 2 * x).astype(np.int8)
    return kernels.sample_xy(n, N, data.q, beta, seed, kernel=data.kernel, couplings=couplings)


def split_data(config: CellConfig, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First n_train samples train, the rest (test_fraction of n_samples) test."""
    n_train, _ = config.split_sizes()
    return samples[:n_train], samples[n_train:]


def compute_cell(config: CellConfig, data_seed: int, train_seed: int, state: Optional[TrainState] = None,
                 on_checkpoint: Optional[Callable[[TrainState], None]] = None) -> TrainState:
    """Sample, then train to the last epoch, calling ``on_checkpoint(state)`` every
    ``train.checkpoint_every`` epochs (not at the end). Resumes from ``state`` when given."""
    cfg = train_config(config)
    train, test = split_data(config, sample_data(config.data, data_seed))
    every = config.train.checkpoint_every
    if state is None:
        state = kernels.fit(cfg, train, test, seed=train_seed, stop_epoch=0)
    while state.epoch < cfg.epochs:
        stop = min(cfg.epochs, (state.epoch // every + 1) * every)
        state = kernels.fit(cfg, train, test, seed=train_seed, state=state, stop_epoch=stop)
        if state.epoch < cfg.epochs and on_checkpoint is not None:
            on_checkpoint(state)
    return state


def check_kernel_cache() -> list[str]:
    """Check this process's Numba cache of the kernels without compiling (kernels.cache.scan): damaged files are
    removed, with a warning naming the folder, so that their kernels compile again; returns their names. Cheap
    (it reads the cache folder): for a driver before it dispatches cells, or a step that compiles ahead. A
    damaged file met while a kernel loads is handled the same way there (kernels.cache.CheckedCache)."""
    from kernels.cache import scan

    return scan()


class Diverged(ValueError):
    """Training produced weights that are not finite (or overflow float32): the cell fails with this reason."""


PARAMETERS = ("weights", "visible_fields", "hidden_theta", "hidden_gamma")
"""The trained parameters: finite in every record of a cell that is done."""


def check_finite(arrays: dict, learning_rate: float) -> None:
    """Raise Diverged when a recorded parameter is not finite (inf, NaN, or beyond float32's range)."""
    epochs = arrays["epoch"]
    for name in PARAMETERS:
        bad = ~np.isfinite(arrays[name].reshape(len(epochs), -1)).all(axis=1)
        if bad.any():
            raise Diverged(f"training diverged: {name} not finite (inf or NaN, or beyond float32) from epoch "
                           f"{int(epochs[np.argmax(bad)])} on; lower train.learning_rate (now {learning_rate!r})")


def trajectory_arrays(state: TrainState) -> dict:
    """The recorded history as plain arrays: epoch [E]; weights [E, M, N(, q)], visible_fields [E, N(, q)],
    hidden_theta and hidden_gamma [E, M] (float32); loglik_train, loglik_test [E] (float64)."""
    tr = state.trajectory()
    f32 = np.float32
    with np.errstate(over="ignore", invalid="ignore"):
        return {"epoch": tr["epoch"].astype(np.int64), "weights": tr["weights"].astype(f32),
                "visible_fields": tr["visible_fields"].astype(f32), "hidden_theta": tr["theta"].astype(f32),
                "hidden_gamma": tr["gamma"].astype(f32), "loglik_train": tr["loglik_train"].astype(np.float64),
                "loglik_test": tr["loglik_test"].astype(np.float64)}


def statistics_arrays(config: CellConfig, data_seed: int) -> dict:
    """Spectrum statistics of the cell's data (the same samples a training cell would see): top eigenvalue
    of the correlation matrix and the weight of its eigenvector on the signal modes
    (:func:`sweep.science.spectrum.top_eigen`), as 0-d float64 arrays."""
    from ..science.spectrum import top_eigen

    d = config.data
    stats = top_eigen(sample_data(d, data_seed), model=d.model, q=d.q if config.potts else None)
    return {v: np.float64(stats[v]) for v in STATISTICS_VARIABLES}


def cell_arrays(config: CellConfig, data_seed: int, train_seed: int, state: Optional[TrainState] = None,
                on_checkpoint: Optional[Callable[[TrainState], None]] = None) -> dict:
    """What the store keeps of a cell, as plain arrays: its data statistics, or its training trajectory
    (resuming `state`; with its `epoch` positions)."""
    if config.statistics:
        return statistics_arrays(config, data_seed)
    arrays = trajectory_arrays(compute_cell(config, data_seed, train_seed, state, on_checkpoint))
    check_finite(arrays, config.train.learning_rate)
    return arrays


def as_dataset(config: CellConfig, arrays: dict) -> xr.Dataset:
    """cell_arrays as a Dataset: the trajectory over (epoch, hidden, visible[, state]), or the statistics as
    scalars; CF attributes from VARIABLE_ATTRS."""
    if "epoch" in arrays:
        dims = variable_dims(config.potts)
        ds = xr.Dataset({v: (dims[v], arrays[v]) for v in VARIABLES}, coords={"epoch": ("epoch", arrays["epoch"])})
        ds["epoch"].attrs.update(long_name="training epoch (0 = initial weights)")
    else:
        ds = xr.Dataset({v: ((), arrays[v]) for v in STATISTICS_VARIABLES})
    for v in ds.data_vars:
        ds[v].attrs.update(VARIABLE_ATTRS[v])
    return ds


def cell_dataset(config: CellConfig, data_seed: int, train_seed: int, state: Optional[TrainState] = None,
                 on_checkpoint: Optional[Callable[[TrainState], None]] = None) -> xr.Dataset:
    """The cell's result as a Dataset: its data statistics, or its training trajectory (resuming `state`)."""
    return as_dataset(config, cell_arrays(config, data_seed, train_seed, state, on_checkpoint))


def run_cell(spec: dict) -> xr.Dataset:
    """Run one fully specified cell ({data, rbm, train[, seed]}) and return its trajectory.

    Deterministic: the same spec gives bit-identical arrays. Attributes record the seeds and the
    wall time.
    """
    resolved, data_seed, train_seed = resolve_cell(spec)
    t0 = time.perf_counter()
    ds = cell_dataset(resolved, data_seed, train_seed)
    ds.attrs.update(data_seed=str(data_seed), train_seed=str(train_seed),
                    wall_time_s=time.perf_counter() - t0)
    return ds


def cell_samples(sweep, sel: Optional[dict] = None, n: int = 100):
    """The first n configurations of one cell's data, redrawn exactly from its data seed (the data a
    training cell of `sweep` saw): returns (data int[n, N], the cell's `config.data` (a DataSpec), the cell's
    coordinates). `sel` gives grid coordinate values; dimensions it leaves out take their first value."""
    grid = expand(sweep)
    sel = dict(sel or {})
    unknown = [k for k in sel if k not in grid.coords]
    if unknown:
        raise ValueError(f"no grid coordinate {', '.join(unknown)}; the grid has {', '.join(grid.coords)}")
    index = []
    for d in grid.dims:
        values = grid.coords[d]
        v = sel.get(d, values[0])
        if v not in values:
            raise ValueError(f"{d}={v!r} is not on the grid ({values[:20]})")
        index.append(values.index(v))
    cell = grid.cell(tuple(index))
    data = cell.config.data
    first = data.model_copy(update={"n_samples": min(int(n), data.n_samples)})
    return sample_data(first, cell.data_seed), data, cell.coords
