"""sweep.science.analysis on constructed inputs with known answers (docs/physics.md section 5)."""

import warnings

import numpy as np
import pytest
import xarray as xr

from sweep.science import analysis as an

N = 100


def ring_offset(i, x0, n=N):
    """Signed ring distance i - x0 in [-n/2, n/2)."""
    return np.mod(np.asarray(i, dtype=float) - x0 + n / 2, n) - n / 2


def sech_peak(x0, k, n=N):
    return 1.0 / np.cosh(k * ring_offset(np.arange(n), x0, n))


def da(arr, *dims, **coords):
    return xr.DataArray(np.asarray(arr, dtype=float), dims=dims, coords=coords or None)


# ------------------------------------------------------------------ spatial observables
@pytest.mark.parametrize("x0", [99.6, 0.3, 0.0, 50.5])
@pytest.mark.parametrize("k", [0.3, 0.6])
def test_sech_peak_across_the_boundary(x0, k):
    w = da(sech_peak(x0, k), "visible")
    c = float(an.centre(w))
    assert abs(ring_offset(c, x0)) < 1e-4  # lattice aliasing only
    assert 0 <= c < N
    assert an.centre(w).attrs["n_sites"] == N
    # R: characteristic function of the sech^2 density at 2 pi / N (continuum value)
    u = 2 * np.pi / N
    R_theory = (np.pi * u / (2 * k)) / np.sinh(np.pi * u / (2 * k))
    assert float(an.localization(w)) == pytest.approx(R_theory, rel=1e-3)
    assert float(an.localization(w)) > 0.95
    # FWHM = 2 arccosh(2) / k within interpolation error (the lattice maximum is <= 1 off-site)
    assert float(an.fwhm(w)) == pytest.approx(2 * np.arccosh(2) / k, rel=0.1 * k)
    assert float(an.smoothness(w)) > 0.8
    # IPR * N = N (4/(3k)) / (2/k)^2 = N k / 3 in the continuum
    assert float(an.ipr(w)) == pytest.approx(N * k / 3, rel=0.02)


def test_fwhm_sign_and_scale_invariant_and_capped():
    w = sech_peak(3.0, 0.4)
    ref = float(an.fwhm(da(w, "visible")))
    assert float(an.fwhm(da(-2.5 * w, "visible"))) == pytest.approx(ref)
    # a flat profile never drops below half maximum: the width is the whole ring
    assert float(an.fwhm(da(np.ones(N), "visible"))) == N
    # linear interpolation, checked by hand on a triangle 0 .. 4 .. 0 (half max 2 at +-2 sites)
    tri = np.zeros(N)
    tri[[98, 99, 0, 1, 2]] = [1, 3, 4, 3, 1]
    assert float(an.fwhm(da(tri, "visible"))) == pytest.approx(2 * (1 + 1 / 2))


def test_pure_noise():
    rng = np.random.default_rng(0)
    w = da(rng.standard_normal((2000, N)), "sample", "visible")
    R = an.localization(w)
    # |sum w^2 e^{i phi}|^2 ~ 2N, sum w^2 ~ N: R is Rayleigh with mean sqrt(pi / (2N))
    assert float(R.mean()) == pytest.approx(np.sqrt(np.pi / (2 * N)), rel=0.05)
    assert float(R.max()) < 0.5
    # IPR*N: N E[sum w^4] / E[(sum w^2)^2] = 3N / (N + 2)
    assert float(an.ipr(w).mean()) == pytest.approx(3 * N / (N + 2), rel=0.03)
    Q = an.smoothness(w)
    assert abs(float(Q.mean())) < 0.01
    assert float(Q.std()) == pytest.approx(1 / np.sqrt(N), rel=0.1)


def test_uniform_weights():
    w = da(np.full((3, N), 0.7) * np.array([1, -1, 2])[:, None], "hidden", "visible")
    np.testing.assert_allclose(an.localization(w), 0, atol=1e-12)
    np.testing.assert_allclose(an.ipr(w), 1, rtol=1e-12)
    np.testing.assert_allclose(an.smoothness(w), 1, rtol=1e-12)


def test_centre_weights_sites_by_squared_weight():
    w = np.zeros(N)
    w[0], w[25] = 1.0, -2.0  # Z = 1 + 4 i
    assert float(an.centre(da(w, "visible"))) == pytest.approx(N / (2 * np.pi) * np.arctan2(4, 1))
    assert float(an.localization(da(w, "visible"))) == pytest.approx(np.hypot(1, 4) / 5)
    assert float(an.ipr(da(w, "visible"))) == pytest.approx(N * 17 / 25)


