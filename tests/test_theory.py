"""sweep.science.theory against exact matrices, enumeration, sampled data and docs/physics.md section 7 values."""

import itertools

import numpy as np
import pytest

from _limits import run as run_within
from kernels import exact, potentials as pot, transfer as tr
from kernels.samplers import sample_ising, sample_xy
from sweep.science import spectrum as sp
from sweep.science import theory as th

# ------------------------------------------------------------------------------------------ Ising


def test_correlation_length():
    b = np.array([0.2, 0.6, 1.0])
    assert np.allclose(th.correlation_length(b), -1.0 / np.log(np.tanh(b)))
    assert isinstance(th.correlation_length(0.6), float)
    assert th.correlation_length(0.6) == pytest.approx(1.6086, abs=1e-3)


def _ising_corr(beta, n):
    d = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return tr.ising_pair_correlation(beta, n, d)


@pytest.mark.parametrize("n", [3, 7, 12, 50, 100])
@pytest.mark.parametrize("beta", [0.05, 0.3, 0.6, 1.2, 2.5])
def test_ising_signal_eigenvalue_is_top_of_exact_correlation(n, beta):
    vals, vecs = np.linalg.eigh(_ising_corr(beta, n))
    lam = th.ising_signal_eigenvalue(beta, n)
    assert lam == pytest.approx(vals[-1], rel=1e-12)
    # uniform eigenvector, and strictly the largest
    assert abs(vecs[:, -1] @ np.ones(n)) / np.sqrt(n) == pytest.approx(1.0, abs=1e-9)
    assert vals[-2] < lam * (1 - 1e-6)


def test_ising_signal_eigenvalue_limits_and_broadcasting():
    b = np.array([0.0, 0.3, 0.6])
    assert np.allclose(th.ising_signal_eigenvalue(b), np.exp(2 * b))
    assert th.ising_signal_eigenvalue(0.0, 100) == 1.0
    assert th.ising_signal_eigenvalue(0.6, 100) == pytest.approx(3.32, abs=0.005)  # PHYSICS 6
    out = th.ising_signal_eigenvalue(b[:, None], np.array([4, 8, 16, 1000])[None, :])
    assert out.shape == (3, 4)
    assert np.all(np.diff(out[1:], axis=1) > 0)  # grows with N towards exp(2 beta)
    assert np.allclose(out[:, -1], np.exp(2 * b), rtol=1e-10)
    with pytest.raises(ValueError):
        th.ising_signal_eigenvalue(-0.1, 10)


def test_mp_edge_and_beta_c():
    r = np.array([0.0, 0.01, 0.1, 1.0, 4.0])
    assert np.allclose(th.mp_edge(r), (1 + np.sqrt(r)) ** 2)
    assert th.mp_edge(1.0) == 4.0
    # beta_c: exp(2 beta_c) = MP edge; PHYSICS 6 values for N = 100
    assert np.allclose(np.exp(2 * th.beta_c(r)), th.mp_edge(r))
    bc = th.beta_c(100 / np.array([100, 300, 1000, 3000]))
    assert np.allclose(bc, [0.69, 0.46, 0.28, 0.17], atol=0.006)


def test_beta_c_samples_inverts_the_crossover():
    beta = np.array([0.1, 0.3, 0.6, 1.0])
    for n_vis in (20, 100):
        n = th.beta_c_samples(beta, n_vis)
        assert np.allclose(th.ising_signal_eigenvalue(beta, n_vis), th.mp_edge(n_vis / n), rtol=1e-12)
        assert np.all(np.diff(n) < 0)
    # large N: the inverse of beta_c(r)
    n = th.beta_c_samples(0.4, 100_000)
    assert th.beta_c(100_000 / n) == pytest.approx(0.4, rel=1e-9)
    assert th.beta_c_samples(0.0, 100) == np.inf


