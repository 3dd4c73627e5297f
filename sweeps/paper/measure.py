"""Print the numbers REPRODUCING.md reports for a figure, computed from its store with sweep.science.analysis,
sweep.science.spectrum and sweep.science.theory. Each figure ends with `claim ...: holds yes/no` lines: the criterion
is printed with the numbers it compares, so a verdict is never made by eye.

    python3 sweeps/paper/measure.py FIGURE STORE [options]
    FIGURE: fig2 fig3 fig4 fig5 fig6 fig7 fig8 fig9 fig10 fig11 fig12 fig13 fig14
    fig6: --single STORE (one unit at the same recipe, e.g. fig5-small-1e6) for its D
    fig12, fig13: --modes recomputes the uniform (k = 0) and low-mode (|k| <= 3) weights of the top
    eigenvector from the cells' data (first data seed), which the store does not keep
Averages are over every replica dimension present (sweep.science.analysis.REPLICA_DIMS: seed, train_seed,
data_seed) and the hidden units.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd

import sweep
from sweep.science import analysis as an
from sweep.science import spectrum
from sweep.science import theory
from sweep.config.grid import expand
from sweep.run.cell import cell_samples

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
pd.set_option("display.max_rows", 200)


def claim(text, holds, detail):
    print(f"claim {text}: holds {'yes' if holds else 'no'} ({detail})")


def params(ds):
    """The sweep's fixed data parameters (attrs['sweep_normalized'])."""
    return json.loads(ds.attrs.get("sweep_normalized", "{}")).get("data", {})


def grid_dims(ds):
    """Grid dimensions that are not replicas."""
    return [d for d in ds.attrs.get("grid_dims", ds["weights"].dims if "weights" in ds else ds.dims)
            if d not in an.REPLICA_DIMS and d in ds.dims]


def mean_sd(x, extra=("hidden",)):
    return an.replica_mean(x, extra=extra), an.replica_std(x, extra=extra)


def per_replica(x):
    """x stacked over its replica dims into one dim `rep` (a single replica when there are none)."""
    reps = an.replica_dims(x)
    return x.stack(rep=reps) if reps else x.expand_dims(rep=[0])


# ------------------------------------------------------------------------------------ Figs. 2, 8
def fig2(ds, args):
    """Exact samples: the pair correlation of each cell's configurations (regenerated from its data seed)
    against the exact ring correlation, d = 1..5; the deviation in standard errors."""
    sw = sweep.parse_sweep(ds.attrs["sweep_yaml"])
    grid = expand(sw)
    rows = []
    for cell in grid:
        d = cell.config.data
        data, _, _ = cell_samples(sw, cell.coords, n=d.n_samples)
        dist = np.arange(1, 6)
        xy = d.model == "xy"
        m, e = spectrum.pair_correlation(data, dist, d.model, q=d.q if xy else None)
        exact = (theory.xy_pair_correlation(d.beta, d.q, d.n_visible, dist, kernel=d.kernel) if xy
                 else theory.ising_pair_correlation(d.beta, d.n_visible, dist))
        z = (m - exact) / e
        rows.append({**cell.coords, "n": len(data), **{f"C({k}) data/exact": f"{a:.4f}/{b:.4f}"
                                                      for k, a, b in zip(dist, m, exact)},
                     "max |z|": float(np.max(np.abs(z)))})
    df = pd.DataFrame(rows)
    print(df.to_string(index=False))
    zmax = df["max |z|"].max()
    claim("the configurations follow the ring's exact pair correlation", zmax < 4.5,
          f"largest deviation {zmax:.2f} standard errors over {len(df)} cells x 5 distances; < 4.5 expected")


fig8 = fig2


