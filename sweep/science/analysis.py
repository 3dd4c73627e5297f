"""Observables of recorded RBM weights (docs/physics.md section 5): pure functions from xarray to xarray.

Every function keeps all dimensions and coordinates it does not reduce; dimension names are keyword
arguments (``visible="visible"``, ``state="state"``, ``epoch="epoch"``, ``hidden="hidden"``). No I/O.

Conventions
-----------
* Sites: a weight vector has N valid sites i = 0..N-1, phi_i = 2 pi i / N. N is counted per vector as
  the number of sites with a finite weight (the store pads smaller cells with NaN *at the end* of
  ``visible``); a vector with no finite entry (padded hidden unit, unrecorded epoch) gives NaN.
* Ising weights w_i (no ``state`` dim) enter through w_i^2, w_i w_{i+1} and |w_i|.
* XY / Potts weights w_{i,a} (``state`` dim present): the spatial observables (centre, R, Q, IPR, FWHM)
  use the site vector w_{i,.}: w_i^2 -> s_i = sum_a w_{i,a}^2, w_i w_{i+1} -> sum_a w_{i,a} w_{i+1,a},
  |w_i| -> sqrt(s_i). They reduce exactly to the Ising formulas for one state. To measure the angular
  place field instead, pass ``angular_modulation(w)`` (no ``state`` dim). NaN-padded states (cells with
  fewer Potts states) are ignored; q is counted per site.
* Results are float64, NaN where undefined (empty vector, zero weights); no warnings are emitted for
  those.
* Replicas: the dimensions in REPLICA_DIMS (``seed`` for a grid over train.seed alone, ``train_seed`` and
  ``data_seed`` for a grid over both) are independent repetitions (initialisations, data sets); every
  average "over replicas" here (order_parameter, msd, replica_mean, replica_std) takes all of those
  present, so one function serves every store.
"""

from __future__ import annotations

import math
import warnings
from functools import reduce
from typing import Callable, Iterable, Optional, Union

import numpy as np
import xarray as xr

__all__ = [
    "REPLICA_DIMS", "replica_dims", "replica_mean", "replica_std", "replica_variance", "final_weights", "centre", "localization", "smoothness", "ipr", "fwhm", "OBSERVABLES",
    "order_parameter", "unwrap_centres", "msd", "diffusion_coefficient", "pairwise_distances",
    "nearest_neighbour_spacing", "ring_gaps", "angular_modulation", "spatial_modulation", "cosine_fit",
    "angular_order", "spatial_order", "crossing", "receptive_field", "neighbour_gaps", "centre_of_mass",
    "co_diffusion", "centred_profile", "profile_scaling",
]

TWO_PI = 2.0 * np.pi

REPLICA_DIMS = ("seed", "train_seed", "data_seed")
"""Dimensions that hold independent replicas: initialisations (``seed`` = train.seed alone, or
``train_seed``) and data sets (``data_seed``)."""


def replica_dims(obj, extra: Iterable[str] = ()) -> tuple:
    """The dims of `obj` (DataArray or Dataset) that are replicas (REPLICA_DIMS) or in `extra`, in that order."""
    dims = obj.dims
    return tuple(d for d in tuple(REPLICA_DIMS) + tuple(extra) if d in dims)


def replica_mean(x, extra: Iterable[str] = ()):
    """Mean over every replica dim present (and `extra`, e.g. ("hidden",)), ignoring NaN."""
    dims = replica_dims(x, extra)
    if not dims:
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return x.mean(dims, skipna=True)