def test_mp_edge_against_sampled_null_ising():
    # independent unbiased spins (beta = 0): the top eigenvalue of V^T V / n approaches the MP edge from
    # below (finite-size Tracy-Widom shift), and the gap shrinks as the matrix grows at fixed r = 0.1
    gaps = []
    for n_vis, n in ((40, 400), (200, 2000)):
        lam = np.mean([sp.top_eigen(sample_ising(n, n_vis, 0.0, s))["top_eigenvalue"] for s in range(4)])
        gaps.append((th.mp_edge(n_vis / n) - lam) / th.mp_edge(n_vis / n))
    assert 0 < gaps[1] < gaps[0] < 0.06
    assert gaps[1] < 0.015


# --------------------------------------------------------------------------------------------- XY


def test_xy_ratios():
    for q in (2, 3, 6, 10):
        for b in (0.3, 1.0):
            d = np.arange(q)
            lam = [np.sum(np.exp(b * np.cos(2 * np.pi * d / q)) * np.cos(2 * np.pi * k * d / q)) for k in range(q)]
            for k in range(q):
                assert th.xy_ratios(b, q, k=k) == pytest.approx(lam[k] / lam[0], rel=1e-12, abs=1e-15)
    assert th.xy_ratios(0.7, 2) == pytest.approx(np.tanh(0.7))  # q = 2 is the Ising chain
    out = th.xy_ratios(np.array([0.1, 1.0, 3.0]), 10)
    assert out.shape == (3,) and np.all(np.diff(out) > 0) and np.all(out < 1)
    assert th.xy_ratios(0.5, 5, kernel="potts", k=2) == pytest.approx((np.e**0.5 - 1) / (np.e**0.5 + 4))


def test_xy_correlation_length_is_the_decay_length_of_the_pair_correlation():
    assert th.xy_correlation_length(0.7, 2) == pytest.approx(th.correlation_length(0.7))  # q = 2: Ising
    for q, b in ((6, 1.0), (6, 1.5), (10, 2.0)):
        xi = th.xy_correlation_length(b, q)
        d = np.arange(1, 8)
        c = th.xy_pair_correlation(b, q, 2000, d)  # a large ring: c(d) = t_1^d = exp(-d / xi)
        np.testing.assert_allclose(c, np.exp(-d / xi), rtol=1e-10)
    np.testing.assert_allclose(th.xy_correlation_length([1.0, 1.5], 6), [1.2405, 1.9403], atol=1e-4)
    assert th.xy_correlation_length(0.0, 6) == 0.0

def _xy_enum_cov(n, q, beta, kernel="cosine"):
    """Exact centred one-hot covariance by enumeration of all q^n ring configurations."""
    k = tr.angular_kernel(kernel, q)
    x = np.array(list(itertools.product(range(q), repeat=n)))
    e = beta * k[(x - np.roll(x, -1, axis=1)) % q].sum(axis=1)
    p = np.exp(e - e.max())
    p /= p.sum()
    oh = np.eye(q)[x].reshape(len(x), n * q) - 1.0 / q
    return (oh * p[:, None]).T @ oh


def _signal_plane(n, q):
    """Orthonormal basis (columns) of the spatially uniform first-harmonic plane (1 column for q = 2)."""
    a = np.arange(q)
    cols = [np.tile(np.cos(2 * np.pi * a / q), n)]
    if q > 2:
        cols.append(np.tile(np.sin(2 * np.pi * a / q), n))
    b = np.array(cols).T
    return b / np.linalg.norm(b, axis=0)


@pytest.mark.parametrize("n,q,beta", [(4, 3, 0.7), (5, 3, 1.5), (3, 5, 0.9), (4, 4, 1.0), (6, 2, 0.8)])
def test_xy_signal_eigenvalue_exact_by_enumeration(n, q, beta):
    vals, vecs = np.linalg.eigh(_xy_enum_cov(n, q, beta))
    lam = th.xy_signal_eigenvalue(beta, q, n)
    assert lam == pytest.approx(vals[-1], rel=1e-10)
    dim = 2 if q > 2 else 1
    assert np.allclose(vals[-dim:], lam, rtol=1e-10)          # eigenspace dimension 2 (1 for q = 2)
    assert vals[-dim - 1] < lam * (1 - 1e-3)
    basis = _signal_plane(n, q)
    top = vecs[:, -dim:]
    assert np.allclose(np.linalg.svd(basis.T @ top, compute_uv=False), 1.0, atol=1e-8)  # same subspace
    if q == 2:
        assert lam == pytest.approx(th.ising_signal_eigenvalue(beta, n) / 2, rel=1e-12)


