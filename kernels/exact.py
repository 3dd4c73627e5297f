"""Exact model averages of an RBM with spin or bernoulli hidden units, by summing over 2^M hidden states.

    P(h) ∝ exp(sum_mu theta_mu h_mu) prod_i Z_i(h),   Z_i(h) = sum_{v_i} exp(g_i(v_i) + sum_mu w_{i mu}(v_i) h_mu)
    log Z = logsumexp_h [ sum_mu theta_mu h_mu + sum_i log Z_i(h) ]
    <v_i h_mu>_model = sum_h P(h) h_mu <v_i | h>

Cost 2^M * N * M (times q for Potts visible units), independent of the number of samples.
"""

import numpy as np
from numba import njit

from . import potentials as pot
from .rbm import binary_hidden_value

MAX_EXACT_HIDDEN = 20
"""Largest number of hidden units for which the 2^M sum is offered (2^20 hidden states)."""


def check_exact_possible(kind, n_hidden):
    """Raise ValueError, saying why, when the exact negative phase is unavailable."""
    if kind not in (pot.SPIN, pot.BERNOULLI):
        raise ValueError("the exact negative phase needs spin or bernoulli hidden units "
                         "(a sum over the 2^M hidden states); use method 'pcd' for real-valued units")
    if n_hidden > MAX_EXACT_HIDDEN:
        raise ValueError(f"the exact negative phase sums over 2^M hidden states: M = {n_hidden} gives "
                         f"2^{n_hidden} states, more than the limit 2^{MAX_EXACT_HIDDEN}; "
                         "use method 'pcd' or fewer hidden units")


@njit(cache=True, inline="always")
def _log2cosh(x):
    a = abs(x)
    return a + np.log1p(np.exp(-2.0 * a))


@njit(cache=True)
def _hidden_log_weights_spin(W, g, theta, kind):
    M, N = W.shape
    n_conf = 1 << M
    logw = np.empty(n_conf)
    for c in range(n_conf):
        acc = 0.0
        for mu in range(M):
            acc += theta[mu] * binary_hidden_value(kind, c, mu)
        for i in range(N):
            f = g[i]
            for mu in range(M):
                f += W[mu, i] * binary_hidden_value(kind, c, mu)
            acc += _log2cosh(f)
        logw[c] = acc
    return logw


@njit(cache=True)
def _logsumexp(x):
    m = x.max()
    acc = 0.0
    for k in range(x.shape[0]):
        acc += np.exp(x[k] - m)
    return m + np.log(acc)


@njit(cache=True)
def log_partition_spin(W, g, theta, kind):
    """log Z for spin visible units."""
    return _logsumexp(_hidden_log_weights_spin(W, g, theta, kind))


@njit(cache=True)
def _tanh_and_log2cosh(f):
    """(tanh f, log 2cosh f) from one exponential."""
    a = abs(f)
    e = np.exp(-2.0 * a)
    t = (1.0 - e) / (1.0 + e)
    return (t if f >= 0 else -t), a + np.log1p(e)