def replica_std(x, extra: Iterable[str] = (), ddof: int = 1):
    """Standard deviation over every replica dim present (and `extra`), ignoring NaN (ddof 1: the
    sample standard deviation; NaN with fewer than two values)."""
    dims = replica_dims(x, extra)
    if not dims:
        return xr.full_like(x, np.nan, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return x.std(dims, skipna=True, ddof=ddof)


def replica_variance(x, group: str = "data_seed", within: str = "train_seed", pool: Iterable[str] = ()) -> xr.Dataset:
    """One-way analysis of variance of x over replicas: `group` (data sets) as the factor, `within`
    (initialisations on one data set) as the repetitions; other dims are kept, except `pool`, whose cells
    are pooled (sums of squares and degrees of freedom added). NaN values are left out.

    Returns ss_between, df_between, ss_within, df_within, F = (ss_b / df_b) / (ss_w / df_w), sd_within =
    sqrt(ss_w / df_w) (the spread over initialisations) and sd_between = sqrt(max(0, (ms_b - ms_w) / n)),
    the spread the data sets add (n: repetitions per group; 0 when F <= 1). Under no data-set effect F
    follows Fisher's F(df_b, df_w) (scipy.stats.f.sf(F, df_b, df_w) is the p-value)."""
    for d in (group, within):
        if d not in x.dims:
            raise ValueError(f"replica_variance: no {d!r} dimension (dims: {', '.join(map(str, x.dims))})")
    ok = x.notnull()
    n = ok.sum(within)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gm = x.mean(within, skipna=True)
        ss_w = ((x - gm) ** 2).sum((within, group), skipna=True)
        grand = (gm * n).sum(group) / n.sum(group)
        ss_b = (n * (gm - grand) ** 2).where(n > 0).sum(group, skipna=True)
    groups = (n > 0).sum(group)
    df_b = (groups - 1).astype(np.float64)
    df_w = (n - 1).clip(min=0).sum(group).astype(np.float64)
    pool = [d for d in pool if d in ss_b.dims]
    if pool:
        ss_b, ss_w, df_b, df_w = (v.sum(pool) for v in (ss_b, ss_w, df_b, df_w))
        reps = (n.sum(group).sum(pool) / groups.sum(pool)).astype(np.float64)
    else:
        reps = (n.sum(group) / groups).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms_b, ms_w = ss_b / df_b, ss_w / df_w
        F = ms_b / ms_w
        sd_between = np.sqrt(((ms_b - ms_w) / reps).clip(min=0))
    return xr.Dataset({"ss_between": ss_b, "df_between": df_b, "ss_within": ss_w, "df_within": df_w, "F": F,
                       "sd_within": np.sqrt(ms_w), "sd_between": sd_between})


# ------------------------------------------------------------------------------------ helpers
def _weights(w) -> xr.DataArray:
    if isinstance(w, xr.Dataset):
        if "weights" not in w:
            raise ValueError(f"the dataset has no 'weights' variable (it has {', '.join(w.data_vars)})")
        return w["weights"]
    return w


def _has(w: xr.DataArray, dim: Optional[str]) -> bool:
    return dim is not None and dim in w.dims


def _quiet(func):
    """Run a numpy core without the RuntimeWarnings of empty/zero vectors (results are NaN there)."""
    def run(*args, **kw):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return func(*args, **kw)
    run.__name__ = func.__name__
    return run


def _apply_sites(core, w, visible: str, state: Optional[str], n_out: int = 1, out_dims=None, **kw):
    """apply_ufunc over the site axis (and the state axis if present): core gets (..., N, S) float64."""
    w = _weights(w)
    if visible not in w.dims:
        raise ValueError(f"no {visible!r} dimension in {tuple(w.dims)}")
    use_state = _has(w, state)
    in_core = [visible, state] if use_state else [visible]

    def wrapped(a):
        a = np.asarray(a, dtype=np.float64)
        if not use_state:
            a = a[..., None]
        return _quiet(core)(a, **kw)

    out_dims = out_dims or [[] for _ in range(n_out)]
    return xr.apply_ufunc(wrapped, w, input_core_dims=[in_core], output_core_dims=out_dims,
                          dask="parallelized", output_dtypes=[np.float64] * n_out)


def _prep(a: np.ndarray):
    """(..., N, S) -> zero-filled weights, per-site validity, per-vector N, site energies s_i."""
    finite = np.isfinite(a)
    w0 = np.where(finite, a, 0.0)
    site_ok = finite.any(-1)
    n = site_ok.sum(-1)
    s = (w0 * w0).sum(-1)
    return w0, site_ok, n, s


def _moment(s: np.ndarray, n: np.ndarray):
    """Z = sum_i s_i exp(i phi_i) with phi_i = 2 pi i / N (N per vector), and S = sum_i s_i."""
    i = np.arange(s.shape[-1])
    phi = TWO_PI * i / np.maximum(n, 1)[..., None]
    z = (s * np.exp(1j * phi)).sum(-1)
    return z, s.sum(-1)


def _ring_size(c: xr.DataArray, n):
    if n is not None:
        return n
    if "n_sites" in c.coords:
        return c.coords["n_sites"]
    if "n_sites" in c.attrs:
        return c.attrs["n_sites"]
    raise ValueError("ring size unknown: pass n= (number of sites), or use centres from centre(), "
                     "which records it as attrs['n_sites'] / coordinate 'n_sites'")


# ------------------------------------------------------------------------------------ final epoch
def final_weights(ds_or_weights, epoch: str = "epoch", hidden: str = "hidden", visible: str = "visible",
                  state: str = "state") -> xr.DataArray:
    """Weights at each cell's last recorded epoch: the last epoch where any weight of the cell (over
    hidden, visible, state) is finite. The epoch dim is dropped; coordinate ``final_epoch`` (float64,
    NaN for cells with no record, whose weights are then NaN) gives the epoch taken."""
    w = _weights(ds_or_weights)
    if epoch not in w.dims:
        raise ValueError(f"no {epoch!r} dimension in {tuple(w.dims)}")
    inner = [d for d in (hidden, visible, state) if d in w.dims]
    has = w.notnull()
    if inner:
        has = has.any(inner)
    has = has.transpose(..., epoch)
    arr = np.asarray(has.values, dtype=bool)
    n_e = arr.shape[-1]
    last = n_e - 1 - np.argmax(arr[..., ::-1], axis=-1)
    recorded = arr.any(-1)
    last = np.where(recorded, last, 0)
    cell_dims = [d for d in has.dims if d != epoch]
    idx = xr.DataArray(last, dims=cell_dims)
    out = w.isel({epoch: idx})
    if epoch in out.coords:
        out = out.drop_vars(epoch)
    rec = xr.DataArray(recorded, dims=cell_dims)
    out = out.where(rec)
    epochs = np.asarray(w[epoch].values if epoch in w.coords else np.arange(n_e), dtype=np.float64)
    out = out.assign_coords(final_epoch=(cell_dims, np.where(recorded, epochs[last], np.nan)))
    out.name = w.name
    return out


# ------------------------------------------------------------------------------------ spatial observables
def _centre_core(a):
    _, _, n, s = _prep(a)
    z, tot = _moment(s, n)
    c = np.mod(np.angle(z) * n / TWO_PI, n)
    c = np.where(c >= n, 0.0, c)  # mod can round up to n
    return np.where((n > 0) & (tot > 0), c, np.nan)


def _n_sites_core(a):
    n = _prep(a)[2].astype(np.float64)
    return np.where(n > 0, n, np.nan)


def centre(w, visible: str = "visible", state: str = "state", hidden: str = "hidden",
           epoch: str = "epoch") -> xr.DataArray:
    """Peak centre c = N/(2 pi) arg(sum_i w_i^2 exp(i phi_i)), in [0, N) sites (XY: w_i^2 -> sum_a w_{i,a}^2).

    The ring size is recorded for unwrap_centres / pairwise_distances: ``attrs['n_sites']`` when every
    vector has the same N, otherwise a coordinate ``n_sites`` (max over epoch and hidden: the cell's N)."""
    c = _apply_sites(_centre_core, w, visible, state)
    n = _apply_sites(_n_sites_core, w, visible, state)
    vals = np.unique(np.asarray(n.values)[np.isfinite(n.values)])
    if len(vals) <= 1:
        c.attrs["n_sites"] = int(vals[0]) if len(vals) else _weights(w).sizes[visible]
    else:
        red = [d for d in (epoch, hidden) if d in n.dims]
        c = c.assign_coords(n_sites=n.max(red) if red else n)
    c.attrs["long_name"] = "peak centre"
    c.attrs["units"] = "sites"
    return c


def _localization_core(a):
    _, _, n, s = _prep(a)
    z, tot = _moment(s, n)
    return np.where((n > 0) & (tot > 0), np.abs(z) / tot, np.nan)


def localization(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """R = |sum_i w_i^2 exp(i phi_i)| / sum_i w_i^2 in [0, 1]: 0 uniform, O(1/sqrt(N)) noise, ~1 a place
    field (XY: w_i^2 -> sum_a w_{i,a}^2)."""
    return _apply_sites(_localization_core, w, visible, state)


def _smoothness_core(a):
    w0, _, n, s = _prep(a)
    nmax = a.shape[-2]
    nxt = (np.arange(nmax) + 1) % np.maximum(n, 1)[..., None]  # periodic within each vector's N
    shifted = np.take_along_axis(w0, nxt[..., None], axis=-2)
    num = (w0 * shifted).sum((-2, -1))
    tot = s.sum(-1)
    return np.where((n > 0) & (tot > 0), num / tot, np.nan)


def smoothness(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Q = sum_i w_i w_{i+1} / sum_i w_i^2 (periodic, w_{N} = w_0): ~0 for noise, ~1 for a smooth
    profile (XY: w_i w_{i+1} -> sum_a w_{i,a} w_{i+1,a})."""
    return _apply_sites(_smoothness_core, w, visible, state)


def _ipr_core(a):
    _, _, n, s = _prep(a)
    tot = s.sum(-1)
    return np.where((n > 0) & (tot > 0), n * (s * s).sum(-1) / tot ** 2, np.nan)


def ipr(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Inverse participation ratio times N: N sum_i w_i^4 / (sum_i w_i^2)^2 (1 uniform, ~3 Gaussian
    noise, ~N/width for a peak; XY: w_i^2 -> sum_a w_{i,a}^2)."""
    return _apply_sites(_ipr_core, w, visible, state)


def _fwhm_core(a):
    _, site_ok, n, s = _prep(a)
    p = np.sqrt(s)
    p = np.where(site_ok, p, -np.inf)
    shape = p.shape[:-1]
    nmax = p.shape[-1]
    p2 = p.reshape(-1, nmax)
    nn = np.maximum(n.reshape(-1), 1)
    m = np.argmax(p2, axis=-1)
    rows = np.arange(p2.shape[0])[:, None]
    k = np.arange(nmax + 1)
    right = p2[rows, (m[:, None] + k) % nn[:, None]]  # right[:, j] = p[m + j]
    left = p2[rows, (m[:, None] - k) % nn[:, None]]   # left[:, j] = p[m - j]
    half = p2[np.arange(p2.shape[0]), m] / 2

    def side(b):
        below = b < half[:, None]
        below[:, 0] = False
        j = np.argmax(below, axis=-1)
        found = below.any(-1) & (j <= nn)
        j = np.maximum(j, 1)
        hi = b[np.arange(len(j)), j - 1]
        lo = b[np.arange(len(j)), j]
        frac = (hi - half) / (hi - lo)
        return np.where(found, j - 1 + frac, np.inf)

    width = np.minimum(side(right) + side(left), nn)  # no crossing: the whole ring is above half max
    ok = (n.reshape(-1) > 0) & (half > 0)
    return np.where(ok, width, np.nan).reshape(shape)


def fwhm(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Full width at half maximum of |w_i| around its largest entry, in sites: from the maximum m walk
    both ways (periodically) to the first site below |w_m|/2 and interpolate linearly between it and
    its neighbour. Capped at N (returned when the whole ring lies above half maximum). XY: |w_i| ->
    sqrt(sum_a w_{i,a}^2). For w_i = sech(k (i - x0)) it is 2 arccosh(2)/k up to interpolation error."""
    return _apply_sites(_fwhm_core, w, visible, state)


# ------------------------------------------------------------------------------------ order parameter
def _angular_order_fn(w, visible="visible", state="state"):
    return angular_order(w, visible=visible, state=state)


def _spatial_order_fn(w, visible="visible", state="state"):
    return spatial_order(w, visible=visible, state=state)


OBSERVABLES: dict = {
    "R": localization,
    "IPR": ipr,
    "Q": smoothness,
    "FWHM": fwhm,
    "angular_order": _angular_order_fn,
    "spatial_order": _spatial_order_fn,
}
"""Observables available to order_parameter, by name (lookup is case-insensitive; 'IPR*N' = 'IPR')."""


def _observable(name) -> Callable:
    if callable(name):
        return name
    table = {k.lower(): v for k, v in OBSERVABLES.items()}
    table["ipr*n"] = ipr
    fn = table.get(str(name).lower())
    if fn is None:
        raise ValueError(f"unknown observable {name!r}: choose one of {', '.join(OBSERVABLES)}")
    return fn


def order_parameter(w, observable: Union[str, Callable] = "R", over: Iterable[str] = REPLICA_DIMS + ("hidden",),
                    visible: str = "visible", state: str = "state") -> xr.DataArray:
    """The named observable (OBSERVABLES: R, IPR, Q, FWHM, angular_order, spatial_order, or a callable
    w -> DataArray) averaged over the dims of `over` that are present (default: every replica dim and the
    hidden units), ignoring NaN (padded hidden units, missing cells). Every other dim is kept. Apply it to final_weights(ds) for the end of training."""
    value = _observable(observable)(_weights(w), visible=visible, state=state)
    dims = [d for d in over if d in value.dims]
    if not dims:
        return value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = value.mean(dims, skipna=True)
    out.attrs["observable"] = observable if isinstance(observable, str) else getattr(observable, "__name__", "")
    out.attrs["averaged_over"] = ", ".join(dims)
    return out


def _crossing_core(y, x, level, last):
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    lo, hi = y[..., :-1], y[..., 1:]
    up = np.isfinite(lo) & np.isfinite(hi) & (lo < level) & (hi >= level)
    k = np.arange(up.shape[-1])
    pick = np.where(up, k, -1).max(-1) if last else np.where(up, k, up.shape[-1]).min(-1)
    found = up.any(-1)
    pick = np.clip(pick, 0, max(up.shape[-1] - 1, 0))
    if up.shape[-1] == 0:
        return np.full(y.shape[:-1], np.nan)
    y0 = np.take_along_axis(lo, pick[..., None], -1)[..., 0]
    y1 = np.take_along_axis(hi, pick[..., None], -1)[..., 0]
    x0, x1 = x[pick], x[pick + 1]
    return np.where(found, x0 + (level - y0) * (x1 - x0) / (y1 - y0), np.nan)


def crossing(y: xr.DataArray, dim: str, level: float = 0.5, which: str = "first", log: bool = False) -> xr.DataArray:
    """Where y rises through `level` along `dim` (sorted by its coordinate), by linear interpolation:
    for the crossing interval y_k < level <= y_{k+1}, x* = x_k + (level - y_k) (x_{k+1} - x_k) /
    (y_{k+1} - y_k). which="first" takes the first such interval, "last" the last one (noisy,
    non-monotone curves can cross several times; the two bracket the threshold). NaN where y never
    rises through the level (it starts above it, stays below, or the intervals hold NaN). `dim` is
    reduced; e.g. crossing(order_parameter(w), "beta") gives the beta where R reaches 0.5. With
    log=True the interpolation is linear in ln x (sample counts on a log grid): x* = exp(...)."""
    if dim not in y.dims:
        raise ValueError(f"no {dim!r} dimension in {tuple(y.dims)}")
    if which not in ("first", "last"):
        raise ValueError(f"which must be 'first' or 'last', got {which!r}")
    y = y.sortby(dim)
    x = np.asarray(y[dim].values, dtype=np.float64)
    if log:
        if np.any(x <= 0):
            raise ValueError(f"log=True needs positive {dim!r} values")
        x = np.log(x)
    out = xr.apply_ufunc(_quiet(_crossing_core), y, input_core_dims=[[dim]],
                         kwargs={"x": x, "level": float(level), "last": which == "last"})
    if log:
        out = np.exp(out)
    out.attrs = {"long_name": f"{dim} where the value rises through {level:g} ({which} crossing)"}
    return out


# ------------------------------------------------------------------------------------ trajectories, diffusion
def _unwrap_core(x, n):
    n = np.asarray(n, dtype=np.float64)[..., None]
    x = np.asarray(x, dtype=np.float64)
    L = x.shape[-1]
    if L == 0:
        return x
    fin = np.isfinite(x)
    pos = np.where(fin, np.arange(L), -1)
    pos = np.maximum.accumulate(pos, axis=-1)
    filled = np.take_along_axis(x, np.maximum(pos, 0), axis=-1)
    filled = np.where(pos >= 0, filled, np.nan)
    d = np.diff(filled, axis=-1)
    jumps = np.round(np.where(np.isfinite(d), d, 0.0) / n)
    shift = -n * np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(jumps, axis=-1)], axis=-1)
    return x + shift


def unwrap_centres(c: xr.DataArray, epoch: str = "epoch", n=None) -> xr.DataArray:
    """Unwrap centre trajectories across the periodic boundary: going along `epoch`, add or subtract N
    whenever a step (between consecutive finite values; NaN epochs are skipped and stay NaN) exceeds
    N/2. N from `n`, else from centre()'s ``n_sites`` coordinate or attribute."""
    if epoch not in c.dims:
        raise ValueError(f"no {epoch!r} dimension in {tuple(c.dims)}: unwrapping needs trajectories")
    n = _ring_size(c, n)
    out = xr.apply_ufunc(_quiet(_unwrap_core), c, n, input_core_dims=[[epoch], []],
                         output_core_dims=[[epoch]], dask="parallelized", output_dtypes=[np.float64])
    out = out.transpose(*c.dims)
    out.attrs = dict(c.attrs, long_name="unwrapped peak centre")
    return out


def _epoch_grid(e: np.ndarray):
    """Positions of the recorded epochs on a uniform grid of step g (gcd of the steps)."""
    e = np.asarray(e)
    if len(e) < 2:
        return np.zeros(len(e), dtype=np.int64), 1, len(e)
    d = np.diff(e)
    if np.any(d <= 0):
        raise ValueError("the epoch coordinate must increase")
    if np.issubdtype(e.dtype, np.integer) or np.allclose(e, np.round(e)):
        g = int(reduce(math.gcd, (int(round(v)) for v in d)))
    elif np.allclose(d, d[0]):
        g = float(d[0])
    else:
        raise ValueError("non-integer, non-uniform epoch coordinate: cannot form lags")
    pos = np.round((e - e[0]) / g).astype(np.int64)
    return pos, g, int(pos[-1]) + 1


def msd(c_unwrapped: xr.DataArray, over: Iterable[str] = REPLICA_DIMS, epoch: str = "epoch",
        start: Optional[float] = None, max_lag: Optional[float] = None) -> xr.DataArray:
    """Mean-square displacement MSD(tau) = < (c(t + tau) - c(t))^2 > of unwrapped centres, for lags tau in
    units of the epoch coordinate (multiples of the gcd of its steps), averaged over time origins t and
    over the `over` dims present (default: every replica dim). All available pairs are pooled (sum of squared displacements / number
    of pairs; coordinate ``n_pairs``), so NaN epochs and truncated trajectories are handled. Only epochs
    >= `start` are used (drop the localization transient); lags up to `max_lag`. Result dims: (lag, rest);
    the lag dim is empty when fewer than two epochs remain."""
    c = c_unwrapped
    if epoch not in c.dims:
        raise ValueError(f"no {epoch!r} dimension in {tuple(c.dims)}")
    if start is not None:
        c = c.where(c[epoch] >= start, drop=True)
    c = c.drop_vars("n_sites", errors="ignore")
    over = [d for d in over if d in c.dims and d != epoch]
    e = np.asarray(c[epoch].values)
    pos, g, L = _epoch_grid(e)
    kmax = L - 1 if max_lag is None else min(L - 1, int(np.floor(max_lag / g + 1e-9)))
    kmax = max(kmax, 0)

    def core(x):
        x = np.asarray(x, dtype=np.float64)
        lead = x.shape[:x.ndim - len(over) - 1]
        x = x.reshape(lead + (int(np.prod(x.shape[len(lead):-1])), x.shape[-1]))  # explicit: epoch may be empty
        grid = np.full(x.shape[:-1] + (L,), np.nan)
        grid[..., pos] = x
        S = np.zeros(lead + (kmax,))
        C = np.zeros(lead + (kmax,))
        for k in range(1, kmax + 1):
            d = grid[..., k:] - grid[..., :-k]
            fin = np.isfinite(d)
            S[..., k - 1] = np.where(fin, d * d, 0.0).sum((-2, -1))
            C[..., k - 1] = fin.sum((-2, -1))
        return S, C

    c = c.compute() if hasattr(c.data, "compute") else c
    S, C = xr.apply_ufunc(_quiet(core), c, input_core_dims=[over + [epoch]],
                          output_core_dims=[["lag"], ["lag"]])
    lag = np.arange(1, kmax + 1) * g
    S = S.assign_coords(lag=lag)
    C = C.assign_coords(lag=lag)
    rest = [d for d in C.dims if d != "lag"]
    keep = (C.sum(rest) > 0) if rest else (C > 0)
    keep = np.asarray(keep.values, dtype=bool)
    S, C = S.isel(lag=keep), C.isel(lag=keep)
    with np.errstate(all="ignore"):
        m = (S / C).where(C > 0)
    m = m.assign_coords(n_pairs=C).transpose("lag", ...)
    m.name = "msd"
    m.attrs = {"long_name": "mean-square displacement of the centre", "units": "sites^2",
               "averaged_over": ", ".join(["time origins"] + over)}
    m["lag"].attrs["units"] = "epochs"
    return m


def diffusion_coefficient(msd: xr.DataArray, after: float = 0.0, until: Optional[float] = None,
                          intercept: bool = True, lag: str = "lag") -> xr.Dataset:
    """Diffusion coefficient from an unweighted least-squares fit of MSD(tau) = 2 D tau + b over the lags
    after <= tau <= until (NaN points skipped). With ``intercept=True`` (default) b is fitted, which
    absorbs a constant offset (centre-estimation noise, the end of the transient); with False the line
    goes through the origin (b = 0). Returns a Dataset: D, intercept, n_lags (points used), r2 and fit
    (2 D tau + b at every lag), every other dim of `msd` kept. r2 = 1 - sum (y - 2 D tau - b)^2 /
    sum (y - mean y)^2 over the fitted lags: the quality of the straight line (1 for exact linear
    growth). Where too few lags are usable (fewer than 2 with an intercept, 1 without, or a constant
    MSD for r2) the results are NaN, without warnings."""
    tau = np.asarray(msd[lag].values, dtype=np.float64)
    use = tau >= after
    if until is not None:
        use &= tau <= until

    def core(y):
        y = np.asarray(y, dtype=np.float64)
        m = np.isfinite(y) & use
        t = np.where(m, tau, 0.0)
        yy = np.where(m, y, 0.0)
        n = m.sum(-1)
        if intercept:
            tm = t.sum(-1) / n
            ym = yy.sum(-1) / n
            dt = np.where(m, tau - tm[..., None], 0.0)
            slope = (dt * (yy - ym[..., None])).sum(-1) / (dt * dt).sum(-1)
            b = ym - slope * tm
            ok = n >= 2
        else:
            slope = (t * yy).sum(-1) / (t * t).sum(-1)
            b = np.zeros_like(slope)
            ok = n >= 1
        D = np.where(ok, slope / 2, np.nan)
        b = np.where(ok, b, np.nan)
        ym = yy.sum(-1) / n
        res = np.where(m, y - (slope[..., None] * tau + b[..., None]), 0.0)
        tot = np.where(m, y - ym[..., None], 0.0)
        ss_tot = (tot * tot).sum(-1)
        r2 = np.where(ok & (ss_tot > 0), 1 - (res * res).sum(-1) / ss_tot, np.nan)
        return D, b, n.astype(np.float64), r2

    D, b, n, r2 = xr.apply_ufunc(_quiet(core), msd.drop_vars("n_pairs", errors="ignore"),
                                 input_core_dims=[[lag]], output_core_dims=[[], [], [], []])
    fit = (2 * D * xr.DataArray(tau, dims=lag, coords={lag: tau}) + b).transpose(lag, ...)
    out = xr.Dataset({"D": D, "intercept": b, "n_lags": n, "r2": r2, "fit": fit})
    out["D"].attrs = {"long_name": "diffusion coefficient, MSD = 2 D tau", "units": "sites^2/epoch"}
    out.attrs = {"after": after, "until": until if until is not None else float(tau.max(initial=np.nan)),
                 "intercept_fitted": int(intercept)}
    return out


# ------------------------------------------------------------------------------------ several hidden units
def _ring_distance(d, n):
    d = np.mod(np.abs(d), n)
    return np.minimum(d, n - d)


def pairwise_distances(c: xr.DataArray, hidden: str = "hidden", n=None) -> xr.DataArray:
    """Ring distances min(|c_mu - c_nu| mod N, N - ...) in [0, N/2] between the centres of different
    hidden units: new dims (hidden, hidden_2); NaN on the diagonal and for missing units."""
    n = _ring_size(c, n)
    other = hidden + "_2"
    c2 = c.rename({hidden: other})
    with np.errstate(all="ignore"):
        d = xr.apply_ufunc(_ring_distance, c - c2, n, dask="parallelized", output_dtypes=[np.float64])
    eye = xr.DataArray(np.eye(c.sizes[hidden], dtype=bool), dims=(hidden, other))
    d = d.where(~eye)
    d.attrs = {"long_name": "ring distance between centres", "units": "sites"}
    return d


def nearest_neighbour_spacing(c: xr.DataArray, hidden: str = "hidden", n=None) -> xr.DataArray:
    """For each hidden unit, the ring distance to the nearest other unit's centre (NaN if it is alone)."""
    d = pairwise_distances(c, hidden=hidden, n=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = d.min(hidden + "_2", skipna=True)
    out.attrs = {"long_name": "nearest-neighbour spacing of centres", "units": "sites"}
    return out


def _gaps_core(x, n):
    n = np.asarray(n, dtype=np.float64)[..., None]
    x = np.sort(np.mod(x, n), axis=-1)  # NaN last
    cnt = np.isfinite(x).sum(-1, keepdims=True)
    j = np.arange(x.shape[-1])
    nxt = np.take_along_axis(x, np.minimum(j + 1, x.shape[-1] - 1) * np.ones_like(x, dtype=np.int64), -1)
    gaps = np.where(j < cnt - 1, nxt - x, np.nan)
    wrap = n[..., 0] + x[..., 0] - np.take_along_axis(x, np.maximum(cnt - 1, 0), -1)[..., 0]
    last = np.where(cnt[..., 0] > 0, wrap, np.nan)
    np.put_along_axis(gaps, np.maximum(cnt - 1, 0), last[..., None], -1)
    return gaps


def ring_gaps(c: xr.DataArray, hidden: str = "hidden", n=None) -> xr.DataArray:
    """Gaps between consecutive centres around the ring (sorted; they sum to N), new dim ``gap``
    replacing `hidden`; N/M each for M equally spaced units; NaN beyond the number of valid units."""
    n = _ring_size(c, n)
    out = xr.apply_ufunc(_quiet(_gaps_core), c, n, input_core_dims=[[hidden], []],
                         output_core_dims=[["gap"]], dask="parallelized", output_dtypes=[np.float64],
                         dask_gufunc_kwargs={"output_sizes": {"gap": c.sizes[hidden]}})
    out.attrs = {"long_name": "gap between consecutive centres", "units": "sites"}
    return out


# ------------------------------------------------------------------------------------ XY / Potts
def _harmonic(a):
    """First angular harmonic F_i = sum_a w_{i,a} exp(2 pi i a / q_i), q_i = finite states of site i."""
    finite = np.isfinite(a)
    w0 = np.where(finite, a, 0.0)
    q = finite.sum(-1)
    st = np.arange(a.shape[-1])
    F = (w0 * np.exp(1j * TWO_PI * st / np.maximum(q, 1)[..., None])).sum(-1)
    return F, q, (w0 * w0).sum(-1)


def _angular_modulation_core(a):
    F, q, _ = _harmonic(a)
    return np.where(q > 0, 2 * np.abs(F) / np.maximum(q, 1), np.nan)


def _require_state(w, state):
    w = _weights(w)
    if not _has(w, state):
        raise ValueError(f"XY weights need a {state!r} dimension; got {tuple(w.dims)}")
    return w


def angular_modulation(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """A_i = (2/q) |sum_a w_{i,a} exp(2 pi i a / q)| (first angular harmonic of site i; for
    w_{i,a} = A cos(2 pi a/q + phi) and q >= 3 it is A). The state dim is reduced."""
    w = _require_state(w, state)
    out = xr.apply_ufunc(lambda x: _quiet(_angular_modulation_core)(np.asarray(x, dtype=np.float64)), w,
                         input_core_dims=[[state]], dask="parallelized", output_dtypes=[np.float64])
    out.attrs = {"long_name": "angular modulation A_i"}
    return out


def _spatial_modulation_core(a):
    finite = np.isfinite(a)
    n = finite.sum(-1)
    return np.where(n > 0, np.where(finite, a, 0.0).sum(-1) / np.maximum(n, 1), np.nan)


def spatial_modulation(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Spatial modulation of state a (Fig. 11(a)): S_a = (1/N) sum_i w_{i,a}, the weight of state a
    averaged over the ring (its zeroth spatial harmonic, as A_i is the first angular harmonic of site i).

    An angular field uniform in space, w_{i,a} = A cos(2 pi a/q + phi), gives S_a = A cos(2 pi a/q + phi):
    a clear dependence on a; a place field of the same phase gives it scaled by its filling fraction;
    noise or phases that vary over the sites average out (O(1/sqrt(N))). Its first angular harmonic,
    normalized, is angular_order: N |sum_a S_a exp(2 pi i a/q)| = |sum_i F_i|. (The localization R of a
    column w_{.,a}, which this replaces, is about 0 for a spatially uniform angular field.) N counts the
    finite sites; the state dim is kept, visible reduced."""
    w = _require_state(w, state)
    out = xr.apply_ufunc(lambda x: _quiet(_spatial_modulation_core)(np.asarray(x, dtype=np.float64)), w,
                         input_core_dims=[[visible]], dask="parallelized", output_dtypes=[np.float64])
    out.attrs = {"long_name": "spatial modulation S_a (weight of state a averaged over the sites)"}
    return out


def _fit_residual(w, f, a_idx):
    """Least squares w ~ c cos(2 pi f a) + s sin(2 pi f a) per row: returns residual, c, s."""
    th = TWO_PI * f[..., None] * a_idx
    cs, sn = np.cos(th), np.sin(th)
    m = np.isfinite(w)
    w0 = np.where(m, w, 0.0)
    cs, sn = np.where(m, cs, 0.0), np.where(m, sn, 0.0)
    a11, a22, a12 = (cs * cs).sum(-1), (sn * sn).sum(-1), (cs * sn).sum(-1)
    b1, b2 = (cs * w0).sum(-1), (sn * w0).sum(-1)
    det = a11 * a22 - a12 * a12
    tiny = det <= 1e-12 * np.maximum(a11 * a22, 1e-300)
    c = np.where(tiny, b1 / np.where(a11 > 0, a11, 1.0), (a22 * b1 - a12 * b2) / np.where(tiny, 1.0, det))
    s = np.where(tiny, 0.0, (a11 * b2 - a12 * b1) / np.where(tiny, 1.0, det))
    res = (w0 * w0).sum(-1) - (c * b1 + s * b2)
    return res, c, s


def _cosine_fit_core(a, per_q: int = 20, iters: int = 40):
    shape = a.shape[:-1]
    S = a.shape[-1]
    w = a.reshape(-1, S)
    q = np.isfinite(w).sum(-1)
    out = np.full((4, w.shape[0]), np.nan)
    a_idx = np.arange(S, dtype=np.float64)
    for qq in np.unique(q):
        if qq < 2:
            continue
        rows = np.nonzero(q == qq)[0]
        ww = w[rows]
        fgrid = np.linspace(1.0 / (2 * qq), 0.5, per_q * qq)  # periods T = 1/f in [2, 2q]
        best = np.empty(len(rows), dtype=np.int64)
        for lo in range(0, len(rows), 2048):  # chunks keep memory at 2048 x grid
            blk = ww[lo:lo + 2048]
            res, _, _ = _fit_residual(blk[:, None, :], np.broadcast_to(fgrid, (len(blk), len(fgrid))), a_idx)
            best[lo:lo + 2048] = np.argmin(res, axis=-1)
        flo = fgrid[np.maximum(best - 1, 0)]
        fhi = fgrid[np.minimum(best + 1, len(fgrid) - 1)]
        gr = (np.sqrt(5) - 1) / 2  # golden-section refinement inside the bracket
        x1, x2 = fhi - gr * (fhi - flo), flo + gr * (fhi - flo)
        r1, r2 = _fit_residual(ww, x1, a_idx)[0], _fit_residual(ww, x2, a_idx)[0]
        for _ in range(iters):
            left = r1 < r2
            fhi = np.where(left, x2, fhi)
            flo = np.where(left, flo, x1)
            x2n = np.where(left, x1, flo + gr * (fhi - flo))
            x1n = np.where(left, fhi - gr * (fhi - flo), x2)
            x1, x2 = x1n, x2n
            rn = _fit_residual(ww, np.where(left, x1, x2), a_idx)[0]
            r1, r2 = np.where(left, rn, r2), np.where(left, r1, rn)
        cand = np.stack([flo, fhi, (flo + fhi) / 2, fgrid[best]])
        rc = np.stack([_fit_residual(ww, f, a_idx)[0] for f in cand])
        f = cand[np.argmin(rc, axis=0), np.arange(len(rows))]
        res, c, s = _fit_residual(ww, f, a_idx)
        norm = (np.where(np.isfinite(ww), ww, 0.0) ** 2).sum(-1)
        amp = np.hypot(c, s)
        phase = np.arctan2(-s, c)  # A cos(th + phase) = A cos(phase) cos(th) - A sin(phase) sin(th)
        phase = np.where(phase <= -np.pi, phase + TWO_PI, phase)
        out[0, rows] = amp
        out[1, rows] = 1.0 / f
        out[2, rows] = phase
        out[3, rows] = np.where(norm > 0, 1 - np.maximum(res, 0) / norm, np.nan)
    return tuple(o.reshape(shape) for o in out)


def cosine_fit(w, visible: str = "visible", state: str = "state", per_q: int = 20) -> xr.Dataset:
    """Per site, the least-squares fit w_{i,a} ~ A_i cos(2 pi a / T_i + phase_i) over a = 0..q-1.
    For each period on a grid of per_q*q frequencies 1/T uniform in [1/(2q), 1/2] (T in [2, 2q]) the
    amplitude and phase are linear least squares; the best grid point is refined by golden-section
    search. Returns a Dataset: amplitude (>= 0), period T, phase (wrapped to (-pi, pi]) and r2 (fraction
    of sum_a w_{i,a}^2 explained; low where the site carries no modulation, so mask with it)."""
    w = _require_state(w, state)

    def core(x):
        return _quiet(_cosine_fit_core)(np.asarray(x, dtype=np.float64), per_q=per_q)

    amp, per, ph, r2 = xr.apply_ufunc(core, w, input_core_dims=[[state]], output_core_dims=[[]] * 4,
                                      dask="parallelized", output_dtypes=[np.float64] * 4)
    ds = xr.Dataset({"amplitude": amp, "period": per, "phase": ph, "r2": r2})
    ds["period"].attrs = {"long_name": "angular period T_i", "units": "states"}
    ds["phase"].attrs = {"long_name": "phase_i", "units": "rad"}
    return ds


def _angular_order_core(a):
    F, q, e = _harmonic(a)
    bound = np.sqrt(np.where(q == 2, q, q / 2.0) * e)  # |F_i| <= bound_i (Parseval)
    num = np.abs(np.where(q > 0, F, 0).sum(-1))
    den = np.where(q > 0, bound, 0).sum(-1)
    return np.where(den > 0, num / den, np.nan)


def angular_order(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Angular order parameter Phi_ang = |sum_i F_i| / sum_i sqrt((q/2) sum_a w_{i,a}^2), with
    F_i = sum_a w_{i,a} exp(2 pi i a/q) (q/2 -> q for q = 2). In [0, 1] (Parseval: |F_i| <= the
    denominator's term); 1 iff every site is a pure first angular harmonic with one common phase,
    whatever the spatial profile (>= 0): an angular place field, localized in space or not. Noise:
    about sqrt(pi / (2 N (q - 1))). visible and state are reduced."""
    w = _require_state(w, state)
    out = xr.apply_ufunc(lambda x: _quiet(_angular_order_core)(np.asarray(x, dtype=np.float64)), w,
                         input_core_dims=[[visible, state]], dask="parallelized",
                         output_dtypes=[np.float64])
    out.attrs = {"long_name": "angular order parameter"}
    return out


def spatial_order(w, visible: str = "visible", state: str = "state") -> xr.DataArray:
    """Spatial order parameter: the localization R of the angular modulation profile A_i,
    |sum_i A_i^2 exp(i phi_i)| / sum_i A_i^2: ~0 for a spatially uniform angular field, O(1/sqrt(N))
    for noise, ~1 for a place field. visible and state are reduced."""
    out = localization(angular_modulation(w, visible=visible, state=state), visible=visible, state=None)
    out.attrs = {"long_name": "spatial order parameter"}
    return out


def _rf_core(A, T, ph):
    amax = np.max(np.where(np.isfinite(A), A, -np.inf), axis=-1, keepdims=True)
    rf = np.isfinite(A) & (A >= amax / 2) & np.isfinite(T) & np.isfinite(ph) & (amax > 0)
    n = rf.sum(-1)
    per = np.where(rf, T, np.nan)
    med = np.where(n > 0, np.nanmedian(per, axis=-1), np.nan)
    z = np.where(rf, np.exp(1j * np.where(rf, ph, 0.0)), 0).sum(-1) / np.maximum(n, 1)
    spread = np.where(n > 0, np.sqrt(np.maximum(-2 * np.log(np.maximum(np.abs(z), 1e-300)), 0.0)), np.nan)
    return n.astype(np.float64), med, spread


def receptive_field(w, visible: str = "visible", state: str = "state", per_q: int = 20) -> xr.Dataset:
    """Angular structure over the receptive field of XY / Potts weights (Fig. 9(e)).

    The receptive field is the set of sites with angular modulation A_i >= max_i A_i / 2
    (angular_modulation). Over it, from the per-site cosine_fit w_{i,a} ~ A_i cos(2 pi a / T_i + phase_i):
    ``period`` = median T_i (q for the cosine kernel), ``phase_spread`` = circular standard deviation
    sqrt(-2 ln |mean_i exp(i phase_i)|) in rad (0 when all sites share one phase), ``n_sites`` = its
    size; ``width`` = fwhm of A_i (sites). visible and state are reduced; NaN for all-zero weights."""
    w = _require_state(w, state)
    A = angular_modulation(w, visible=visible, state=state)
    fit = cosine_fit(w, visible=visible, state=state, per_q=per_q)
    n, med, spread = xr.apply_ufunc(_quiet(_rf_core), A, fit["period"], fit["phase"],
                                    input_core_dims=[[visible]] * 3, output_core_dims=[[]] * 3)
    ds = xr.Dataset({"n_sites": n, "period": med, "phase_spread": spread,
                     "width": fwhm(A, visible=visible, state=None)})
    ds["period"].attrs = {"long_name": "median angular period over the receptive field", "units": "states"}
    ds["phase_spread"].attrs = {"long_name": "circular std of the phase over the receptive field", "units": "rad"}
    ds["width"].attrs = {"long_name": "FWHM of the angular modulation A_i", "units": "sites"}
    return ds


# ------------------------------------------------------------------------------------ units diffusing together
def neighbour_gaps(c: xr.DataArray, hidden: str = "hidden", n=None) -> xr.DataArray:
    """For each hidden unit mu, the ring distance forward to the next centre: min over nu != mu of
    (c_nu - c_mu) mod N, in [0, N). Labelled by unit (unlike ring_gaps, whose sorted order changes when
    a unit crosses site 0), so its spread over epochs measures how rigidly the units move together.
    NaN for a unit alone or missing. Works on wrapped or unwrapped centres."""
    n = _ring_size(c, n)
    other = hidden + "_2"
    c2 = c.rename({hidden: other})
    with np.errstate(all="ignore"):
        d = np.mod(c2 - c, n)
    eye = xr.DataArray(np.eye(c.sizes[hidden], dtype=bool), dims=(hidden, other))
    d = d.where(~eye)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = d.min(other, skipna=True)
    out = out.drop_vars("n_sites", errors="ignore")
    out.attrs = {"long_name": "forward gap to the next unit's centre", "units": "sites"}
    return out


def centre_of_mass(c_unwrapped: xr.DataArray, hidden: str = "hidden") -> xr.DataArray:
    """Mean over the hidden units of the unwrapped centres (missing units ignored): the collective
    coordinate of units that move together."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = c_unwrapped.mean(hidden, skipna=True)
    out.attrs = dict(c_unwrapped.attrs, long_name="centre of mass of the unwrapped centres")
    return out


def co_diffusion(c_unwrapped: xr.DataArray, start: Optional[float] = None, max_lag: Optional[float] = None,
                 hidden: str = "hidden", epoch: str = "epoch", n=None) -> xr.Dataset:
    """Do several units diffuse together? From unwrapped centre trajectories (epoch, hidden, replicas...):

    D_unit: D of MSD = 2 D tau + b fitted to each unit's MSD averaged over units and replicas;
    D_com: the same for the centre of mass (centre_of_mass); ratio = D_unit / D_com: 1 when the units
    move rigidly (the centre of mass moves as each unit), M for M independent walkers of equal D;
    gap_std: standard deviation over the epochs >= start of each unit's neighbour_gaps, averaged over
    units and replicas (0 at a fixed spacing; grows like sqrt(D tau) for independent walkers);
    gap_mean: its mean (N/M when equally spaced). Other dims (not replicas, not hidden) are kept."""
    c = c_unwrapped if start is None else c_unwrapped.where(c_unwrapped[epoch] >= start, drop=True)
    unit = replica_mean(msd(c, start=None, max_lag=max_lag), extra=(hidden,))
    com = msd(centre_of_mass(c, hidden=hidden), start=None, max_lag=max_lag)
    d_unit = diffusion_coefficient(unit)["D"]
    d_com = diffusion_coefficient(com)["D"]
    gaps = neighbour_gaps(c, hidden=hidden, n=_ring_size(c_unwrapped, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gap_std = replica_mean(gaps.std(epoch, skipna=True), extra=(hidden,))
        gap_mean = replica_mean(gaps.mean(epoch, skipna=True), extra=(hidden,))
    out = xr.Dataset({"D_unit": d_unit, "D_com": d_com, "ratio": d_unit / d_com, "gap_std": gap_std,
                      "gap_mean": gap_mean})
    out["D_unit"].attrs = {"long_name": "D of one unit's centre", "units": "sites^2/epoch"}
    out["D_com"].attrs = {"long_name": "D of the units' centre of mass", "units": "sites^2/epoch"}
    out["gap_std"].attrs = {"long_name": "std over epochs of the gap to the next unit", "units": "sites"}
    return out


# ------------------------------------------------------------------------------------ profiles (Fig. 14)
def _centred_core(a, at):
    nmax = a.shape[-1]
    fin = np.isfinite(a)
    n = np.maximum(fin.sum(-1), 1)[..., None]
    p = np.where(fin, a, 0.0)
    m = np.argmax(np.abs(p), axis=-1)[..., None]
    sign = np.sign(np.take_along_axis(p, m, -1))
    sign = np.where(sign == 0, 1.0, sign)
    j = np.arange(nmax)
    src = np.mod(j - (n // 2 if at is None else at) + m, n)
    out = sign * np.take_along_axis(p, src, -1)
    return np.where((j < n) & fin.any(-1, keepdims=True), out, np.nan)


def centred_profile(w, visible: str = "visible", at: Optional[int] = None) -> xr.DataArray:
    """Each vector rolled around its ring (its own N finite sites) so that its largest |w_i| sits at
    site `at` (default N // 2), and signed so that this peak is positive: profiles of units at
    different places, ready to overlay. For XY weights pass angular_modulation(w)."""
    w = _weights(w)
    if _has(w, "state") and visible != "state":
        raise ValueError("centred_profile takes one value per site: pass angular_modulation(w) for XY weights")
    out = xr.apply_ufunc(_quiet(_centred_core), w, input_core_dims=[[visible]], output_core_dims=[[visible]],
                         kwargs={"at": at})
    return out.transpose(*w.dims).assign_coords({visible: np.arange(w.sizes[visible])})


def profile_scaling(w, beta=None, visible: str = "visible") -> xr.Dataset:
    """A place field in the units of the small-beta equation (PHYSICS 5, w = sqrt(beta) w'):
    fwhm (sites; scale-free), sum_sq_over_beta = sum_i w_i^2 / beta and peak_over_sqrt_beta =
    max_i |w_i| / sqrt(beta). The lattice solution gives 3.795, 2.400 and 0.920 (theory.integrate_one_unit).
    beta: a number or DataArray; default the ``beta`` coordinate of w."""
    w = _weights(w)
    if beta is None:
        if "beta" not in w.coords:
            raise ValueError("pass beta= (no 'beta' coordinate on the weights)")
        beta = w["beta"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sq = (w * w).sum(visible, min_count=1)
        peak = np.abs(w).max(visible, skipna=True)
    out = xr.Dataset({"fwhm": fwhm(w, visible=visible, state=None), "sum_sq_over_beta": sq / beta,
                      "peak_over_sqrt_beta": peak / np.sqrt(beta)})
    out["fwhm"].attrs = {"long_name": "FWHM", "units": "sites"}
    return out


# ==================================================================================================
# Finite-size observables (issue 12, item 4): bumps of a weight profile, overlaps of vectors.
# A separate section, kept at the end of the module; these names join __all__ below.
# ==================================================================================================
def _bumps_one(p: np.ndarray, w2: np.ndarray):
    """(n_bumps, n_maxima, largest_share) of one ring profile p >= 0 (finite, N >= 1), site masses w2."""
    N = len(p)
    top = p.max() if N else 0.0
    tot = w2.sum()
    if N == 0 or not top > 0 or not tot > 0:
        return np.nan, np.nan, np.nan
    half = top / 2
    above = p >= half
    # local maxima on the ring, plateau-safe: the signs of p_{i+1} - p_i with zeros replaced by the last
    # non-zero sign before them (cyclically); a maximum is a + -> - change, at the site where it happens
    d = np.sign(np.roll(p, -1) - p)
    nz = np.flatnonzero(d)
    if len(nz) == 0:
        n_max = 1  # a flat profile: one maximum (the whole ring)
    else:
        idx = np.arange(N)
        last = np.searchsorted(nz, idx, side="right") - 1  # index into nz of the last non-zero at or before i
        filled = d[nz[last % len(nz)]]  # last == -1 wraps to the last non-zero of the ring
        prev = np.roll(filled, 1)
        n_max = int(np.sum((prev > 0) & (d < 0) & above))
    # runs of sites above half height (cyclic); each is one bump
    starts = np.flatnonzero(above & ~np.roll(above, 1))
    if len(starts) == 0:  # every site above half height: one bump holding everything
        return 1.0, float(n_max), 1.0
    ends = np.flatnonzero(above & ~np.roll(above, -1))  # last site of each run
    ends = np.roll(ends, -np.searchsorted(ends, starts[0]))  # ends[j] closes the run opened by starts[j]
    # each gap between run j and run j+1 (sites ends[j]+1 .. starts[j+1]-1, cyclic) is split at its minimum
    k = len(starts)
    cut = np.empty(k, dtype=np.int64)  # first site of basin j+1
    for j in range(k):
        a, b = ends[j] + 1, starts[(j + 1) % k]
        gap = np.arange(a, b + (N if b < a else 0)) % N
        cut[j] = gap[np.argmin(p[gap])] if len(gap) else b  # the minimum goes to the next basin
    c2 = np.concatenate([[0.0], np.cumsum(np.concatenate([w2, w2]))])  # prefix sums over two turns
    lo = np.roll(cut, 1)  # basin j covers cut[j-1] .. cut[j]-1 (cyclic)
    hi = np.where(cut > lo, cut, cut + N)
    if k == 1:
        hi = lo + N
    mass = c2[hi] - c2[lo]
    return float(k), float(n_max), float(min(mass.max() / tot, 1.0))


def _bumps_core(a):
    _, site_ok, n, s = _prep(a)
    shape = s.shape[:-1]
    s2 = s.reshape(-1, s.shape[-1])
    n2 = n.reshape(-1)
    out = np.full((3, s2.shape[0]), np.nan)
    for r in range(s2.shape[0]):
        m = int(n2[r])
        out[:, r] = _bumps_one(np.sqrt(s2[r, :m]), s2[r, :m])
    return tuple(o.reshape(shape) for o in out)


def bumps(w, visible: str = "visible", state: str = "state") -> xr.Dataset:
    """Bumps of a weight profile on the ring: how many separate maxima one hidden unit's weights have.

    With the profile p_i = |w_i| (XY: sqrt(sum_a w_{i,a}^2)) on the N valid sites, ring-periodic, and
    half height h = max_i p_i / 2:

    * ``n_bumps``: the number of maximal runs of consecutive sites with p_i >= h (cyclically; 1 when
      every site is above h). A peak whose top carries small ripples is one bump.
    * ``n_maxima``: the number of local maxima with p >= h (a site, or a plateau of equal values, higher
      than its neighbours on both sides; a flat ring has one). Counts ripples on a bump separately:
      n_maxima >= n_bumps.
    * ``largest_share``: the largest bump's share of sum_i w_i^2. The ring is cut into one basin per
      bump at the minimum of p in each gap between consecutive runs, and share = max over basins of
      sum_{i in basin} w_i^2 / sum_i w_i^2 (1 for one bump, 1/k for k equal bumps).

    Noise (Q ~ 0) gives many bumps of one or two sites; read n_bumps together with smoothness.
    visible and state are reduced; NaN for an empty or all-zero vector."""
    nb, nm, share = _apply_sites(_bumps_core, w, visible, state, n_out=3)
    ds = xr.Dataset({"n_bumps": nb, "n_maxima": nm, "largest_share": share})
    ds["n_bumps"].attrs = {"long_name": "runs of the weight profile above half height"}
    ds["n_maxima"].attrs = {"long_name": "local maxima of the weight profile above half height"}
    ds["largest_share"].attrs = {"long_name": "share of sum w^2 in the largest bump's basin"}
    return ds


def overlap(a, b, dims: Iterable[str] = ("visible", "state")) -> xr.DataArray:
    """Squared cosine between two vectors, (sum_i a_i b_i)^2 / (sum_i a_i^2 sum_i b_i^2) in [0, 1],
    summed over the `dims` present in either (sites finite in both; NaN padding is ignored). Sign-free:
    the overlap of an eigenvector is the same for u and -u. a and b broadcast over their other dims (the
    weights of every replica against the data's top eigenvector, say). NaN where either is zero."""
    a, b = _weights(a), _weights(b)
    dims = [d for d in dims if d in a.dims or d in b.dims]
    if not dims:
        raise ValueError(f"none of the dims {tuple(dims)} in {tuple(a.dims)} or {tuple(b.dims)}")
    ok = a.notnull() & b.notnull()
    a0, b0 = a.where(ok, 0.0).astype(np.float64), b.where(ok, 0.0).astype(np.float64)
    num = (a0 * b0).sum(dims) ** 2
    den = (a0 * a0).sum(dims) * (b0 * b0).sum(dims)
    out = (num / den.where(den > 0)).clip(max=1.0)
    out.attrs = {"long_name": "squared cosine overlap"}
    return out


def uniform_overlap(u, visible: str = "visible") -> xr.DataArray:
    """Squared overlap of a vector with the uniform unit vector 1/sqrt(N):
    (sum_i u_i)^2 / (N sum_i u_i^2) in [0, 1], N the number of finite sites (1 for a uniform vector, 0
    for a vector orthogonal to it, about 1/N for a random one). The uniform vector is the population's
    top eigenvector of the Ising ring (PHYSICS 5). Only `visible` is reduced (Ising vectors)."""
    u = _weights(u)
    if visible not in u.dims:
        raise ValueError(f"no {visible!r} dimension in {tuple(u.dims)}")
    return overlap(u, xr.ones_like(u).where(u.notnull()), dims=(visible,))


__all__ += ["bumps", "overlap", "uniform_overlap"]