def test_xy_signal_eigenvalue_large_ring_from_pair_correlations():
    n, q, beta = 40, 6, 1.3
    t = tr.angular_kernel("cosine", q)
    dist = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    # C_(i,a),(j,b) = (1/q^2) sum_{m=1}^{q-1} c_m(d) exp(-2 pi i m (b - a)/q), c_m from kernels.transfer
    a = np.arange(q)
    phase = np.exp(-2j * np.pi * (a[None, :] - a[:, None]) / q)  # [a, b] -> exp(-2 pi i (b - a)/q)
    cov = np.zeros((n, q, n, q), dtype=complex)
    for m in range(1, q):
        cm = tr.xy_pair_correlation(t, beta, n, dist.ravel(), harmonic=m).reshape(n, n)
        cov += cm[:, None, :, None] * (phase**m)[None, :, None, :]
    cov = (cov / q**2).real.reshape(n * q, n * q)
    vals = np.linalg.eigvalsh(cov)
    lam = th.xy_signal_eigenvalue(beta, q, n)
    assert np.allclose(vals[-2:], lam, rtol=1e-10) and vals[-3] < 0.95 * lam
    # N -> inf form (1/q)(1 + t_1)/(1 - t_1): close once N >> xi
    t1 = th.xy_ratios(beta, q)
    assert th.xy_signal_eigenvalue(beta, q) == pytest.approx((1 + t1) / (1 - t1) / q, rel=1e-12)
    assert th.xy_signal_eigenvalue(beta, q) == pytest.approx(lam, rel=1e-3)
    assert th.xy_signal_eigenvalue(beta, q, 400) == pytest.approx(th.xy_signal_eigenvalue(beta, q), rel=1e-12)
    # a different kernel also matches enumeration
    vals = np.linalg.eigvalsh(_xy_enum_cov(4, 3, 0.8, kernel="potts"))
    assert th.xy_signal_eigenvalue(0.8, 3, 4, kernel="potts") == pytest.approx(vals[-1], rel=1e-10)


def test_xy_null_edge_against_sampled_null_data():
    # independent uniform Potts states, one-hot, centred with 1/q: the top eigenvalue approaches
    # (1/q)(1 + sqrt(N (q-1)/n))^2 from below, closer for larger matrices at fixed r' = 0.25. (With
    # r' = N q / n instead the edge would be 0.87, with no 1/q it would be 2.25.)
    rng = np.random.default_rng(5)
    q = 3
    gaps = []
    for n_vis, n in ((20, 160), (160, 1280)):
        lam = np.mean([sp.top_eigen(rng.integers(0, q, size=(n, n_vis)).astype(np.int8), "xy", q=q)["top_eigenvalue"]
                       for _ in range(4)])
        edge = th.xy_null_edge(q, n_vis, n)
        assert edge == pytest.approx(0.75)
        gaps.append((edge - lam) / edge)
    assert 0 < gaps[1] < gaps[0] < 0.08
    assert gaps[1] < 0.02
    # the exact null data of the sampler (beta = 0), another q
    lam = sp.top_eigen(sample_xy(2000, 100, 5, 0.0, 3), "xy", q=5)["top_eigenvalue"]
    assert lam == pytest.approx(th.xy_null_edge(5, 100, 2000), rel=0.03)


