"""Gibbs sweeps (kernels.rbm) against the exact conditional distributions.

One sweep v -> h -> v' from a fixed configuration has the exact transition law
T(v -> v') = sum_h P(h | v) P(v' | h) (an integral over h for real-valued hidden units, done by
quadrature here). Many chains started at v give a sample of v'; a chi-square test compares its
histogram over all visible configurations with T, for every visible route (threshold table, lookup
over hidden blocks, real-valued hidden units), spin and Potts visible units, and both ways of computing
the hidden inputs: direct products, and lookups over visible blocks (taken for M > DIRECT_MAX_HIDDEN;
the cases marked `lookup` lower DIRECT_MAX_HIDDEN to M - 1, since the exact law of a sweep with 25
hidden units is out of reach). Fixed seeds make every test deterministic; the rejection
level is 1e-4, and test_chi_square_has_power shows that a 10% error in the weights is rejected.
The data term of the gradient (hidden means times rows) is checked against plain NumPy.
"""

import itertools

import numpy as np
import pytest
from scipy import integrate, special, stats

from kernels import potentials as pot
from kernels import rbm
from kernels.rbm import (
    DIRECT_MAX_HIDDEN,
    VIS_GROUPS,
    VIS_REAL,
    VIS_TABLE,
    binary_levels,
    gibbs,
    sample_hidden_bits,
    visible_route,
)
from kernels.rng import fill_lanes, lanes_buffer_size, lanes_from_stream, new_state
from kernels.train import chain_averages

P_MIN = 1e-4
C = 40000  # chains started at the same configuration


def visible_configs(N, q):
    return np.array(list(itertools.product([-1, 1] if q is None else range(q), repeat=N)))


def visible_law(W, g, h, q):
    """P(v' | h) for every visible configuration (rows of visible_configs), h (M,)."""
    N = W.shape[1]
    configs = visible_configs(N, q)
    if q is None:
        f = g + h @ W  # (N,)
        return np.prod(special.expit(2 * configs * f), axis=1)
    f = g + np.einsum("m,mia->ia", h, W)  # (N, q)
    logp = f - special.logsumexp(f, axis=1, keepdims=True)
    return np.exp(logp[np.arange(N), configs].sum(1))


def hidden_inputs(W, v, q):
    return W @ v if q is None else W[:, np.arange(W.shape[1]), v].sum(1)


def transition_law(W, g, kind, gamma, theta, v0, q=None):
    """T(v0 -> v') for every visible configuration v' (exact sum, or quadrature over one real unit)."""
    M = W.shape[0]
    I = hidden_inputs(W, v0, q)
    if kind in (pot.SPIN, pot.BERNOULLI):
        lo, hi = binary_levels(kind)
        p_hi = special.expit((hi - lo) * (I + theta))
        T = 0
        for bits in itertools.product([0, 1], repeat=M):
            b = np.array(bits)
            T = T + np.prod(np.where(b == 1, p_hi, 1 - p_hi)) * visible_law(W, g, np.where(b == 1, hi, lo), q)
        return T
    assert M == 1
    i0, ga, th = I[0], gamma[0], theta[0]
    U = (lambda h: ga * h * h / 2 + th * h) if kind == pot.GAUSSIAN else (lambda h: ga * h * h / 2 + th * abs(h))
    logZ = pot.cgf(kind, i0, ga, th)
    dens = lambda h: np.exp(-U(h) + h * i0 - logZ)  # noqa: E731
    n_out = len(visible_configs(W.shape[1], q))
    T = np.empty(n_out)
    for k in range(n_out):
        f = lambda h: dens(h) * visible_law(W, g, np.array([h]), q)[k]  # noqa: E731
        T[k] = sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-11, limit=200)[0]
                   for a, b in ((-np.inf, 0.0), (0.0, np.inf)))
    return T


