"""Each plot renders from a real (small) store or constructed weights with the expected axes, labels and
theory lines (the store's model's theory), on a given Axes or a new figure."""

import matplotlib

matplotlib.use("Agg")

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from _figures import assert_saved_png, assert_saved_svg
from _limits import run as run_within
from sweep import run_cell
from sweep.views import plots
from sweep.store.results_store import open_results


def _labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel(), [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []


@pytest.fixture(scope="module")
def ising_grid(tmp_path_factory):
    """A tiny beta x n_samples x seed Ising dataset built from run_cell, laid out like a store."""
    cells = []
    for beta in (0.2, 0.5):
        row = []
        for n in (300, 3000):
            reps = []
            for seed in (0, 1):
                spec = {"seed": 1, "data": {"model": "ising", "n_visible": 40, "beta": beta, "n_samples": n},
                        "rbm": {"hidden": "spin", "n_hidden": 1},
                        "train": {"method": "exact", "learning_rate": 0.05, "epochs": 200,
                                  "record_every": 10, "init_std": 0.001, "seed": seed}}
                reps.append(run_cell(spec)[["weights"]])
            row.append(xr.concat(reps, "seed", join="outer"))
        cells.append(xr.concat(row, "n_samples", join="outer"))
    ds = xr.concat(cells, "beta", join="outer").assign_coords(beta=[0.2, 0.5], n_samples=[300, 3000], seed=[0, 1])
    return ds.transpose("beta", "seed", "n_samples", "epoch", "hidden", "visible")


def test_phase_diagram_has_log_samples_axis_and_beta_c(ising_grid, tmp_path):
    fig = plots.phase_diagram(ising_grid.assign_attrs(sweep_normalized='{"data": {"n_visible": 40}}'))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "inverse temperature" in ax.get_xlabel()
    assert ax.get_ylabel() == "training samples"
    assert any("beta_c" in t for t in _labels(fig)[2])
    # the colour mesh: R of the final weights, averaged over seeds and units, n_samples (rows) x beta, on [0, 1]
    from sweep.science import analysis, theory

    mesh = ax.collections[0]
    R = analysis.localization(analysis.final_weights(ising_grid)).mean(["seed", "hidden"])
    np.testing.assert_allclose(mesh.get_array(), R.transpose("n_samples", "beta").values)
    assert mesh.get_clim() == (0, 1) and 0 < R.min() < R.max() < 1
    line = ax.lines[0]  # beta_c: the sample count where lambda_signal meets the MP edge, N = 40
    np.testing.assert_allclose(line.get_ydata(), theory.beta_c_samples(line.get_xdata(), 40))
    assert_saved_png(fig, plots.save(fig, tmp_path / "p.png"))


def test_weights_width_trajectories_msd(ising_grid, tmp_path):
    one = ising_grid.sel(beta=0.5, seed=0, n_samples=300)
    fig = plots.weights(one)
    assert fig.axes[0].get_xlabel() == "site i" and fig.axes[0].get_ylabel() == "epoch"
    (im,) = fig.axes[0].images  # the kymograph: epochs (rows) x sites, coloured over the weights' range
    w = one["weights"].isel(hidden=0).dropna("epoch", how="all").values
    np.testing.assert_array_equal(im.get_array(), w)
    assert im.get_clim() == (w.min(), w.max()) and w.shape == (21, 40)
    fig = plots.width_vs_xi(ising_grid.sel(n_samples=3000))
    assert "correlation length" in fig.axes[0].get_xlabel() and "FWHM" in fig.axes[0].get_ylabel()
    assert any("linear fit" in t for t in _labels(fig)[2])
    fig = plots.trajectories(ising_grid.sel(beta=0.5, n_samples=300))
    assert fig.axes[0].get_xlabel() == "epoch" and len(fig.axes[0].lines) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN fit, no "Mean of empty slice"
        fig = plots.msd(ising_grid.sel(beta=0.5, n_samples=300), after=0)
    assert "lag" in fig.axes[0].get_xlabel() and any("2 D tau" in t for t in _labels(fig)[2])
    assert len(fig.axes[0].lines) == 2 and np.isfinite(fig.axes[0].lines[1].get_ydata()).all()
    assert "<path" in assert_saved_svg(fig, plots.save(fig, tmp_path / "m.svg"))
    with pytest.raises(ValueError, match="draws one cell: --sel for each of beta, seed, n_samples"):
        plots.weights(ising_grid)
    fig = plots.weights(ising_grid.sel(beta=0.5, seed=0, n_samples=3000), hidden=-1)  # every unit, final
    assert fig.axes[0].get_ylabel() == "final weight w_i" and len(fig.axes[0].lines) == 1 + 1 + 1  # w, centre, 0


def _walking_peaks(D, n_seeds, n_epochs, rng, n=100):
    """Weights of sech peaks whose centres do random walks of diffusion coefficient D (sites^2/epoch)."""
    steps = rng.normal(0, np.sqrt(2 * D), (n_seeds, n_epochs))
    x = np.concatenate([rng.uniform(0, n, (n_seeds, 1)), steps], axis=1).cumsum(1)
    off = np.mod(np.arange(n)[None, None, :] - x[..., None] + n / 2, n) - n / 2
    w = 1 / np.cosh(0.4 * off)
    return xr.Dataset({"weights": (("seed", "epoch", "hidden", "visible"), w[:, :, None, :])},
                      coords={"epoch": np.arange(n_epochs + 1), "seed": np.arange(n_seeds)})


def test_msd_plot_fits_the_diffusion_coefficient_of_walking_peaks():
    ds = _walking_peaks(0.5, 20, 400, np.random.default_rng(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.msd(ds, after=20)
    ax = fig.axes[0]
    (label,) = [t for t in _labels(fig)[2] if "2 D tau" in t]
    D = float(label.split("D = ")[1].split()[0])
    assert D == pytest.approx(0.5, rel=0.15)
    assert "R^2 = 0.99" in label and "lags 1-95" in label  # a quarter of the 380 epochs after 20
    lag, fit = ax.lines[1].get_xdata(), ax.lines[1].get_ydata()
    assert np.isfinite(fit).all() and fit[-1] - fit[0] == pytest.approx(2 * D * (lag[-1] - lag[0]), rel=0.01)


def test_msd_plot_of_a_too_short_trajectory_draws_no_fit():
    ds = _walking_peaks(0.5, 2, 3, np.random.default_rng(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.msd(ds, after=20)  # nothing after the transient
        fig2 = plots.msd(ds, after=1)  # epochs 1-3: one lag
    for f in (fig, fig2):
        assert len(f.axes[0].lines) == 1  # the data points only
        assert any("too few lags" in t for t in _labels(f)[2])


def test_eigen_plot_draws_mp_edge_and_signal_lines(tmp_path):
    from sweep.science.spectrum import top_eigen
    import kernels

    betas, ns = [0.3, 1.0], [50, 500, 5000]
    lam = np.array([[top_eigen(kernels.sample_ising(n, 40, b, 0), model="ising")["top_eigenvalue"] for n in ns]
                    for b in betas])
    ds = xr.Dataset({"top_eigenvalue": (("beta", "n_samples"), lam)}, coords={"beta": betas, "n_samples": ns},
                    attrs={"sweep_normalized": '{"data": {"n_visible": 40}}'})
    fig = plots.eigen(ds)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "r = N / n_samples"
    assert any("MP edge" in t for t in _labels(fig)[2])
    assert len(ax.lines) == 1 + 2 * len(betas) + 2  # MP edge, data and lambda_signal per beta, 2 legend keys
    np.testing.assert_allclose(ax.lines[0].get_ydata(), (1 + np.sqrt(ax.lines[0].get_xdata())) ** 2)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == r"$\beta$"  # the colour bar
    assert "Ising, N = 40" in ax.get_title()


def test_theory_figure_and_xy_weights(tmp_path):
    fig = plots.theory_figure(n_visible=60)
    assert len(fig.axes) == 2 and any("sech" in t for t in _labels(fig)[2])
    labels = _labels(fig)[2]
    assert any("3.414 (unstable)" in t for t in labels) and any("0.586 (stable)" in t for t in labels)
    # the right panel's label does not overlap the left panel
    fig.canvas.draw()
    left = fig.axes[0].get_tightbbox(fig.canvas.get_renderer())
    right_label = fig.axes[1].yaxis.label.get_window_extent(fig.canvas.get_renderer())
    assert right_label.x0 > left.x1
    ds = run_cell({"data": {"model": "xy", "n_visible": 12, "q": 4, "n_samples": 200, "beta": 2.0},
                   "rbm": {"hidden": "double_well", "theta": -1.0, "gamma": 2.0},
                   "train": {"method": "pcd", "pcd_steps": 2, "batch_size": 20, "epochs": 2}})
    fig = plots.weights(ds)
    assert fig.axes[0].get_ylabel().startswith("Potts state")
    (im,) = fig.axes[0].images  # the final weights, states (rows) x sites
    np.testing.assert_array_equal(im.get_array(), ds["weights"].isel(hidden=0, epoch=-1).values.T)
    assert im.get_array().shape == (4, 12)
    assert plots.weights(ds, hidden=-1).axes[0].get_ylabel() == "angular modulation A_i"
    assert_saved_png(fig, plots.save(fig, tmp_path / "x.png"))


def test_plot_cli_errors_are_clean(tmp_path):
    from typer.testing import CliRunner

    from sweep.cli import app

    r = CliRunner().invoke(app, ["plot", "nonsense", str(tmp_path), "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 2 and "'nonsense' is not one of" in " ".join(r.output.split()) and "'phase-diagram'" in r.output
    r = CliRunner().invoke(app, ["plot", "theory", "--out", str(tmp_path / "a.pdf")])
    assert r.exit_code == 2 and ".png or .svg" in r.output


# ---------------------------------------------------------------------------- constructed XY weights
N, Q = 40, 6


def _xy_weights(kind, phase=0.4, x0=12.0, rng=None):
    """w_(i,a) of a uniform angular field, a place field (sech envelope), or zero-sum noise."""
    a = np.arange(Q)
    cosine = np.cos(2 * np.pi * a / Q + phase)[None, :]
    if kind == "uniform":
        return 0.3 * np.ones((N, 1)) * cosine
    if kind == "place":
        off = np.mod(np.arange(N) - x0 + N / 2, N) - N / 2
        return (1 / np.cosh(0.5 * off))[:, None] * cosine
    w = (rng or np.random.default_rng(0)).normal(0, 0.1, (N, Q))
    return w - w.mean(1, keepdims=True)


def _xy_store(kinds_by_n, seeds=2, beta=1.5):
    """A store-like XY Dataset over (n_samples, data_seed, train_seed, epoch, hidden, visible, state)."""
    ns = sorted(kinds_by_n)
    rng = np.random.default_rng(1)
    w = np.zeros((len(ns), seeds, seeds, 2, 1, N, Q))
    for i, n in enumerate(ns):
        for d in range(seeds):
            for t in range(seeds):
                w[i, d, t, 0, 0] = _xy_weights("noise", rng=rng) * 0.01
                w[i, d, t, 1, 0] = _xy_weights(kinds_by_n[n], phase=0.3 * (d + t), x0=5 + 7 * d + 3 * t, rng=rng)
    norm = {"data": {"model": "xy", "n_visible": N, "q": Q, "beta": beta}, "rbm": {"n_hidden": 1, "hidden": "double_well"},
            "train": {"method": "pcd"}}
    return xr.Dataset({"weights": (("n_samples", "data_seed", "train_seed", "epoch", "hidden", "visible", "state"), w)},
                      coords={"n_samples": ns, "data_seed": np.arange(seeds), "train_seed": np.arange(seeds),
                              "epoch": [0, 10]}, attrs={"sweep_normalized": json.dumps(norm)})


def test_importing_plots_leaves_the_backend_alone():
    import os
    import subprocess
    import sys

    code = "import matplotlib; import sweep.views.plots; print(matplotlib.get_backend())"
    env = dict(os.environ, MPLBACKEND="svg")
    out = run_within([sys.executable, "-c", code], 120, capture_output=True, text=True, env=env)
    assert out.stdout.strip().lower() == "svg", out.stdout + out.stderr


def test_every_plot_draws_on_a_given_axes_and_returns_its_figure():
    import matplotlib.pyplot as plt

    ds = _xy_store({100: "noise", 1000: "uniform", 10000: "place"})
    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    out = plots.modulation(ds, sel={"data_seed": 0, "train_seed": 0}, ax=axes[0, :2])
    assert out is fig and axes[0, 0].get_xlabel() == "Potts state a"
    assert plots.phase_diagram(ds.expand_dims(beta=[1.5]).transpose("beta", ...), observable="angular_order",
                               ax=axes[0, 2]) is fig
    assert plots.profiles(ds, sel={"n_samples": 10000, "data_seed": 0, "train_seed": 0}, ax=axes[1]) is fig
    with pytest.raises(ValueError, match="3 Axes"):
        plots.profiles(ds, sel={"n_samples": 10000, "data_seed": 0, "train_seed": 0}, ax=axes[1, 0])
    plt.close(fig)


def test_modulation_plot_of_an_angular_field_then_a_place_field(tmp_path):
    ds = _xy_store({100: "noise", 1000: "uniform", 10000: "place"})
    fig = plots.modulation(ds, sel={"data_seed": 0, "train_seed": 0})
    a, b = fig.axes[:2]
    # (a) S_a: ~0 for noise, the cosine for the uniform field; (b) A_i flat for it, peaked for the place field
    s_noise, s_uniform = a.lines[0].get_ydata(), a.lines[1].get_ydata()
    assert np.abs(s_noise).max() < 0.05
    np.testing.assert_allclose(s_uniform, 0.3 * np.cos(2 * np.pi * np.arange(Q) / Q), atol=1e-12)
    a_uniform, a_place = b.lines[1].get_ydata(), b.lines[2].get_ydata()
    np.testing.assert_allclose(a_uniform, 0.3, atol=1e-12)
    assert a_place.max() > 0.9 and a_place.min() < 0.05
    assert fig.axes[2].get_ylabel() == "training samples"  # the colour bar of the family (log n)
    assert "XY, N = 40, q = 6, M = 1, unit = double_well, β = 1.5" in fig.texts[0].get_text()
    assert_saved_png(fig, plots.save(fig, tmp_path / "m.png"))
    with pytest.raises(ValueError, match="one dimension"):
        plots.modulation(ds)


def test_profiles_plot_of_a_place_field(tmp_path):
    ds = _xy_store({10000: "place"})
    fig = plots.profiles(ds, sel={"n_samples": 10000, "data_seed": 1, "train_seed": 0})
    c, d, e = fig.axes[:3]
    assert c.get_ylabel() == "angular modulation A_i" and int(np.argmax(c.lines[0].get_ydata())) == 12
    assert "T = 6.00" in d.get_legend().get_texts()[1].get_text()
    periods = e.lines[0].get_ydata()
    np.testing.assert_allclose(periods, Q, rtol=1e-4)
    assert_saved_png(fig, plots.save(fig, tmp_path / "p.png"))


def test_xy_stores_draw_xy_theory():
    from sweep.science import theory

    # phase diagram over (beta, n_samples): the XY crossover line n_c(beta)
    base = _xy_store({100: "noise", 1000: "uniform", 10000: "place"})
    ds = xr.concat([base, base], dim=xr.DataArray([1.0, 2.0], dims="beta", name="beta"))
    ds.attrs["sweep_normalized"] = json.dumps({"data": {"model": "xy", "n_visible": N, "q": Q}})
    fig = plots.phase_diagram(ds, observable="spatial_order")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), theory.xy_crossover_samples(line.get_xdata(), Q, N))
    assert "XY signal eigenvalue" in _labels(fig)[2][0]
    # eigen: the XY null edge and the XY signal eigenvalues; eigenvector: r_c from the XY crossover
    betas, ns = [0.5, 1.5], [100, 1000, 10000]
    lam = np.array([[theory.xy_null_edge(Q, N, n) + theory.xy_signal_eigenvalue(b, Q, N) for n in ns] for b in betas])
    st = xr.Dataset({"top_eigenvalue": (("beta", "n_samples", "seed"), np.stack([lam, lam], -1)),
                     "top_mode_weight": (("beta", "n_samples", "seed"), np.full((2, 3, 2), 0.5))},
                    coords={"beta": betas, "n_samples": ns, "seed": [0, 1]},
                    attrs={"sweep_normalized": json.dumps({"data": {"model": "xy", "n_visible": N, "q": Q},
                                                           "train": {"method": "statistics"}})})
    fig = plots.eigen(st)
    ax = fig.axes[0]
    r = ax.lines[0].get_xdata()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), theory.xy_null_edge(Q, N, N / r))
    signal = sorted(float(ln.get_ydata()[0]) for ln in ax.lines if ln.get_linestyle() == ":" and len(ln.get_ydata()) == 2)
    np.testing.assert_allclose(signal, [theory.xy_signal_eigenvalue(b, Q, N) for b in betas])
    assert ax.get_title().endswith("XY, N = 40, q = 6") and "null edge" in _labels(fig)[2][0]
    fig = plots.eigenvector(st)
    ax = fig.axes[0]
    marks = sorted(ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == ":" and len(ln.get_xdata()) == 2)
    expect = sorted(N / theory.xy_crossover_samples(b, Q, N) for b in betas)
    expect = [x for x in expect if N / 10000 <= x <= N / 100]
    np.testing.assert_allclose(marks, expect)
    assert "uniform first-harmonic plane" in ax.get_ylabel()


def test_eigen_plot_colours_a_family_of_twenty_betas_by_a_colour_bar():
    betas = np.round(np.linspace(0.05, 1.0, 20), 3)
    ns = [100, 1000]
    st = xr.Dataset({"top_eigenvalue": (("beta", "n_samples"), np.ones((20, 2)) * np.exp(2 * betas)[:, None])},
                    coords={"beta": betas, "n_samples": ns}, attrs={"sweep_normalized": json.dumps(
                        {"data": {"model": "ising", "n_visible": 100}, "train": {"method": "statistics"}})})
    fig = plots.eigen(st)
    ax = fig.axes[0]
    data = [ln for ln in ax.lines if ln.get_marker() == "o" and len(ln.get_xdata()) == 2]
    assert len(data) == 20 and len({ln.get_color() for ln in data}) == 20  # no repeated colours
    assert len(ax.get_legend().get_texts()) == 3  # theory keys only, not 20 entries


def test_small_beta_plot_overlays_trained_profiles_on_the_lattice_solution(tmp_path):
    from sweep.science import theory

    sol = theory.integrate_one_unit(N=100)["w"]
    betas = [0.1, 0.2]
    w = np.stack([[np.roll(np.sqrt(b) * sol, 7 * s) for s in range(3)] for b in betas])[:, :, None, None, :]
    ds = xr.Dataset({"weights": (("beta", "train_seed", "epoch", "hidden", "visible"), w)},
                    coords={"beta": betas, "train_seed": [0, 1, 2], "epoch": [10]},
                    attrs={"sweep_normalized": json.dumps({"data": {"model": "ising", "n_visible": 100,
                                                                    "n_samples": 100000}})})
    fig = plots.small_beta(ds)
    ax = fig.axes[0]
    means = [ln for ln in ax.lines if ln.get_linewidth() == 2 and len(ln.get_xdata()) == 100][:2]
    lattice = [ln for ln in ax.lines if "lattice" in ln.get_label()][0]
    for ln in means:  # each replica is the solution scaled by sqrt(beta), at another place
        np.testing.assert_allclose(ln.get_ydata(), lattice.get_ydata(), atol=1e-9)
    assert "n = 100000" in ax.get_title() and ax.get_ylabel() == "w_i / sqrt(beta)"
    assert_saved_png(fig, plots.save(fig, tmp_path / "s.png"))


def test_width_vs_m_and_samples(ising_grid, tmp_path):
    peaks = lambda M: np.stack([1 / np.cosh((np.mod(np.arange(100) - (k * 100 / M) + 50, 100) - 50) / (8 / M))
                                for k in range(M)])  # narrower as M grows
    w = np.full((3, 1, 10, 100), np.nan)
    for j, M in enumerate((1, 3, 10)):
        w[j, 0, :M] = peaks(M)
    ds = xr.Dataset({"weights": (("n_hidden", "epoch", "hidden", "visible"), w)},
                    coords={"n_hidden": [1, 3, 10], "epoch": [0]},
                    attrs={"sweep_normalized": json.dumps({"data": {"model": "ising", "n_visible": 100, "beta": 1.0}})})
    fig = plots.width_vs_m(ds)
    ax = fig.axes[0]
    widths = ax.lines[0].get_ydata()
    assert widths[0] > widths[1] > widths[2]  # shrinking widths, as drawn
    assert ax.get_xscale() == "log" and "spacing N / M" in _labels(fig)[2]
    # samples: Ising spins and XY angles
    spins = np.where(np.random.default_rng(0).random((50, 40)) < 0.5, -1, 1)
    fig = plots.samples(spins, "ising")
    assert fig.axes[0].get_xlabel() == "site i" and fig.axes[1].get_ylabel() == "spin v_i"
    (im,) = fig.axes[0].images  # configurations (rows) x sites, -1 black to +1 white
    np.testing.assert_array_equal(im.get_array(), spins)
    assert im.get_clim() == (-1, 1) and im.get_cmap().name == "gray"
    states = np.random.default_rng(1).integers(0, 6, (50, 40))
    fig = plots.samples(states, "xy", q=6)
    (im,) = fig.axes[0].images  # the angles 2 pi x_i / q on a cyclic map over [0, 2 pi]
    assert im.get_cmap().name == "hsv" and "angle" in fig.axes[1].get_ylabel()
    np.testing.assert_allclose(im.get_array(), 2 * np.pi * states / 6)
    assert im.get_clim() == (0, 2 * np.pi)
    assert_saved_png(fig, plots.save(fig, tmp_path / "xy.png"))


def test_cell_samples_are_the_cells_data():
    from sweep import load_sweep
    from sweep.run.cell import cell_samples, sample_data

    sw = load_sweep(__import__("pathlib").Path(__file__).parent.parent / "sweeps" / "paper" / "fig8-small.yaml")
    data, spec, coords = cell_samples(sw, {"beta": 2.0, "seed": 1}, n=30)
    from sweep.config.grid import expand

    cell = expand(sw).cell(expand(sw).index(beta=2.0, seed=1))
    assert coords == {"beta": 2.0, "seed": 1} and spec.q == 10 and spec == cell.config.data
    np.testing.assert_array_equal(data, sample_data(cell.config.data, cell.data_seed)[:30])
    other, _, _ = cell_samples(sw, {"beta": 2.0, "seed": 0}, n=30)
    assert (other != data).any()  # another data set
    with pytest.raises(ValueError, match="not on the grid"):
        cell_samples(sw, {"beta": 3.0})


@pytest.fixture
def saved(monkeypatch) -> list:
    """The figures `sweep plot` saves (plots.save still writes them), in order."""
    figures, save = [], plots.save

    def keep(fig, out):
        figures.append(fig)
        return save(fig, out)

    monkeypatch.setattr(plots, "save", keep)
    return figures


def test_plot_cli_new_kinds(tmp_path, saved):
    from typer.testing import CliRunner

    from sweep.cli import app

    yaml = str(__import__("pathlib").Path(__file__).parent.parent / "sweeps" / "paper" / "fig2-small.yaml")
    r = CliRunner().invoke(app, ["plot", "samples", yaml, "--sel", "beta=1.0", "--n", "40", "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    (im,) = saved[-1].axes[0].images  # 40 Ising configurations of the file's N = 100 sites, spins -1 and +1
    assert im.get_array().shape == (40, 100) and set(np.unique(im.get_array())) == {-1, 1}
    assert im.get_clim() == (-1, 1) and "β = 1" in saved[-1].axes[0].get_title()
    assert_saved_png(saved[-1], tmp_path / "s.png")
    r = CliRunner().invoke(app, ["plot", "samples", yaml, "--sel", "beta=0.7", "--out", str(tmp_path / "s.png")])
    assert r.exit_code == 2 and "not on the grid" in r.output
    r = CliRunner().invoke(app, ["plot", "theory", "--out", str(tmp_path / "t.png")])
    assert r.exit_code == 0, r.output
    fig = saved[-1]  # two panels: the one-unit profile and 2 sech curves, the two units
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3 and len(fig.axes[1].lines) == 2
    assert_saved_png(fig, tmp_path / "t.png")


def test_plot_kinds_are_a_choice_list_and_a_sweep_file_names_its_default_store(ising_grid, tmp_path, monkeypatch,
                                                                               saved):
    from typer.testing import CliRunner

    from sweep.cli import commands as cli

    assert tuple(k.value for k in cli.PlotKind) == cli.PLOT_KINDS  # the argument's type: an Enum of the kinds
    r = CliRunner().invoke(cli.app, ["plot", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0 and "|".join(cli.PLOT_KINDS) in r.output  # --help lists the choices
    opened = []

    def dataset(store):
        opened.append(store)
        return ising_grid.sel(beta=0.5, n_samples=300).assign_attrs(sweep_normalized='{"data": {"n_visible": 40}}')

    monkeypatch.setattr(cli, "_dataset", dataset)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("name: mine\ndata: {model: ising, n_visible: 40, n_samples: 300, beta: 0.5}\n"
                                     "rbm: {hidden: spin, n_hidden: 1}\ntrain: {method: exact, epochs: 2}\n")
    r = CliRunner().invoke(cli.app, ["plot", "weights", "s.yaml", "--sel", "seed=0", "--out", "w.png"])
    assert r.exit_code == 0, r.output
    assert opened == ["results/mine.zarr"]
    (im,) = saved[-1].axes[0].images  # the kymograph of the selected cell's unit 0
    np.testing.assert_array_equal(im.get_array(), ising_grid["weights"].sel(beta=0.5, n_samples=300, seed=0)
                                  .isel(hidden=0).values)
    assert_saved_png(saved[-1], tmp_path / "w.png")
    r = CliRunner().invoke(cli.app, ["plot", "weights", "elsewhere.zarr", "--sel", "seed=0", "--out", "w.png"])
    assert r.exit_code == 0 and opened[-1] == "elsewhere.zarr"  # a store path is used as it is