def test_xy_crossover_samples():
    q, n_vis = 10, 100
    beta = np.array([0.2, 0.5, 1.0, 2.0])
    n = th.xy_crossover_samples(beta, q, n_vis)
    assert np.allclose(th.xy_signal_eigenvalue(beta, q, n_vis), th.xy_null_edge(q, n_vis, n), rtol=1e-12)
    assert np.all(np.diff(n) < 0)
    assert th.xy_crossover_samples(0.0, q, n_vis) == np.inf
    n_inf = th.xy_crossover_samples(1.0, q, n_vis, finite=False)
    assert th.xy_signal_eigenvalue(1.0, q) == pytest.approx(th.xy_null_edge(q, n_vis, n_inf), rel=1e-12)
    assert n[2] == pytest.approx(2369, abs=1)


# -------------------------------------------------------------------------------------- empirical


def test_top_eigen_ising_reference_values():
    # PHYSICS 6 (beta 0.6, N 100): 3.81 / 3.39 / 3.33 at 1e3 / 1e4 / 1e5 samples; seed spread measured
    # here: about +-0.06 at 1e3, +-0.03 at 1e4
    lam3 = np.mean([sp.top_eigen(sample_ising(1000, 100, 0.6, s))["top_eigenvalue"] for s in range(4)])
    assert lam3 == pytest.approx(3.81, abs=0.1)
    st4 = sp.top_eigen(sample_ising(10_000, 100, 0.6, 11))
    assert st4["top_eigenvalue"] == pytest.approx(3.39, abs=0.15)
    st5 = sp.top_eigen(sample_ising(100_000, 100, 0.6, 12))
    assert st5["top_eigenvalue"] == pytest.approx(3.33, abs=0.05)
    # above both theory lines at 1e4 samples, approaching lambda_signal (3.320) at 1e5
    assert st4["top_eigenvalue"] > st5["top_eigenvalue"] > 0.98 * th.ising_signal_eigenvalue(0.6, 100)
    assert st4["top_eigenvalue"] > th.ising_signal_eigenvalue(0.6, 100)
    assert st5["top_mode_weight"] > 0.95 and st4["top_mode_weight"] > 0.9
    # noise: the top eigenvector has about 7/100 of its weight on |k| <= 3
    st0 = sp.top_eigen(sample_ising(1000, 100, 0.0, 4))
    assert st0["top_mode_weight"] < 0.3