def one_sweep_sample(W, g, kind, gamma, theta, v0, route, seed, q=None):
    chains = np.tile(np.asarray(v0, np.int8), (C, 1))
    s = new_state(seed)
    gibbs(W, g, kind, gamma, theta, chains, 1, s, lanes_from_stream(s), route)
    configs = visible_configs(W.shape[1], q)
    base = 2 if q is None else q
    digits = (chains + 1) // 2 if q is None else chains
    index = (digits * base ** np.arange(W.shape[1] - 1, -1, -1)).sum(1)  # itertools.product order
    counts = np.bincount(index, minlength=len(configs))
    return counts


def chi2_pvalue(counts, law):
    assert abs(law.sum() - 1) < 1e-9
    expected = law * counts.sum()
    keep = expected > 5  # pool the rare outcomes
    obs = np.append(counts[keep], counts[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    return stats.chisquare(obs, exp).pvalue


def model(rng, M, N, q=None, scale=0.6):
    if q is None:
        return rng.normal(0, scale, (M, N)), rng.normal(0, 0.4, N), rng.normal(0, 0.4, M)
    W = rng.normal(0, scale, (M, N, q))
    g = rng.normal(0, 0.4, (N, q))
    return W - W.mean(-1, keepdims=True), g - g.mean(-1, keepdims=True), rng.normal(0, 0.4, M)


CASES = [  # (visible q, hidden, M, route, lookup: hidden inputs by lookup over visible blocks)
    (None, "spin", 2, VIS_TABLE, False), (None, "spin", 2, VIS_GROUPS, False),
    (None, "bernoulli", 3, VIS_TABLE, False), (None, "bernoulli", 3, VIS_GROUPS, False),
    (None, "spin", 9, VIS_GROUPS, False), (None, "spin", 9, VIS_TABLE, False),
    (None, "spin", 9, VIS_GROUPS, True), (None, "spin", 9, VIS_TABLE, True),
    (None, "bernoulli", 3, VIS_TABLE, True), (None, "gaussian", 1, VIS_REAL, False),
    (None, "double_well", 1, VIS_REAL, False), (None, "gaussian", 1, VIS_REAL, True),
    (3, "spin", 2, VIS_TABLE, False), (3, "bernoulli", 2, VIS_GROUPS, False), (3, "spin", 9, VIS_GROUPS, False),
    (3, "spin", 9, VIS_GROUPS, True), (3, "bernoulli", 2, VIS_TABLE, True),
    (3, "gaussian", 1, VIS_REAL, False), (3, "double_well", 1, VIS_REAL, False),
]


@pytest.mark.parametrize("q,hidden,M,route,lookup", CASES)
def test_one_sweep_follows_the_exact_transition_law(q, hidden, M, route, lookup, monkeypatch):
    if lookup:
        monkeypatch.setattr(rbm, "DIRECT_MAX_HIDDEN", M - 1)
    assert rbm.direct_products(M) != lookup
    kind = pot.POTENTIALS[hidden]
    rng = np.random.default_rng(M * 10 + kind + (q or 0) + 7 * lookup)
    N = 4 if q is None else 2
    scale = 0.6 if M <= 3 else 0.25
    W, g, theta = model(rng, M, N, q, scale)
    gamma = np.full(M, 1.5)
    if hidden == "double_well":
        theta = np.full(M, -1.0)
    for start in range(2):
        v0 = visible_configs(N, q)[rng.integers(0, len(visible_configs(N, q)))]
        law = transition_law(W, g, kind, gamma, theta, v0, q)
        counts = one_sweep_sample(W, g, kind, gamma, theta, v0, route, seed=100 + start, q=q)
        assert chi2_pvalue(counts, law) > P_MIN, (v0, counts, law * C)


@pytest.mark.parametrize("M", [1, 3])
def test_zero_visible_fields_mirrored_table(M):
    """Spin hidden units and g = 0: the threshold table's upper half is the complement of its lower half."""
    rng = np.random.default_rng(70 + M)
    W, _, theta = model(rng, M, 4)
    g = np.zeros(4)
    for start, v0 in enumerate(([1, -1, -1, 1], [1, 1, 1, -1])):
        law = transition_law(W, g, pot.SPIN, np.ones(M), theta, np.array(v0))
        counts = one_sweep_sample(W, g, pot.SPIN, np.ones(M), theta, v0, VIS_TABLE, seed=300 + start)
        assert chi2_pvalue(counts, law) > P_MIN


def test_chi_square_has_power():
    rng = np.random.default_rng(0)
    W, g, theta = model(rng, 2, 4)
    v0 = np.array([1, -1, 1, 1])
    counts = one_sweep_sample(W, g, pot.SPIN, np.ones(2), theta, v0, VIS_TABLE, seed=1)
    assert chi2_pvalue(counts, transition_law(W, g, pot.SPIN, np.ones(2), theta, v0)) > P_MIN
    assert chi2_pvalue(counts, transition_law(1.1 * W, g, pot.SPIN, np.ones(2), theta, v0)) < P_MIN


def test_default_route_choice():
    assert visible_route(pot.SPIN, 5, 100, 1) == VIS_TABLE  # 2^5 patterns <= 100 chain steps
    assert visible_route(pot.SPIN, 7, 100, 1) == VIS_GROUPS
    assert visible_route(pot.SPIN, 7, 100, 20) == VIS_TABLE
    assert visible_route(pot.BERNOULLI, 20, 100, 20) == VIS_GROUPS
    assert visible_route(pot.DOUBLE_WELL, 1, 100, 20) == VIS_REAL


@pytest.mark.parametrize("hidden", ["spin", "bernoulli"])
def test_hidden_bits_are_bernoulli_with_the_sigmoid_probability(hidden):
    kind = pot.POTENTIALS[hidden]
    lo, hi = binary_levels(kind)
    I0 = np.array([-3.0, -0.7, 0.0, 0.4, 2.5], np.float32)
    theta = np.array([0.1, -0.2, 0.0, 0.3, -1.0], np.float32)
    reps = 40000
    I = np.tile(I0, (reps, 1))
    u = np.empty(lanes_buffer_size(I.size), np.uint64)
    fill_lanes(lanes_from_stream(new_state(2)), u)
    bits = np.empty(I.shape, np.uint8)
    sample_hidden_bits(I, theta, lo, hi, u.view(np.uint32), bits)
    p = special.expit((hi - lo) * (I0.astype(float) + theta))
    k = bits.sum(0)
    for j in range(len(I0)):
        pv = stats.binomtest(int(k[j]), reps, p[j]).pvalue
        assert pv > P_MIN, (j, k[j] / reps, p[j])


@pytest.mark.parametrize("q,hidden,M", [(None, "spin", 3), (None, "bernoulli", 20), (None, "bernoulli", DIRECT_MAX_HIDDEN),
                                        (None, "bernoulli", DIRECT_MAX_HIDDEN + 3), (None, "gaussian", 2),
                                        (4, "spin", 2), (4, "double_well", 3), (4, "bernoulli", 20),
                                        (4, "bernoulli", DIRECT_MAX_HIDDEN + 2)])
def test_chain_averages_equal_numpy(q, hidden, M):
    """The statistics of a set of configurations as the updates compute them (float32, lookup or
    direct products, at the real DIRECT_MAX_HIDDEN) equal the float64 NumPy formulas: <v <h|I>>, <v>,
    <-dU/dtheta>."""
    kind = pot.POTENTIALS[hidden]
    rng = np.random.default_rng(M)
    N = 37
    W, g, theta = model(rng, M, N, q, 0.3)
    gamma = np.full(M, 1.5)
    if hidden == "double_well":
        theta = np.full(M, -1.0)
    rows = (np.where(rng.random((53, N)) < 0.5, 1, -1) if q is None else rng.integers(0, q, (53, N))).astype(np.int8)
    vh, v, dth = chain_averages(W, g, theta, gamma, kind, rows)
    I = np.array([hidden_inputs(W, r, q) for r in rows])
    m = pot.cgf_prime_units(kind, I, gamma, theta)
    feats = rows.astype(float) if q is None else np.eye(q)[rows]
    np.testing.assert_allclose(vh, np.einsum("rm,r...->m...", m, feats) / len(rows), atol=2e-6)
    np.testing.assert_allclose(v, feats.mean(0), atol=1e-6)
    np.testing.assert_allclose(dth, -pot.mean_dU_dtheta_units(kind, I, gamma, theta).mean(0), atol=2e-6)
