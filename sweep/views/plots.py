"""Figures from a results store, with the theory of docs/physics.md section 6 drawn for the store's model.

Every plot function takes a Dataset (``sweep.open_results(path)``) and ``ax=`` (a matplotlib Axes; a
sequence of Axes for the multi-panel figures) and returns the Figure it drew on; without ``ax`` it makes
a new figure with pyplot. Importing this module does not choose a matplotlib backend (a notebook keeps
its own; the CLI selects Agg). Theory follows the store's model: Ising stores get the Ising eigenvalue,
MP edge and beta_c line, XY stores the XY signal eigenvalue, null edge and crossover (sweep.science.theory).
Titles carry the fixed parameters (model, N, q, M, beta, n_samples); families of curves are coloured by
their parameter on a continuous colour map with a colour bar. Averages are over every replica dimension
(analysis.REPLICA_DIMS) and the hidden units. `save` writes PNG or SVG by the file's suffix.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional, Sequence

import matplotlib.lines
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib import colors
from matplotlib.cm import ScalarMappable

from ..science import analysis, theory

OBSERVABLES = {
    "R": (analysis.localization, "localization R"),
    "IPR": (analysis.ipr, "IPR x N"),
    "Q": (analysis.smoothness, "smoothness Q"),
    "FWHM": (analysis.fwhm, "peak width (FWHM, sites)"),
    "angular_order": (analysis.angular_order, "angular order"),
    "spatial_order": (analysis.spatial_order, "spatial order (R of A_i)"),
}
"""Order parameters of phase_diagram: (function of the final weights, label). For XY weights R, IPR, Q and
FWHM are taken of the angular modulation profile A_i; angular_order and spatial_order need XY weights."""

XY_ONLY = ("angular_order", "spatial_order")


def save(fig, out) -> Path:
    """Write `fig` to `out` (.png or .svg) atomically (sweep.views.export.write_atomically: its folder must exist) and
    close it. ValueError for another suffix or a refused path (OutputError), OSError when it cannot be written."""
    from .export import write_atomically

    out = Path(out)
    try:
        if out.suffix.lower() not in (".png", ".svg"):
            raise ValueError(f"{out}: plots are written as .png or .svg")
        return write_atomically(out, lambda tmp: fig.savefig(tmp, format=out.suffix[1:].lower(), dpi=130,
                                                             bbox_inches="tight"))
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------ helpers
def _require(ds: xr.Dataset, *names: str) -> None:
    missing = [n for n in names if n not in ds.variables and n not in ds.dims]
    if missing:
        raise ValueError(f"this plot needs {', '.join(missing)} in the store; it has dims "
                         f"{', '.join(ds.dims)} and variables {', '.join(ds.data_vars)}")


def _select(ds: xr.Dataset, sel: Optional[dict]) -> xr.Dataset:
    return ds.sel(sel) if sel else ds


def _axes(ax, n: int = 1, figsize=(6.4, 4.4)):
    """(figure, list of n axes): the given ones, or a new constrained-layout figure."""
    if ax is None:
        fig, axes = plt.subplots(1, n, figsize=figsize, layout="constrained")
        return fig, list(np.atleast_1d(axes))
    axes = list(np.atleast_1d(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != n:
        raise ValueError(f"this plot draws {n} panel(s): pass ax= as {n} Axes")
    return axes[0].figure, axes


def parameters(ds: xr.Dataset) -> dict:
    """The store's data and RBM parameters: model, N, q (XY), beta, n_samples, M, hidden, method, from the
    sweep's fixed values (attrs['sweep_normalized']) overridden by scalar coordinates (a selection);
    gridded parameters that still vary are absent. Model 'xy' is also inferred from a `state` dim."""
    norm = json.loads(ds.attrs.get("sweep_normalized", "{}") or "{}")
    data, rbm, train = norm.get("data", {}), norm.get("rbm", {}), norm.get("train", {})
    p = {"model": data.get("model"), "N": data.get("n_visible"), "q": data.get("q"), "beta": data.get("beta"),
         "n_samples": data.get("n_samples"), "M": rbm.get("n_hidden"), "hidden": rbm.get("hidden"),
         "method": train.get("method")}
    names = {"n_visible": "N", "n_hidden": "M", "q": "q", "beta": "beta", "n_samples": "n_samples",
             "rbm_hidden": "hidden"}
    for coord, key in names.items():
        if coord in ds.coords:
            v = ds[coord].values
            p[key] = v.item() if v.size == 1 else None
    if p["model"] is None:
        p["model"] = "xy" if "state" in ds.dims else "ising"
    if p["N"] is None and "visible" in ds.dims:
        p["N"] = int(ds.sizes["visible"])
    if p["model"] == "xy" and p["q"] is None and "state" in ds.dims:
        p["q"] = int(ds.sizes["state"])
    if p["model"] != "xy":
        p["q"] = None
    if p["method"] == "statistics":
        p["M"] = p["hidden"] = None
    return {k: v for k, v in p.items() if v is not None}


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def title(ds: xr.Dataset, what: str, skip: Sequence[str] = ()) -> str:
    """`what` and, on a second line, the fixed parameters of `ds` (model, N, q, M, beta, n)."""
    p = parameters(ds)
    parts = ["Ising" if p["model"] == "ising" else "XY"]
    labels = (("N", "N"), ("q", "q"), ("M", "M"), ("hidden", "unit"), ("beta", "β"), ("n_samples", "n"))
    parts += [f"{lab} = {_fmt(p[k])}" for k, lab in labels if k in p and k not in skip]
    return f"{what}\n{', '.join(parts)}"


def _family(fig, axes, values, label: str, log: bool = False, cmap: str = "viridis"):
    """Colours for a family of curves: value -> colour on a continuous map, with one colour bar."""
    values = np.asarray(values, dtype=float)
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi == lo:
        hi = lo * 1.01 + 1e-9
    norm = colors.LogNorm(lo, hi) if log and lo > 0 else colors.Normalize(lo, hi)
    cm = plt.get_cmap(cmap)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cm), ax=axes, label=label)
    return lambda v: cm(norm(float(v)))


def _mean(x, keep: Sequence[str]):
    """Mean over every dim not in `keep` (replicas, hidden units), ignoring NaN."""
    other = [d for d in x.dims if d not in keep]
    if not other:
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return x.mean(other, skipna=True)


def _axis_label(name: str) -> str:
    return {"beta": r"inverse temperature $\beta$", "n_samples": "training samples",
            "n_hidden": "hidden units M", "epoch": "epoch"}.get(name, name)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric means on a log axis)."""
    if len(v) == 1:
        return np.array([v[0] * 0.8, v[0] * 1.25]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _one_cell(x, allowed: Sequence[str], what: str = "this plot"):
    extra = [d for d in x.dims if d not in allowed]
    if extra:
        raise ValueError(f"{what} draws one cell: --sel for each of {', '.join(extra)}")


def crossover_samples(p: dict, beta):
    """Sample count where the model's top eigenvalue meets the null-model edge, for the store's model
    (Ising: theory.beta_c_samples; XY: theory.xy_crossover_samples)."""
    if p["model"] == "xy":
        return theory.xy_crossover_samples(beta, p["q"], p["N"])
    return theory.beta_c_samples(beta, p["N"])


def _null_edge(p: dict, n):
    n = np.asarray(n, dtype=float)
    if p["model"] == "xy":
        return theory.xy_null_edge(p["q"], p["N"], n)
    return theory.mp_edge(p["N"] / n)


def _signal(p: dict, beta):
    if p["model"] == "xy":
        return theory.xy_signal_eigenvalue(beta, p["q"], p["N"])
    return theory.ising_signal_eigenvalue(beta, p["N"])


def _correlation_length(p: dict, beta):
    beta = np.asarray(beta, dtype=float)
    if p["model"] == "xy":
        with np.errstate(divide="ignore"):
            return -1.0 / np.log(np.asarray(theory.xy_ratios(beta, p["q"]), dtype=float))
    return np.asarray(theory.correlation_length(beta), dtype=float)


def _site_profile(w):
    """|w_i| per site: the weights (Ising) or the angular modulation A_i (XY)."""
    return analysis.angular_modulation(w) if "state" in w.dims else w


# ------------------------------------------------------------------------------------------ Figs. 3, 4, 7
def phase_diagram(ds: xr.Dataset, x: str = "beta", y: str = "n_samples", observable: str = "R",
                  sel: Optional[dict] = None, ax=None):
    """Fig. 7 generalized: the order parameter of the final weights averaged over replicas and units,
    over (x, y); sample counts on a log axis; the crossover line of the store's model over (beta,
    n_samples): Ising beta_c (lambda_signal = MP edge), XY n_c (XY signal eigenvalue = XY null edge)."""
    _require(ds, "weights", x, y)
    if observable not in OBSERVABLES:
        raise ValueError(f"observable {observable!r}: choose one of {', '.join(OBSERVABLES)}")
    sub = _select(ds, sel)
    p = parameters(sub)
    fn, label = OBSERVABLES[observable]
    w = analysis.final_weights(sub)
    if observable in XY_ONLY:
        if "state" not in w.dims:
            raise ValueError(f"observable {observable!r} needs XY weights; this store is Ising")
    elif "state" in w.dims:
        w = analysis.angular_modulation(w)
        label += " of A_i"
    value = fn(w)
    other = [d for d in value.dims if d not in (x, y)]
    value = _mean(value, (x, y)).transpose(y, x)
    xs, ys = value[x].values.astype(float), value[y].values.astype(float)
    ox, oy = np.argsort(xs), np.argsort(ys)
    xs, ys, z = xs[ox], ys[oy], value.values[np.ix_(oy, ox)]
    fig, (a,) = _axes(ax)
    logy = y == "n_samples"
    bounded = observable in ("R", "Q") + XY_ONLY
    mesh = a.pcolormesh(_edges(xs, False), _edges(ys, logy), z, shading="flat", cmap="viridis",
                        vmin=0 if bounded else None, vmax=1 if bounded else None)
    fig.colorbar(mesh, ax=a, label=f"{label} (mean over {', '.join(other) or 'nothing'})")
    if logy:
        a.set_yscale("log")
    if {x, y} == {"beta", "n_samples"} and "N" in p:
        bb = np.linspace(max(xs.min(), 1e-3), xs.max(), 200)
        nc = np.asarray(crossover_samples(p, bb), dtype=float)
        xx, yy = (bb, nc) if x == "beta" else (nc, bb)
        name = (r"$n_c$: XY signal eigenvalue = null edge" if p["model"] == "xy"
                else r"$\beta_c$: $\lambda_{signal}=\lambda_{MP}$")
        a.plot(xx, yy, "w--", lw=2, label=name)
        a.set_xlim(_edges(xs, x == "n_samples")[[0, -1]])
        a.set_ylim(_edges(ys, logy)[[0, -1]])
        a.legend(loc="upper right", fontsize=8)
    a.set_xlabel(_axis_label(x))
    a.set_ylabel(_axis_label(y))
    a.set_title(title(sub, f"phase diagram: {label}"), fontsize=10)
    return fig


def width_vs_xi(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Fig. 3(b): FWHM of the final place field (Ising |w_i|, XY A_i; localized units only, R > 0.5)
    against the correlation length (Ising -1/ln tanh beta, XY -1/ln t_1), mean +- std over replicas
    and units, with a linear fit."""
    _require(ds, "weights", "beta")
    sub = _select(ds, sel)
    p = parameters(sub)
    prof = _site_profile(analysis.final_weights(sub))
    width = analysis.fwhm(prof).where(analysis.localization(prof) > 0.5)
    mean = analysis.replica_mean(width, extra=("hidden",))
    std = analysis.replica_std(width, extra=("hidden",))
    _one_cell(mean, ("beta",), "width-vs-xi")
    xi = _correlation_length(p, mean["beta"].values)
    fig, (a,) = _axes(ax, figsize=(5.8, 4.4))
    a.errorbar(xi, mean.values, yerr=std.values, fmt="o", capsize=3, label="RBM, mean +- std over replicas")
    ok = np.isfinite(mean.values)
    if ok.sum() >= 2:
        slope, icpt = np.polyfit(xi[ok], mean.values[ok], 1)
        xx = np.linspace(0, xi[ok].max() * 1.05, 50)
        a.plot(xx, slope * xx + icpt, "r-", label=f"linear fit: {icpt:.2f} + {slope:.2f} xi")
    a.set_xlabel(r"correlation length $\xi$ (sites)" + (r", $-1/\ln t_1$" if p["model"] == "xy"
                                                        else r" $= -1/\ln\tanh\beta$"))
    a.set_ylabel("place-field width, FWHM (sites)")
    a.set_title(title(sub, "width of the place field vs correlation length"), fontsize=10)
    a.legend(fontsize=8)
    return fig


def width_vs_m(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Fig. 4(c): FWHM of each localized unit (R > 0.5) against the number of hidden units M, mean +- std
    over units and replicas, with the spacing N/M of M equally spaced units: the widths shrink once N/M
    falls below the one-unit width."""
    _require(ds, "weights", "n_hidden")
    sub = _select(ds, sel)
    p = parameters(sub)
    prof = _site_profile(analysis.final_weights(sub))
    width = analysis.fwhm(prof).where(analysis.localization(prof) > 0.5)
    mean = analysis.replica_mean(width, extra=("hidden",))
    std = analysis.replica_std(width, extra=("hidden",))
    _one_cell(mean, ("n_hidden",), "width-vs-m")
    m = mean["n_hidden"].values.astype(float)
    fig, (a,) = _axes(ax, figsize=(5.8, 4.4))
    a.errorbar(m, mean.values, yerr=std.values, fmt="o-", capsize=3, label="FWHM, mean +- std over units, replicas")
    mm = np.geomspace(m.min(), m.max(), 50)
    a.plot(mm, p["N"] / mm, "k--", lw=1, label="spacing N / M")
    a.set_xscale("log")
    a.set_xlabel("hidden units M")
    a.set_ylabel("place-field width, FWHM (sites)")
    a.set_title(title(sub, "place-field width vs number of units", skip=("M",)), fontsize=10)
    a.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------------------------ Figs. 5, 6
def trajectories(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Fig. 5(a) / 6: unwrapped peak centres against epochs, one line per replica and hidden unit
    (the units of one replica share a colour)."""
    _require(ds, "weights", "epoch")
    sub = _select(ds, sel)
    c = analysis.unwrap_centres(analysis.centre(sub["weights"]))
    reps = [d for d in c.dims if d not in ("epoch", "hidden")]
    fig, (a,) = _axes(ax)
    stacked = c.stack(line=reps) if reps else c.expand_dims(line=[0])
    n_lines = 0
    for k in range(stacked.sizes["line"]):
        one = stacked.isel(line=k)
        units = one.transpose("hidden", "epoch").values if "hidden" in one.dims else one.values[None]
        for row in units:
            if np.isfinite(row).any():
                a.plot(c["epoch"].values, row, lw=1, color=f"C{k % 10}")
                n_lines += 1
    a.set_xlabel("epoch")
    a.set_ylabel("peak centre (sites, unwrapped)")
    a.set_title(title(sub, f"place-field centres ({n_lines} trajectories)"), fontsize=10)
    return fig


def msd(ds: xr.Dataset, sel: Optional[dict] = None, after: float = 20, ax=None):
    """Fig. 5(b): mean-square displacement of the centre against lag, time origins after the transient
    `after` (epochs), with MSD = 2 D tau + b fitted (b absorbs the noise of the centre estimate) on the
    curve averaged over replicas and units. Lags run up to a quarter of the recorded span after `after`.
    With several units (Fig. 6) the centre of mass's MSD and fit are drawn too (analysis.co_diffusion:
    the same D for units that move rigidly, D / M for independent ones). With fewer than three lags to
    fit, no line is drawn and the legend says so."""
    _require(ds, "weights", "epoch")
    sub = _select(ds, sel)
    c = analysis.unwrap_centres(analysis.centre(sub["weights"]))
    rest = [d for d in c.dims if d != "epoch"]
    recorded = np.isfinite(c).any(rest) if rest else np.isfinite(c)
    e = np.asarray(c["epoch"].values[np.asarray(recorded)], dtype=float)
    e = e[e >= after]
    step = float(np.min(np.diff(e))) if len(e) >= 2 else 1.0
    span = float(e[-1] - e[0]) if len(e) >= 2 else 0.0
    max_lag = max(step, span / 4)
    curves = [("unit", analysis.msd(c, start=after, max_lag=max_lag), "o", "r-")]
    if "hidden" in c.dims and c.sizes["hidden"] > 1:
        com = analysis.centre_of_mass(c)
        curves.append(("centre of mass", analysis.msd(com, start=after, max_lag=max_lag), "s", "b-"))
    fig, (a,) = _axes(ax, figsize=(5.8, 4.4))
    handles = []
    for name, m, marker, line in curves:
        mm = _mean(m, ("lag",))
        fit = analysis.diffusion_coefficient(mm)
        lag = mm["lag"].values
        D, b, r2 = (float(fit[k]) for k in ("D", "intercept", "r2"))
        a.plot(lag, mm.values, marker, ms=3, color=line[0],
               label=f"MSD ({name}), over replicas and time origins after epoch {after:g}")
        if int(fit["n_lags"]) >= 3 and np.isfinite(D):
            a.plot(lag, 2 * D * lag + b, line, label=f"{name}: 2 D tau + b, D = {D:.3g} sites^2/epoch, "
                   f"b = {b:.2g}, R^2 = {r2:.3f} (lags {lag[0]:g}-{lag[-1]:g})")
        else:  # a legend entry only, no line on the axes
            handles.append(matplotlib.lines.Line2D([], [], ls="none", label=f"{name}: too few lags to fit "
                                                   f"2 D tau + b ({len(lag)} after epoch {after:g})"))
    a.set_xlabel("lag tau (epochs)")
    a.set_ylabel("MSD (sites^2)")
    a.set_title(title(sub, "diffusion of the place field"), fontsize=10)
    a.legend(handles=a.get_legend_handles_labels()[0] + handles, fontsize=7)
    return fig


# ------------------------------------------------------------------------------------------ weights
def weights(ds: xr.Dataset, sel: Optional[dict] = None, hidden: int = 0, ax=None):
    """Kymograph of one cell's weights over epochs (Ising), or its final site x state map (XY).
    hidden = -1: the final profiles of every hidden unit of the cell on one axis (Ising w_i, XY the
    angular modulation A_i), each unit's centre marked (Fig. 4: units tiling the ring)."""
    _require(ds, "weights")
    sub = _select(ds, sel)
    if hidden == -1:
        return _all_units(sub, ax)
    w = sub["weights"].isel(hidden=hidden)
    _one_cell(w, ("epoch", "visible", "state"), "weights")
    fig, (a,) = _axes(ax)
    if "state" in w.dims:
        final = analysis.final_weights(w)
        im = a.imshow(final.transpose("state", "visible").values, aspect="auto", origin="lower",
                      cmap="RdBu_r", interpolation="nearest")
        a.set_xlabel("site i")
        a.set_ylabel("Potts state a (angle 2 pi a / q)")
        what = f"final weights w_(i,a) of hidden unit {hidden}"
    else:
        w = w.dropna("epoch", how="all")
        im = a.imshow(w.transpose("epoch", "visible").values, aspect="auto", origin="lower", cmap="RdBu_r",
                      interpolation="nearest",
                      extent=[-0.5, w.sizes["visible"] - 0.5, w["epoch"].values[0], w["epoch"].values[-1]])
        a.set_xlabel("site i")
        a.set_ylabel("epoch")
        what = f"weights of hidden unit {hidden} over training"
    fig.colorbar(im, ax=a, label="weight")
    a.set_title(title(sub, what), fontsize=10)
    return fig


def _all_units(sub: xr.Dataset, ax):
    w = sub["weights"]
    _one_cell(w, ("epoch", "hidden", "visible", "state"), "weights --hidden -1")
    final = analysis.final_weights(w) if "epoch" in w.dims else w
    xy = "state" in final.dims
    prof = _site_profile(final)
    c = analysis.centre(final)
    fig, (a,) = _axes(ax)
    for h in final["hidden"].values:
        pr = prof.sel(hidden=h)
        if not np.isfinite(pr).any():
            continue  # a padded unit of a smaller cell
        line, = a.plot(pr["visible"].values, pr.values, "-", lw=1.2, label=f"unit {h}")
        a.axvline(float(c.sel(hidden=h)), color=line.get_color(), ls=":", lw=1)
    a.axhline(0, color="0.6", lw=0.5)
    a.set_xlabel("site i")
    a.set_ylabel("angular modulation A_i" if xy else "final weight w_i")
    a.set_title(title(sub, f"final weights of the {final.sizes['hidden']} hidden units (dotted: centres)"),
                fontsize=10)
    a.legend(fontsize=7, ncol=2)
    return fig


def profiles(ds: xr.Dataset, sel: Optional[dict] = None, hidden: int = 0, ax=None):
    """Figs. 9(c-e) for one XY cell and unit: (c) the angular modulation A_i over the sites, the
    receptive field (A_i >= max / 2) shaded; (d) w_(i*, a) against the angle at the site i* of largest
    A_i, with its fitted cosine; (e) the fitted period T_i (q expected) and phase_i over the sites
    (analysis.cosine_fit; shown where the fit explains >= 50 % of sum_a w_(i,a)^2)."""
    _require(ds, "weights", "state")
    sub = _select(ds, sel)
    w = analysis.final_weights(sub["weights"]).isel(hidden=hidden)
    _one_cell(w, ("visible", "state"), "profiles")
    A = analysis.angular_modulation(w)
    fit = analysis.cosine_fit(w)
    i = A["visible"].values
    fig, (ac, ad, ae) = _axes(ax, 3, figsize=(14, 4.2))
    ac.plot(i, A.values, "o-", ms=3)
    rf = np.asarray(A.values >= np.nanmax(A.values) / 2)
    ac.fill_between(i, 0, np.nanmax(A.values), where=rf, color="0.85", step="mid", label="receptive field")
    ac.set_xlabel("site i")
    ac.set_ylabel("angular modulation A_i")
    ac.set_title("(c) angular modulation")
    ac.legend(fontsize=8)
    top = int(np.nanargmax(A.values))
    q = w.sizes["state"]
    states = np.arange(q)
    ad.plot(states, w.isel(visible=top).values, "o", label=f"w_(i,a), site {top}")
    aa = np.linspace(0, q - 1, 200)
    f = fit.isel(visible=top)
    ad.plot(aa, float(f["amplitude"]) * np.cos(2 * np.pi * aa / float(f["period"]) + float(f["phase"])), "r-",
            label=f"cosine fit: T = {float(f['period']):.2f}, phase {float(f['phase']):.2f}")
    ad.set_xlabel("Potts state a (angle 2 pi a / q)")
    ad.set_ylabel("weight")
    ad.set_title("(d) weights at the peak site")
    ad.legend(fontsize=8)
    good = np.asarray(fit["r2"].values >= 0.5)
    ae.plot(i[good], fit["period"].values[good], "o", color="C0", ms=4, label="period T_i")
    ae.axhline(q, color="C0", ls=":", lw=1, label=f"q = {q}")
    ae.set_xlabel("site i")
    ae.set_ylabel("period T_i (states)", color="C0")
    ae.set_ylim(0, 2 * q)
    ae2 = ae.twinx()
    ae2.plot(i[good], fit["phase"].values[good], "s", color="C3", ms=3, label="phase_i")
    ae2.set_ylim(-np.pi, np.pi)
    ae2.set_ylabel("phase_i (rad)", color="C3")
    ae.set_title("(e) fitted period and phase (where r2 >= 0.5)")
    ae.legend(fontsize=8, loc="upper left")
    ae2.legend(fontsize=8, loc="upper right")
    fig.suptitle(title(sub, f"receptive field of hidden unit {hidden}"), fontsize=10)
    return fig


def modulation(ds: xr.Dataset, sel: Optional[dict] = None, hidden: int = 0, ax=None):
    """Figs. 11(a, b): along the one grid dimension left after `sel` (e.g. n_samples; one replica
    selected), (a) the spatial modulation S_a = (1/N) sum_i w_(i,a) against the state a and (b) the
    angular modulation A_i against the site i, one curve per value, coloured by it (log scale for
    n_samples). An angular field uniform in space has a cosine S_a and a flat A_i; a place field a
    peaked A_i."""
    _require(ds, "weights", "state")
    sub = _select(ds, sel)
    w = analysis.final_weights(sub["weights"]).isel(hidden=hidden)
    fam = [d for d in w.dims if d not in ("visible", "state")]
    if len(fam) != 1:
        raise ValueError(f"modulation draws a family along one dimension: --sel all but one of "
                         f"{', '.join(fam) or '(none left)'}")
    dim = fam[0]
    S = analysis.spatial_modulation(w)
    A = analysis.angular_modulation(w)
    vals = w[dim].values
    fig, (aa, ab) = _axes(ax, 2, figsize=(12, 4.4))
    color = _family(fig, [aa, ab], vals, _axis_label(dim), log=dim == "n_samples")
    for v in vals:
        aa.plot(S["state"].values, S.sel({dim: v}).values, "o-", ms=3, color=color(v))
        ab.plot(A["visible"].values, A.sel({dim: v}).values, "-", lw=1.2, color=color(v))
    aa.axhline(0, color="0.6", lw=0.5)
    aa.set_xlabel("Potts state a")
    aa.set_ylabel("spatial modulation S_a = mean_i w_(i,a)")
    aa.set_title("(a) spatial modulation")
    ab.set_xlabel("site i")
    ab.set_ylabel("angular modulation A_i")
    ab.set_title("(b) angular modulation")
    fig.suptitle(title(sub, f"differentiated transitions: hidden unit {hidden}"), fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------ Figs. 12, 13
def _per_beta_against_r(ds: xr.Dataset, var: str, sel: Optional[dict], ax, what: str):
    """The shared set-up of Figs. 12/13 (a) and (c): the replica mean of `var` over (beta, n_samples), r = N / n
    with its sort order, the axes and a colour per beta."""
    _require(ds, var, "n_samples", "beta")
    sub = _select(ds, sel)
    p = parameters(sub)
    y = analysis.replica_mean(sub[var])
    _one_cell(y, ("beta", "n_samples"), what)
    n = y["n_samples"].values.astype(float)
    r = p["N"] / n
    fig, (a,) = _axes(ax, figsize=(6.6, 4.6))
    betas = y["beta"].values
    return sub, p, y, r, np.argsort(n), fig, a, betas, _family(fig, a, betas, r"$\beta$")


def eigen(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Figs. 12(a) / 13(a): top eigenvalue of the data correlation matrix (mean over replicas) against
    r = N / n_samples, one curve per beta on a colour map, with the store's null-model edge (Ising: MP
    edge (1 + sqrt r)^2; XY: (1/q)(1 + sqrt(r (q - 1)))^2) and each beta's model eigenvalue (dotted)."""
    sub, p, lam, r, order, fig, a, betas, color = _per_beta_against_r(ds, "top_eigenvalue", sel, ax, "eigen")
    rr = np.geomspace(r.min(), r.max(), 200)
    xy = p["model"] == "xy"
    a.plot(rr, _null_edge(p, p["N"] / rr), "k--",
           label=r"null edge $(1+\sqrt{r(q-1)})^2/q$" if xy else r"MP edge $(1+\sqrt{r})^2$")
    for b in betas:
        a.plot(r[order], lam.sel(beta=b).values[order], "o-", color=color(b), ms=3)
        a.axhline(float(_signal(p, float(b))), color=color(b), ls=":", lw=1)
    a.plot([], [], "o-", color="0.4", ms=3, label="data (mean over replicas)")
    a.plot([], [], ":", color="0.4", label="model eigenvalue" + (" (1/q)(1+t_1)/(1-t_1), finite N" if xy
                                                                 else r" $\lambda_{signal}$"))
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("r = N / n_samples")
    a.set_ylabel("top eigenvalue of the " + ("one-hot covariance" if xy else "correlation matrix"))
    a.set_title(title(sub, "top eigenvalue vs noise ratio", skip=("beta", "n_samples")), fontsize=10)
    a.legend(fontsize=7)
    return fig


def eigenvector(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Figs. 12(c) / 13(c): weight of the top eigenvector on the signal modes (the store's
    top_mode_weight: Ising the Fourier modes |k| <= 3, XY the uniform first-harmonic plane), mean over
    replicas, against r = N / n_samples, per beta on a colour map; each beta's crossover r_c (model
    eigenvalue = null edge) marked by a dotted line of its colour."""
    sub, p, wgt, r, order, fig, a, betas, color = _per_beta_against_r(ds, "top_mode_weight", sel, ax, "eigenvector")
    for b in betas:
        a.plot(r[order], wgt.sel(beta=b).values[order], "o-", color=color(b), ms=3)
        nc = float(crossover_samples(p, float(b)))
        if np.isfinite(nc) and r.min() <= p["N"] / nc <= r.max():
            a.axvline(p["N"] / nc, color=color(b), ls=":", lw=1)
    a.plot([], [], ":", color="0.4", label=r"$r_c(\beta)$: model eigenvalue = null edge")
    a.set_xscale("log")
    a.set_ylim(0, 1.02)
    a.set_xlabel("r = N / n_samples")
    a.set_ylabel("top eigenvector's weight on the " +
                 ("uniform first-harmonic plane" if p["model"] == "xy" else "modes |k| <= 3"))
    a.set_title(title(sub, "top eigenvector: from noise to the signal modes", skip=("beta", "n_samples")),
                fontsize=10)
    a.legend(fontsize=7)
    return fig


# ------------------------------------------------------------------------------------------ Fig. 14
def theory_figure(n_visible: int = 100, ax=None):
    """Fig. 14: stationary weight profiles of the small-beta ODE, (a) one unit with the continuum sech
    solutions (k = 2 - sqrt 2 stable, k = 2 + sqrt 2 unstable), (b) two units (unmixed pair)."""
    one = theory.integrate_one_unit(N=n_visible)
    two = theory.integrate_two_units(N=n_visible)
    w1 = np.roll(np.asarray(one["w"]), n_visible // 2 - int(np.argmax(one["w"])))
    i = np.arange(n_visible)
    fig, (a, b) = _axes(ax, 2, figsize=(11, 4.2))
    a.plot(i, w1, "o", ms=3, label="discrete ODE, stationary")
    for k, style, name in ((theory.SECH_K_STABLE, "r-", "stable"), (theory.SECH_K_NARROW, "g:", "unstable")):
        a.plot(i, theory.sech_profile(i, k, n_visible // 2), style,
               label=f"sqrt(2) k sech(k x), k = {k:.3f} ({name})")
    a.set_xlim(n_visible // 2 - 15, n_visible // 2 + 15)
    a.set_xlabel("site i")
    a.set_ylabel("rescaled weight w' = w / sqrt(beta)")
    a.set_title("(a) one hidden unit")
    a.legend(fontsize=8)
    # the two-unit equations are invariant under rotations mixing the units: show the unmixed pair
    for name, w in (("unit 1", two["u1"]), ("unit 2", two["u2"])):
        b.plot(i, np.asarray(w), "-", label=name)
    b.set_xlabel("site i")
    b.set_ylabel("rescaled weight w'")
    b.set_title("(b) two hidden units")
    b.legend(fontsize=8)
    fig.suptitle(f"small-beta equation, N = {n_visible} (docs/physics.md 6.2)", fontsize=10)
    return fig


def small_beta(ds: xr.Dataset, sel: Optional[dict] = None, ax=None):
    """Fig. 14 against trained weights: the final profile of one unit, centred and divided by
    sqrt(beta), per replica (thin) and its replica mean (thick), coloured by beta, over the stable
    lattice solution of the small-beta equation (black) and the continuum sech (dashed). At small beta
    and many samples the trained profiles approach the lattice solution."""
    _require(ds, "weights", "beta")
    sub = _select(ds, sel)
    w = analysis.final_weights(sub["weights"]).isel(hidden=0)
    if "state" in w.dims:
        raise ValueError("small-beta compares Ising weights with the small-beta equation; this store is XY")
    prof = analysis.centred_profile(w) / np.sqrt(w["beta"])
    reps = analysis.replica_dims(prof)
    _one_cell(prof, ("beta", "visible") + reps, "small-beta")
    N = int(w.sizes["visible"])
    i = np.arange(N)
    fig, (a,) = _axes(ax, figsize=(6.6, 4.6))
    betas = prof["beta"].values
    color = _family(fig, a, betas, r"$\beta$", cmap="plasma")
    for b in betas:
        one = prof.sel(beta=b)
        rows = one.stack(rep=reps).transpose("rep", "visible").values if reps else one.values[None]
        for row in rows:
            a.plot(i, row, "-", color=color(b), lw=0.5, alpha=0.5)
        a.plot(i, np.nanmean(rows, axis=0), "-", color=color(b), lw=2)
    sol = theory.integrate_one_unit(N=N)["profile"]
    a.plot(i, sol, "k-", lw=2.5, label="lattice solution of the small-beta equation (stable)")
    a.plot(i, theory.sech_profile(i, theory.SECH_K_STABLE, N // 2), "k--", lw=1,
           label="continuum sqrt(2) k sech(k x), k = 2 - sqrt 2")
    a.plot([], [], "-", color="0.4", lw=2, label="trained: mean over replicas (thin: each)")
    a.set_xlim(N // 2 - 15, N // 2 + 15)
    a.set_xlabel("site i (peak centred)")
    a.set_ylabel("w_i / sqrt(beta)")
    a.set_title(title(sub, "trained profiles vs the small-beta equation", skip=("beta",)), fontsize=10)
    a.legend(fontsize=7)
    return fig


# ------------------------------------------------------------------------------------------ Figs. 2, 8
def samples(data, model: str = "ising", q: Optional[int] = None, what: str = "", ax=None):
    """Figs. 2 / 8: configurations (rows) over the sites (columns): Ising spins black (-1) and white
    (+1); XY angles 2 pi x_i / q on a colour wheel (cyclic colour map)."""
    v = np.asarray(data)
    fig, (a,) = _axes(ax, figsize=(7.0, 5.0))
    if model == "xy":
        if q is None:
            raise ValueError("XY samples need q")
        im = a.imshow(2 * np.pi * v / q, aspect="auto", cmap="hsv", vmin=0, vmax=2 * np.pi,
                      interpolation="nearest")
        cb = fig.colorbar(im, ax=a, label="angle 2 pi x_i / q (rad)")
        cb.set_ticks([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi])
        cb.set_ticklabels(["0", "pi/2", "pi", "3pi/2", "2pi"])
    else:
        im = a.imshow(v, aspect="auto", cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        cb = fig.colorbar(im, ax=a, label="spin v_i")
        cb.set_ticks([-1, 1])
    a.set_xlabel("site i")
    a.set_ylabel("configuration")
    a.set_title(what or f"{len(v)} configurations", fontsize=10)
    return fig


def samples_of(sweep, sel: Optional[dict] = None, n: int = 100, ax=None):
    """samples() of one cell of `sweep` (sweep.run.cell.cell_samples), titled with its parameters."""
    from ..run.cell import cell_samples  # the kernels, loaded only for this plot

    data, spec, coords = cell_samples(sweep, sel, n)
    xy = spec.model == "xy"
    what = (f"{len(data)} exact configurations of the {'XY' if xy else 'Ising'} ring\n"
            f"N = {spec.n_visible}" + (f", q = {spec.q}" if xy else "") + f", β = {spec.beta:g}"
            + "".join(f", {k} = {_fmt(v)}" for k, v in coords.items() if k not in ("beta",)))
    return samples(data, spec.model, spec.q, what=what, ax=ax)


PLOTS = {
    "phase-diagram": phase_diagram,
    "width-vs-xi": width_vs_xi,
    "width-vs-m": width_vs_m,
    "trajectories": trajectories,
    "msd": msd,
    "weights": weights,
    "profiles": profiles,
    "modulation": modulation,
    "eigen": eigen,
    "eigenvector": eigenvector,
    "small-beta": small_beta,
}
"""Plot kinds drawn from a store: kind -> function(ds, sel=..., ...). `theory` and `samples` are apart."""
