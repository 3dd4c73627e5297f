"""Figures from a results store, with the theory of docs/physics.md section 6 drawn on the same axes.

Each function takes a Dataset (``sweep.open_results(path)``) and returns a matplotlib Figure; `save`
writes PNG or SVG by the file's suffix. No I/O beyond `save`; the CLI (`sweep plot ...`) is a thin layer.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import matplotlib
import matplotlib.lines

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from . import analysis, theory  # noqa: E402

OBSERVABLES = {
    "R": (analysis.localization, "localization R"),
    "IPR": (analysis.ipr, "IPR x N"),
    "Q": (analysis.smoothness, "smoothness Q"),
    "FWHM": (analysis.fwhm, "peak width (FWHM, sites)"),
}


def save(fig, out) -> Path:
    """Write `fig` to `out` (.png or .svg) and close it."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"{out}: plots are written as .png or .svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def _require(ds: xr.Dataset, *names: str) -> None:
    missing = [n for n in names if n not in ds.variables and n not in ds.dims]
    if missing:
        raise ValueError(f"this plot needs {', '.join(missing)} in the store; it has dims "
                         f"{', '.join(ds.dims)} and variables {', '.join(ds.data_vars)}")


def _select(ds: xr.Dataset, sel: Optional[dict]) -> xr.Dataset:
    return ds.sel(sel) if sel else ds


