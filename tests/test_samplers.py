"""Exact ring samplers, transfer-matrix formulas and the heat-bath MCMC (docs/physics.md 2.1-2.3).

Statistical tests compare with exact values at 5 standard errors (estimated from the samples themselves)
or with a chi-square test at p > 1e-4; each comparison is sized so that the wrong answer it guards
against (e.g. dropping the finite-ring term, or a wrong range-R model) is many standard errors away, and
a few tests check that power explicitly.
"""

import itertools

import numpy as np
import pytest
from scipy import stats

from kernels.mcmc import integrated_autocorr_time, mcmc_sample_ising, mcmc_sample_xy
from kernels.samplers import exact_fits, ising_conditionals, sample_ising, sample_ring, sample_xy
from kernels.transfer import (
    angular_kernel,
    block_transfer_matrix,
    circulant_eigenvalues,
    correlation_length,
    eigenvalue_ratios,
    ising_pair_correlation,
    transfer_matrix,
    xy_pair_correlation,
    xy_pair_correlation_trace,
)

# ------------------------------------------------------------------------------------------- helpers


def enumerate_ring(n, q, beta, kernel, couplings):
    """All q^n configurations (code = sum_i x_i q^i) and their exact probabilities."""
    k = angular_kernel(kernel, q)
    configs = np.array(list(itertools.product(range(q), repeat=n)))[:, ::-1]  # row c has code c
    e = np.zeros(len(configs))
    for r, jr in enumerate(couplings, start=1):
        e += jr * k[(configs - np.roll(configs, -r, axis=1)) % q].sum(axis=1)
    w = np.exp(beta * (e - e.max()))
    return configs, w / w.sum()


def config_codes(x, q):
    return (x.astype(np.int64) * q ** np.arange(x.shape[1])).sum(axis=1)


def chi2_pvalue(x, q, probs, min_expected=5.0):
    """Chi-square p-value of the full empirical configuration distribution, cells with E < 5 pooled."""
    counts = np.bincount(config_codes(x, q), minlength=probs.size)
    expected = probs * len(x)
    big = expected >= min_expected
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < min_expected:  # fold a small pooled cell into the last big one
        obs[-2] += obs[-1]
        exp[-2] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    stat = ((obs - exp) ** 2 / exp).sum()
    return stats.chi2.sf(stat, obs.size - 1)


def ring_pair_means(values, n):
    """Per-sample translation averages f_d = (1/N) sum_i values_i conj(values_(i+d)), d = 0..N-1."""
    return np.stack([(values * np.conj(np.roll(values, -d, axis=1))).mean(axis=1) for d in range(n)], axis=1)


def assert_within(est_samples, exact, nsig=5.0):
    """Mean of per-sample estimates within nsig standard errors of exact (array over the last axis)."""
    mean = est_samples.mean(axis=0)
    se = est_samples.std(axis=0, ddof=1) / np.sqrt(len(est_samples))
    bad = np.abs(mean - exact) > nsig * se + 1e-12
    assert not bad.any(), f"mean {mean[bad]} vs exact {np.asarray(exact)[bad]} (se {se[bad]})"
    return se


# ------------------------------------------------------------------------------------- transfer.py


def test_kernels_and_eigenvalues():
    assert np.allclose(angular_kernel("cosine", 4), [1, 0, -1, 0], atol=1e-15)
    assert np.array_equal(angular_kernel("potts", 4), [1, 0, 0, 0])
    assert np.array_equal(angular_kernel("short_range", 6), [1, 1, 0, 0, 0, 1])
    assert np.array_equal(angular_kernel([0.0, 1.0, 2.0], 3), [0.0, 1.0, 2.0])
    for kern, q in [("cosine", 5), ("potts", 4), ("short_range", 6), ([0.3, -1.0, 0.5, 0.2], 4)]:
        k = angular_kernel(kern, q)
        lam = circulant_eigenvalues(k, 0.9)
        ev = np.linalg.eigvals(transfer_matrix(k, 0.9))
        assert np.allclose(np.sort_complex(np.asarray(lam, complex)), np.sort_complex(ev))
        t = eigenvalue_ratios(k, 0.9)
        assert np.allclose(t, lam / lam[0]) and np.all(np.abs(t[1:]) < 1)
    # PHYSICS 2.2: real cosine sum for the cosine kernel
    q, beta = 6, 1.3
    d = np.arange(q)
    lam = circulant_eigenvalues(angular_kernel("cosine", q), beta)
    ref = [np.sum(np.exp(beta * np.cos(2 * np.pi * d / q)) * np.cos(2 * np.pi * kk * d / q)) for kk in range(q)]
    assert np.allclose(lam, ref)