# ------------------------------------------------------------------------------------ Fig. 3
def fig3(ds, args):
    """FWHM of the final place field (localized units, R > 0.5) against xi, mean and std over replicas,
    with a linear fit; docs/physics.md 7 reference widths where the betas match."""
    w = an.final_weights(ds)
    prof = an.angular_modulation(w) if "state" in w.dims else w
    R = an.localization(prof)
    width = an.fwhm(prof).where(R > 0.5)
    m, s = mean_sd(width)
    rm, rmin = an.replica_mean(R, ("hidden",)), R.min([d for d in R.dims if d != "beta"])
    beta = m["beta"].values
    xi = theory.correlation_length(beta)
    ref = {0.2: 4.1, 0.4: 5.3, 0.6: 6.9, 0.8: 10.0, 1.0: 14.1}
    df = pd.DataFrame({"beta": beta, "xi": xi, "R mean": rm.values, "R min": rmin.values, "FWHM mean": m.values,
                       "FWHM std": s.values, "localized": width.notnull().sum([d for d in width.dims if d != "beta"]).values,
                       "reference FWHM": [ref.get(round(float(b), 3), np.nan) for b in beta]})
    print(df.round(3).to_string(index=False))
    ok = np.isfinite(m.values)
    slope, icpt = np.polyfit(xi[ok], m.values[ok], 1)
    small = ok & (xi <= 4)
    r = np.corrcoef(xi[small], m.values[small])[0, 1]
    print(f"linear fit FWHM = {icpt:.2f} + {slope:.2f} xi (all betas); Pearson r = {r:.3f} for xi <= 4")
    dev = [abs(a - b) / b for a, b in zip(df["FWHM mean"], df["reference FWHM"]) if np.isfinite(b)]
    claim("one unit localizes at every beta", float(rmin.min()) > 0.5, f"smallest R {float(rmin.min()):.2f} > 0.5")
    claim("the width grows linearly with xi", slope > 0 and r > 0.95, f"slope {slope:.2f} > 0, r {r:.3f} > 0.95")
    if dev:
        claim("the widths match the reference values of docs/physics.md 7 (within 20 %)", max(dev) < 0.2, f"largest deviation {100 * max(dev):.0f} %")


# ------------------------------------------------------------------------------------ Fig. 4
def fig4(ds, args):
    """Units tiling the ring: gaps between consecutive centres against N/M, and the gap spread of M
    uniformly random centres, N/M sqrt((M-1)/(M+1)) (Dirichlet gaps), for comparison; Fig. 4(c): the
    FWHM per M."""
    w = an.final_weights(ds)
    N = ds.sizes["visible"]
    R, width = an.localization(w), an.fwhm(w)
    gaps = an.ring_gaps(an.centre(w))
    nn = an.nearest_neighbour_spacing(an.centre(w))
    widths = {}
    regular = {}
    for M in ds["n_hidden"].values:
        r = R.sel(n_hidden=M).values
        r = r[np.isfinite(r)]
        fw = width.sel(n_hidden=M).where(R.sel(n_hidden=M) > 0.5).values
        widths[int(M)] = (np.nanmean(fw), np.nanstd(fw))
        line = (f"M={M}: R mean {r.mean():.2f} (min {r.min():.2f}); FWHM of localized units {np.nanmean(fw):.1f} "
                f"+- {np.nanstd(fw):.1f} sites (N/M = {N / M:.1f})")
        if M > 1:
            g = gaps.sel(n_hidden=M).isel(gap=slice(0, int(M)))
            if M <= 6:
                for s in an.replica_dims(g):
                    for v in g[s].values:
                        print(f"M={M} {s}={v}: gaps {np.round(np.sort(g.sel({s: v}).values), 1)}")
            v = g.values[np.isfinite(g.values)]
            rnd = N / M * np.sqrt((M - 1) / (M + 1))
            regular[int(M)] = (v.std(), rnd)
            line += (f"; gaps mean {v.mean():.1f}, std {v.std():.1f}, min {v.min():.1f}, max {v.max():.1f} "
                     f"(random centres: std {rnd:.1f}); nearest-neighbour spacing min "
                     f"{float(nn.sel(n_hidden=M).min()):.1f}")
        print(line)
    ms = sorted(widths)
    for M, (sd, rnd) in regular.items():
        claim(f"M={M} units are more regular than random centres", sd < rnd / 2,
              f"gap std {sd:.1f} < half the random {rnd:.1f}")
    first, last = widths[ms[0]][0], widths[ms[-1]][0]
    claim("Fig. 4(c): the widths shrink as M grows", last < 0.8 * first,
          f"FWHM {first:.1f} at M={ms[0]} -> {last:.1f} at M={ms[-1]}; "
          + ", ".join(f"M={M}: {widths[M][0]:.1f}" for M in ms))


# ------------------------------------------------------------------------------------ Figs. 5, 6
def _groups(c, skip=("epoch", "hidden")):
    groups = [d for d in c.dims if d not in skip and d not in an.REPLICA_DIMS]
    if not groups:
        return [{}]
    mesh = np.array(np.meshgrid(*[c[d].values for d in groups], indexing="ij")).reshape(len(groups), -1).T
    return [dict(zip(groups, v)) for v in mesh]


