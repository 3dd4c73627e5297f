"""Exact negative phase and log Z against brute-force enumeration over all visible configurations."""

import itertools

import numpy as np
import pytest

from kernels import exact, potentials as pot
from kernels.rbm import VIS_GROUPS, VIS_REAL, VIS_TABLE, gibbs
from kernels.rng import lanes_from_stream, new_state
from kernels.train import TrainConfig, TrainState, chain_averages, exact_loglik


def brute_force(W, g, theta, gamma, kind, q=None):
    """All visible configurations: log Z, <v_i Gamma'(I_mu)>, <v_i>, <Gamma'(I_mu)>, <-dU/dtheta>.

    For Potts (q given) the visible statistics are one-hot: <[x_i=a] Gamma'(I_mu)> etc.
    """
    M, N = W.shape[:2]
    if q is None:
        V = np.array(list(itertools.product([-1, 1], repeat=N)), dtype=float)
        I = V @ W.T
        feats = V
        lin = V @ g
    else:
        X = np.array(list(itertools.product(range(q), repeat=N)))
        onehot = np.eye(q)[X]  # (S, N, q)
        I = np.einsum("sia,mia->sm", onehot, W)
        feats = onehot.reshape(len(X), N * q)
        lin = np.einsum("sia,ia->s", onehot, g)
    gamma, theta = np.asarray(gamma, float), np.asarray(theta, float)
    logp = lin + pot.cgf_units(kind, I, gamma, theta).sum(axis=1)
    logZ = np.logaddexp.reduce(logp)
    P = np.exp(logp - logZ)
    T = pot.cgf_prime_units(kind, I, gamma, theta)
    dU = pot.mean_dU_dtheta_units(kind, I, gamma, theta)
    vh = np.einsum("s,sm,sf->mf", P, T, feats)
    v = P @ feats
    h = P @ T
    mdu = P @ dU
    if q is not None:
        vh = vh.reshape(M, N, q)
        v = v.reshape(N, q)
    return logZ, vh, v, h, mdu, logp


def random_params(rng, M, N, q=None, scale=0.5):
    if q is None:
        return rng.normal(0, scale, (M, N)), rng.normal(0, 0.3, N), rng.normal(0, 0.3, M)
    W = rng.normal(0, scale, (M, N, q))
    g = rng.normal(0, 0.3, (N, q))
    return W - W.mean(-1, keepdims=True), g - g.mean(-1, keepdims=True), rng.normal(0, 0.3, M)


@pytest.mark.parametrize("hidden", ["spin", "bernoulli"])
@pytest.mark.parametrize("M", [1, 2, 3])
def test_exact_spin_visible_matches_enumeration(hidden, M):
    kind = pot.POTENTIALS[hidden]
    rng = np.random.default_rng(10 * M + kind)
    N = 7
    W, g, th = random_params(rng, M, N)
    gamma = np.ones(M)
    logZ_bf, vh_bf, v_bf, h_bf, _, _ = brute_force(W, g, th, gamma, kind)
    vh, v, h = np.empty((M, N)), np.empty(N), np.empty(M)
    logZ = exact.moments_spin(W, g, th, kind, vh, v, h)
    assert logZ == pytest.approx(logZ_bf, rel=1e-12, abs=1e-10)
    assert exact.log_partition_spin(W, g, th, kind) == pytest.approx(logZ_bf, rel=1e-12)
    np.testing.assert_allclose(vh, vh_bf, atol=1e-12)
    np.testing.assert_allclose(v, v_bf, atol=1e-12)
    np.testing.assert_allclose(h, h_bf, atol=1e-12)