def test_top_eigen_definitions_on_small_data():
    rng = np.random.default_rng(2)
    v = sample_ising(50, 12, 0.8, 3)
    st = sp.top_eigen(v, chunk=7)  # the chunked Gram matrix sums correctly
    assert st["top_eigenvalue"] == pytest.approx(sp.top_eigen(v)["top_eigenvalue"], rel=1e-12)
    vals, vecs = np.linalg.eigh(v.T.astype(float) @ v / 50)
    assert st["top_eigenvalue"] == pytest.approx(vals[-1], rel=1e-12)
    u = vecs[:, -1]
    k = np.arange(12)
    waves = np.exp(2j * np.pi * np.outer(k, k) / 12) / np.sqrt(12)
    proj = np.abs(waves.conj() @ u) ** 2
    assert st["top_mode_weight"] == pytest.approx(proj[np.minimum(k, 12 - k) <= 3].sum(), rel=1e-10)
    assert sp.top_eigen(v, k_max=0)["top_mode_weight"] == pytest.approx(proj[0], rel=1e-10)
    assert st["low_mode_weight"] == st["top_mode_weight"]
    assert st["uniform_mode_weight"] == pytest.approx(proj[0], rel=1e-10)
    assert st["uniform_mode_weight"] == pytest.approx(u.sum() ** 2 / 12, rel=1e-10)
    # XY: centred one-hot covariance and the weight on the uniform first-harmonic plane
    n, nv, q = 60, 8, 5
    x = rng.integers(0, q, size=(n, nv)).astype(np.int8)
    st = sp.top_eigen(x, "xy", q=q)
    oh = np.eye(q)[x].reshape(n, nv * q) - 1.0 / q
    vals, vecs = np.linalg.eigh(oh.T @ oh / n)
    assert st["top_eigenvalue"] == pytest.approx(vals[-1], rel=1e-12)
    basis = _signal_plane(nv, q)
    assert st["top_mode_weight"] == pytest.approx(np.sum((basis.T @ vecs[:, -1]) ** 2), rel=1e-9, abs=1e-14)
    assert st["uniform_mode_weight"] == st["top_mode_weight"]
    # low modes: plane waves exp(2 pi i (k i/N +- a/q)), |k| <= 3 (all k = 0..7 but 4 for N = 8)
    i, aa = np.meshgrid(np.arange(nv), np.arange(q), indexing="ij")
    waves = [np.exp(2j * np.pi * (kk * i / nv + m * aa / q)).ravel() / np.sqrt(nv * q)
             for kk in (-3, -2, -1, 0, 1, 2, 3) for m in (1, -1)]
    low = sum(abs(wv.conj() @ vecs[:, -1]) ** 2 for wv in waves)
    assert st["low_mode_weight"] == pytest.approx(low, rel=1e-9)
    assert sp.top_eigen(x, "xy", q=q, k_max=3)["top_mode_weight"] == pytest.approx(low, rel=1e-9)
    # all sites equal, q = 3: the top eigenspace is the uniform first-harmonic plane itself (weight 1);
    # shifting odd sites by one state gives top vectors exp(2 pi i (a - [i odd])/3) (and conjugate),
    # whose weight on the uniform plane is |(1 + exp(-2 pi i/3))/2|^2 = 1/4
    plane_data = np.tile((np.arange(201) % 3)[:, None], (1, nv)).astype(np.int8)
    assert sp.top_eigen(plane_data, "xy", q=3)["top_mode_weight"] == pytest.approx(1.0, abs=1e-9)
    plane_data[:, 1::2] = (plane_data[:, 1::2] + 1) % 3
    assert sp.top_eigen(plane_data, "xy", q=3)["top_mode_weight"] == pytest.approx(0.25, abs=1e-9)
    with pytest.raises(ValueError):
        sp.top_eigen(x, "xy")
    with pytest.raises(ValueError):
        sp.top_eigen(x, "ising")


def test_top_eigen_xy_signal_and_noise():
    sig = sp.top_eigen(sample_xy(10_000, 100, 10, 1.0, 1), "xy", q=10)
    assert sig["low_mode_weight"] > 0.75
    assert sig["top_eigenvalue"] == pytest.approx(th.xy_signal_eigenvalue(1.0, 10, 100), rel=0.15)
    noise = sp.top_eigen(sample_xy(500, 100, 10, 0.0, 1), "xy", q=10)
    assert noise["low_mode_weight"] < 0.1


def test_data_statistics():
    a = sp.data_statistics("ising", 100, 0.6, 1000, seed=7)
    b = sp.data_statistics("ising", 100, 0.6, 1000, seed=7)
    assert a == b
    assert a["signal_eigenvalue"] == pytest.approx(th.ising_signal_eigenvalue(0.6, 100))
    assert a["null_edge"] == pytest.approx(th.mp_edge(0.1))
    assert a["top_eigenvalue"] == pytest.approx(3.81, abs=0.2)
    c = sp.data_statistics("xy", 30, 1.0, 500, seed=1, q=4)
    assert set(c) == {"top_eigenvalue", "top_mode_weight", "uniform_mode_weight", "low_mode_weight",
                      "signal_eigenvalue", "null_edge"}
    assert c["null_edge"] == pytest.approx(th.xy_null_edge(4, 30, 500))
    assert c["top_eigenvalue"] > max(c["signal_eigenvalue"], 0.9 * c["null_edge"])
    with pytest.raises(ValueError):
        sp.data_statistics("xy", 30, 1.0, 500, seed=1)


# ----------------------------------------------------------------------------- small-beta dynamics