def fig5(ds, args):
    """MSD of the unwrapped centres after `after` epochs, lags up to a quarter of the span (as
    `sweep plot msd`); D from 2 D tau + b on the replica-averaged MSD, per replica, and per half run."""
    c = an.unwrap_centres(an.centre(ds["weights"]))
    final = an.final_weights(ds)
    for key in _groups(c):
        cc = c.sel(key) if key else c
        e = cc["epoch"].values
        span = e[-1] - args.after
        m = an.msd(cc, start=args.after, max_lag=span / 4).mean("hidden")
        f = an.diffusion_coefficient(m)
        per_rep = an.diffusion_coefficient(an.msd(cc, over=(), start=args.after, max_lag=span / 4).mean("hidden"))
        halves = []
        for a, b in ((args.after, args.after + span / 2), (args.after + span / 2, e[-1])):
            mh = an.msd(cc.sel(epoch=slice(a, b)), max_lag=(b - a) / 4).mean("hidden")
            halves.append(float(an.diffusion_coefficient(mh)["D"]))
        net = (cc.isel(epoch=-1) - cc.sel(epoch=args.after)).values.ravel()
        fw = final.sel(key) if key else final
        D = float(f["D"])
        name = ", ".join(f"{k}={float(v):g}" for k, v in key.items()) or "all"
        print(f"{name}: D = {D:.3g} sites^2/epoch, b = {float(f['intercept']):.3g}, "
              f"R^2 = {float(f['r2']):.3f}, lags {m['lag'].values[0]:g}-{m['lag'].values[-1]:g}; "
              f"MSD(first lag) {float(m[0]):.3g}, MSD(last lag) {float(m[-1]):.3g}; "
              f"D per half run {halves[0]:.3g} / {halves[1]:.3g}; per replica D {np.round(per_rep['D'].values.ravel(), 3)}; "
              f"net displacement {np.round(net, 1)} sites; final R {np.round(an.localization(fw).values.ravel(), 2)}")
        pr = per_rep["D"].values.ravel()
        claim(f"{name}: the centre diffuses (linear MSD, stationary D, every replica alike)",
              float(f["r2"]) > 0.95 and min(halves) > 0.5 * max(halves) and np.max(pr) < 5 * np.min(pr),
              f"R^2 {float(f['r2']):.3f} > 0.95; halves {halves[0]:.3g} / {halves[1]:.3g} within 2x; "
              f"replica D from {np.min(pr):.3g} to {np.max(pr):.3g}, within 5x")


def fig6(ds, args):
    """Several units diffusing together (analysis.co_diffusion): D of one unit and of their centre of
    mass (ratio 1: rigid, M: independent), the std over time of each unit's gap to the next, against the
    single unit's D at the same recipe (--single STORE)."""
    c = an.unwrap_centres(an.centre(ds["weights"]))
    M = c.sizes["hidden"]
    e = c["epoch"].values
    span = e[-1] - args.after
    out = an.co_diffusion(c, start=args.after, max_lag=span / 4)
    per_rep = []
    for k in range(per_replica(c).sizes["rep"]):
        one = per_replica(c).isel(rep=k)
        r = an.co_diffusion(one, start=args.after, max_lag=span / 4)
        per_rep.append((float(r["D_unit"]), float(r["D_com"]), float(r["gap_std"]), float(r["gap_mean"])))
    for k, (du, dc, gs, gm) in enumerate(per_rep):
        print(f"replica {k}: D_unit {du:.3g}, D_com {dc:.3g}, ratio {du / dc:.2f}, gap std {gs:.1f}, gap mean {gm:.1f}")
    du, dc, ratio, gs = (float(out[k]) for k in ("D_unit", "D_com", "ratio", "gap_std"))
    print(f"all replicas: D_unit = {du:.3g}, D_com = {dc:.3g} sites^2/epoch, ratio {ratio:.2f} (1 rigid, {M} "
          f"independent); gap std over epochs {gs:.2f} sites (gap mean {float(out['gap_mean']):.1f}, N/M = "
          f"{c.attrs.get('n_sites', ds.sizes['visible']) / M:.1f})")
    # independent walkers of this D: the gap between two of them has variance 2 (2 D) t after t epochs;
    # its std over a run of length T, averaged, is about sqrt(2 D T / 3) (variance of a Brownian path)
    T = span
    indep = np.sqrt(2 * 2 * du * T / 6)
    print(f"independent walkers with D_unit over {T:g} epochs would give a gap std of about {indep:.1f} sites")
    claim("the units keep their spacing", gs < 0.3 * indep, f"gap std {gs:.2f} < 0.3 x {indep:.1f}")
    claim("the units move together", ratio < (1 + M) / 2, f"D_unit / D_com {ratio:.2f} < {(1 + M) / 2:g}")
    if args.single:
        ss = sweep.open_results(args.single)
        c1 = an.unwrap_centres(an.centre(ss["weights"]))
        span1 = c1["epoch"].values[-1] - args.after
        D1 = float(an.diffusion_coefficient(an.msd(c1, start=args.after, max_lag=span1 / 4).mean("hidden"))["D"])
        print(f"single unit at the same recipe ({args.single}): D = {D1:.3g}; D_com / D_single = {dc / D1:.2f}, "
              f"D_unit / D_single = {du / D1:.2f}")


