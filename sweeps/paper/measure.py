"""Print the numbers REPRODUCING.md reports for a figure, computed from its store with sweep.analysis.

    python3 sweeps/paper/measure.py fig4 results/fig4-small.zarr
    python3 sweeps/paper/measure.py fig5 results/fig5-small.zarr [--after 20]
    python3 sweeps/paper/measure.py fig7 results/fig7-small.zarr
    python3 sweeps/paper/measure.py fig9 results/fig9-small.zarr     (also fig11)
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import sweep
from sweep import analysis as an
from sweep import theory

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)


def fig4(ds, args):
    """Units tiling the ring: gaps between consecutive centres against N/M, and the gap spread of M
    uniformly random centres, N/M sqrt((M-1)/(M+1)) (Dirichlet gaps), for comparison."""
    w = an.final_weights(ds)
    N = ds.sizes["visible"]
    R, width = an.localization(w), an.fwhm(w)
    gaps = an.ring_gaps(an.centre(w))
    nn = an.nearest_neighbour_spacing(an.centre(w))
    for M in ds["n_hidden"].values:
        g = gaps.sel(n_hidden=M).isel(gap=slice(0, int(M)))
        for s in ds["seed"].values:
            print(f"M={M} seed={s}: gaps {np.round(np.sort(g.sel(seed=s).values), 1)}")
        v = g.values[np.isfinite(g.values)]
        r = R.sel(n_hidden=M).values
        r = r[np.isfinite(r)]
        fw = width.sel(n_hidden=M).values
        print(f"M={M}: N/M = {N / M:.1f}; gaps mean {v.mean():.1f}, std {v.std():.1f}, min {v.min():.1f}, "
              f"max {v.max():.1f} (random centres: std {N / M * np.sqrt((M - 1) / (M + 1)):.1f}); "
              f"nearest-neighbour spacing min {float(nn.sel(n_hidden=M).min()):.1f}; "
              f"R mean {r.mean():.2f} (min {r.min():.2f}); FWHM mean {np.nanmean(fw):.1f} sites")


def fig5(ds, args):
    """MSD of the unwrapped centres after `after` epochs, lags up to a quarter of the span (as
    `sweep plot msd`); D from 2 D tau + b on the replica-averaged MSD, per seed, and per half run."""
    c = an.unwrap_centres(an.centre(ds["weights"]))
    groups = [d for d in c.dims if d not in ("epoch", "seed", "hidden")]
    keys = [dict(zip(groups, v)) for v in
            (np.array(np.meshgrid(*[c[d].values for d in groups], indexing="ij")).reshape(len(groups), -1).T
             if groups else [[]])]
    final = an.final_weights(ds)
    for key in keys:
        cc = c.sel(key) if key else c
        e = cc["epoch"].values
        span = e[-1] - args.after
        m = an.msd(cc, start=args.after, max_lag=span / 4).mean("hidden")
        f = an.diffusion_coefficient(m)
        per_seed = an.diffusion_coefficient(an.msd(cc, over=(), start=args.after, max_lag=span / 4).mean("hidden"))
        halves = []
        for a, b in ((args.after, args.after + span / 2), (args.after + span / 2, e[-1])):
            mh = an.msd(cc.sel(epoch=slice(a, b)), max_lag=(b - a) / 4).mean("hidden")
            halves.append(float(an.diffusion_coefficient(mh)["D"]))
        net = (cc.isel(epoch=-1) - cc.sel(epoch=args.after)).values.ravel()
        fw = final.sel(key) if key else final
        print(f"{key or 'all'}: D = {float(f['D']):.3g} sites^2/epoch, b = {float(f['intercept']):.3g}, "
              f"R^2 = {float(f['r2']):.3f}, lags {m['lag'].values[0]:g}-{m['lag'].values[-1]:g}; "
              f"MSD(first lag) {float(m[0]):.3g}, MSD(last lag) {float(m[-1]):.3g}; "
              f"D per half run {halves[0]:.3g} / {halves[1]:.3g}; per seed D {np.round(per_seed['D'].values.ravel(), 3)}; "
              f"net displacement {np.round(net, 1)} sites; final R {np.round(an.localization(fw).values.ravel(), 2)}")


def fig7(ds, args):
    """Seed-mean R and Q of the final weights; beta where they rise through 0.5 / 0.8 (crossing), and
    beta_c = ln(1 + sqrt(N / n_samples))."""
    w = an.final_weights(ds)
    R, Q = an.order_parameter(w, "R"), an.order_parameter(w, "Q")
    print("seed-mean R (rows beta, columns n_samples)")
    print(R.to_pandas().round(2))
    N = ds.sizes["visible"]
    rows = []
    for n in ds["n_samples"].values:
        rows.append({"n_samples": int(n), "beta_c": float(theory.beta_c(N / n)),
                     "R=0.5 first": float(an.crossing(R.sel(n_samples=n), "beta", 0.5)),
                     "R=0.5 last": float(an.crossing(R.sel(n_samples=n), "beta", 0.5, which="last")),
                     "Q=0.8 first": float(an.crossing(Q.sel(n_samples=n), "beta", 0.8))})
    print(pd.DataFrame(rows).set_index("n_samples").round(2))


def fig9(ds, args):
    """XY weights: angular and spatial order, and the receptive field's fitted period, phase spread and
    width, per cell and averaged over seeds and units."""
    w = an.final_weights(ds)
    out = an.receptive_field(w)
    out["angular_order"] = an.angular_order(w)
    out["spatial_order"] = an.spatial_order(w)
    out = out.where(out["angular_order"].notnull())  # drop the padded units of smaller cells
    grid = [d for d in ds.attrs["grid_dims"] if d != "seed"]
    print(out.to_dataframe().dropna().round(3))
    print("mean over seeds and units:")
    print(out.mean([d for d in out.dims if d not in grid], skipna=True).to_dataframe().round(3))


FIGURES = {"fig4": fig4, "fig5": fig5, "fig7": fig7, "fig9": fig9, "fig11": fig9}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("figure", choices=sorted(FIGURES))
    p.add_argument("store")
    p.add_argument("--after", type=float, default=20, help="fig5: transient dropped (epochs)")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        FIGURES[args.figure](sweep.open_results(args.store), args)


if __name__ == "__main__":
    main()
