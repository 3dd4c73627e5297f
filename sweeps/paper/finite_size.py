"""Beyond the paper (issue 12, item 4): one hidden unit on the Ising ring as N grows at fixed r = N / n.

    python3 sweeps/paper/finite_size.py STORE [--spectra FILE.nc] [--figure docs/figures/finite-size.png]

STORE is a run of sweeps/paper/finite-size.yaml (or -small): grid dims beta, the zip dim n_samples (with
n_visible along it), data_seed and train_seed. The store keeps the weights, not the data; every cell's
data is a deterministic function of its spec and its data seed (sweep.run.cell.sample_data), so the data
side is recomputed here, once per data set (the train_seed replicas share it):

* spectra(ds): per data set, the top eigenvalue of C = V^T V / n and its unit eigenvector u
  (sweep.science.spectrum.top_eigen); u's squared overlap with the uniform vector (the population's top mode,
  docs/physics.md 6.1), its weight on the Fourier modes |k| <= 3, its Fourier participation number, its own Q and
  bump count; with lambda_signal(beta, N), the MP edge (1 + sqrt(r))^2 and the RMT prediction for the
  top eigenvalue and the overlap from the ring's exact population spectrum (ring_theory: spike_outlier,
  silverstein_edge). Cost: sampling plus one N x N Gram matrix per data set (about 3 minutes for the
  full sweep here); --spectra caches the result in a netCDF file.
* weight_observables(ds, spectra): per cell, on the final weights of the single hidden unit: R, Q,
  bumps (analysis.bumps: n_bumps, n_maxima, largest_share), the squared overlap of w with the data's u,
  the overlap between initialisations on one data set, and the relative weight change over the last
  recorded interval (the convergence check).
* by_size(...): the zip dim n_samples re-indexed as (r, N).
* summary(obs): per (r, N) the crossings of the replica means (R through 0.5, Q through 0.8, u's uniform
  overlap and its RMT prediction through 0.5) and the width of each crossover (crossover), the RMT
  separation beta, and at beta_c(r) and 2 beta_c(r) the weights' overlap with u, the top eigenvalue
  against theory and the bump counts. main() prints it, the per-beta tables, the bump tracking between w
  and u, the spread over data sets against initialisations, the RMT beta_sep scaling, and the
  convergence check, and draws the figure (plot).
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sweep.science import analysis as an
from sweep.science import theory
from sweep.run.cell import sample_data
from sweep.config.grid import expand
from sweep.science.spectrum import top_eigen
from sweep.config.sweepfile import parse_sweep
from sweep.store.outcomes import DONE

REPLICAS = ("data_seed", "train_seed")
pd.set_option("display.width", 250)
pd.set_option("display.max_columns", 40)


# ----------------------------------------------------------------------------------------- theory
def ring_population_spectrum(beta: float, n_visible: int) -> np.ndarray:
    """Eigenvalues of the exact Ising-ring correlation matrix C_ij = (t^d + t^(N-d)) / (1 + t^N):
    C is circulant, lambda_k = sum_d C(d) cos(2 pi k d / N), k = 0..N-1 (lambda_0 = lambda_signal)."""
    N = int(n_visible)
    d = np.arange(N)
    t = math.tanh(beta)
    c = (t ** d + t ** (N - d)) / (1 + t ** N)
    return np.real(np.fft.fft(c))


def silverstein_edge(population, r: float) -> float:
    """Top edge of the deterministic equivalent (Marchenko-Pastur-Silverstein) of the spectrum of a sample
    covariance with population eigenvalues `population` (N of them) and n = N / r samples:

        f(m) = -1/m + (r / N) sum_k lambda_k / (1 + lambda_k m),   edge = min of f over m in (-1/lambda_max, 0)

    (f -> +inf at both ends of the interval). All lambda_k = 1 gives the MP edge (1 + sqrt(r))^2; one
    isolated spike l above a unit bulk gives, for large N, the BBP outlier l (1 + r/(l - 1)) when
    l > 1 + sqrt(r). For the Ising ring the population spectrum is a band (ring_population_spectrum),
    so this is the RMT reference for the data's top eigenvalue at finite N and r."""
    lam = np.asarray(population, dtype=np.float64)
    lam = lam[lam > 0]
    N = len(lam)
    top = lam.max()

    def f(m):
        return -1.0 / m + (r / N) * np.sum(lam / (1.0 + lam * m))

    # golden-section search on x in (0, 1), m = -x / top: f is convex on the interval (each term is)
    lo, hi = 1e-12, 1.0 - 1e-12
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(-a / top), f(-b / top)
    for _ in range(200):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(-a / top)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(-b / top)
    return float(min(fa, fb))