@njit(cache=True)
def moments_spin(W, g, theta, kind, vh, v, h):
    """Exact model moments for spin visible units; fills vh (M,N) = <v_i h_mu>, v (N,) = <v_i>,
    h (M,) = <h_mu>, and returns log Z.

    One pass computes, for every hidden state c, the visible fields f_i(c) = g_i + sum_mu W[mu,i] h_mu(c),
    their tanh (kept) and log 2cosh (summed into log P(c)). With spin hidden units and g = 0 the
    state with every h flipped has fields -f, so half of the states are mirrored, not recomputed.
    """
    M, N = W.shape
    n_conf = 1 << M
    if n_conf * N > (1 << 22):  # keep the scratch small: recompute instead (two passes)
        return _moments_spin_two_pass(W, g, theta, kind, vh, v, h)
    mirror = kind == pot.SPIN
    for i in range(N):
        if g[i] != 0.0:
            mirror = False
            break
    T = np.empty((n_conf, N))
    L = np.empty(n_conf)
    logw = np.empty(n_conf)
    f = np.empty(N)
    full = n_conf - 1
    for c in range(n_conf):
        if mirror and c > (full ^ c):
            src = full ^ c
            for i in range(N):
                T[c, i] = -T[src, i]
            L[c] = L[src]
        else:
            for i in range(N):
                f[i] = g[i]
            for mu in range(M):
                hm = binary_hidden_value(kind, c, mu)
                for i in range(N):
                    f[i] += W[mu, i] * hm
            acc = 0.0
            for i in range(N):
                t, lc = _tanh_and_log2cosh(f[i])
                T[c, i] = t
                acc += lc
            L[c] = acc
        lw = L[c]
        for mu in range(M):
            lw += theta[mu] * binary_hidden_value(kind, c, mu)
        logw[c] = lw
    logZ = _logsumexp(logw)
    vh[:, :] = 0.0
    v[:] = 0.0
    h[:] = 0.0
    for c in range(n_conf):
        p = np.exp(logw[c] - logZ)
        for i in range(N):
            v[i] += p * T[c, i]
        for mu in range(M):
            ph = p * binary_hidden_value(kind, c, mu)
            h[mu] += ph
            for i in range(N):
                vh[mu, i] += ph * T[c, i]
    return logZ


@njit(cache=True)
def _moments_spin_two_pass(W, g, theta, kind, vh, v, h):
    M, N = W.shape
    logw = _hidden_log_weights_spin(W, g, theta, kind)
    logZ = _logsumexp(logw)
    vh[:, :] = 0.0
    v[:] = 0.0
    h[:] = 0.0
    hv = np.empty(M)
    for c in range(logw.shape[0]):
        p = np.exp(logw[c] - logZ)
        for mu in range(M):
            hv[mu] = binary_hidden_value(kind, c, mu)
            h[mu] += p * hv[mu]
        for i in range(N):
            f = g[i]
            for mu in range(M):
                f += W[mu, i] * hv[mu]
            t = p * np.tanh(f)
            v[i] += t
            for mu in range(M):
                vh[mu, i] += t * hv[mu]
    return logZ


@njit(cache=True)
def _hidden_log_weights_potts(W, g, theta, kind):
    M, N, q = W.shape
    n_conf = 1 << M
    logw = np.empty(n_conf)
    f = np.empty(q)
    for c in range(n_conf):
        acc = 0.0
        for mu in range(M):
            acc += theta[mu] * binary_hidden_value(kind, c, mu)
        for i in range(N):
            for a in range(q):
                f[a] = g[i, a]
                for mu in range(M):
                    f[a] += W[mu, i, a] * binary_hidden_value(kind, c, mu)
            acc += _logsumexp(f)
        logw[c] = acc
    return logw


@njit(cache=True)
def log_partition_potts(W, g, theta, kind):
    """log Z for Potts visible units."""
    return _logsumexp(_hidden_log_weights_potts(W, g, theta, kind))


@njit(cache=True)
def moments_potts(W, g, theta, kind, vh, v, h):
    """Exact model moments for Potts visible units; fills vh (M,N,q) = <[x_i=a] h_mu>,
    v (N,q) = <[x_i=a]>, h (M,) = <h_mu>, and returns log Z."""
    M, N, q = W.shape
    logw = _hidden_log_weights_potts(W, g, theta, kind)
    logZ = _logsumexp(logw)
    vh[:, :, :] = 0.0
    v[:, :] = 0.0
    h[:] = 0.0
    hv = np.empty(M)
    f = np.empty(q)
    for c in range(logw.shape[0]):
        p = np.exp(logw[c] - logZ)
        for mu in range(M):
            hv[mu] = binary_hidden_value(kind, c, mu)
            h[mu] += p * hv[mu]
        for i in range(N):
            m = -np.inf
            for a in range(q):
                f[a] = g[i, a]
                for mu in range(M):
                    f[a] += W[mu, i, a] * hv[mu]
                if f[a] > m:
                    m = f[a]
            tot = 0.0
            for a in range(q):
                f[a] = np.exp(f[a] - m)
                tot += f[a]
            for a in range(q):
                t = p * f[a] / tot
                v[i, a] += t
                for mu in range(M):
                    vh[mu, i, a] += t * hv[mu]
    return logZ
