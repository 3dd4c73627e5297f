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
from .vecmath import exp64

_FLAGS = {"contract", "reassoc", "nsz", "arcp"}  # SIMD sums: results per machine type

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


@njit(cache=True, fastmath=False)
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


@njit(cache=True, fastmath=False)
def _logsumexp(x):
    m = x.max()
    acc = 0.0
    for k in range(x.shape[0]):
        acc += np.exp(x[k] - m)
    return m + np.log(acc)


@njit(cache=True, fastmath=False)
def log_partition_spin(W, g, theta, kind):
    """log Z for spin visible units."""
    return _logsumexp(_hidden_log_weights_spin(W, g, theta, kind))


def moments_fit_in_scratch(n_hidden, n_visible):
    """Whether moments_spin_into keeps a (2^M, N + 1) scratch (else it recomputes in two passes)."""
    return (1 << n_hidden) * (n_visible + 1) <= (1 << 22)


def moments_spin(W, g, theta, kind, vh, v, h):
    """Exact model moments for spin visible units; fills vh (M,N) = <v_i h_mu>, v (N,) = <v_i>,
    h (M,) = <h_mu>, and returns log Z. Allocates its scratch (see moments_spin_into)."""
    M, N = W.shape
    T = np.empty(((1 << M) if moments_fit_in_scratch(M, N) else 0, N + 1))
    return moments_spin_into(W, g, theta, kind, vh, v, h, T)


@njit(cache=True, fastmath=_FLAGS, error_model="numpy")
def _fields_of_patterns(W, g, lo, hi, T):
    """T[c, :N] = g + sum_mu h_mu(c) W[mu] for every hidden pattern c (h_mu = hi if bit mu set, else lo):
    each pattern is the one without its highest bit plus (hi - lo) times that bit's row."""
    M, N = W.shape
    for i in range(N):
        acc = g[i]
        for mu in range(M):
            acc += lo * W[mu, i]
        T[0, i] = acc
    for c in range(1, 1 << M):
        j = 0
        while (c >> (j + 1)) > 0:
            j += 1
        src = T[c - (1 << j)]
        dst = T[c]
        row = W[j]
        for i in range(N):
            dst[i] = src[i] + (hi - lo) * row[i]


@njit(cache=True, fastmath=_FLAGS, error_model="numpy")
def _tanh_and_log_z_block(f):
    """f[i] <- tanh f[i] in place; returns (sum_i |f_i|, prod_i (1 + e^(-2|f_i|)))."""
    total = 0.0
    prod = 1.0
    for i in range(f.shape[0]):
        x = f[i]
        a = abs(x)
        e = exp64(-2.0 * a)
        r = (1.0 - e) / (1.0 + e)
        f[i] = r if x >= 0 else -r
        total += a
        prod *= 1.0 + e
    return total, prod


@njit(cache=True, fastmath=_FLAGS, error_model="numpy")
def _tanh_and_log_z(f):
    """f[i] <- tanh f[i] in place; returns sum_i log(2 cosh f_i) = sum_i |f_i| + log prod_i (1 + e^(-2|f_i|)).

    The product of factors in (1, 2] is taken in blocks of 512 sites (no overflow), one log a block."""
    N = f.shape[0]
    total = 0.0
    for i0 in range(0, N, 512):
        a, prod = _tanh_and_log_z_block(f[i0:min(i0 + 512, N)])
        total += a + np.log(prod)
    return total


@njit(cache=True, fastmath=_FLAGS, error_model="numpy")
def moments_spin_into(W, g, theta, kind, vh, v, h, T):
    """Exact model moments for spin visible units; fills vh (M,N) = <v_i h_mu>, v (N,) = <v_i>,
    h (M,) = <h_mu>, and returns log Z. W (M, N), g (N,), theta (M,) float64.

    T: float64 scratch (2^M, N + 1), or (0, N + 1) to recompute in two passes (large 2^M N). For
    every hidden state c the visible fields f(c) (built pattern by pattern) become tanh f(c) in place,
    and log P(c) = theta.h(c) + sum_i log 2cosh f_i(c) goes to T[c, N]. With spin hidden units and
    g = 0 the state with every h flipped has fields -f: half of the states are mirrored.
    """
    M, N = W.shape
    n_conf = 1 << M
    if T.shape[0] < n_conf:
        return _moments_spin_two_pass(W, g, theta, kind, vh, v, h)
    lo = -1.0 if kind == pot.SPIN else 0.0
    mirror = kind == pot.SPIN
    for i in range(N):
        if g[i] != 0.0:
            mirror = False
            break
    _fields_of_patterns(W, g, lo, 1.0, T)
    full = n_conf - 1
    for c in range(n_conf):
        row = T[c]
        if mirror and c > (full ^ c):
            src = T[full ^ c]
            for i in range(N):
                row[i] = -src[i]
            lw = src[N]
            for mu in range(M):  # remove the mirrored state's theta term
                lw -= theta[mu] * binary_hidden_value(kind, full ^ c, mu)
        else:
            lw = _tanh_and_log_z(row[:N])
        for mu in range(M):
            lw += theta[mu] * binary_hidden_value(kind, c, mu)
        row[N] = lw
    m = -np.inf
    for c in range(n_conf):
        m = max(m, T[c, N])
    acc = 0.0
    for c in range(n_conf):
        acc += np.exp(T[c, N] - m)
    logZ = m + np.log(acc)
    vh[:, :] = 0.0
    v[:] = 0.0
    h[:] = 0.0
    for c in range(n_conf):
        if mirror and c > (full ^ c):
            continue
        p = np.exp(T[c, N] - logZ)
        # a mirrored pair (c, ~c) has T[~c] = -T[c] and h(~c) = -h(c): one pass with combined weights
        pv, ph = p, p
        if mirror:
            pm = np.exp(T[full ^ c, N] - logZ)
            pv, ph = p - pm, p + pm
        t = T[c]
        for i in range(N):
            v[i] += pv * t[i]
        for mu in range(M):
            hm = binary_hidden_value(kind, c, mu)
            h[mu] += pv * hm
            a = ph * hm
            vm = vh[mu]
            for i in range(N):
                vm[i] += a * t[i]
    return logZ


@njit(cache=True, fastmath=False)
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


@njit(cache=True, fastmath=False)
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


@njit(cache=True, fastmath=False)
def log_partition_potts(W, g, theta, kind):
    """log Z for Potts visible units."""
    return _logsumexp(_hidden_log_weights_potts(W, g, theta, kind))


@njit(cache=True, fastmath=False)
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