def test_ode_rhs_definitions():
    rng = np.random.default_rng(0)
    w = rng.normal(size=9)
    s = np.sum(w**2)
    ref = [w[(i + 1) % 9] + w[i - 1] + w[i] ** 3 - w[i] * s for i in range(9)]
    assert np.allclose(th.ode_one_unit_rhs(w), ref)
    w1, w2 = rng.normal(size=(2, 9))
    f1, f2 = th.ode_two_units_rhs(w1, w2)
    x = w1 @ w2
    assert np.allclose(f1, th.ode_one_unit_rhs(w1) + w1 * w2**2 - w2 * x)
    assert np.allclose(f2, th.ode_one_unit_rhs(w2) + w2 * w1**2 - w1 * x)
    assert np.allclose(th.ode_two_units_rhs(w1, 0 * w2)[0], th.ode_one_unit_rhs(w1))
    # invariance under rotations in hidden-unit space: rhs(R w) = R rhs(w)
    c, s_ = np.cos(0.7), np.sin(0.7)
    g1, g2 = th.ode_two_units_rhs(c * w1 + s_ * w2, -s_ * w1 + c * w2)
    assert np.allclose(g1, c * f1 + s_ * f2) and np.allclose(g2, -s_ * f1 + c * f2)
    # the integrator uses the same right-hand side
    w0 = 0.1 * rng.normal(size=(2, 9))
    out = th.integrate_two_units(w0=w0, steps=1, dt=1e-3, tol=0.0, check_every=1)
    g = th.ode_two_units_rhs(*w0)
    assert np.allclose(out["w1"], w0[0] + 1e-3 * g[0]) and np.allclose(out["w2"], w0[1] + 1e-3 * g[1])


def test_one_unit_stationary_profile():
    out = th.integrate_one_unit(N=100, dt=0.01, seed=0)
    assert out["converged"] and out["residual"] < 1e-8
    assert np.abs(th.ode_one_unit_rhs(out["w"])).max() < 1e-8
    p = out["profile"]
    # PHYSICS 5: sum 2.400, peak 0.920, neighbours 0.715, 0.431, 0.239 (measured here: 2.40012, 0.91959,
    # 0.71474, 0.43074, 0.23917), symmetric about the site-centred peak
    assert out["sum_sq"] == pytest.approx(2.400, abs=0.002)
    assert p[50] == pytest.approx(0.920, abs=0.002)
    assert np.allclose(p[51:54], [0.715, 0.431, 0.239], atol=0.002)
    assert np.allclose(p[49:46:-1], p[51:54], atol=1e-6)
    # a stable maximum of the gradient flow: Hessian negative definite
    w = out["w"]
    n = w.size
    hess = np.diag(3 * w**2 - w @ w) - 2 * np.outer(w, w)
    hess[np.arange(n), (np.arange(n) + 1) % n] += 1
    hess[np.arange(n), np.arange(n) - 1] += 1
    assert np.linalg.eigvalsh(hess).max() < -0.01
    # another seed reaches the same profile (at another place)
    other = th.integrate_one_unit(N=100, seed=3)
    assert np.allclose(other["profile"], p, atol=1e-6)


def test_sech_profiles():
    x = np.linspace(-40, 40, 16001)
    h = x[1] - x[0]
    for k in (th.SECH_K_STABLE, th.SECH_K_NARROW):
        w = th.sech_profile(x, k)
        s = np.sum(w**2) * h
        assert s == pytest.approx(4 * k, rel=1e-6)
        # continuum stationarity: w'' + 2 w + w^3 - S w = 0
        w2 = (w[2:] - 2 * w[1:-1] + w[:-2]) / h**2
        res = w2 + 2 * w[1:-1] + w[1:-1] ** 3 - s * w[1:-1]
        assert np.abs(res).max() < 1e-3 * s * w.max()
    assert th.sech_profile(3.0, th.SECH_K_STABLE, 3.0) == pytest.approx(2 * np.sqrt(2) - 2)
    # the discrete stationary profile is close to the wide continuum one (lattice corrections)
    disc = th.integrate_one_unit(N=100)["profile"]
    cont = th.sech_profile(np.arange(100), th.SECH_K_STABLE, 50)
    assert np.sum(cont**2) == pytest.approx(2.343, abs=1e-3)
    assert np.sum(cont**2) == pytest.approx(np.sum(disc**2), rel=0.03)
    assert np.allclose(cont[50:54], [0.828, 0.704, 0.468, 0.278], atol=1e-3)
    assert np.abs(cont - disc).max() < 0.1
    narrow = th.sech_profile(np.arange(100), th.SECH_K_NARROW, 50)
    assert np.abs(narrow - disc).max() > 3  # the narrow one is far off


