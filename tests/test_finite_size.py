"""The finite-size study (issue 12, item 4): analysis.bumps / overlap / uniform_overlap on constructed
weights and vectors with known answers, and sweeps/paper/finite_size.py's core on constructed inputs
(RMT formulas against their known limits and a Monte-Carlo check, crossover widths of a logistic, the data
regenerated for a tiny constructed store)."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _figures import assert_png
from sweep.science import analysis as an
from sweep.config.grid import expand
from sweep.config.sweepfile import parse_sweep


def _script():
    path = Path(__file__).parent.parent / "sweeps" / "paper" / "finite_size.py"
    spec = importlib.util.spec_from_file_location("finite_size", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fs = _script()


def _sech_peaks(centres, N, width=3.0, heights=None):
    x = np.arange(N)
    heights = np.ones(len(centres)) if heights is None else np.asarray(heights, dtype=float)
    w = np.zeros(N)
    for c, h in zip(centres, heights):
        d = (x - c + N / 2) % N - N / 2
        w += h / np.cosh(d / width)
    return w


def _bumps(w, **kw):
    b = an.bumps(xr.DataArray(np.asarray(w, dtype=float), dims=("visible",) if np.ndim(w) == 1 else
                              ("visible", "state")), **kw)
    return float(b["n_bumps"]), float(b["n_maxima"]), float(b["largest_share"])


# ---------------------------------------------------------------------------------------- bumps
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_k_equal_separated_peaks_are_k_bumps_each_holding_1_over_k(k):
    N = 400
    w = _sech_peaks(np.arange(k) * N / k + 7, N)
    nb, nm, share = _bumps(w)
    assert nb == k and nm == k
    assert share == pytest.approx(1 / k, abs=1e-6)


def test_unequal_peaks_share_is_the_larger_basin_and_a_low_peak_is_not_a_bump():
    N = 300
    w = _sech_peaks([50, 200], N, heights=[1.0, 0.7])
    m1 = (_sech_peaks([50], N) ** 2).sum()
    m2 = (_sech_peaks([200], N, heights=[0.7]) ** 2).sum()
    nb, nm, share = _bumps(w)
    assert (nb, nm) == (2, 2)
    assert share == pytest.approx(m1 / (m1 + m2), abs=1e-4)
    # a third peak below half height is no bump, and its basin goes to a neighbour: share unchanged in count
    nb3, nm3, _ = _bumps(w + _sech_peaks([125], N, heights=[0.4]))
    assert (nb3, nm3) == (2, 2)


def test_a_peak_across_the_boundary_is_one_bump_and_padding_is_ignored():
    N = 120
    w = _sech_peaks([0.5], N, width=5)  # straddles sites N-1 and 0
    assert _bumps(w) == (1.0, 1.0, 1.0)
    padded = np.concatenate([w, np.full(80, np.nan)])  # a store pads smaller cells with NaN at the end
    assert _bumps(padded) == (1.0, 1.0, 1.0)
    # two peaks, one wrapping: padding must not split or merge them
    w2 = _sech_peaks([1, 60], N)
    assert _bumps(np.concatenate([w2, np.full(80, np.nan)]))[:2] == (2.0, 2.0)


def test_ripples_on_one_peak_are_one_bump_but_several_maxima():
    N = 200
    x = np.arange(N)
    w = _sech_peaks([100], N, width=15) * (1 + 0.05 * np.cos(2 * np.pi * (x - 100) / 8))
    nb, nm, share = _bumps(w)
    assert nb == 1 and share == pytest.approx(1.0)
    assert nm >= 3


def test_flat_plateau_top_uniform_and_sign_changes():
    N = 60
    w = np.zeros(N)
    w[20:30] = 1.0  # one plateau: one maximum, one bump holding everything
    assert _bumps(w) == (1.0, 1.0, 1.0)
    assert _bumps(np.ones(N)) == (1.0, 1.0, 1.0)
    # a sign change: cos(2 pi i / N) has two bumps of |w| (the positive and the negative lobe)
    nb, nm, share = _bumps(np.cos(2 * np.pi * np.arange(N) / N))
    assert (nb, nm) == (2, 2) and share == pytest.approx(0.5, abs=1e-9)


def test_noise_has_many_bumps_and_zero_weights_give_nan():
    w = np.random.default_rng(0).normal(size=400)
    nb, nm, share = _bumps(w)
    assert nb > 20 and nm >= nb and share < 0.15
    assert all(math.isnan(v) for v in _bumps(np.zeros(50)))


def test_bumps_of_potts_weights_use_the_site_norm_and_broadcast():
    N, q = 150, 4
    prof = _sech_peaks([20, 95], N)
    phase = np.cos(2 * np.pi * np.arange(q) / q)
    w = prof[:, None] * phase[None, :]
    assert _bumps(w)[:2] == (2.0, 2.0)
    stack = xr.DataArray(np.stack([_sech_peaks([10], N), _sech_peaks([10, 50, 90], N)]), dims=("seed", "visible"))
    b = an.bumps(stack)
    assert b["n_bumps"].dims == ("seed",) and list(b["n_bumps"].values) == [1.0, 3.0]


# ---------------------------------------------------------------------------------------- overlaps
@pytest.mark.parametrize("theta", [0.0, 0.3, 0.7, 1.2, math.pi / 2])
def test_uniform_overlap_of_a_vector_at_a_known_angle(theta):
    N = 64
    e0 = np.ones(N) / math.sqrt(N)
    ek = np.cos(2 * np.pi * 3 * np.arange(N) / N)
    ek /= np.linalg.norm(ek)
    u = math.cos(theta) * e0 + math.sin(theta) * ek
    got = float(an.uniform_overlap(xr.DataArray(-2.5 * u, dims="visible")))  # sign and scale free
    assert got == pytest.approx(math.cos(theta) ** 2, abs=1e-12)
    padded = xr.DataArray(np.concatenate([u, np.full(16, np.nan)]), dims="visible")
    assert float(an.uniform_overlap(padded)) == pytest.approx(math.cos(theta) ** 2, abs=1e-12)


def test_overlap_broadcasts_replicas_against_one_vector():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(30, 2)))
    x, y = q[:, 0], q[:, 1]
    thetas = np.array([0.0, 0.4, 1.0, math.pi / 2])
    a = xr.DataArray(np.cos(thetas)[:, None] * x + np.sin(thetas)[:, None] * y, dims=("seed", "visible"))
    got = an.overlap(a, xr.DataArray(x, dims="visible"), dims=("visible",))
    assert got.dims == ("seed",)
    np.testing.assert_allclose(got.values, np.cos(thetas) ** 2, atol=1e-12)
    assert math.isnan(float(an.overlap(xr.DataArray(np.zeros(30), dims="visible"), xr.DataArray(x, dims="visible"))))


# ---------------------------------------------------------------------------------------- RMT in the script
def test_ring_population_spectrum_is_the_exact_correlation_matrix_spectrum():
    from sweep.science import theory

    N, beta = 24, 0.7
    t = math.tanh(beta)
    d = np.abs(np.subtract.outer(np.arange(N), np.arange(N)))
    C = (t ** d + t ** (N - d)) / (1 + t ** N)
    np.testing.assert_allclose(np.sort(fs.ring_population_spectrum(beta, N)), np.linalg.eigvalsh(C), atol=1e-10)
    assert fs.ring_population_spectrum(beta, N)[0] == pytest.approx(theory.ising_signal_eigenvalue(beta, N))


@pytest.mark.parametrize("r", [0.1, 0.5, 1.0, 2.0])
def test_silverstein_edge_of_a_null_population_is_the_mp_edge(r):
    assert fs.silverstein_edge(np.ones(200), r) == pytest.approx((1 + math.sqrt(r)) ** 2, rel=1e-9)


@pytest.mark.parametrize("spike,r", [(3.0, 0.25), (5.0, 1.0), (1.2, 1.0)])
def test_spike_over_a_unit_bulk_is_bbp(spike, r):
    N = 300
    pop = np.concatenate([[spike], np.ones(N - 1)])
    got = fs.spike_outlier(pop, r)
    r_eff = r * (N - 1) / N  # the bulk holds N - 1 of the N eigenvalues
    separated = spike > 1 + math.sqrt(r_eff)
    assert got["separated"] == separated
    if separated:
        assert got["eigenvalue"] == pytest.approx(float(fs.bbp_eigenvalue(spike, r_eff)), rel=1e-12)
        assert got["overlap"] == pytest.approx(float(fs.bbp_overlap(spike, r_eff)), rel=1e-12)
    else:
        assert got["overlap"] == 0.0
        assert got["eigenvalue"] == pytest.approx((1 + math.sqrt(r)) ** 2, rel=0.05)


def test_spike_formulas_match_sampled_gaussian_data():
    """A Monte-Carlo check of the formulas the table compares with (not of the ring): N = 200, n = 800,
    spike 3 along a known direction, mean over 6 data sets (one data set's outlier scatters by about
    spike sqrt(2 / n) = 5 %)."""
    N, n, spike = 200, 800, 3.0
    e = np.ones(N) / math.sqrt(N)
    top, ov = [], []
    for seed in range(6):
        Z = np.random.default_rng(seed).normal(size=(n, N))
        X = Z + (math.sqrt(spike) - 1) * (Z @ e)[:, None] * e[None, :]  # covariance I + (spike - 1) e e^T
        vals, vecs = np.linalg.eigh(X.T @ X / n)
        top.append(vals[-1])
        ov.append((vecs[:, -1] @ e) ** 2)
    pred = fs.spike_outlier(np.concatenate([[spike], np.ones(N - 1)]), N / n)
    assert np.mean(top) == pytest.approx(pred["eigenvalue"], rel=0.03)
    assert np.mean(ov) == pytest.approx(pred["overlap"], abs=0.04)
    # and the formulas differ from the null answers by more than that
    assert pred["eigenvalue"] > 1.2 * (1 + math.sqrt(N / n)) ** 2 and pred["overlap"] > 0.7


def test_separation_beta_is_where_the_uniform_mode_leaves_the_band():
    b = fs.separation_beta(100, 1.0)
    pop = fs.ring_population_spectrum
    assert fs.spike_outlier(pop(b - 0.02, 100), 1.0)["slope"] < 0 < fs.spike_outlier(pop(b + 0.02, 100), 1.0)["slope"]
    assert fs.spike_outlier(pop(b + 0.02, 100), 1.0)["separated"]


def test_fourier_participation_counts_the_modes_a_vector_spreads_over():
    N = 64
    i = np.arange(N)
    assert fs.fourier_participation(np.ones(N)) == pytest.approx(1.0)
    assert fs.fourier_participation(np.cos(2 * np.pi * 5 * i / N)) == pytest.approx(2.0)
    four = np.cos(2 * np.pi * 2 * i / N) + np.cos(2 * np.pi * 7 * i / N)  # 4 modes (+-2, +-7), equal weight
    assert fs.fourier_participation(four) == pytest.approx(4.0)
    noise = np.random.default_rng(0).normal(size=4096)
    assert 1000 < fs.fourier_participation(noise) < 3000  # about N / 2 (exponential |u_hat|^2)


# ---------------------------------------------------------------------------------------- crossover
def test_crossover_of_a_logistic_gives_its_centre_and_width():
    beta = np.linspace(0, 3, 301)
    b0, s = 1.2, 0.1
    y = 1 / (1 + np.exp(-(beta - b0) / s))
    at, width = fs.crossover(xr.DataArray(y, dims="beta", coords={"beta": beta}), 0.5)
    assert at == pytest.approx(b0, abs=1e-3)
    assert width == pytest.approx(2 * s * math.log(4), rel=0.01)
    # a curve that rises to 0.9 and falls again (R at xi ~ N): the width is taken on the rising side
    y2 = 0.1 + 0.8 * y * np.exp(-np.clip(beta - 2.0, 0, None) * 5)
    at2, width2 = fs.crossover(xr.DataArray(y2, dims="beta", coords={"beta": beta}), 0.5)
    assert at2 == pytest.approx(b0, abs=2e-3)
    assert width2 == pytest.approx(2 * s * math.log(4), rel=0.02)


# ---------------------------------------------------------------------------------------- a constructed store
SWEEP = """
name: tiny-finite
seed: 5
data: {model: ising}
rbm: {hidden: spin, n_hidden: 1, fields: zero}
train: {method: exact, learning_rate: 0.5, epochs: 2, record_every: 1}
grid:
  data.beta: [0.3, 0.9]
  zip:
    - {data.n_samples: [40, 12, 24], data.n_visible: [12, 12, 24], train.batch_size: [40, 12, 24]}
  data.seed: [0, 3]
  train.seed: [0, 1]