# ------------------------------------------------------------------------------------ Fig. 7
def fig7(ds, args):
    """Replica-mean R and Q of the final weights; beta where they rise through 0.5 / 0.8 (crossing), and
    beta_c = ln(1 + sqrt(N / n_samples)); per replica the R = 0.5 crossing; the spread of R over data
    sets next to the spread over initialisations."""
    w = an.final_weights(ds)
    R, Q = an.localization(w), an.smoothness(w)
    Rm, Qm = an.replica_mean(R, ("hidden",)), an.replica_mean(Q, ("hidden",))
    print("replica-mean R (rows beta, columns n_samples)")
    print(Rm.to_pandas().round(2))
    N = ds.sizes["visible"]
    rows = []
    Rr = per_replica(R.mean("hidden"))
    for n in ds["n_samples"].values:
        cross = an.crossing(Rr.sel(n_samples=n), "beta", 0.5)
        rows.append({"n_samples": int(n), "beta_c": float(theory.beta_c(N / n)),
                     "R=0.5 first": float(an.crossing(Rm.sel(n_samples=n), "beta", 0.5)),
                     "R=0.5 last": float(an.crossing(Rm.sel(n_samples=n), "beta", 0.5, which="last")),
                     "Q=0.8 first": float(an.crossing(Qm.sel(n_samples=n), "beta", 0.8)),
                     "R=0.5 per replica: mean": float(cross.mean()), "std": float(cross.std(ddof=1)),
                     "replicas crossing": int(cross.notnull().sum()), "of": int(cross.size)})
    df = pd.DataFrame(rows).set_index("n_samples")
    print(df.round(3))
    if "data_seed" in R.dims and ("train_seed" in R.dims or "seed" in R.dims):
        from scipy import stats

        init = "train_seed" if "train_seed" in R.dims else "seed"
        Rh = R.mean("hidden")
        # spread over data sets (of the initialisation-mean) vs over initialisations (within one data set)
        sd_data = Rh.mean(init).std("data_seed", ddof=1)
        sd_init = Rh.std(init, ddof=1).mean("data_seed")
        anova = an.replica_variance(Rh, group="data_seed", within=init)
        counts = args.counts or ds["n_samples"].values[[1, -2]] if ds.sizes["n_samples"] > 2 else ds["n_samples"].values
        for n in counts:
            t = pd.DataFrame({"R mean": Rm.sel(n_samples=n).values, "sd over data sets": sd_data.sel(n_samples=n).values,
                              "sd over initialisations": sd_init.sel(n_samples=n).values,
                              "data-set component": anova["sd_between"].sel(n_samples=n).values,
                              "F": anova["F"].sel(n_samples=n).values},
                             index=pd.Index(Rm["beta"].values, name="beta"))
            print(f"n_samples = {n}: spread of R over {R.sizes['data_seed']} data sets (of the mean over "
                  f"{R.sizes[init]} initialisations) and over initialisations (within a data set, averaged); "
                  "one-way analysis of variance: the data sets' own component and F")
            print(t.round(3))
            near = (t["R mean"] > 0.2) & (t["R mean"] < 0.8)
            if near.any():
                print(f"  over the crossover (0.2 < R < 0.8): sd over data sets {t['sd over data sets'][near].mean():.3f}, "
                      f"over initialisations {t['sd over initialisations'][near].mean():.3f}")
                betas = t.index[near].values
                v = an.replica_variance(Rh.sel(n_samples=n, beta=betas), group="data_seed", within=init, pool=["beta"])
                F, db, dw = float(v["F"]), float(v["df_between"]), float(v["df_within"])
                sb, sw = float(v["sd_between"]), float(v["sd_within"])
                pval = float(stats.f.sf(F, db, dw))
                print(f"replicas n_samples = {n}: pooled over the {len(betas)} crossover betas, initialisations sd {sw:.3f}, "
                      f"data sets add sd {sb:.3f}; one replica's spread is {np.hypot(sb, sw):.3f}, which a sweep over "
                      f"{init} alone under-states {np.hypot(sb, sw) / sw:.2f}x; F({db:.0f}, {dw:.0f}) = {F:.2f}, "
                      f"p = {pval:.2g}: data sets matter {'yes' if pval < 0.01 else 'no'} (p < 0.01)")
    bc = Rm["n_samples"].copy(data=theory.beta_c(N / Rm["n_samples"].values))
    low = Rm.where(Rm["beta"] <= 0.5 * bc)
    high = Rm.where(Rm["beta"] >= 4 * bc)
    claim("R is at its noise level below beta_c", float(low.max()) < 0.35, f"largest R at beta <= beta_c/2: {float(low.max()):.2f} < 0.35")
    claim("R is large well above beta_c", float(high.min()) > 0.7, f"smallest R at beta >= 4 beta_c: {float(high.min()):.2f} > 0.7")
    fc = df["R=0.5 first"].values
    claim("the threshold falls with the sample count", bool(np.all(np.diff(fc[np.isfinite(fc)]) < 0)),
          f"R = 0.5 first crossings {np.round(fc, 2)}")