@pytest.mark.parametrize("seed", [1, 2])
def test_two_units_settle_into_two_separated_peaks(seed):
    out = th.integrate_two_units(N=100, seed=seed)
    assert out["converged"]
    f1, f2 = th.ode_two_units_rhs(out["w1"], out["w2"])
    assert max(np.abs(f1).max(), np.abs(f2).max()) < 1e-8
    assert np.allclose(out["gram"], 2.4001 * np.eye(2), atol=2e-3)  # orthogonal, equal norms
    u1, u2 = out["u1"], out["u2"]
    assert out["separation"] >= 10
    assert np.abs(u1 * u2).max() < 0.01  # peaks do not overlap
    one = th.integrate_one_unit(N=100)["profile"]
    for u, c in zip((u1, u2), out["centres"]):
        assert np.allclose(np.roll(np.abs(u), 50 - c), one, atol=1e-3)


def test_unmix_two_units():
    x = np.arange(100)
    a, b = th.sech_profile(x, 0.6, 20), th.sech_profile(x, 0.6, 70)
    for phi in (0.0, 0.3, -0.6):
        w1, w2 = np.cos(phi) * a - np.sin(phi) * b, np.sin(phi) * a + np.cos(phi) * b
        u1, u2, _ = th.unmix_two_units(w1, w2)
        found = sorted([np.argmax(np.abs(u1)), np.argmax(np.abs(u2))])
        assert found == [20, 70]
        assert np.sum(u1**4 + u2**4) == pytest.approx(np.sum(a**4 + b**4), rel=1e-10)


# -------------------------------------------------------------------------- exact population gradient


def _mean_loglik(W, beta):
    n = W.shape[1]
    v = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1)
    e = beta * np.sum(v * np.roll(v, -1, axis=1), axis=1)
    p = np.exp(e - e.max())
    p /= p.sum()
    inp = v @ W.T
    ll = p @ np.sum(np.abs(inp) + np.log1p(np.exp(-2 * np.abs(inp))) + np.log(2), axis=1)
    return ll - exact.log_partition_spin(W, np.zeros(n), np.zeros(W.shape[0]), pot.SPIN)


def test_population_gradient_is_the_gradient():
    rng = np.random.default_rng(1)
    W = rng.normal(0, 0.4, size=(2, 8))
    g = th.population_gradient(W, 0.5, 8)
    eps = 1e-6
    for mu, i in ((0, 0), (1, 5), (0, 7)):
        d = np.zeros_like(W)
        d[mu, i] = eps
        fd = (_mean_loglik(W + d, 0.5) - _mean_loglik(W - d, 0.5)) / (2 * eps)
        assert g[mu, i] == pytest.approx(fd, abs=1e-8)
    assert th.population_gradient(W[0], 0.5).shape == (8,)
    with pytest.raises(ValueError):
        th.population_gradient(np.zeros((1, 17)), 0.5)
    with pytest.raises(ValueError):
        th.population_gradient(W, 0.5, n_visible=9)


def _scaled_errors(w, rhs, betas):
    return [np.abs(th.population_gradient(np.sqrt(b) * w, b) / b**1.5 - rhs).max() for b in betas]


def test_small_beta_limit_one_unit():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.5, size=10)
    errs = _scaled_errors(w, th.ode_one_unit_rhs(w), [1e-2, 1e-3, 1e-4])
    # O(beta) corrections: each factor 10 in beta divides the error by about 10
    assert 7 < errs[0] / errs[1] < 13 and 8 < errs[1] / errs[2] < 12
    assert errs[2] < 1e-3 * np.abs(th.ode_one_unit_rhs(w)).max()