@pytest.mark.parametrize(
    "kernel,q,beta",
    [
        ("cosine", 5, 0.8),
        ("cosine", 7, 2.5),
        ("potts", 4, 1.1),
        ("short_range", 6, 0.7),
        ([0.3, -1.0, 0.5, 0.2], 4, 1.0),
    ],
)
def test_closed_form_equals_trace_form(kernel, q, beta):
    k = angular_kernel(kernel, q)
    n = 12
    d = np.arange(n + 1)
    for m in (1, 2):
        closed = xy_pair_correlation(k, beta, n, d, harmonic=m)
        trace = xy_pair_correlation_trace(k, beta, n, d, harmonic=m)
        assert np.allclose(closed, trace, atol=1e-12)
        assert np.allclose(closed[0], 1.0) and np.allclose(closed[n], 1.0)
    # the asymmetric custom kernel gives a complex correlation; symmetric ones are real
    assert np.iscomplexobj(closed) == (not isinstance(kernel, str))


def test_closed_form_matches_enumeration():
    n, q, beta = 5, 3, 0.9
    for kernel in ("cosine", [0.3, -1.0, 0.5]):
        configs, p = enumerate_ring(n, q, beta, kernel, (1.0,))
        for d in range(n + 1):
            phase = np.exp(2j * np.pi * (configs[:, 0] - configs[:, d % n]) / q)
            assert np.isclose(np.sum(p * phase), xy_pair_correlation(angular_kernel(kernel, q), beta, n, d), atol=1e-12)


def test_q2_equals_ising_and_is_stable():
    for beta in (0.0, 0.4, 1.5, 4.0):
        n = 10
        d = np.arange(n + 1)
        ising = ising_pair_correlation(beta, n, d)
        assert np.allclose(xy_pair_correlation(angular_kernel("cosine", 2), beta, n, d), ising, atol=1e-12)
        assert np.allclose(xy_pair_correlation_trace(angular_kernel("cosine", 2), beta, n, d), ising, atol=1e-12)
    # large rings and strong coupling: no overflow, and still equal to the trace form
    k = angular_kernel("cosine", 10)
    d = np.arange(0, 401, 25)
    closed = xy_pair_correlation(k, 3.0, 400, d)
    assert np.all(np.isfinite(closed)) and np.all(np.abs(closed) <= 1 + 1e-12)
    assert np.allclose(closed, xy_pair_correlation_trace(k, 3.0, 400, d), atol=1e-10)
    assert np.allclose(ising_pair_correlation(5.0, 300, np.arange(301)), 1.0, atol=1e-3)
    assert np.isclose(correlation_length(1.0), -1 / np.log(np.tanh(1.0)))
    assert correlation_length(0.0) == 0.0


def test_block_transfer_matrix_trace_is_partition_function():
    q, beta, j = 3, 0.7, (1.0, -0.5)
    k = angular_kernel("cosine", q)
    tm = block_transfer_matrix(k, beta, j)
    # block_weights divides every bond weight by exp(beta * max_B sum_r J_r K(x_0 - x_r))
    bonds = itertools.product(range(q), repeat=3)
    wmax = max(sum(jr * k[(c[0] - c[r]) % q] for r, jr in enumerate(j, 1)) for c in bonds)
    for n in (2, 3, 4, 5):  # includes N <= R and N <= 2R
        configs = np.array(list(itertools.product(range(q), repeat=n)))
        e = sum(jr * k[(configs - np.roll(configs, -r, axis=1)) % q].sum(axis=1) for r, jr in enumerate(j, 1))
        tn = np.linalg.matrix_power(tm, n)
        assert np.isclose(np.trace(tn) * np.exp(beta * wmax * n), np.exp(beta * e).sum())
        # diag(T^N) is shift invariant, hence the first site is uniform
        p_first = np.diag(tn).reshape(q, q).sum(axis=0)  # code = x_1 + q x_2: sum over x_2
        assert np.allclose(p_first, p_first[0])


# --------------------------------------------------------------------------------------- Ising