# ------------------------------------------------------------------------------------ Figs. 9, 10
def _rf_table(w):
    out = an.receptive_field(w)
    out["angular_order"] = an.angular_order(w)
    out["spatial_order"] = an.spatial_order(w)
    out["centre"] = an.centre(an.angular_modulation(w))
    fit = an.cosine_fit(w)
    A = an.angular_modulation(w)
    rf = A >= A.max("visible") / 2
    out["phase"] = xr_circmean(fit["phase"].where(rf), "visible")
    return out.where(out["angular_order"].notnull())


def xr_circmean(ph, dim):
    import xarray as xr

    z = np.exp(1j * ph.fillna(0).values) * ph.notnull().values
    ax = ph.get_axis_num(dim)
    return xr.DataArray(np.angle(z.sum(ax)), dims=[d for d in ph.dims if d != dim],
                        coords={k: v for k, v in ph.coords.items() if dim not in v.dims})


def fig9(ds, args):
    """XY weights: angular and spatial order, and the receptive field's fitted period, phase spread and
    width, per cell and averaged over replicas and units, per (beta, hidden unit kind); the width also in
    units of the XY correlation length xi = -1 / ln t_1 (theory.xy_correlation_length)."""
    w = an.final_weights(ds)
    out = _rf_table(w)
    q = int(params(ds).get("q") or ds.sizes["state"])
    print(out.drop_vars(["centre", "phase"]).to_dataframe().dropna(how="all").round(3))
    print("mean over replicas and units:")
    mean = an.replica_mean(out.drop_vars(["centre", "phase"]), ("hidden",))
    d = params(ds)
    if "beta" in mean.coords and list(d.get("couplings", [1.0])) == [1.0]:  # nearest-neighbour ring: xi = -1/ln t_1
        xi = theory.xy_correlation_length(mean["beta"].values, q, kernel=d.get("kernel", "cosine"))
        mean["xi"] = ("beta", np.atleast_1d(xi))
        mean["width / xi"] = mean["width"] / mean["xi"]
    print(mean.to_dataframe().round(3))
    dw = mean.sel(rbm_hidden="double_well") if "rbm_hidden" in mean.dims else mean
    claim("a place field in space (spatial order > 0.5)", float(dw["spatial_order"].min()) > 0.5,
          f"double-well spatial order {np.round(np.ravel(dw['spatial_order'].values), 2)}")
    claim(f"over it a cosine of period q = {q}", bool(np.all(np.abs(dw["period"] - q) < 0.1 * q)),
          f"median periods {np.round(np.ravel(dw['period'].values), 2)}")
    claim("with one phase (spread < 0.3 rad)", float(dw["phase_spread"].max()) < 0.3,
          f"phase spreads {np.round(np.ravel(dw['phase_spread'].values), 2)}")
    if "rbm_hidden" in mean.dims:
        b = mean.sel(rbm_hidden="bernoulli")
        claim("Fig. 9(b): a binary unit learns the same structure, localized slightly less",
              bool(np.all(np.abs(b["period"] - q) < 0.1 * q)) and float(b["spatial_order"].min()) > 0.3,
              f"bernoulli periods {np.round(np.ravel(b['period'].values), 2)}, spatial order "
              f"{np.round(np.ravel(b['spatial_order'].values), 2)} (double well "
              f"{np.round(np.ravel(dw['spatial_order'].values), 2)}), angular order "
              f"{np.round(np.ravel(b['angular_order'].values), 2)}")