def test_small_beta_limit_two_units():
    rng = np.random.default_rng(4)
    w = rng.normal(0, 0.6, size=(2, 10))
    rhs = np.array(th.ode_two_units_rhs(w[0], w[1]))
    errs = _scaled_errors(w, rhs, [1e-2, 1e-3, 1e-4])
    assert 7 < errs[0] / errs[1] < 13 and 8 < errs[1] / errs[2] < 12
    assert errs[2] < 1e-3 * np.abs(rhs).max()
    # the check has power: dropping or rescaling any term of the right-hand side leaves an O(1) error
    x = w[0] @ w[1]
    for wrong in (rhs[0] - w[0] * w[1] ** 2, rhs[0] + w[1] * x, rhs[0] - w[0] ** 3 / 3):
        err = np.abs(th.population_gradient(np.sqrt(1e-4) * w, 1e-4)[0] / 1e-6 - wrong).max()
        assert err > 30 * errs[2]


# ------------------------------------------------------------------------------ plain numpy, no kernels


def test_theory_and_analysis_import_only_numpy_scipy_xarray():
    """sweep.science.theory and sweep.science.analysis run in any notebook: no kernels, no Numba, no matplotlib. Loaded
    as standalone files in a fresh interpreter, they pull none of those in."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(th.__file__).parent
    code = ("import importlib.util, sys\n"
            "for name in ('theory', 'analysis'):\n"
            f"    spec = importlib.util.spec_from_file_location(name, r'{root}/' + name + '.py')\n"
            "    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
            "bad = [m for m in ('numba', 'kernels', 'matplotlib', 'sweep') if m in sys.modules]\n"
            "print('BAD', bad) if bad else print('OK')\n")
    out = run_within([sys.executable, "-c", code], 120, capture_output=True, text=True)
    assert out.stdout.strip() == "OK", out.stdout + out.stderr


@pytest.mark.parametrize("kernel", ["cosine", "potts", "short_range", [0.0, 1.0, 0.3, 0.2, 1.0]])
def test_numpy_kernels_match_the_transfer_matrices(kernel):
    q = 5
    assert np.array_equal(th.angular_kernel(kernel, q), tr.angular_kernel(kernel, q))
    for beta in (0.0, 0.4, 2.5):
        t = np.asarray([th.xy_ratios(beta, q, kernel=kernel, k=k) for k in range(q)])
        assert np.allclose(t, tr.eigenvalue_ratios(tr.angular_kernel(kernel, q), beta), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError):
        th.angular_kernel("nope", q)
    assert th.correlation_length(0.6) == pytest.approx(tr.correlation_length(0.6), rel=1e-14)


def test_pair_correlations_exact_and_sampled():
    d = np.array([0, 1, 3, 7])
    assert np.allclose(th.ising_pair_correlation(0.6, 12, d), tr.ising_pair_correlation(0.6, 12, d), rtol=1e-12)
    k = tr.angular_kernel("cosine", 6)
    assert np.allclose(th.xy_pair_correlation(1.3, 6, 12, d), tr.xy_pair_correlation(k, 1.3, 12, d), rtol=1e-12)
    assert th.xy_pair_correlation(0.8, 2, 10, 3) == pytest.approx(th.ising_pair_correlation(0.8, 10, 3))
    # sampled data agree within a few standard errors
    for model, data, exact_c in (("ising", sample_ising(4000, 30, 0.7, 1), th.ising_pair_correlation(0.7, 30, d)),
                                 ("xy", sample_xy(4000, 30, 6, 1.5, 2), th.xy_pair_correlation(1.5, 6, 30, d))):
        m, e = sp.pair_correlation(data, d, model, q=6 if model == "xy" else None)
        assert m[0] == pytest.approx(1.0) and np.all(e[1:] > 0)
        assert np.all(np.abs(m[1:] - exact_c[1:]) < 4 * e[1:]), (model, m, exact_c, e)
    with pytest.raises(ValueError):
        sp.pair_correlation(data, 1, "xy")