def test_ising_conditionals_match_matrix_powers():
    n, beta = 8, 0.7
    tm = np.array([[np.exp(beta), np.exp(-beta)], [np.exp(-beta), np.exp(beta)]])  # index 0: +1, 1: -1
    p = ising_conditionals(n, beta)
    for i in range(n - 1):
        tp = np.linalg.matrix_power(tm, n - 1 - i)
        for a in range(2):
            for s in range(2):
                w = tm[a, :] * tp[:, s]
                assert np.isclose(p[i, a, s], w[0] / w.sum())
    # strong coupling: tanh(beta) rounds to 1, the table must stay exact (P(+1 | -1, +1, m=1) = 1/2)
    p = ising_conditionals(4, 40.0)
    assert np.all(np.isfinite(p))
    assert np.isclose(p[-1, 1, 0], 0.5) and np.isclose(p[-2, 1, 0], 1 / 3)


@pytest.mark.parametrize("beta", [0.3, 0.8, 1.5])
def test_ising_pair_correlations_exact_ring(beta):
    n, n_samples = 10, 200_000
    v = sample_ising(n_samples, n, beta, seed=11)
    est = ring_pair_means(v.astype(np.float64), n)
    exact = ising_pair_correlation(beta, n, np.arange(n))
    se = assert_within(est, exact)
    if beta == 1.5:  # the finite-ring term t^(N-d) is far outside the error: the test can see it
        infinite = np.tanh(beta) ** np.minimum(np.arange(n), n - np.arange(n))
        assert np.all(np.abs(exact - infinite)[2:-1] > 20 * se[2:-1])


def test_ising_magnetization_zero():
    n, n_samples = 10, 200_000
    v = sample_ising(n_samples, n, 1.0, seed=3).astype(np.float64)
    assert_within(v, np.zeros(n))
    # and the two spin-flip-related halves are equally likely
    m = v.sum(axis=1)
    assert abs((m > 0).mean() - (m < 0).mean()) < 5 * np.sqrt(1.0 / n_samples)


# ---------------------------------------------------------------------------------------- XY / Potts


@pytest.mark.parametrize("q,beta", [(2, 1.2), (3, 1.0), (6, 2.0)])
def test_xy_cosine_correlations_exact_ring(q, beta):
    n, n_samples = 10, 100_000
    x = sample_xy(n_samples, n, q, beta, seed=5)
    est = ring_pair_means(np.exp(2j * np.pi * x / q), n).real  # <cos(2 pi (x_i - x_(i+d)) / q)>
    exact = xy_pair_correlation(angular_kernel("cosine", q), beta, n, np.arange(n))
    assert_within(est, exact)
    if q == 2:
        assert np.allclose(exact, ising_pair_correlation(beta, n, np.arange(n)))
    # uniform single-site marginal (global shift symmetry)
    counts = np.bincount(x.ravel(), minlength=q)
    assert stats.chisquare(counts).pvalue > 1e-4


VARIANTS = [
    # (kernel, q, n, beta, couplings)
    ("potts", 3, 6, 1.0, (1.0,)),
    ("short_range", 4, 5, 1.0, (1.0,)),
    ("cosine", 3, 6, 0.8, (1.0, 0.5)),
    ("potts", 3, 6, 1.2, (0.5, 1.0)),
    ("cosine", 3, 4, 0.9, (0.7, -0.4)),  # N = 2R
    ("cosine", 3, 3, 0.9, (1.0, 0.6)),  # N < 2R
    ("potts", 3, 2, 1.0, (1.0, 0.5, 0.7)),  # N < R: B_1 wraps around the ring
    ([0.3, -1.0, 0.5], 3, 5, 1.0, (1.0,)),  # asymmetric custom kernel
    ([0.3, -1.0, 0.5], 3, 5, 1.0, (1.0, 0.5)),
    ("cosine", 2, 7, 0.8, (1.0, 0.5, 0.25)),  # Ising with R = 3
]


@pytest.mark.parametrize("kernel,q,n,beta,couplings", VARIANTS)
def test_variants_match_enumeration(kernel, q, n, beta, couplings):
    n_samples = 100_000
    x, info = sample_ring(n_samples, n, q, beta, 17, kernel=kernel, couplings=couplings, return_info=True)
    assert info["method"] == "exact"
    _, p = enumerate_ring(n, q, beta, kernel, couplings)
    assert chi2_pvalue(x, q, p) > 1e-4