def fig10(ds, args):
    """Several XY units: per replica, each unit's centre (of A_i), phase (circular mean over its
    receptive field), period and orders; the ring distances and phase differences between units."""
    w = an.final_weights(ds)
    out = _rf_table(w)
    N = ds.sizes["visible"]
    q = int(params(ds).get("q") or ds.sizes["state"])
    rows, close_pairs, close_diff = [], 0, []
    t = per_replica(out)
    for k in range(t.sizes["rep"]):
        one = t.isel(rep=k)
        c, ph = one["centre"].values, one["phase"].values
        print(f"replica {k}: centres {np.round(c, 1)}, phases {np.round(ph, 2)} rad, periods "
              f"{np.round(one['period'].values, 2)}, spatial order {np.round(one['spatial_order'].values, 2)}, "
              f"phase spread {np.round(one['phase_spread'].values, 2)}")
        M = len(c)
        for a in range(M):
            for b in range(a + 1, M):
                d = abs(c[a] - c[b]) % N
                d = min(d, N - d)
                dph = abs(np.angle(np.exp(1j * (ph[a] - ph[b]))))
                rows.append({"replica": k, "units": f"{a}-{b}", "distance": d, "phase difference": dph})
                width = np.nanmean(one["width"].values)
                if d < width:
                    close_pairs += 1
                    close_diff.append(dph)
    df = pd.DataFrame(rows)
    print(df.round(2).to_string(index=False))
    mean = an.replica_mean(out.drop_vars(["centre", "phase"]), ("hidden",))
    print("mean over replicas and units:")
    print(mean.to_dataframe().round(3) if mean.dims else mean.to_pandas().round(3))
    claim(f"every unit has period q = {q}", bool(np.nanmax(np.abs(out["period"].values - q)) < 0.1 * q),
          f"periods {np.round(np.ravel(out['period'].values), 2)}")
    claim("units that share a place (closer than one FWHM) differ in phase (> 0.5 rad)",
          close_pairs == 0 or min(close_diff) > 0.5,
          f"{close_pairs} close pairs, phase differences {np.round(close_diff, 2)}")
    far = df["distance"] >= np.nanmean(out["width"].values)
    claim("units repel in space (most pairs farther apart than one FWHM)", far.mean() > 0.5,
          f"{int(far.sum())} of {len(df)} pairs; mean FWHM {np.nanmean(out['width'].values):.1f} sites")


# ------------------------------------------------------------------------------------ Fig. 11
def fig11(ds, args):
    """Differentiated transitions: angular order (|sum_i F_i| normalized: the first harmonic of S_a) and
    spatial order (R of A_i) against n_samples per replica; the sample count where each rises through
    0.5 (first crossing, interpolated in ln n), mean and std over replicas; the XY crossover n_c."""
    w = an.final_weights(ds).isel(hidden=0)
    ang, spa = an.angular_order(w), an.spatial_order(w)
    S = an.spatial_modulation(w)
    s_amp = 2 * np.abs((S * np.exp(2j * np.pi * S["state"] / S.sizes["state"])).sum("state")) / S.sizes["state"]
    A = an.angular_modulation(w)
    flat = (A.std("visible") / A.mean("visible"))
    tab = pd.DataFrame({"angular order": an.replica_mean(ang).values, "sd": an.replica_std(ang).values,
                        "spatial order": an.replica_mean(spa).values, "sd ": an.replica_std(spa).values,
                        "S_a harmonic amplitude": an.replica_mean(s_amp).values,
                        "A_i std/mean": an.replica_mean(flat).values},
                       index=pd.Index(ang["n_samples"].values, name="n_samples"))
    print("means (sd) over replicas")
    print(tab.round(3))
    d = params(ds)
    nc = theory.xy_crossover_samples(d["beta"], d["q"], d["n_visible"])
    ca = an.crossing(per_replica(ang), "n_samples", 0.5, log=True)
    cs = an.crossing(per_replica(spa), "n_samples", 0.5, log=True)
    for k in range(ca.sizes["rep"]):
        label = ", ".join(f"{d}={ca['rep'].values[k][j]}" for j, d in enumerate(an.replica_dims(ang)))
        print(f"replica {label}: angular order reaches 0.5 at n = {float(ca[k]):.0f}, spatial order at n = {float(cs[k]):.0f}")
    la, ls = np.log10(ca.values), np.log10(cs.values)
    print(f"angular threshold n_ang = {10 ** np.nanmean(la):.0f} (log10 {np.nanmean(la):.2f} +- {np.nanstd(la, ddof=1):.2f}); "
          f"spatial threshold n_spa = {10 ** np.nanmean(ls):.0f} (log10 {np.nanmean(ls):.2f} +- {np.nanstd(ls, ddof=1):.2f}); "
          f"XY crossover n_c = {nc:.0f}; {int(np.isfinite(la).sum())} and {int(np.isfinite(ls).sum())} of {len(la)} "
          "replicas cross")
    n_min = float(ds["n_samples"].min())
    claim("the sample grid starts well below the angular crossover", n_min < nc / 3, f"n_min {n_min:.0f} < n_c/3 = {nc / 3:.0f}")
    claim("the angular threshold is bracketed and lies near n_c (within 3x)",
          np.isfinite(la).all() and abs(np.nanmean(la) - np.log10(nc)) < np.log10(3),
          f"n_ang {10 ** np.nanmean(la):.0f} vs n_c {nc:.0f}")
    sm = an.replica_mean(spa)
    rise = float(sm.max() - sm.min())
    claim("the spatial order rises well above its noise level (by > 0.2, peaking above n_ang)",
          rise > 0.2 and float(sm.idxmax()) > 10 ** np.nanmean(la),
          f"replica-mean spatial order from {float(sm.min()):.2f} to {float(sm.max()):.2f} (at n = {float(sm.idxmax()):.0f})")
    both = np.isfinite(la) & np.isfinite(ls)
    claim("the spatial threshold comes at more samples in every replica", bool(both.all() and np.all(ls > la)),
          f"log10 n_spa - log10 n_ang per replica {np.round(ls - la, 2)}")