"""


def _constructed_store():
    """A Dataset laid out like a finite-size store, whose weights are built from the cells' own data:
    train_seed 0 holds the data's top eigenvector (overlap 1), train_seed 1 a vector orthogonal to it
    (overlap 0); the last epoch is 1/0.9 times the one before (relative change 0.1)."""
    from sweep.run.cell import sample_data

    grid = expand(parse_sweep(SWEEP))
    shape = grid.shape
    Nmax = 24
    w = np.full(shape + (3, 1, Nmax), np.nan, dtype=np.float32)
    seeds = np.zeros(shape, dtype=np.uint64)
    for cell in grid:
        d = cell.config.data
        v = sample_data(d, cell.data_seed).astype(np.float64)
        vals, vecs = np.linalg.eigh(v.T @ v / len(v))
        u = vecs[:, -1]
        ortho = vecs[:, 0] if cell.coords["train_seed"] == 1 else u
        N = d.n_visible
        w[cell.index + (0, 0, slice(0, N))] = 0.001
        w[cell.index + (1, 0, slice(0, N))] = 0.9 * ortho
        w[cell.index + (2, 0, slice(0, N))] = ortho
        seeds[cell.index] = cell.data_seed
    coords = {n: (grid.coord_dims[n], list(v)) for n, v in grid.coords.items()}
    ds = xr.Dataset({"weights": (grid.dims + ("epoch", "hidden", "visible"), w),
                     "cell_data_seed": (grid.dims, seeds)},
                    coords={**coords, "epoch": [0, 1, 2], "visible": np.arange(Nmax)})
    ds.attrs["sweep_yaml"] = SWEEP
    return ds


def test_the_script_regenerates_each_cells_data_and_measures_the_weights_against_it():
    ds = _constructed_store()
    spec = fs.spectra(ds)
    assert set(spec["top_eigenvalue"].dims) == {"beta", "n_samples", "data_seed"}
    assert spec["top_vector"].sel(n_samples=12).isel(visible=slice(12, None)).isnull().all()  # N = 12 padded
    obs = fs.weight_observables(ds, spec)
    np.testing.assert_allclose(obs["w_eig_overlap"].sel(train_seed=0).values, 1.0, atol=1e-5)
    np.testing.assert_allclose(obs["w_eig_overlap"].sel(train_seed=1).values, 0.0, atol=1e-5)
    np.testing.assert_allclose(obs["rel_change"].values, 0.1, rtol=1e-4)
    # the two initialisations end on orthogonal vectors (u and the bottom eigenvector): overlap 0
    np.testing.assert_allclose(obs["init_overlap"].values, 0.0, atol=1e-5)
    # data seeds: two data sets at the same (beta, n) are different data, so different top eigenvalues
    lam = spec["top_eigenvalue"].sel(beta=0.3, n_samples=40).values
    assert lam[0] != lam[1]
    # the eigenvector's own observables are those of the regenerated data's top eigenvector
    from sweep.run.cell import sample_data
    cell = expand(parse_sweep(SWEEP)).cell((1, 2, 1, 0))  # beta 0.9, N = n = 24, data seed 3
    v = sample_data(cell.config.data, cell.data_seed).astype(np.float64)
    u = np.linalg.eigh(v.T @ v / len(v))[1][:, -1]
    got = spec.sel(beta=0.9, n_samples=24, data_seed=3)
    assert float(got["eig_uniform"]) == pytest.approx(u.sum() ** 2 / 24, abs=1e-6)
    assert float(got["eig_modes"]) == pytest.approx(fs.fourier_participation(u), rel=1e-5)
    # theory columns agree with ring_theory for each cell's (beta, N, n)
    th = fs.ring_theory(0.9, 24, 24)
    assert float(spec["rmt_eigenvalue"].sel(beta=0.9, n_samples=24, data_seed=3)) == pytest.approx(th["rmt_eigenvalue"])
    merged = fs.by_size(xr.merge([obs, spec.drop_vars("top_vector")], compat="override", join="exact"))
    assert set(merged["r"].values) == {0.3, 1.0} and set(merged["N"].values) == {12, 24}
    assert merged["R"].sel(r=0.3, N=24).isnull().all()  # no (r = 0.3, N = 24) cell in the grid
    table = fs.summary(merged)
    assert list(table.index) == [(0.3, 12), (0.3, 24), (1.0, 12), (1.0, 24)]
    assert table.loc[(1.0, 24), "MP"] == pytest.approx(4.0)


def test_spectra_refuses_data_seeds_that_differ_between_initialisations():
    ds = _constructed_store()
    seeds = ds["cell_data_seed"].values.copy()
    seeds[..., 1] += np.uint64(1)
    ds["cell_data_seed"] = (ds["cell_data_seed"].dims, seeds)
    with pytest.raises(ValueError, match="differs between train seeds"):
        fs.spectra(ds)


def test_the_figure_draws_one_row_per_r_and_one_line_per_n(tmp_path):
    ds = _constructed_store()
    spec = fs.spectra(ds)
    obs = fs.by_size(xr.merge([fs.weight_observables(ds, spec), spec.drop_vars("top_vector")], compat="override",
                              join="exact"))
    fig = fs.plot(obs, tmp_path / "fs.png")
    width, height = fig.get_size_inches() * 90  # saved at 90 dpi, the whole figure
    assert_png(tmp_path / "fs.png", width, height)
    axes = fig.axes
    assert len(axes) == 2 * 7
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert "N = 12" in labels and "N = 24" in labels