def phase_diagram(ds: xr.Dataset, x: str = "beta", y: str = "n_samples", observable: str = "R",
                  sel: Optional[dict] = None):
    """Seed- and unit-averaged order parameter over (x, y), sample counts on a log axis, beta_c overlaid."""
    _require(ds, "weights", x, y)
    if observable not in OBSERVABLES:
        raise ValueError(f"observable {observable!r}: choose one of {', '.join(OBSERVABLES)}")
    fn, label = OBSERVABLES[observable]
    w = analysis.final_weights(_select(ds, sel))
    if "state" in w.dims:
        w = analysis.angular_modulation(w)
    value = fn(w)
    other = [d for d in value.dims if d not in (x, y)]
    value = value.mean(other, skipna=True).transpose(y, x)
    xs, ys = value[x].values.astype(float), value[y].values.astype(float)
    ox, oy = np.argsort(xs), np.argsort(ys)
    xs, ys, z = xs[ox], ys[oy], value.values[np.ix_(oy, ox)]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    logy = y == "n_samples"
    mesh = ax.pcolormesh(_edges(xs, False), _edges(ys, logy), z, shading="flat", cmap="viridis",
                         vmin=0 if observable in ("R", "Q") else None, vmax=1 if observable in ("R", "Q") else None)
    fig.colorbar(mesh, ax=ax, label=f"{label} (mean over {', '.join(other) or 'nothing'})")
    if logy:
        ax.set_yscale("log")
    if {x, y} == {"beta", "n_samples"}:
        N = int(ds.sizes.get("visible", 100))
        bb = np.linspace(max(xs.min(), 1e-3), xs.max(), 200)
        ax.plot(bb, theory.beta_c_samples(bb, N), "w--", lw=2, label=r"$\beta_c$: $\lambda_{signal}=\lambda_{MP}$")
        ax.set_ylim(_edges(ys, logy)[0], _edges(ys, logy)[-1])
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(_axis_label(y))
    ax.set_title(f"phase diagram: {label}")
    return fig


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric means on a log axis)."""
    if len(v) == 1:
        return np.array([v[0] * 0.8, v[0] * 1.25]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _axis_label(name: str) -> str:
    return {"beta": r"inverse temperature $\beta$", "n_samples": "training samples",
            "n_hidden": "hidden units M", "epoch": "epoch"}.get(name, name)


def width_vs_xi(ds: xr.Dataset, sel: Optional[dict] = None):
    """Fig. 3(b): FWHM of the final place field against the correlation length, with a linear fit."""
    _require(ds, "weights", "beta")
    w = analysis.final_weights(_select(ds, sel))
    width = analysis.fwhm(w)
    R = analysis.localization(w)
    width = width.where(R > 0.5)  # widths of localized fields only
    other = [d for d in width.dims if d != "beta"]
    mean, std = width.mean(other, skipna=True), width.std(other, skipna=True)
    xi = theory.correlation_length(ds["beta"].values.astype(float))
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.errorbar(xi, mean.values, yerr=std.values, fmt="o", capsize=3, label="RBM, mean +- std over replicas")
    ok = np.isfinite(mean.values)
    if ok.sum() >= 2:
        a, b = np.polyfit(xi[ok], mean.values[ok], 1)
        xx = np.linspace(0, xi[ok].max() * 1.05, 50)
        ax.plot(xx, a * xx + b, "r-", label=f"linear fit: {b:.2f} + {a:.2f} xi")
    ax.set_xlabel(r"correlation length $\xi = -1/\ln\tanh\beta$ (sites)")
    ax.set_ylabel("place-field width, FWHM (sites)")
    ax.set_title("width of the place field vs correlation length")
    ax.legend(fontsize=8)
    return fig


def trajectories(ds: xr.Dataset, sel: Optional[dict] = None):
    """Fig. 5(a) / 6: unwrapped peak centres against epochs, one line per replica and hidden unit."""
    _require(ds, "weights", "epoch")
    w = _select(ds, sel)["weights"]
    c = analysis.unwrap_centres(analysis.centre(w))
    lines = c.stack(line=[d for d in c.dims if d != "epoch"]).transpose("line", "epoch")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for row in lines.values:
        ax.plot(c["epoch"].values, row, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("peak centre (sites, unwrapped)")
    ax.set_title(f"place-field centres ({lines.sizes['line']} trajectories)")
    return fig


def msd(ds: xr.Dataset, sel: Optional[dict] = None, after: float = 20):
    """Fig. 5(b): mean-square displacement of the centre against lag, time origins after the transient
    `after` (epochs), with MSD = 2 D tau + b fitted (b absorbs the noise of the centre estimate) on the
    replica-averaged curve. Lags run up to a quarter of the recorded span after `after` (longer lags
    have too few time origins). With fewer than three lags to fit, no line is drawn and the legend
    says so."""
    _require(ds, "weights", "epoch")
    w = _select(ds, sel)["weights"]
    c = analysis.unwrap_centres(analysis.centre(w))
    rest = [d for d in c.dims if d != "epoch"]
    recorded = np.isfinite(c).any(rest) if rest else np.isfinite(c)
    e = np.asarray(c["epoch"].values[np.asarray(recorded)], dtype=float)
    e = e[e >= after]
    step = float(np.min(np.diff(e))) if len(e) >= 2 else 1.0
    span = float(e[-1] - e[0]) if len(e) >= 2 else 0.0
    m = analysis.msd(c, start=after, max_lag=max(step, span / 4))
    other = [d for d in m.dims if d != "lag"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mm = m.mean(other, skipna=True) if other else m
    fit = analysis.diffusion_coefficient(mm)
    lag = mm["lag"].values
    D, b, r2 = (float(fit[k]) for k in ("D", "intercept", "r2"))
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.plot(lag, mm.values, "o", ms=3, label=f"MSD over replicas and time origins after epoch {after:g}")
    handles = []
    if int(fit["n_lags"]) >= 3 and np.isfinite(D):
        ax.plot(lag, 2 * D * lag + b, "r-", label=f"2 D tau + b, D = {D:.3g} sites^2/epoch, b = {b:.2g}, "
                f"R^2 = {r2:.3f} (lags {lag[0]:g}-{lag[-1]:g})")
    else:  # a legend entry only, no line on the axes
        handles.append(matplotlib.lines.Line2D([], [], ls="none",
                                               label=f"too few lags to fit 2 D tau + b ({len(lag)} after "
                                                     f"epoch {after:g})"))
    ax.set_xlabel("lag tau (epochs)")
    ax.set_ylabel("MSD (sites^2)")
    ax.set_title("diffusion of the place field")
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize=7)
    return fig


def weights(ds: xr.Dataset, sel: Optional[dict] = None, hidden: int = 0):
    """Kymograph of one cell's weights over epochs (Ising), or its final site x state map (XY).
    hidden = -1: the final profiles of every hidden unit of the cell on one axis (Ising w_i, XY the
    angular modulation A_i), each unit's centre marked (Fig. 4: units tiling the ring)."""
    _require(ds, "weights")
    if hidden == -1:
        return _all_units(_select(ds, sel)["weights"])
    w = _select(ds, sel)["weights"].isel(hidden=hidden)
    extra = [d for d in w.dims if d not in ("epoch", "visible", "state")]
    if extra:
        raise ValueError(f"select one cell: --sel for each of {', '.join(extra)}")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if "state" in w.dims:
        final = analysis.final_weights(w)
        im = ax.imshow(final.transpose("state", "visible").values, aspect="auto", origin="lower",
                       cmap="RdBu_r", interpolation="nearest")
        ax.set_xlabel("site i")
        ax.set_ylabel("Potts state a (angle 2 pi a / q)")
        ax.set_title(f"final weights w_(i,a) of hidden unit {hidden}")
    else:
        w = w.dropna("epoch", how="all")
        im = ax.imshow(w.transpose("epoch", "visible").values, aspect="auto", origin="lower", cmap="RdBu_r",
                       interpolation="nearest",
                       extent=[-0.5, w.sizes["visible"] - 0.5, w["epoch"].values[0], w["epoch"].values[-1]])
        ax.set_xlabel("site i")
        ax.set_ylabel("epoch")
        ax.set_title(f"weights of hidden unit {hidden} over training")
    fig.colorbar(im, ax=ax, label="weight")
    return fig