# ------------------------------------------------------------------------------------ Figs. 12, 13
def _modes(ds, betas, counts):
    """uniform (k = 0) and low-mode (|k| <= 3) weights recomputed from the first data seed's cells."""
    sw = sweep.parse_sweep(ds.attrs["sweep_yaml"])
    rep = {d: ds[d].values[0] for d in an.replica_dims(ds)}
    out = {}
    for b in betas:
        for n in counts:
            data, spec, _ = cell_samples(sw, {"beta": b, "n_samples": n, **rep}, n=int(n))
            st = spectrum.top_eigen(data, spec.model, q=spec.q if spec.model == "xy" else None)
            out[(b, n)] = (st["uniform_mode_weight"], st["low_mode_weight"])
    return out


def fig12(ds, args):
    """Top eigenvalue against r = N / n: near the model eigenvalue for r < r_c / 10, near the null edge
    for r > 10 r_c; where the top eigenvector's signal-mode weight (replica mean) rises through 0.5 as n
    grows, against r_c(beta) (model eigenvalue = null edge). Ising or XY theory by the store's model."""
    d = params(ds)
    xy = d["model"] == "xy"
    N, q = d["n_visible"], d.get("q")
    lam = an.replica_mean(ds["top_eigenvalue"])
    wgt = an.replica_mean(ds["top_mode_weight"])
    n = ds["n_samples"].values.astype(float)
    r = N / n
    rows = []
    for b in ds["beta"].values:
        sig = theory.xy_signal_eigenvalue(b, q, N) if xy else theory.ising_signal_eigenvalue(b, N)
        nc = theory.xy_crossover_samples(b, q, N) if xy else theory.beta_c_samples(b, N)
        edge = theory.xy_null_edge(q, N, n) if xy else theory.mp_edge(r)
        rc = N / nc
        l = lam.sel(beta=b).values
        lo, hi = r < rc / 10, r > 10 * rc
        cross = float(an.crossing(wgt.sel(beta=b), "n_samples", 0.5, log=True))
        rows.append({"beta": b, "signal": sig, "r_c": rc,
                     "lam/signal - 1 at r_min": l[np.argmin(r)] / sig - 1,
                     "lam/signal (r<r_c/10)": np.max(np.abs(l[lo] / sig - 1)) if lo.any() else np.nan,
                     "lam/edge (r>10 r_c)": np.max(np.abs(l[hi] / edge[hi] - 1)) if hi.any() else np.nan,
                     "r at weight 0.5": N / cross if np.isfinite(cross) else np.nan,
                     "weight at r_c": float(np.interp(np.log(rc), np.log(r[::-1]), wgt.sel(beta=b).values[::-1]))
                     if r.min() <= rc <= r.max() else np.nan})
    df = pd.DataFrame(rows).set_index("beta")
    df["ratio r(0.5)/r_c"] = df["r at weight 0.5"] / df["r_c"]
    print("lambda/signal - 1 at the most samples; max |lambda/signal - 1| for r < r_c/10, max |lambda/edge - 1| for "
          "r > 10 r_c; signal-mode weight "
          "(" + ("uniform first-harmonic plane" if xy else "|k| <= 3") + "), replica mean")
    print(df.round(3))
    a = df["lam/signal - 1 at r_min"].abs()[df["r_c"] > 10 * r.min()]
    e = df["lam/edge (r>10 r_c)"].dropna()
    claim(f"many samples (r = {r.min():.2g} < r_c / 10): the top eigenvalue is the model's", len(a) > 0 and a.max() < 0.05,
          f"largest |lambda / signal - 1| {a.max():.3f} < 0.05 over the {len(a)} betas with r_c > {10 * r.min():.2g}")
    claim("few samples: the top eigenvalue is the null edge", len(e) > 0 and e.max() < 0.15,
          f"largest deviation {e.max():.3f} < 0.15 over {len(e)} betas")
    rat = np.log10(df["ratio r(0.5)/r_c"].dropna())
    claim("the eigenvector's weight crosses 0.5 at r_c (within a factor 3)", len(rat) > 0 and np.abs(rat).max() < np.log10(3),
          f"r(0.5)/r_c from {10 ** rat.min():.2f} to {10 ** rat.max():.2f} over {len(rat)} betas")
    if args.modes:
        import xarray as xr

        betas = ds["beta"].values[:: max(1, len(ds["beta"]) // 5)]
        counts = ds["n_samples"].values
        got = _modes(ds, betas, counts)
        ratios = {0: [], 1: []}
        for b in betas:
            nc = theory.xy_crossover_samples(b, q, N) if xy else theory.beta_c_samples(b, N)
            line = f"beta {b:g} (first data seed): r_c = {N / nc:.3g}"
            for j, name in ((0, "uniform (k = 0)"), (1, "|k| <= 3")):
                v = xr.DataArray([got[(b, m)][j] for m in counts], dims="n_samples", coords={"n_samples": counts})
                c = float(an.crossing(v, "n_samples", 0.5, log=True))
                line += f"; {name} weight {np.round(v.values, 2)}, reaches 0.5 at r = {N / c:.3g}"
                if np.isfinite(c):
                    ratios[j].append(nc / c)
            print(line)
        for j, name in ((0, "uniform (k = 0)"), (1, "|k| <= 3")):
            rr = np.log10(ratios[j])
            claim(f"the {name} weight crosses 0.5 at r_c (within a factor 3)", len(rr) > 0 and np.abs(rr).max() < np.log10(3),
                  f"r(0.5)/r_c {np.round(ratios[j], 2)}")


fig13 = fig12


# ------------------------------------------------------------------------------------ Fig. 14
def fig14(ds, args):
    """Trained single-unit profiles in the equation's units (analysis.profile_scaling): FWHM, sum w^2 /
    beta and max |w| / sqrt(beta) per beta, mean and std over replicas, against the stable lattice
    solution (theory.integrate_one_unit); the deviation as beta decreases and its linear extrapolation."""
    w = an.final_weights(ds).isel(hidden=0)
    sol = theory.integrate_one_unit(N=ds.sizes["visible"])
    import xarray as xr

    ref = an.profile_scaling(xr.DataArray(sol["w"], dims="visible"), beta=1.0)
    ref = {k: float(ref[k]) for k in ref}
    prof = an.profile_scaling(w)
    R = an.localization(w)
    rows = []
    for k in ("fwhm", "sum_sq_over_beta", "peak_over_sqrt_beta"):
        m, s = an.replica_mean(prof[k]), an.replica_std(prof[k])
        for b in m["beta"].values:
            rows.append({"beta": b, "quantity": k, "mean": float(m.sel(beta=b)), "std": float(s.sel(beta=b)),
                         "equation": ref[k], "deviation %": 100 * (float(m.sel(beta=b)) / ref[k] - 1)})
    df = pd.DataFrame(rows)
    print(df.pivot(index="beta", columns="quantity", values=["mean", "std", "deviation %"]).round(3))
    print(f"equation (lattice, N = {ds.sizes['visible']}): " + ", ".join(f"{k} {v:.3f}" for k, v in ref.items()))
    print(f"R of the final weights: {np.round(an.replica_mean(R).values, 3)} at beta {R['beta'].values}")
    for k in ("fwhm", "sum_sq_over_beta", "peak_over_sqrt_beta"):
        sub = df[df["quantity"] == k].sort_values("beta")
        slope, icpt = np.polyfit(sub["beta"], sub["mean"], 1)
        dev = np.abs(sub["deviation %"].values)
        print(f"{k}: linear fit {icpt:.3f} + {slope:.3f} beta -> beta = 0: {icpt:.3f} (equation {ref[k]:.3f}, "
              f"{100 * (icpt / ref[k] - 1):+.1f} %)")
        claim(f"{k} approaches the equation's value as beta decreases",
              dev[0] < dev[-1] and abs(icpt / ref[k] - 1) < 0.1,
              f"|deviation| {dev[0]:.1f} % at beta {sub['beta'].values[0]:g} < {dev[-1]:.1f} % at beta "
              f"{sub['beta'].values[-1]:g}; extrapolation within 10 %")


FIGURES = {name: fn for name, fn in globals().items() if name.startswith("fig") and callable(fn)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figure", choices=sorted(FIGURES, key=lambda f: int(f[3:])))
    p.add_argument("store")
    p.add_argument("--after", type=float, default=20, help="fig5, fig6: transient dropped (epochs)")
    p.add_argument("--single", help="fig6: store of one unit at the same recipe")
    p.add_argument("--modes", action="store_true", help="fig12, fig13: recompute k = 0 and |k| <= 3 weights")
    p.add_argument("--counts", type=int, nargs="*", help="fig7: sample counts for the replica spreads")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        FIGURES[args.figure](sweep.open_results(args.store), args)


if __name__ == "__main__":
    main()