@pytest.mark.parametrize("M", [1, 2, 3, 4])
@pytest.mark.parametrize("scratch", [True, False])
def test_exact_zero_fields_mirrored_and_two_pass_paths(M, scratch):
    """g = 0 with spin hidden units takes the mirrored-pairs path (theta still non-zero); without
    scratch the two-pass path recomputes the fields. Both equal the enumeration."""
    rng = np.random.default_rng(40 + M)
    N = 7
    W, _, th = random_params(rng, M, N)
    g = np.zeros(N)
    logZ_bf, vh_bf, v_bf, h_bf, _, _ = brute_force(W, g, th, np.ones(M), pot.SPIN)
    vh, v, h = np.empty((M, N)), np.empty(N), np.empty(M)
    T = np.empty(((1 << M) if scratch else 0, N + 1))
    logZ = exact.moments_spin_into(W, g, th, pot.SPIN, vh, v, h, T)
    assert logZ == pytest.approx(logZ_bf, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(vh, vh_bf, atol=1e-12)
    np.testing.assert_allclose(v, v_bf, atol=1e-12)
    np.testing.assert_allclose(h, h_bf, atol=1e-12)


@pytest.mark.parametrize("hidden", ["spin", "bernoulli"])
@pytest.mark.parametrize("M", [1, 2, 3])
def test_exact_potts_visible_matches_enumeration(hidden, M):
    kind = pot.POTENTIALS[hidden]
    rng = np.random.default_rng(100 + 10 * M + kind)
    N, q = 4, 3
    W, g, th = random_params(rng, M, N, q)
    gamma = np.ones(M)
    logZ_bf, vh_bf, v_bf, h_bf, _, _ = brute_force(W, g, th, gamma, kind, q=q)
    vh, v, h = np.empty((M, N, q)), np.empty((N, q)), np.empty(M)
    logZ = exact.moments_potts(W, g, th, kind, vh, v, h)
    assert logZ == pytest.approx(logZ_bf, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(vh, vh_bf, atol=1e-12)
    np.testing.assert_allclose(v, v_bf, atol=1e-12)
    np.testing.assert_allclose(h, h_bf, atol=1e-12)


def test_single_unit_identity_tanh():
    """M = 1, spin visible and hidden, zero fields: <v_i tanh(I)>_model = tanh(w_i)."""
    w = np.linspace(-2.0, 2.0, 50)[None, :]
    vh, v, h = np.empty((1, 50)), np.empty(50), np.empty(1)
    exact.moments_spin(w, np.zeros(50), np.zeros(1), pot.SPIN, vh, v, h)
    np.testing.assert_allclose(vh[0], np.tanh(w[0]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v, 0.0, atol=1e-12)


@pytest.mark.parametrize("visible,hidden", [("spin", "spin"), ("spin", "bernoulli"), ("potts", "spin"),
                                            ("potts", "bernoulli")])
def test_exact_loglik_matches_enumeration(visible, hidden):
    rng = np.random.default_rng(7)
    q = 3 if visible == "potts" else None
    N, M = (4, 2) if q else (6, 2)
    W, g, th = random_params(rng, M, N, q)
    cfg = TrainConfig(visible=visible, q=q or 2, hidden=hidden, n_hidden=M, method="exact", fields="learned")
    state = TrainState(weights=W, visible_fields=g, theta=th, gamma=np.ones(M),
                       chains=np.zeros((0, N), np.int8), rng=new_state(0))
    kind = pot.POTENTIALS[hidden]
    logZ_bf, _, _, _, _, logp = brute_force(W, g, th, np.ones(M), kind, q=q)
    if q is None:
        data = np.array(list(itertools.product([-1, 1], repeat=N)), dtype=np.int8)[::3]
        idx = np.arange(0, 2 ** N, 3)
    else:
        data = np.array(list(itertools.product(range(q), repeat=N)), dtype=np.int8)[::5]
        idx = np.arange(0, q ** N, 5)
    assert exact_loglik(cfg, state, data) == pytest.approx(np.mean(logp[idx]) - logZ_bf, rel=1e-12)


def _pcd_average(W, g, th, gamma, kind, chains, s, lanes, n_rounds, k, route):
    """Average the PCD model-term estimator over n_rounds successive updates (parameters fixed)."""
    acc = None
    for _ in range(n_rounds):
        gibbs(W, g, kind, gamma, th, chains, k, s, lanes, route)
        cur = chain_averages(W, g, th, gamma, kind, chains)
        acc = cur if acc is None else tuple(a + c for a, c in zip(acc, cur))
    return tuple(a / n_rounds for a in acc)


@pytest.mark.parametrize("visible,hidden,route", [
    ("spin", "spin", VIS_GROUPS), ("spin", "bernoulli", VIS_GROUPS), ("spin", "gaussian", VIS_REAL),
    ("spin", "double_well", VIS_REAL), ("potts", "spin", VIS_GROUPS), ("potts", "double_well", VIS_REAL),
    ("spin", "spin", VIS_TABLE), ("spin", "bernoulli", VIS_TABLE), ("potts", "spin", VIS_TABLE),
    ("potts", "bernoulli", VIS_TABLE), ("potts", "gaussian", VIS_REAL), ("potts", "bernoulli", VIS_GROUPS),
])
def test_pcd_model_term_matches_exact(visible, hidden, route):
    """PCD-k chains (after burn-in) estimate the model term of the gradient within sampling noise;
    the reference is the exact average over all visible configurations (any hidden potential)."""
    kind = pot.POTENTIALS[hidden]
    rng = np.random.default_rng(3)
    q = 3 if visible == "potts" else None
    N, M = (4, 2) if q else (6, 2)
    W, g, th = random_params(rng, M, N, q, scale=0.4)
    gamma = np.full(M, 2.0)
    if hidden == "double_well":
        th = np.full(M, -1.0)
    _, vh_bf, v_bf, _, mdu_bf, _ = brute_force(W, g, th, gamma, kind, q=q)
    C, k, rounds = 500, 5, 40
    s = new_state(11)
    lanes = lanes_from_stream(s)
    if q is None:
        chains = np.where(rng.random((C, N)) < 0.5, 1, -1).astype(np.int8)
    else:
        chains = rng.integers(0, q, (C, N)).astype(np.int8)
    gibbs(W, g, kind, gamma, th, chains, 50, s, lanes, route)
    negW, negg, negth = _pcd_average(W, g, th, gamma, kind, chains, s, lanes, rounds, k, route)
    # rounds are nearly independent after k sweeps; per-sample std <= max|Gamma'| ~ a few
    se = 2.5 / np.sqrt(C * rounds)
    assert np.max(np.abs(negW - vh_bf)) < 5 * se
    assert np.max(np.abs(negg - v_bf)) < 5 * se
    assert np.max(np.abs(negth - (-mdu_bf))) < 5 * se
    # and the estimator is not trivially close: the averages themselves are of order one
    assert np.max(np.abs(vh_bf)) > 10 * se


def test_exact_refused_when_too_many_hidden_states():
    with pytest.raises(ValueError, match="2\\^21"):
        TrainConfig(method="exact", n_hidden=21)
    with pytest.raises(ValueError, match="spin or bernoulli"):
        TrainConfig(method="exact", hidden="gaussian")