def _all_units(w: xr.DataArray):
    extra = [d for d in w.dims if d not in ("epoch", "hidden", "visible", "state")]
    if extra:
        raise ValueError(f"select one cell: --sel for each of {', '.join(extra)}")
    final = analysis.final_weights(w) if "epoch" in w.dims else w
    xy = "state" in final.dims
    prof = analysis.angular_modulation(final) if xy else final
    c = analysis.centre(final)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k, h in enumerate(final["hidden"].values):
        p = prof.sel(hidden=h)
        if not np.isfinite(p).any():
            continue  # a padded unit of a smaller cell
        line, = ax.plot(p["visible"].values, p.values, "-", lw=1.2, label=f"unit {h}")
        ax.axvline(float(c.sel(hidden=h)), color=line.get_color(), ls=":", lw=1)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("site i")
    ax.set_ylabel("angular modulation A_i" if xy else "final weight w_i")
    ax.set_title(f"final weights of the {final.sizes['hidden']} hidden units (dotted: centres)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def eigen(ds: xr.Dataset, sel: Optional[dict] = None):
    """Fig. 12: top eigenvalue of the data correlation matrix against r = N / n_samples, per beta, with
    the Marchenko-Pastur edge and the model eigenvalue."""
    _require(ds, "top_eigenvalue", "n_samples", "beta")
    ds = _select(ds, sel)
    lam = ds["top_eigenvalue"]
    other = [d for d in lam.dims if d not in ("beta", "n_samples")]
    lam = lam.mean(other) if other else lam
    N = int(ds.attrs.get("n_visible", 0)) or _n_visible(ds)
    r = N / lam["n_samples"].values.astype(float)
    order = np.argsort(r)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    rr = np.logspace(np.log10(r.min()), np.log10(r.max()), 200)
    ax.plot(rr, theory.mp_edge(rr), "k--", label=r"MP edge $(1+\sqrt{r})^2$")
    for i, b in enumerate(lam["beta"].values):
        color = f"C{i % 10}"
        ax.plot(r[order], lam.sel(beta=b).values[order], "o-", color=color, ms=3, label=fr"data, $\beta$={b:g}")
        ax.axhline(theory.ising_signal_eigenvalue(float(b), N), color=color, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("r = N / n_samples")
    ax.set_ylabel("top eigenvalue of the correlation matrix")
    ax.set_title(r"top eigenvalue vs noise ratio (dotted: $\lambda_{signal}$)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def _n_visible(ds: xr.Dataset) -> int:
    import json

    norm = json.loads(ds.attrs.get("sweep_normalized", "{}"))
    return int(norm.get("data", {}).get("n_visible", 100))


def theory_figure(n_visible: int = 100):
    """Fig. 14: stationary weight profiles of the small-beta ODE (one and two units) and the
    continuum sech solutions."""
    one = theory.integrate_one_unit(N=n_visible)
    two = theory.integrate_two_units(N=n_visible)
    w1 = np.asarray(one["w"])
    i = np.arange(n_visible)
    x0 = int(np.argmax(w1))
    w1 = np.roll(w1, n_visible // 2 - x0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    ax.plot(i, w1, "o", ms=3, label="discrete ODE, stationary")
    for k, style in ((2 - np.sqrt(2), "r-"), (2 + np.sqrt(2), "g:")):
        ax.plot(i, theory.sech_profile(i, k, n_visible // 2), style, label=f"sqrt(2) k sech(k x), k = {k:.3f}")
    ax.set_xlim(n_visible // 2 - 15, n_visible // 2 + 15)
    ax.set_xlabel("site i")
    ax.set_ylabel("rescaled weight w'")
    ax.set_title("one hidden unit")
    ax.legend(fontsize=8)
    ax = axes[1]
    # the two-unit equations are invariant under rotations mixing the units: show the unmixed pair
    for name, w in (("unit 1", two["u1"]), ("unit 2", two["u2"])):
        ax.plot(i, np.asarray(w), "-", label=name)
    ax.set_xlabel("site i")
    ax.set_ylabel("rescaled weight w'")
    ax.set_title("two hidden units")
    ax.legend(fontsize=8)
    return fig


PLOTS = {
    "phase-diagram": phase_diagram,
    "width-vs-xi": width_vs_xi,
    "trajectories": trajectories,
    "msd": msd,
    "weights": weights,
    "eigen": eigen,
}