def test_smoothness_is_periodic():
    w = np.zeros(N)
    w[[N - 1, 0]] = 1.0  # a pair straddling the boundary: Q = 1/2
    assert float(an.smoothness(da(w, "visible"))) == pytest.approx(0.5)
    alt = (-1.0) ** np.arange(N)  # staggered: Q = -1
    assert float(an.smoothness(da(alt, "visible"))) == pytest.approx(-1)


def test_keeps_dims_and_coordinates():
    rng = np.random.default_rng(1)
    w = xr.DataArray(rng.standard_normal((2, 3, 4, N)), dims=("beta", "seed", "hidden", "visible"),
                     coords={"beta": [0.2, 0.4], "seed": [1, 2, 3], "epochs": ("beta", [10, 20])})
    for fn in (an.centre, an.localization, an.smoothness, an.ipr, an.fwhm):
        out = fn(w)
        assert out.dims == ("beta", "seed", "hidden")
        assert list(out["beta"].values) == [0.2, 0.4]
        assert list(out["epochs"].values) == [10, 20]


def test_padded_hidden_units_and_smaller_rings_are_ignored():
    w = np.full((2, 3, N), np.nan)
    w[0, 0] = sech_peak(10, 0.5)          # a cell of N = 100
    w[0, 1] = sech_peak(40, 0.5)
    w[1, 0, :60] = sech_peak(59.5, 0.5, n=60)  # a cell with N = 60, straddling its own boundary
    arr = xr.DataArray(w, dims=("cell", "hidden", "visible"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = an.centre(arr)
        R = an.localization(arr)
        op = an.order_parameter(arr, "R", over=("hidden",))
        for fn in (an.smoothness, an.ipr, an.fwhm):
            assert np.isnan(fn(arr).values[[0, 1, 1], [2, 1, 2]]).all()
    assert np.isnan(c.values[[0, 1, 1], [2, 1, 2]]).all()
    assert c.values[1, 0] == pytest.approx(59.5, abs=1e-6)
    assert list(c["n_sites"].values) == [100, 60]
    # R per cell: mean over the real units only
    assert op.values[0] == pytest.approx(R.values[0, :2].mean())
    assert op.values[1] == pytest.approx(R.values[1, 0])
    assert op.values[1] > 0.9
    # unwrapping uses each cell's own ring size (coordinate n_sites)
    traj = xr.DataArray([[58.0, 3.0], [58.0, 3.0]], dims=("cell", "epoch")).assign_coords(n_sites=c["n_sites"])
    np.testing.assert_allclose(an.unwrap_centres(traj), [[58, 103], [58, 63]])
    with pytest.raises(ValueError, match="epoch"):
        an.unwrap_centres(c)


def test_order_parameter_keeps_remaining_dims():
    rng = np.random.default_rng(2)
    betas = [0.1, 0.5, 1.0]
    w = np.empty((3, 4, 2, N))
    for b in range(3):
        for s in range(4):
            for h in range(2):
                w[b, s, h] = rng.standard_normal(N) if b == 0 else sech_peak(rng.uniform(0, N), 0.5)
    arr = xr.DataArray(w, dims=("beta", "seed", "hidden", "visible"), coords={"beta": betas})
    op = an.order_parameter(arr)  # R averaged over seed and hidden
    assert op.dims == ("beta",)
    assert list(op["beta"].values) == betas
    assert op.values[0] < 0.3 and (op.values[1:] > 0.9).all()
    np.testing.assert_allclose(op, an.localization(arr).mean(("seed", "hidden")))
    q = an.order_parameter(arr, "Q", over=("seed",))
    assert q.dims == ("beta", "hidden")
    assert an.order_parameter(arr, "IPR*N").values[0] == pytest.approx(3, rel=0.2)
    assert an.order_parameter(arr, "fwhm").values[2] == pytest.approx(2 * np.arccosh(2) / 0.5, abs=0.2)
    with pytest.raises(ValueError, match="unknown observable"):
        an.order_parameter(arr, "nope")


# ------------------------------------------------------------------ final epoch
def test_final_weights_picks_each_cells_last_record():
    epochs = np.array([0, 5, 10, 15, 20])
    w = np.random.default_rng(3).standard_normal((3, 5, 2, N))
    w[0, 3:] = np.nan          # cell 0 stopped at epoch 10
    w[1, 1::2] = np.nan        # cell 1 recorded every 10 epochs (NaN at 5 and 15): last is 20
    w[2] = np.nan              # cell 2 never recorded
    w[:2, :, 1, 80:] = np.nan  # visible padding of hidden unit 1 must not matter
    ds = xr.Dataset({"weights": (("seed", "epoch", "hidden", "visible"), w)},
                    coords={"epoch": epochs, "seed": [7, 8, 9]})
    f = an.final_weights(ds)
    assert f.dims == ("seed", "hidden", "visible")
    np.testing.assert_array_equal(f["final_epoch"].values, [10, 20, np.nan])
    np.testing.assert_array_equal(f.values[0], w[0, 2])
    np.testing.assert_array_equal(f.values[1], w[1, 4])
    assert np.isnan(f.values[2]).all()
    assert list(f["seed"].values) == [7, 8, 9]


# ------------------------------------------------------------------ trajectories and diffusion
def random_walks(D, seeds, steps, rng, x0=None):
    x0 = rng.uniform(0, N, seeds) if x0 is None else x0
    steps_ = rng.normal(0, np.sqrt(2 * D), (seeds, steps))
    return x0[:, None] + np.concatenate([np.zeros((seeds, 1)), np.cumsum(steps_, axis=1)], axis=1)


def test_unwrap_recovers_walks_across_the_boundary():
    rng = np.random.default_rng(4)
    true = random_walks(4.0, 20, 400, rng)
    assert (true.max(1) - true.min(1)).max() > N  # they do cross the boundary, several times
    wrapped = xr.DataArray(np.mod(true, N), dims=("seed", "epoch"), attrs={"n_sites": N})
    u = an.unwrap_centres(wrapped)
    np.testing.assert_allclose(u - u.isel(epoch=0), true - true[:, :1], atol=1e-9)
    # NaN epochs are skipped (and stay NaN); the unwrapping continues across them
    holes = wrapped.copy()
    holes[:, 100:103] = np.nan
    uh = an.unwrap_centres(holes)
    assert np.isnan(uh[:, 100:103]).all()
    np.testing.assert_allclose(uh[:, 103:], u[:, 103:], atol=1e-9)
    with pytest.raises(ValueError, match="ring size"):
        an.unwrap_centres(wrapped.drop_attrs() if hasattr(wrapped, "drop_attrs") else
                          xr.DataArray(wrapped.values, dims=wrapped.dims))


@pytest.mark.parametrize("D", [0.05, 2.0])
def test_msd_recovers_known_diffusion_coefficient(D):
    rng = np.random.default_rng(5)
    true = random_walks(D, 200, 1000, rng)
    c = xr.DataArray(np.mod(true, N), dims=("seed", "epoch"), coords={"epoch": np.arange(1001) * 10},
                     attrs={"n_sites": N})  # recorded every 10 epochs: variance 2 D per record
    m = an.msd(an.unwrap_centres(c), max_lag=1000)
    assert m.dims == ("lag",)
    assert m["lag"].values[0] == 10 and m["lag"].values[-1] == 1000
    assert int(m["n_pairs"].values[0]) == 200 * 1000
    fit = an.diffusion_coefficient(m, after=50)
    assert float(fit["D"]) == pytest.approx(D / 10, rel=0.05)
    fit0 = an.diffusion_coefficient(m, after=50, intercept=False)
    assert float(fit0["D"]) == pytest.approx(D / 10, rel=0.05)
    assert float(fit0["intercept"]) == 0
    np.testing.assert_allclose(fit["fit"], 2 * float(fit["D"]) * m["lag"] + float(fit["intercept"]))


def test_diffusion_fit_quality_and_too_short_input():
    lag = np.arange(1, 11, dtype=float)
    y = xr.DataArray(np.stack([0.5 + 2 * 0.3 * lag, 0.5 + 2 * 0.3 * lag + np.where(lag % 2, 0.2, -0.2)]),
                     dims=("case", "lag"), coords={"lag": lag})
    fit = an.diffusion_coefficient(y)
    np.testing.assert_allclose(fit["D"], 0.3, atol=0.01)
    assert float(fit["r2"][0]) == pytest.approx(1.0)
    # residuals +-0.2 around a line: r2 = 1 - 10 * 0.04 / sum (y - mean)^2, slope changed by the fit
    res = y[1] - fit["fit"].sel(case=1)
    expect = 1 - float((res ** 2).sum()) / float(((y[1] - y[1].mean()) ** 2).sum())
    assert float(fit["r2"][1]) == pytest.approx(expect) and 0.98 < expect < 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = an.diffusion_coefficient(y.isel(lag=[0]))  # one lag: no line with an intercept
        empty = an.diffusion_coefficient(y.isel(lag=slice(0, 0)))
        none_after = an.msd(xr.DataArray([[0.0, 1.0, 2.0]], dims=("seed", "epoch"),
                                         coords={"epoch": [0, 1, 2]}), start=5)
    assert np.isnan(short["D"]).all() and np.isnan(short["r2"]).all() and np.isnan(empty["D"]).all()
    assert none_after.sizes["lag"] == 0


def test_crossing_interpolates_first_and_last_rise():
    y = xr.DataArray([[0.1, 0.3, 0.7, 0.9], [0.6, 0.7, 0.8, 0.9], [0.1, 0.6, 0.4, 0.8], [0.0, 0.1, 0.2, np.nan]],
                     dims=("n", "beta"), coords={"beta": [0.1, 0.2, 0.4, 0.8]})
    first = an.crossing(y, "beta", 0.5)
    last = an.crossing(y, "beta", 0.5, which="last")
    assert first.dims == ("n",)
    np.testing.assert_allclose(first, [0.3, np.nan, 0.18, np.nan])  # 0.1 + 0.1 * 0.4 / 0.5
    np.testing.assert_allclose(last, [0.3, np.nan, 0.5, np.nan])  # 0.4 + 0.4 * 0.1 / 0.4
    np.testing.assert_allclose(an.crossing(y.isel(beta=[3, 1, 0, 2]), "beta", 0.5), first)  # unsorted input
    with pytest.raises(ValueError, match="which"):
        an.crossing(y, "beta", which="middle")


def test_msd_exact_on_a_tiny_example_and_keeps_dims():
    # two seeds x two units, with a missing record; msd by hand
    x = np.array([[[0.0, 1.0, 3.0, np.nan], [0.0, 0.0, 0.0, 0.0]],
                  [[1.0, 0.0, 0.0, 2.0], [0.0, 2.0, 4.0, 6.0]]])
    c = xr.DataArray(x, dims=("seed", "hidden", "epoch"), coords={"epoch": [0, 2, 4, 6], "hidden": [0, 1]})
    m = an.msd(c)
    assert m.dims == ("lag", "hidden")
    np.testing.assert_array_equal(m["lag"], [2, 4, 6])
    # hidden 0, lag 2: (1, 2) from seed 0 and (-1, 0, 2) from seed 1 -> (1 + 4 + 1 + 0 + 4) / 5
    assert m.sel(hidden=0, lag=2) == pytest.approx(10 / 5)
    assert m.sel(hidden=0, lag=6) == pytest.approx(1.0)
    assert m.sel(hidden=1, lag=4) == pytest.approx((0 + 0 + 16 + 16) / 4)
    assert m["n_pairs"].sel(hidden=0, lag=2) == 5
    # a non-uniform epoch coordinate (union of record_every 2 and 3): lags on the gcd grid
    e = xr.DataArray([[0.0, 1, 2, 3], [0, 1, 1, 2]], dims=("seed", "epoch"), coords={"epoch": [0, 2, 3, 4]})
    me = an.msd(e, start=0)
    np.testing.assert_array_equal(me["lag"], [1, 2, 3, 4])
    assert me.sel(lag=1) == pytest.approx((1 + 1 + 0 + 1) / 4)
    # start drops the transient
    assert an.msd(c, start=2)["lag"].values.tolist() == [2, 4]
    # fit per remaining dim
    fit = an.diffusion_coefficient(an.msd(c), intercept=False)
    assert fit["D"].dims == ("hidden",)


def test_centre_to_msd_end_to_end_from_peaks():
    """Peaks placed along wrapped random walks: centre -> unwrap -> msd recovers the walk's D."""
    rng = np.random.default_rng(6)
    D = 0.5
    true = random_walks(D, 40, 200, rng)
    w = 1 / np.cosh(0.4 * ring_offset(np.arange(N)[None, None, :], true[..., None]))
    ds = xr.Dataset({"weights": (("seed", "epoch", "visible"), w)}, coords={"epoch": np.arange(201)})
    c = an.unwrap_centres(an.centre(ds))
    np.testing.assert_allclose(c - c.isel(epoch=0), true - true[:, :1], atol=1e-6)
    fit = an.diffusion_coefficient(an.msd(c, max_lag=20))
    assert float(fit["D"]) == pytest.approx(D, rel=0.1)


# ------------------------------------------------------------------ several hidden units
def test_pairwise_distances_of_equally_spaced_peaks():
    M = 4
    x0 = np.array([97.0, 22.0, 47.0, 72.0])
    w = xr.DataArray(np.stack([sech_peak(x, 0.5) for x in x0]), dims=("hidden", "visible"),
                     coords={"hidden": np.arange(M)})
    c = an.centre(w)
    d = an.pairwise_distances(c)
    assert d.dims == ("hidden", "hidden_2")
    expect = np.array([[np.nan, 25, 50, 25], [25, np.nan, 25, 50], [50, 25, np.nan, 25], [25, 50, 25, np.nan]])
    np.testing.assert_allclose(d, expect, atol=1e-6)
    np.testing.assert_allclose(an.nearest_neighbour_spacing(c), 25, atol=1e-6)
    np.testing.assert_allclose(an.ring_gaps(c), 25, atol=1e-6)
    # a padded (missing) unit: NaN distances, ignored by the nearest spacing and the gaps
    c3 = c.where(c["hidden"] != 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn = an.nearest_neighbour_spacing(c3)
        gaps = an.ring_gaps(c3)
    np.testing.assert_allclose(nn[:3], [25, 25, 25], atol=1e-6)
    assert np.isnan(nn[3])
    np.testing.assert_allclose(gaps[:3], [25, 50, 25], atol=1e-6)  # sorted: 22, 47, 97
    assert np.isnan(gaps[3])
    assert float(gaps.sum()) == pytest.approx(N)


# ------------------------------------------------------------------ XY / Potts
def xy_field(q=10, phi0=0.7, x0=99.2, k=0.35, n=N):
    env = sech_peak(x0, k, n)
    a = np.arange(q)
    return env, env[:, None] * np.cos(2 * np.pi * a / q + phi0)[None, :]


def test_xy_angular_modulation_period_and_phase():
    q, phi0 = 10, 0.7
    env, w = xy_field(q, phi0)
    arr = xr.DataArray(w, dims=("visible", "state"))
    np.testing.assert_allclose(arr.sum("state"), 0, atol=1e-12)  # zero-sum gauge holds
    A = an.angular_modulation(arr)
    assert A.dims == ("visible",)
    np.testing.assert_allclose(A, env, atol=1e-12)
    fit = an.cosine_fit(arr)
    field = env > 0.1  # the receptive field
    np.testing.assert_allclose(fit["period"].values[field], q, rtol=1e-6)
    np.testing.assert_allclose(fit["phase"].values[field], phi0, atol=1e-6)
    np.testing.assert_allclose(fit["amplitude"].values[field], env[field], rtol=1e-6)
    assert (fit["r2"].values[field] > 1 - 1e-9).all()
    # centre and width of the XY place field from the site vectors
    assert abs(ring_offset(float(an.centre(arr)), 99.2)) < 1e-6
    assert float(an.fwhm(arr)) == pytest.approx(2 * np.arccosh(2) / 0.35, abs=0.1)
    assert float(an.spatial_order(arr)) > 0.95
    assert float(an.angular_order(arr)) == pytest.approx(1.0)
    # spatial modulation S_a: each column env * cos(2 pi a/q + phi0) averaged over the sites
    sm = an.spatial_modulation(arr)
    assert sm.dims == ("state",)
    np.testing.assert_allclose(sm, env.mean() * np.cos(2 * np.pi * np.arange(q) / q + phi0), atol=1e-12)


@pytest.mark.parametrize("T,phi0", [(7.3, -2.0), (3.0, np.pi), (17.5, 0.1)])
def test_cosine_fit_other_periods_and_phase_wrapping(T, phi0):
    q = 10
    a = np.arange(q)
    w = xr.DataArray(1.7 * np.cos(2 * np.pi * a / T + phi0)[None, :], dims=("visible", "state")).isel(visible=0)
    fit = an.cosine_fit(w)
    assert float(fit["period"]) == pytest.approx(T, rel=1e-5)
    assert float(fit["amplitude"]) == pytest.approx(1.7, rel=1e-5)
    ph = float(fit["phase"])
    assert -np.pi < ph <= np.pi
    assert abs(np.angle(np.exp(1j * (ph - phi0)))) < 1e-5


def test_xy_order_parameters_separate_angular_from_spatial_order():
    q = 8
    rng = np.random.default_rng(7)
    a = np.arange(q)
    uniform_angular = np.ones(N)[:, None] * np.cos(2 * np.pi * a / q + 1.1)[None, :]  # Fig. 11 middle
    _, place = xy_field(q, -0.4)
    noise = rng.standard_normal((N, q))
    noise -= noise.mean(1, keepdims=True)  # zero-sum gauge
    w = xr.DataArray(np.stack([uniform_angular, place, noise]), dims=("case", "visible", "state"))
    ang, spa = an.angular_order(w).values, an.spatial_order(w).values
    assert ang[0] == pytest.approx(1) and ang[1] == pytest.approx(1)
    assert ang[2] < 0.15
    assert spa[0] < 1e-10 and spa[1] > 0.95 and spa[2] < 0.35
    op = an.order_parameter(w, "angular_order", over=("case",))
    assert op.dims == ()


def test_xy_padded_states_and_units():
    q_small = 6
    env, w6 = xy_field(q_small, 0.3)
    _, w10 = xy_field(10, -1.0, x0=40)
    w = np.full((2, 2, N, 10), np.nan)  # (cell, hidden, visible, state)
    w[0, 0] = w10
    w[1, 0, :, :q_small] = w6           # a cell with q = 6, one hidden unit
    arr = xr.DataArray(w, dims=("cell", "hidden", "visible", "state"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = an.angular_modulation(arr)
        fit = an.cosine_fit(arr)
        ang = an.angular_order(arr)
    np.testing.assert_allclose(A[1, 0], env, atol=1e-12)
    assert np.isnan(A[:, 1]).all() and np.isnan(ang[:, 1]).all() and np.isnan(fit["period"][:, 1]).all()
    field = env > 0.1
    np.testing.assert_allclose(fit["period"].values[1, 0][field], q_small, rtol=1e-6)
    np.testing.assert_allclose(fit["period"].values[0, 0][np.roll(field, 41)], 10, rtol=1e-6)
    np.testing.assert_allclose(ang[:, 0], 1)
    assert an.order_parameter(arr, "spatial_order", over=("hidden",)).dims == ("cell",)
    with pytest.raises(ValueError, match="state"):
        an.angular_modulation(arr.isel(state=0))


def test_receptive_field_of_a_localized_cosine():
    q, n, phi = 6, 40, 0.7
    i, a = np.arange(n)[:, None], np.arange(q)[None, :]
    prof = 1 / np.cosh(0.5 * ring_offset(i, 12.0, n))  # A_i = sech: half max at |i - 12| <= 2.63
    w = xr.DataArray(np.stack([prof * np.cos(2 * np.pi * a / q + phi),
                               prof * np.cos(2 * np.pi * a / q + phi + 0.4 * np.sign(i - 12))]),
                     dims=("unit", "visible", "state"))
    rf = an.receptive_field(w)
    assert rf["n_sites"].values.tolist() == [5, 5]  # sites 10..14
    np.testing.assert_allclose(rf["period"], q, rtol=1e-3)
    assert float(rf["phase_spread"][0]) == pytest.approx(0, abs=1e-6)
    # phases phi - 0.4 (2 sites), phi (1), phi + 0.4 (2): |mean exp(i dphase)| = (1 + 4 cos 0.4) / 5
    assert float(rf["phase_spread"][1]) == pytest.approx(np.sqrt(-2 * np.log((1 + 4 * np.cos(0.4)) / 5)), rel=1e-3)
    np.testing.assert_allclose(rf["width"], 2 * np.arccosh(2) / 0.5, rtol=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zero = an.receptive_field(xr.zeros_like(w))
    assert np.isnan(zero["period"]).all() and (zero["n_sites"] == 0).all()


def test_spatial_modulation_of_an_angular_field_uniform_in_space():
    """Fig. 11(a): an angular field uniform in space has S_a = its cosine (the old R of a column was 0);
    noise, or a phase that winds around the ring, averages out; A_i is flat for the uniform field."""
    q, n, phi = 8, 60, 0.9
    a = np.arange(q)
    rng = np.random.default_rng(11)
    uniform = np.tile(0.3 * np.cos(2 * np.pi * a / q + phi), (n, 1))
    winding = 0.3 * np.cos(2 * np.pi * a[None, :] / q + 2 * np.pi * np.arange(n)[:, None] / n)
    noise = rng.normal(0, 0.3, (n, q))
    noise -= noise.mean(1, keepdims=True)
    w = xr.DataArray(np.stack([uniform, winding, noise]), dims=("case", "visible", "state"))
    S = an.spatial_modulation(w)
    assert S.dims == ("case", "state")
    np.testing.assert_allclose(S[0], 0.3 * np.cos(2 * np.pi * a / q + phi), atol=1e-12)
    np.testing.assert_allclose(S[1], 0, atol=1e-12)
    assert float(np.abs(S[2]).max()) < 4 * 0.3 / np.sqrt(n)
    # its normalized first harmonic is the angular order; A_i is flat (spatial order 0)
    assert float(an.angular_order(w)[0]) == pytest.approx(1.0)
    np.testing.assert_allclose(an.angular_modulation(w)[0], 0.3, rtol=1e-12)
    assert float(an.spatial_order(w)[0]) < 1e-12
    with pytest.raises(ValueError, match="state"):
        an.spatial_modulation(w.isel(state=0))


# ------------------------------------------------------------------ replicas
def test_every_replica_dim_is_averaged():
    rng = np.random.default_rng(12)
    w = rng.standard_normal((2, 3, 4, 1, N))  # beta, data_seed, train_seed, hidden, visible
    w[1] = sech_peak(30, 0.5)
    arr = xr.DataArray(w, dims=("beta", "data_seed", "train_seed", "hidden", "visible"),
                       coords={"beta": [0.1, 1.0], "data_seed": [0, 1, 2], "train_seed": [5, 6, 7, 8]})
    assert an.replica_dims(arr) == ("train_seed", "data_seed")
    assert an.replica_dims(arr, extra=("hidden",)) == ("train_seed", "data_seed", "hidden")
    op = an.order_parameter(arr)
    assert op.dims == ("beta",)
    np.testing.assert_allclose(op, an.localization(arr).mean(("data_seed", "train_seed", "hidden")))
    R = an.localization(arr)
    np.testing.assert_allclose(an.replica_mean(R, extra=("hidden",)), op)
    sd = an.replica_std(R, extra=("hidden",))
    assert sd.dims == ("beta",)
    assert float(sd[0]) == pytest.approx(float(R[0].values.std(ddof=1)))
    assert float(sd[1]) == pytest.approx(0, abs=1e-12)
    # spread over data sets alone (initialisations kept) and the reverse
    assert an.replica_std(R.mean("train_seed")).dims == ("beta", "hidden")
    # msd pools every replica dim
    c = xr.DataArray(rng.normal(size=(3, 4, 20)).cumsum(-1), dims=("data_seed", "train_seed", "epoch"),
                     coords={"epoch": np.arange(20)})
    assert an.msd(c).dims == ("lag",)
    # a plain seed dim is a replica dim too
    assert an.replica_dims(arr.rename(train_seed="seed")) == ("seed", "data_seed")



def test_replica_variance_tells_the_data_sets_from_the_initialisations():
    from scipy import stats

    # by hand: groups [1, 3] and [5, 7]: ss_b = 2 (2 - 4)^2 + 2 (6 - 4)^2 = 16, ss_w = 4, F = 16 / (4 / 2) = 8
    x = xr.DataArray([[1.0, 3.0], [5.0, 7.0]], dims=("data_seed", "train_seed"))
    v = an.replica_variance(x)
    assert (float(v.ss_between), float(v.df_between), float(v.ss_within), float(v.df_within)) == (16, 1, 4, 2)
    assert float(v.F) == 8 and float(v.sd_within) == pytest.approx(np.sqrt(2))
    assert float(v.sd_between) == pytest.approx(np.sqrt((16 - 2) / 2))
    # 200 data sets with offsets of sd 0.1, 5 initialisations each with noise of sd 0.2, at two betas
    rng = np.random.default_rng(3)
    off = rng.normal(0, 0.1, (2, 200, 1))
    y = xr.DataArray(0.5 + off + rng.normal(0, 0.2, (2, 200, 5)), dims=("beta", "data_seed", "train_seed"),
                     coords={"beta": [0.3, 0.6]})
    v = an.replica_variance(y)
    assert v.F.dims == ("beta",)
    np.testing.assert_allclose(v.sd_within, 0.2, rtol=0.05)
    np.testing.assert_allclose(v.sd_between, 0.1, rtol=0.2)
    pooled = an.replica_variance(y, pool=["beta"])
    assert float(pooled.df_between) == 398 and float(pooled.df_within) == 1600
    assert stats.f.sf(float(pooled.F), 398, 1600) < 1e-6
    # no data-set effect: F near 1, not significant, and a NaN (a missing cell) is left out
    z = y - xr.DataArray(off[..., 0], dims=("beta", "data_seed"))
    z[0, 0, 0] = np.nan
    nul = an.replica_variance(z, pool=["beta"])
    assert float(nul.df_within) == 1599 and 0.8 < float(nul.F) < 1.25 and stats.f.sf(float(nul.F), 398, 1599) > 0.01
    with pytest.raises(ValueError, match="no 'data_seed'"):
        an.replica_variance(x.rename(data_seed="seed"))

def test_crossing_on_a_log_axis():
    n = [100, 1000, 10000]
    y = xr.DataArray([0.2, 0.4, 0.8], dims="n_samples", coords={"n_samples": n})
    # between 1000 (0.4) and 10000 (0.8): a quarter of the way in ln n
    assert float(an.crossing(y, "n_samples", 0.5, log=True)) == pytest.approx(1000 * 10 ** 0.25)
    assert float(an.crossing(y, "n_samples", 0.5)) == pytest.approx(1000 + 9000 / 4)
    with pytest.raises(ValueError, match="positive"):
        an.crossing(y.assign_coords(n_samples=[0, 1, 2]), "n_samples", log=True)


# ------------------------------------------------------------------ units diffusing together (Fig. 6)
def _three_walkers(rigid, D=0.5, seeds=30, steps=400, rng=None):
    """Centres of three units: one shared walk at fixed spacing N/3 (rigid) or three independent walks."""
    rng = rng or np.random.default_rng(13)
    if rigid:
        x = random_walks(D, seeds, steps, rng)[:, :, None] + np.array([0, N / 3, 2 * N / 3])
    else:
        x = np.stack([random_walks(D, seeds, steps, rng, x0=np.full(seeds, k * N / 3)) for k in range(3)], -1)
    return xr.DataArray(np.mod(x, N), dims=("seed", "epoch", "hidden"),
                        coords={"epoch": np.arange(steps + 1)}, attrs={"n_sites": N})


def test_three_walkers_at_a_fixed_spacing_diffuse_together():
    c = an.unwrap_centres(_three_walkers(rigid=True))
    gaps = an.neighbour_gaps(c)
    np.testing.assert_allclose(gaps, N / 3, atol=1e-9)
    out = an.co_diffusion(c, start=20, max_lag=50)
    assert float(out["gap_std"]) == pytest.approx(0, abs=1e-9)
    assert float(out["gap_mean"]) == pytest.approx(N / 3)
    assert float(out["D_unit"]) == pytest.approx(0.5, rel=0.15)
    assert float(out["ratio"]) == pytest.approx(1.0, abs=1e-6)  # the centre of mass moves as each unit


def test_three_independent_walkers_do_not():
    c = an.unwrap_centres(_three_walkers(rigid=False))
    out = an.co_diffusion(c, start=20, max_lag=50)
    assert float(out["D_unit"]) == pytest.approx(0.5, rel=0.15)
    assert float(out["ratio"]) == pytest.approx(3.0, rel=0.2)  # D_com = D / 3
    assert float(out["gap_std"]) > 5
    # forward gaps are labelled by unit and sum to N around the ring while the order holds
    g = an.neighbour_gaps(_three_walkers(rigid=False).isel(epoch=0))
    np.testing.assert_allclose(g.sum("hidden"), N, atol=1e-9)
    assert np.isnan(an.neighbour_gaps(_three_walkers(rigid=True).isel(hidden=[0]))).all()


# ------------------------------------------------------------------ profiles (Fig. 14)
def test_centred_profile_overlays_peaks_from_anywhere():
    x0 = [3.0, 47.0, 91.0]
    w = xr.DataArray(np.stack([s * sech_peak(x, 0.4) for x, s in zip(x0, (1, -2, 0.5))]),
                     dims=("unit", "visible"))
    p = an.centred_profile(w)
    assert p.dims == ("unit", "visible")
    np.testing.assert_array_equal(p.argmax("visible"), [50, 50, 50])
    np.testing.assert_allclose(p[1] / 2, p[0], atol=1e-12)  # sign flipped, shape kept
    np.testing.assert_allclose(p[0], sech_peak(50, 0.4), atol=1e-12)
    assert int(an.centred_profile(w, at=10).argmax("visible")[2]) == 10
    with pytest.raises(ValueError, match="angular_modulation"):
        an.centred_profile(xr.DataArray(np.ones((N, 3)), dims=("visible", "state")))


def test_profile_scaling_of_the_lattice_solution():
    from sweep.science import theory

    prof = theory.integrate_one_unit(N=N)["w"]
    betas = [0.05, 0.2]
    w = xr.DataArray(np.sqrt(np.array(betas))[:, None] * prof[None, :], dims=("beta", "visible"),
                     coords={"beta": betas})
    out = an.profile_scaling(w)
    np.testing.assert_allclose(out["sum_sq_over_beta"], 2.400, atol=1e-3)
    np.testing.assert_allclose(out["peak_over_sqrt_beta"], 0.920, atol=1e-3)
    np.testing.assert_allclose(out["fwhm"], 3.795, atol=1e-3)  # PHYSICS 6
    assert float(an.profile_scaling(w.isel(beta=0), beta=0.05)["sum_sq_over_beta"]) == pytest.approx(2.4, abs=1e-3)
    with pytest.raises(ValueError, match="beta"):
        an.profile_scaling(w.drop_vars("beta"))


def test_replica_dims_are_the_stores():
    """analysis keeps its own copy (it imports nothing from sweep); it must equal the store's vocabulary."""
    from sweep.config import names

    assert an.REPLICA_DIMS == names.REPLICA_DIMS