def test_enumeration_test_has_power():
    """The chi-square check rejects a sampler of a slightly different model (R=1 vs the R=2 model)."""
    q, n, beta = 3, 6, 0.8
    x = sample_xy(100_000, n, q, beta, 17, kernel="cosine", couplings=(1.0,))
    _, p = enumerate_ring(n, q, beta, "cosine", (1.0, 0.1))
    assert chi2_pvalue(x, q, p) < 1e-6


def test_first_site_distribution_and_closure():
    x, info = sample_ring(10, 8, 4, 1.0, 0, couplings=(1.0, 0.5), return_info=True)
    assert np.allclose(info["p_first"], 0.25)
    # strong coupling: samples are (nearly) constant rings, including across the closing bonds
    x = sample_xy(2000, 8, 5, 30.0, 1, kernel="potts")
    assert np.all(x == x[:, :1])
    assert len(np.unique(x[:, 0])) == 5


def test_auto_falls_back_to_mcmc():
    assert not exact_fits(10, 10, 4) and exact_fits(100, 10, 1)
    x, info = sample_ring(64, 10, 10, 0.3, 2, couplings=(1.0, 0.5, 0.25, 0.1), return_info=True, n_chains=4)
    assert info["method"] == "mcmc" and x.shape == (64, 10) and x.dtype == np.int8
    with pytest.raises(ValueError, match="too large"):
        sample_ring(4, 10, 10, 0.3, 2, couplings=(1.0, 0.5, 0.25, 0.1), method="exact")


# ------------------------------------------------------------------------------------------- MCMC


def test_sokal_estimator_on_ar1():
    phi, n_chains, length = 0.8, 16, 20_000
    rng = np.random.default_rng(0)
    x = np.empty((n_chains, length))
    x[:, 0] = rng.standard_normal(n_chains) / np.sqrt(1 - phi**2)
    noise = rng.standard_normal((n_chains, length))
    for t in range(1, length):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    tau, w = integrated_autocorr_time(x)
    assert abs(tau - (1 + phi) / (2 * (1 - phi))) < 0.3  # exact 4.5
    assert w >= 6 * tau
    assert integrated_autocorr_time(rng.standard_normal((4, 5000)))[0] < 0.6


def test_mcmc_matches_exact_block_sampler():
    q, n, beta, j = 3, 6, 1.0, (1.0, 0.5)
    n_chains, n_samples = 20, 40_000
    x, info = mcmc_sample_xy(n_samples, n, q, beta, 9, couplings=j, n_chains=n_chains)
    configs, p = enumerate_ring(n, q, beta, "cosine", j)
    k = angular_kernel("cosine", q)

    def observables(c):
        e = sum(jr * k[(c - np.roll(c, -r, axis=1)) % q].sum(axis=1) for r, jr in enumerate(j, 1))
        z = np.exp(2j * np.pi * c / q)
        return np.stack([e, (z[:, 0] * z[:, 1].conj()).real, (z[:, 0] * z[:, 3].conj()).real], axis=1)

    exact = (p[:, None] * observables(configs)).sum(axis=0)
    # per-chain means (rows t * n_chains + c belong to chain c): immune to residual autocorrelation
    obs = observables(x)
    chain_means = np.stack([obs[c::n_chains].mean(axis=0) for c in range(n_chains)])
    se = assert_within(chain_means, exact)
    # the exact sampler agrees too, and the two estimates are close
    xe = sample_ring(n_samples, n, q, beta, 9, couplings=j)
    assert np.all(np.abs(observables(xe).mean(axis=0) - chain_means.mean(axis=0)) < 6 * se + 1e-3)
    assert info["pilot_converged"]
    assert info["burn_in"] >= 20 * info["tau"] and info["thin"] >= 2 * info["tau"]