def spike_outlier(population, r: float) -> dict:
    """The population's top eigenvalue l = lambda_0 as a spike over the rest {lambda_k, k != 0} (N in
    all, n = N / r samples): first-order RMT (Benaych-Georges & Nadakuditi; Couillet & Debbah) gives

        psi(l)  = l (1 + (r / N) sum_{k != 0} lambda_k / (l - lambda_k))      the outlier's position
        psi'(l) = 1 - (r / N) sum_{k != 0} lambda_k^2 / (l - lambda_k)^2
        overlap = |<u, e_0>|^2 = l psi'(l) / psi(l)                             the eigenvector's overlap

    valid where psi'(l) > 0 (the outlier separates from the rest); where psi'(l) <= 0 the top sample
    eigenvalue sticks to the edge of the spectrum (silverstein_edge) and the overlap tends to 0. With a
    unit bulk these are the BBP formulas (bbp_eigenvalue, bbp_overlap, with r (N - 1) / N). Returns
    dict(eigenvalue, overlap, slope = psi'(l), separated)."""
    lam = np.sort(np.asarray(population, dtype=np.float64))[::-1]
    N = len(lam)
    l, rest = lam[0], lam[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = l - rest
        if np.any(gap <= 0):  # degenerate top: no isolated spike
            return {"eigenvalue": silverstein_edge(lam, r), "overlap": 0.0, "slope": -np.inf, "separated": False}
        psi = l * (1 + (r / N) * np.sum(rest / gap))
        slope = 1 - (r / N) * np.sum(rest ** 2 / gap ** 2)
    if slope > 0:
        return {"eigenvalue": float(psi), "overlap": float(l * slope / psi), "slope": float(slope), "separated": True}
    return {"eigenvalue": silverstein_edge(lam, r), "overlap": 0.0, "slope": float(slope), "separated": False}


def separation_beta(n_visible: int, r: float, lo: float = 1e-3, hi: float = 6.0) -> float:
    """The beta above which the ring's uniform mode is an outlier (spike_outlier slope psi' > 0) at N
    sites and ratio r, by bisection (psi' grows with beta: the uniform mode moves away from the band)."""
    def slope(b):
        return spike_outlier(ring_population_spectrum(b, n_visible), r)["slope"]

    if slope(hi) <= 0:
        return np.nan
    if slope(lo) > 0:
        return lo
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) <= 0 else (lo, mid)
    return (lo + hi) / 2


