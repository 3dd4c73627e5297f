"""Each plot renders from a real (small) store with the expected axes, labels and theory line."""

import matplotlib

matplotlib.use("Agg")

import warnings

import numpy as np
import pytest
import xarray as xr

from sweep import plots, run_cell
from sweep.store import open_results

pytestmark = pytest.mark.slow


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
    out = plots.save(fig, tmp_path / "p.png")
    assert out.stat().st_size > 10_000


def test_weights_width_trajectories_msd(ising_grid, tmp_path):
    one = ising_grid.sel(beta=0.5, seed=0, n_samples=300)
    fig = plots.weights(one)
    assert fig.axes[0].get_xlabel() == "site i" and fig.axes[0].get_ylabel() == "epoch"
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
    for f, name in ((fig, "m.svg"),):
        assert plots.save(f, tmp_path / name).read_text().startswith("<?xml")
    with pytest.raises(ValueError, match="select one cell"):
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
    from sweep.spectrum import top_eigen
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
    assert len(ax.lines) == 1 + 2 * len(betas)  # MP edge, data and lambda_signal per beta


def test_theory_figure_and_xy_weights(tmp_path):
    fig = plots.theory_figure(n_visible=60)
    assert len(fig.axes) == 2 and any("sech" in t for t in _labels(fig)[2])
    ds = run_cell({"data": {"model": "xy", "n_visible": 12, "q": 4, "n_samples": 200, "beta": 2.0},
                   "rbm": {"hidden": "double_well", "theta": -1.0, "gamma": 2.0},
                   "train": {"method": "pcd", "pcd_steps": 2, "batch_size": 20, "epochs": 2}})
    fig = plots.weights(ds)
    assert fig.axes[0].get_ylabel().startswith("Potts state")
    assert plots.weights(ds, hidden=-1).axes[0].get_ylabel() == "angular modulation A_i"
    assert plots.save(fig, tmp_path / "x.png").stat().st_size > 5_000


def test_plot_cli_errors_are_clean(tmp_path):
    from typer.testing import CliRunner

    from sweep.cli import app

    r = CliRunner().invoke(app, ["plot", "nonsense", str(tmp_path), "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 2 and "choose one of" in r.output
    r = CliRunner().invoke(app, ["plot", "theory", "--out", str(tmp_path / "a.pdf")])
    assert r.exit_code == 2 and ".png or .svg" in r.output