def test_mcmc_ising_correlations_and_diagnostics():
    n, beta, n_chains = 10, 1.0, 16
    v, info = mcmc_sample_ising(32_000, n, beta, 4, n_chains=n_chains)
    assert set(np.unique(v)) <= {-1, 1} and v.dtype == np.int8
    est = ring_pair_means(v.astype(np.float64), n)
    chain_means = np.stack([est[c::n_chains].mean(axis=0) for c in range(n_chains)])
    assert_within(chain_means, ising_pair_correlation(beta, n, np.arange(n)))
    # tau is measured: larger at strong coupling; burn-in and thinning follow it
    _, hot = mcmc_sample_ising(16, n, 0.1, 4)
    _, cold = mcmc_sample_ising(16, n, 1.5, 4)
    assert 0.5 <= hot["tau"] < 2.0
    assert cold["tau"] > 3 * hot["tau"]
    for d in (info, hot, cold):
        assert d["burn_in"] >= 20 * d["tau"] and d["thin"] >= 2 * d["tau"] and d["thin"] >= 1
        assert d["tau"] == max(d["tau_energy"], d["tau_order_re"], d["tau_order_abs"])


# ------------------------------------------------------------------------------- contracts and errors


def test_determinism():
    a = sample_ising(500, 20, 0.7, 123)
    assert np.array_equal(a, sample_ising(500, 20, 0.7, 123))
    assert not np.array_equal(a, sample_ising(500, 20, 0.7, 124))
    b = sample_xy(500, 20, 7, 0.7, 123)
    assert np.array_equal(b, sample_xy(500, 20, 7, 0.7, 123))
    assert not np.array_equal(b, sample_xy(500, 20, 7, 0.7, 124))
    c = sample_xy(300, 9, 3, 0.7, 5, couplings=(1.0, 0.3))
    assert np.array_equal(c, sample_xy(300, 9, 3, 0.7, 5, couplings=(1.0, 0.3)))
    m1, i1 = mcmc_sample_xy(100, 8, 3, 0.5, 1, n_chains=4)
    m2, i2 = mcmc_sample_xy(100, 8, 3, 0.5, 1, n_chains=4)
    assert np.array_equal(m1, m2) and i1 == i2
    assert not np.array_equal(m1, mcmc_sample_xy(100, 8, 3, 0.5, 2, n_chains=4)[0])


def test_dtype_and_shape():
    v = sample_ising(37, 11, 0.5, 0)
    assert v.dtype == np.int8 and v.shape == (37, 11) and set(np.unique(v)) == {-1, 1}
    x = sample_xy(37, 11, 127, 0.5, 0)
    assert x.dtype == np.int8 and x.shape == (37, 11) and x.min() >= 0 and x.max() <= 126
    x = sample_xy(500, 2, 4, 0.5, 0, kernel="short_range", couplings=(1.0, 0.5))
    assert x.shape == (500, 2) and x.min() >= 0 and x.max() <= 3
    assert sample_ising(0, 5, 0.5, 0).shape == (0, 5)
    assert sample_xy(0, 5, 3, 0.5, 0).shape == (0, 5)
    # beta = 0: independent uniform sites
    v = sample_ising(20_000, 4, 0.0, 0)
    assert abs(v.mean()) < 0.03 and abs((v[:, 0] * v[:, 1]).mean()) < 0.04


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: sample_xy(10, 5, 1, 0.5, 0), "q must be"),
        (lambda: sample_xy(10, 5, 128, 0.5, 0), "q must be <= 127"),
        (lambda: sample_xy(10, 5, 3, -0.1, 0), "beta must be"),
        (lambda: sample_ising(10, 5, -1.0, 0), "beta must be"),
        (lambda: sample_ising(10, 5, float("nan"), 0), "beta must be"),
        (lambda: sample_ising(10, 1, 0.5, 0), "n_visible must be"),
        (lambda: sample_xy(10, 1, 3, 0.5, 0), "n_visible must be"),
        (lambda: sample_ising(-1, 5, 0.5, 0), "n_samples must be"),
        (lambda: sample_ising(10, 5, 0.5, -3), "seed must be"),
        (lambda: sample_xy(10, 5, 3, 0.5, 0, kernel="gauss"), "unknown kernel"),
        (lambda: sample_xy(10, 5, 3, 0.5, 0, kernel=[1.0, 0.0]), "length q"),
        (lambda: sample_xy(10, 5, 3, 0.5, 0, couplings=()), "couplings"),
        (lambda: mcmc_sample_xy(10, 5, 1, 0.5, 0), "q must be"),
        (lambda: mcmc_sample_xy(10, 5, 3, 0.5, 0, thin_factor=1.0), "thin_factor"),
        (lambda: sample_ring(10, 5, 3, 0.5, 0, method="gibbs"), "method"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