def bbp_eigenvalue(spike, r):
    """Spiked-covariance (BBP) limit of the top sample eigenvalue: population eigenvalue `spike` above a
    unit bulk, ratio r: (1 + sqrt(r))^2 for spike <= 1 + sqrt(r), spike (1 + r / (spike - 1)) above."""
    s = np.asarray(spike, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(s > 1 + np.sqrt(r), s * (1 + r / (s - 1)), (1 + np.sqrt(r)) ** 2)
    return out


def bbp_overlap(spike, r):
    """BBP limit of the squared overlap of the top sample eigenvector with the spike's direction:
    (1 - r / (spike - 1)^2) / (1 + r / (spike - 1)) above the threshold spike = 1 + sqrt(r), 0 below."""
    s = np.asarray(spike, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = s - 1
        out = np.where(s > 1 + np.sqrt(r), (1 - r / x ** 2) / (1 + r / x), 0.0)
    return out


# ----------------------------------------------------------------------------------------- the store's cells
def grid_of(ds: xr.Dataset):
    """The expanded grid of the sweep a store holds (from its root attribute sweep_yaml)."""
    return expand(parse_sweep(ds.attrs["sweep_yaml"], source=ds.attrs.get("sweep_source", "<store>")))


def data_dims(ds: xr.Dataset, grid=None) -> list:
    """The grid dims that select a data set: every grid dim except the one that grids train.seed."""
    grid = grid or grid_of(ds)
    return [d for d in grid.dims if grid.coord_keys[d] != "train.seed"]


def fourier_participation(u) -> float:
    """Number of spatial Fourier modes a ring vector spreads over: 1 / sum_k p_k^2 with p_k = |u_hat_k|^2 /
    sum_k |u_hat_k|^2 over the N modes k (+k and -k separately): 1 for the uniform vector, 2 for a
    cosine mode, about N / 2 for white noise."""
    p = np.abs(np.fft.fft(np.asarray(u, dtype=np.float64))) ** 2
    p = p / p.sum()
    return float(1.0 / np.sum(p ** 2))


def spectrum(v: np.ndarray) -> dict:
    """Top eigenvalue of C = V^T V / n of Ising data V (n, N) in +-1, its unit eigenvector u, u's squared
    overlap with the uniform vector (sum_i u_i)^2 / N, its weight on the Fourier modes |k| <= 3, its
    Fourier participation number, and u's own smoothness Q and bump count (analysis.smoothness, bumps)."""
    st = top_eigen(np.asarray(v), model="ising")
    u = st["top_vector"]
    ua = xr.DataArray(u, dims="visible")
    return {"top_eigenvalue": st["top_eigenvalue"], "eig_uniform": float(an.uniform_overlap(ua)),
            "eig_low_modes": st["low_mode_weight"], "eig_modes": fourier_participation(u),
            "eig_Q": float(an.smoothness(ua)), "eig_bumps": float(an.bumps(ua)["n_bumps"]), "top_vector": u}


def ring_theory(beta: float, n_visible: int, n_samples: int) -> dict:
    """Theory for the top of the spectrum of n samples of the N-site Ising ring: lambda_signal, the MP edge
    (1 + sqrt(r))^2, and the RMT prediction (spike_outlier on the ring's exact population spectrum) for
    the top eigenvalue and the squared overlap of its eigenvector with the uniform mode."""
    r = n_visible / n_samples
    sp = spike_outlier(ring_population_spectrum(beta, n_visible), r)
    return {"signal_eigenvalue": float(theory.ising_signal_eigenvalue(beta, n_visible)),
            "mp_edge": float(theory.mp_edge(r)), "rmt_eigenvalue": sp["eigenvalue"], "rmt_overlap": sp["overlap"]}


def spectra(ds: xr.Dataset, sample=sample_data, progress: bool = False) -> xr.Dataset:
    """Regenerate every data set of the store and compute its spectrum statistics (spectrum), with the
    theory for its (beta, N, r). Dims: the data dims (data_dims) and visible (top_vector, NaN-padded).
    The data seed of each data set is the store's cell_data_seed (checked equal over the train-seed dim)."""
    grid = grid_of(ds)
    ddims = data_dims(ds, grid)
    tdims = [d for d in grid.dims if d not in ddims]
    seeds = ds["cell_data_seed"].transpose(*grid.dims).values
    if tdims:
        flat = seeds.reshape(seeds.shape[:len(ddims)] + (-1,))
        if not np.all(flat == flat[..., :1]):
            raise ValueError("cell_data_seed differs between train seeds of one data set")
        seeds = flat[..., 0]
    shape = tuple(ds.sizes[d] for d in ddims)
    Nmax = ds.sizes["visible"]
    measured = ("top_eigenvalue", "eig_uniform", "eig_low_modes", "eig_modes", "eig_Q", "eig_bumps")
    names = measured + ("signal_eigenvalue", "mp_edge", "rmt_eigenvalue", "rmt_overlap")
    out = {k: np.full(shape, np.nan) for k in names}
    vec = np.full(shape + (Nmax,), np.nan)
    cache = {}
    for pos in np.ndindex(*shape):
        full = []
        it = iter(pos)
        for d in grid.dims:
            full.append(next(it) if d in ddims else 0)
        data = grid.cell(tuple(full)).config.data
        v = sample(data, int(seeds[pos]))
        st = spectrum(v)
        N, n, beta = data.n_visible, data.n_samples, data.beta
        for k in measured:
            out[k][pos] = st[k]
        vec[pos + (slice(0, N),)] = st["top_vector"]
        if (beta, N, n) not in cache:
            cache[beta, N, n] = ring_theory(beta, N, n)
        for k, v in cache[beta, N, n].items():
            out[k][pos] = v
        done = np.ravel_multi_index(pos, shape) + 1
        if progress and (done % 100 == 0 or done == math.prod(shape)):
            print(f"spectra: {done}/{math.prod(shape)} data sets", file=sys.stderr)
    coords = {d: ds[d].values for d in ddims}
    extra = {c: (ds[c].dims, ds[c].values) for c in ds.coords
             if c not in ds.dims and set(ds[c].dims) <= set(ddims)}
    res = xr.Dataset({k: (ddims, v) for k, v in out.items()}, coords={**coords, **extra})
    res["top_vector"] = (ddims + ["visible"], vec)
    res = res.assign_coords(visible=ds["visible"].values)
    return res


def weight_observables(ds: xr.Dataset, spec: xr.Dataset) -> xr.Dataset:
    """Per cell, from the final weights of hidden unit 0: R, Q, the bumps, the squared overlap of w with
    the data's top eigenvector (spec.top_vector), rel_change = |w(E) - w(E')| / |w(E)| between the last
    two recorded epochs (E' = the one before E), and init_overlap: the mean squared overlap of w with the
    final weights of the other initialisations on the same data set (1: every initialisation ends on the
    same weights; NaN with one initialisation)."""
    w = an.final_weights(ds).isel(hidden=0)
    last, prev = ds["weights"].isel(epoch=-1, hidden=0), ds["weights"].isel(epoch=-2, hidden=0)
    diff = np.sqrt(((last - prev).astype(np.float64) ** 2).sum("visible", skipna=True))
    norm = np.sqrt((last.astype(np.float64) ** 2).sum("visible", skipna=True))
    b = an.bumps(w)
    obs = xr.Dataset({"R": an.localization(w), "Q": an.smoothness(w), "n_bumps": b["n_bumps"],
                      "n_maxima": b["n_maxima"], "largest_share": b["largest_share"],
                      "w_eig_overlap": an.overlap(w, spec["top_vector"], dims=("visible",)),
                      "rel_change": diff / norm.where(norm > 0)})
    if "train_seed" in w.dims and w.sizes["train_seed"] > 1:
        other = w.rename(train_seed="other_seed")
        pair = an.overlap(w, other, dims=("visible",))
        same = xr.DataArray(w["train_seed"].values[:, None] == w["train_seed"].values[None, :],
                            dims=("train_seed", "other_seed"))
        obs["init_overlap"] = pair.where(~same).mean("other_seed", skipna=True)
    else:
        obs["init_overlap"] = xr.full_like(obs["R"], np.nan)
    return obs.drop_vars([c for c in obs.coords if c in ("final_epoch", "hidden", "epoch")], errors="ignore").load()


def by_size(x: xr.Dataset, dim: str = "n_samples") -> xr.Dataset:
    """Re-index the zip dim (n_samples, with n_visible along it) as two dims r = N / n and N."""
    N = np.asarray(x["n_visible"].values, dtype=np.int64)
    n = np.asarray(x[dim].values, dtype=np.float64)
    r = np.round(N / n, 9)
    x = x.drop_vars([c for c in x.coords if c != dim and x[c].dims == (dim,)])
    x = x.assign_coords(r=(dim, r), N=(dim, N)).set_index({dim: ["r", "N"]})
    return x.unstack(dim)


# ----------------------------------------------------------------------------------------- summary
def replica_mean(x: xr.DataArray) -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return x.mean([d for d in REPLICAS if d in x.dims], skipna=True)


def crossover(y: xr.DataArray, level: float, lo: float = 0.2, hi: float = 0.8) -> tuple:
    """Of a rising curve y(beta) (1-D): (beta where y first rises through `level`, width). The width is
    measured on the curve's own scale, up to its maximum: with y_max its maximum (at beta_max) and y_min
    its minimum at beta <= beta_max, width = beta(y_min + hi (y_max - y_min)) - beta(y_min + lo (y_max -
    y_min)), first crossings at beta <= beta_max (R falls again at large beta, where xi ~ N and the unit
    learns the uniform mode). NaN where a crossing is missing."""
    y = y.sortby("beta")
    at = float(an.crossing(y, "beta", level))
    v = np.asarray(y.values, dtype=np.float64)
    if not np.isfinite(v).any():
        return at, np.nan
    k = int(np.nanargmax(v))
    if k == 0:  # the curve starts at its maximum: no rise to measure
        return at, np.nan
    rise = y.isel(beta=slice(0, k + 1))
    y_min, y_max = float(np.nanmin(v[:k + 1])), float(v[k])
    b_lo = float(an.crossing(rise, "beta", y_min + lo * (y_max - y_min)))
    b_hi = float(an.crossing(rise, "beta", y_min + hi * (y_max - y_min)))
    return at, b_hi - b_lo


def at_beta(y: xr.DataArray, beta) -> xr.DataArray:
    """y linearly interpolated in beta (beta may be a DataArray over r)."""
    return y.interp(beta=beta)


def summary(obs: xr.Dataset) -> pd.DataFrame:
    """One row per (r, N): beta where the replica-mean curves cross their level (crossover) and the width
    of each crossover, for R (0.5), Q (0.8), the data eigenvector's uniform overlap (0.5) and its RMT
    prediction (0.5); the RMT separation beta; the median over replicas of each replica's R crossing; the
    weights' overlap with the data's top eigenvector, the top eigenvalue against lambda_signal, the MP edge
    and the RMT prediction, and the bumps, at beta_c(r) and 2 beta_c(r)."""
    m = {k: replica_mean(obs[k]) for k in ("R", "Q", "eig_uniform", "w_eig_overlap", "n_bumps", "largest_share",
                                          "top_eigenvalue", "eig_bumps", "init_overlap")}
    rows = []
    for r in obs["r"].values:
        bc = float(theory.beta_c(r))
        for N in obs["N"].values:
            sel = {"r": r, "N": N}
            row = {"r": r, "N": int(N), "beta_c": bc}
            for name, y, lev in (("R", m["R"], 0.5), ("Q", m["Q"], 0.8), ("u.1", m["eig_uniform"], 0.5),
                                 ("rmt u.1", obs["rmt_overlap"].isel(data_seed=0), 0.5)):
                row[f"b[{name}]"], row[f"dw[{name}]"] = crossover(y.sel(sel), lev)
            row["b_sep"] = separation_beta(int(N), float(r))
            per = an.crossing(obs["R"].sel(sel), "beta", 0.5)
            row["b[R] med"] = float(per.median(skipna=True)) if per.notnull().any() else np.nan
            row["no b[R]"] = int(per.isnull().sum())
            for tag, b in (("bc", bc), ("2bc", 2 * bc)):
                row[f"w.u@{tag}"] = float(at_beta(m["w_eig_overlap"].sel(sel), b))
            for tag, b in (("bc", bc), ("2bc", 2 * bc)):
                th = ring_theory(b, int(N), int(round(N / r)))
                row[f"lam@{tag}"] = float(at_beta(m["top_eigenvalue"].sel(sel), b))
                row[f"rmt@{tag}"] = th["rmt_eigenvalue"]
                row[f"sig@{tag}"] = th["signal_eigenvalue"]
            row["MP"] = float(theory.mp_edge(r))
            for tag, b in (("bc", bc), ("2bc", 2 * bc)):
                row[f"bumps@{tag}"] = float(at_beta(m["n_bumps"].sel(sel), b))
                row[f"share@{tag}"] = float(at_beta(m["largest_share"].sel(sel), b))
                row[f"u bumps@{tag}"] = float(at_beta(m["eig_bumps"].sel(sel), b))
                row[f"w0.w1@{tag}"] = float(at_beta(m["init_overlap"].sel(sel), b))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["r", "N"])


def replica_spread(obs: xr.Dataset, var: str = "R") -> pd.DataFrame:
    """Spread of `var` at each (r, N, beta): the std over initialisations within a data set (averaged over
    data sets) against the std over data sets of the initialisation-mean."""
    x = obs[var]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        within = x.std("train_seed").mean("data_seed")
        between = x.mean("train_seed").std("data_seed")
    return xr.Dataset({f"{var} std over inits": within, f"{var} std over data sets": between}).to_dataframe()


# ----------------------------------------------------------------------------------------- figure
def plot(obs: xr.Dataset, path=None):
    """Replica means (bands: 25-75 % over replicas) against beta, one row per r, one colour per N:
    R, Q (dashed: Q of the data's top eigenvector u), bumps (n_bumps; dashed: n_bumps of u),
    largest_share, top eigenvalue / lambda_signal (dashed: the RMT prediction; dotted: the MP edge),
    u's uniform overlap (dashed: RMT), and the weights' overlap with u. Vertical line: beta_c(r). Returns
    the figure (and saves it when `path`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("R", "localization R"), ("Q", "smoothness Q"), ("n_bumps", "bumps above half height"),
              ("largest_share", "largest bump's share of sum w^2"), ("lam", "top eigenvalue / lambda_signal"),
              ("eig_uniform", "(u . 1)^2 / N, data's top eigenvector"), ("w_eig_overlap", "(w . u)^2 / |w|^2")]
    rs, Ns = obs["r"].values, obs["N"].values
    cmap = plt.get_cmap("viridis")
    colours = {N: cmap(i / max(len(Ns) - 1, 1) * 0.9) for i, N in enumerate(Ns)}
    fig, axes = plt.subplots(len(rs), len(panels), figsize=(3.0 * len(panels), 2.8 * len(rs)), squeeze=False,
                             constrained_layout=True)
    beta = obs["beta"].values
    for i, r in enumerate(rs):
        bc = float(theory.beta_c(r))
        for j, (var, title) in enumerate(panels):
            ax = axes[i, j]
            for N in Ns:
                sel = {"r": r, "N": N}
                if var == "lam":
                    sig = obs["signal_eigenvalue"].sel(sel).isel(data_seed=0)
                    x = obs["top_eigenvalue"].sel(sel) / sig
                    ax.plot(beta, (obs["rmt_eigenvalue"].sel(sel).isel(data_seed=0) / sig).values, "--",
                            color=colours[N], lw=0.8)
                    ax.plot(beta, (obs["mp_edge"].sel(sel).isel(data_seed=0) / sig).values, ":", color=colours[N],
                            lw=0.8, label="MP edge" if N == Ns[-1] else None)
                else:
                    x = obs[var].sel(sel)
                    if var == "eig_uniform":
                        ax.plot(beta, obs["rmt_overlap"].sel(sel).isel(data_seed=0).values, "--", color=colours[N],
                                lw=0.8)
                    if var in ("Q", "n_bumps"):  # the same observable of the data's top eigenvector u
                        ax.plot(beta, replica_mean(obs["eig_" + ("Q" if var == "Q" else "bumps")].sel(sel)).values,
                                "--", color=colours[N], lw=0.8)
                x = x.stack(rep=[d for d in REPLICAS if d in x.dims]).transpose("beta", "rep").values
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(x, axis=1)
                    q1, q3 = np.nanpercentile(x, [25, 75], axis=1)
                ax.plot(beta, mean, "o-", ms=2.5, color=colours[N], label=f"N = {N}")
                ax.fill_between(beta, q1, q3, color=colours[N], alpha=0.15, lw=0)
            ax.axvline(bc, color="k", lw=0.8, ls="--")
            if var == "lam":
                ax.set_ylim(0.9, 4)
                ax.axhline(1, color="grey", lw=0.6)
            if var == "n_bumps":
                ax.set_yscale("log")
            ax.set_title(f"{title}\nr = {r:g}, beta_c = {bc:.2f}", fontsize=8)
            ax.set_xlabel("beta", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
            if i == 0 and var == "lam":
                ax.legend(fontsize=6, loc="upper left")
    fig.suptitle("One spin hidden unit, exact full-batch gradient, Ising ring at fixed r = N / n: "
                 "replica means (band 25-75 %); dashed: the data's top eigenvector u, or RMT for u", fontsize=9)
    if path:
        fig.savefig(path, dpi=90)
    return fig


# ----------------------------------------------------------------------------------------- main
def observables(ds: xr.Dataset, spectra_path=None, progress: bool = True) -> xr.Dataset:
    """spectra (cached in `spectra_path` when given) and weight_observables, merged, indexed by (r, N)."""
    if spectra_path and Path(spectra_path).exists():
        spec = xr.open_dataset(spectra_path).load()
    else:
        spec = spectra(ds, progress=progress)
        if spectra_path:
            spec.to_netcdf(spectra_path)
    w = weight_observables(ds, spec)
    return by_size(xr.merge([w, spec.drop_vars("top_vector")], compat="override", join="exact"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("store")
    p.add_argument("--spectra", help="netCDF cache of the regenerated data's spectra (written if absent)")
    p.add_argument("--figure", help="write the figure here (PNG)")
    args = p.parse_args(argv)
    ds = xr.open_zarr(args.store)
    status = ds["status"].values
    print(f"{args.store}: {int((status == DONE).sum())}/{status.size} cells done")
    obs = observables(ds, args.spectra)
    pd.set_option("display.float_format", lambda v: f"{v:.3g}")
    print("\nPer (r, N), replica means over data sets x initialisations. b[X]: beta where the mean curve first "
          "rises through its level (R 0.5, Q 0.8, u.1 = (u . 1)^2 / N of the data's top eigenvector u 0.5, rmt u.1 = "
          "its RMT prediction 0.5); dw[X]: the crossover's width, beta at 80 % minus beta at 20 % of the way from "
          "the curve's minimum to its maximum; b_sep: RMT beta above which the uniform mode is an outlier; "
          "b[R] med: median of the replicas' own R crossings (no b[R]: replicas that never cross); w.u: mean "
          "(w . u)^2 / |w|^2; lam: mean top eigenvalue, rmt: its RMT prediction, sig: lambda_signal, MP: "
          "(1 + sqrt r)^2; bumps, share: mean n_bumps and largest_share; u bumps: n_bumps of u; w0.w1: init_overlap; "
          "@bc, @2bc: at beta_c(r), 2 beta_c(r) (interpolated in beta).")
    print(summary(obs).to_string())
    print("\nPer beta (replica means): the weights, then the data's top eigenvector u (eig_*: (u . 1)^2 / N, weight on "
          "|k| <= 3, Fourier participation number, Q(u), n_bumps(u)) and eigenvalue with theory")
    for keys in (["R", "Q", "n_bumps", "n_maxima", "largest_share", "w_eig_overlap", "init_overlap", "rel_change"],
                 ["eig_uniform", "rmt_overlap", "eig_low_modes", "eig_modes", "eig_Q", "eig_bumps", "top_eigenvalue",
                  "rmt_eigenvalue", "signal_eigenvalue", "mp_edge"]):
        table = xr.Dataset({k: replica_mean(obs[k]) for k in keys}).to_dataframe()
        print(table[keys].to_string())
    smooth = (obs["Q"] > 0.8) & obs["eig_bumps"].notnull()
    a = np.log(obs["n_bumps"].where(smooth).values.ravel())
    b = np.log(obs["eig_bumps"].broadcast_like(obs["n_bumps"]).where(smooth).values.ravel())
    ok = np.isfinite(a) & np.isfinite(b)
    print(f"\nBumps of the weights against bumps of the data's top eigenvector u, cells with Q > 0.8 ({int(ok.sum())}): "
          f"correlation of the logs {np.corrcoef(a[ok], b[ok])[0, 1]:.2f}; median ratio n_bumps(w) / n_bumps(u) "
          f"{float(np.median(np.exp(a[ok] - b[ok]))):.2f}")
    spread = replica_spread(obs, "R")
    print("\nSpread of R (mean over beta and N, per r): std over initialisations within a data set, "
          "std over data sets of the initialisation mean")
    print(spread.groupby(level="r").mean().to_string())
    print("\nRMT: the uniform mode is an outlier above beta_sep (spike_outlier's slope > 0); xi_sep = xi(beta_sep)")
    for r in obs["r"].values:
        parts = []
        for N in (50, 100, 200, 400, 1000, 10000, 100000):
            b = separation_beta(N, float(r))
            xi = float(theory.correlation_length(b))
            parts.append(f"N={N}: beta_sep {b:.3f}, xi_sep / N^(3/4) {xi / N ** 0.75:.3f}")
        print(f"r = {r:g}: " + "; ".join(parts))
    b05 = obs.sel(r=obs["r"].values.min(), N=obs["N"].values.max())
    if 0.5 in b05["beta"].values:
        b05 = b05.sel(beta=0.5)
        print(f"\nAt r = {float(b05['r']):g}, N = {int(b05['N'])}, beta = 0.5, over the {b05['n_bumps'].size} replicas: "
              + "; ".join(f"{k} {float(b05[k].min()):.3g}-{float(b05[k].max()):.3g} (median {float(b05[k].median()):.3g})"
                          for k in ("n_bumps", "n_maxima", "largest_share")))
    rc = obs["rel_change"]
    print(f"\nConvergence: relative weight change over the last recorded interval: max {float(rc.max()):.2g}, "
          f"median {float(rc.median()):.2g}; cells above 1e-3: {int((rc > 1e-3).sum())} of {int(rc.notnull().sum())}")
    if args.figure:
        plot(obs, args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
