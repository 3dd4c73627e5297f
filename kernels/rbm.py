"""RBM conditionals and Gibbs steps (docs/physics.md section 3), one chain at a time.

Parameters are plain arrays:
    spin visible   v_i in {-1,+1} (int8):  W (M, N), g (N,)
    Potts visible  x_i in {0..q-1} (int8): W (M, N, q), g (N, q) (zero-sum gauge over the last axis)
    hidden units: one potential `kind` (kernels.potentials codes) with per-unit gamma (M,), theta (M,)

Hidden input I_mu = sum_i w_{i mu}(v_i); P(h_mu | v) ∝ exp(-U(h_mu) + h_mu I_mu);
P(v_i | h) ∝ exp(g_i(v_i) + sum_mu w_{i mu}(v_i) h_mu).
"""

import numpy as np
from numba import njit

from . import potentials as pot
from .rng import next_u64, uniform

_TWO_M32 = 2.3283064365386963e-10  # 2**-32


@njit(cache=True, inline="always")
def _u32(x):
    """Uniform float in [0,1) from the top 32 bits of a 64-bit draw (two per draw)."""
    return np.float64(x >> np.uint64(32)) * _TWO_M32


# SIMD reductions: `reassoc` lets LLVM vectorize these sums. The summation order then depends on the
# CPU's vector width, so results are bit-identical for a given machine type and software stack.
@njit(cache=True, fastmath={"reassoc"})
def dot_spin(W, mu, v):
    """sum_i W[mu, i] v[i]."""
    acc = 0.0
    for i in range(v.shape[0]):
        acc += W[mu, i] * v[i]
    return acc


@njit(cache=True, fastmath={"reassoc"})
def dot_potts(W, mu, x):
    """sum_i W[mu, i, x[i]]."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc += W[mu, i, x[i]]
    return acc


@njit(cache=True)
def hidden_inputs_spin(W, v, out):
    """out[mu] = sum_i W[mu, i] v[i] for one spin configuration v (int8 +-1)."""
    for mu in range(W.shape[0]):
        out[mu] = dot_spin(W, mu, v)


@njit(cache=True)
def hidden_inputs_potts(W, x, out):
    """out[mu] = sum_i W[mu, i, x[i]] for one Potts configuration x (int8 states)."""
    for mu in range(W.shape[0]):
        out[mu] = dot_potts(W, mu, x)


@njit(cache=True)
def sample_hidden(kind, I, gamma, theta, s, h):
    """h[mu] ~ P(h_mu | I_mu) for every hidden unit."""
    for mu in range(I.shape[0]):
        h[mu] = pot.sample(kind, I[mu], gamma[mu], theta[mu], s)


@njit(cache=True)
def sample_visible_spin(W, g, h, s, field, v):
    """v[i] = +1 with probability 1/(1 + exp(-2 (g_i + sum_mu W[mu,i] h_mu))), else -1.

    `field` (N,) is scratch. Two sites per 64-bit draw (32-bit resolution of each probability).
    """
    M, N = W.shape
    for i in range(N):
        field[i] = g[i]
    for mu in range(M):
        hm = h[mu]
        for i in range(N):
            field[i] += W[mu, i] * hm
    i = 0
    while i < N:
        r = next_u64(s)
        u0 = np.float64(r & np.uint64(0xFFFFFFFF)) * _TWO_M32
        u1 = _u32(r)
        # v = +1 iff u < sigmoid(2 f)  <=>  u * (1 + exp(-2 f)) < 1
        v[i] = 1 if u0 * (1.0 + np.exp(-2.0 * field[i])) < 1.0 else -1
        if i + 1 < N:
            v[i + 1] = 1 if u1 * (1.0 + np.exp(-2.0 * field[i + 1])) < 1.0 else -1
        i += 2


@njit(cache=True)
def sample_visible_potts(W, g, h, s, field, x):
    """x[i] ~ softmax_a(g[i,a] + sum_mu W[mu,i,a] h_mu). `field` (N, q) is scratch."""
    M, N, q = W.shape
    for i in range(N):
        for a in range(q):
            field[i, a] = g[i, a]
    for mu in range(M):
        hm = h[mu]
        for i in range(N):
            for a in range(q):
                field[i, a] += W[mu, i, a] * hm
    for i in range(N):
        m = field[i, 0]
        for a in range(1, q):
            if field[i, a] > m:
                m = field[i, a]
        tot = 0.0
        for a in range(q):
            e = np.exp(field[i, a] - m)
            field[i, a] = e
            tot += e
        u = uniform(s) * tot
        c = 0.0
        state = q - 1
        for a in range(q):
            c += field[i, a]
            if u < c:
                state = a
                break
        x[i] = state


@njit(cache=True)
def gibbs_spin(W, g, kind, gamma, theta, chains, k, s):
    """Advance every chain (rows of int8 `chains`) by k sweeps v -> h -> v, in place."""
    M, N = W.shape
    I = np.empty(M)
    h = np.empty(M)
    field = np.empty(N)
    for c in range(chains.shape[0]):
        v = chains[c]
        for _ in range(k):
            hidden_inputs_spin(W, v, I)
            sample_hidden(kind, I, gamma, theta, s, h)
            sample_visible_spin(W, g, h, s, field, v)


@njit(cache=True)
def gibbs_potts(W, g, kind, gamma, theta, chains, k, s):
    """Advance every Potts chain by k sweeps x -> h -> x, in place."""
    M, N, q = W.shape
    I = np.empty(M)
    h = np.empty(M)
    field = np.empty((N, q))
    for c in range(chains.shape[0]):
        x = chains[c]
        for _ in range(k):
            hidden_inputs_potts(W, x, I)
            sample_hidden(kind, I, gamma, theta, s, h)
            sample_visible_potts(W, g, h, s, field, x)


# --- binary hidden units: P(v | h) takes only 2^M values, tabulated once per parameter update ---

MAX_TABLE_HIDDEN = 10


def table_pays(kind, n_hidden, n_chains, k):
    """Whether tabulating P(v_i | h) over the 2^M hidden states beats computing it per chain step."""
    # a table entry and a chain-site update cost about the same (M multiply-adds and one exp)
    return (kind in (pot.SPIN, pot.BERNOULLI) and n_hidden <= MAX_TABLE_HIDDEN
            and (1 << n_hidden) <= n_chains * k)


@njit(cache=True, inline="always")
def binary_hidden_value(kind, c, mu):
    """Value of hidden unit mu in the hidden configuration with bit pattern c (spin: +-1, bernoulli: 0/1)."""
    bit = (c >> mu) & 1
    if kind == pot.SPIN:
        return 2.0 * bit - 1.0
    return np.float64(bit)


@njit(cache=True)
def visible_table_spin(W, g, kind, thr):
    """thr[c, i] = floor(2^32 P(v_i = +1 | h(c))) for every hidden configuration c."""
    M, N = W.shape
    for c in range(1 << M):
        for i in range(N):
            f = g[i]
            for mu in range(M):
                f += W[mu, i] * binary_hidden_value(kind, c, mu)
            thr[c, i] = np.uint64(4294967296.0 / (1.0 + np.exp(-2.0 * f)))


@njit(cache=True)
def visible_table_potts(W, g, kind, thr):
    """thr[c, i, a] = floor(2^32 P(x_i <= a | h(c))) for a < q-1 (cumulative; the last state takes the rest)."""
    M, N, q = W.shape
    f = np.empty(q)
    for c in range(1 << M):
        for i in range(N):
            m = -np.inf
            for a in range(q):
                f[a] = g[i, a]
                for mu in range(M):
                    f[a] += W[mu, i, a] * binary_hidden_value(kind, c, mu)
                m = max(m, f[a])
            tot = 0.0
            for a in range(q):
                f[a] = np.exp(f[a] - m)
                tot += f[a]
            cum = 0.0
            for a in range(q - 1):
                cum += f[a]
                thr[c, i, a] = np.uint64(4294967296.0 * min(cum / tot, 1.0))


@njit(cache=True, inline="always")
def _hidden_config(W, kind, gamma, theta, s, v, potts):
    c = 0
    for mu in range(W.shape[0]):
        I = dot_potts(W, mu, v) if potts else dot_spin(W, mu, v)
        if pot.sample(kind, I, gamma[mu], theta[mu], s) > 0.0:
            c |= 1 << mu
    return c


@njit(cache=True)
def gibbs_spin_table(W, kind, gamma, theta, chains, k, s, thr):
    """gibbs_spin for binary hidden units, with P(v | h) read from `visible_table_spin`."""
    N = chains.shape[1]
    mask = np.uint64(0xFFFFFFFF)
    for ch in range(chains.shape[0]):
        v = chains[ch]
        for _ in range(k):
            c = _hidden_config(W, kind, gamma, theta, s, v, False)
            row = thr[c]
            i = 0
            while i + 1 < N:
                r = next_u64(s)
                v[i] = 1 if (r & mask) < row[i] else -1
                v[i + 1] = 1 if (r >> np.uint64(32)) < row[i + 1] else -1
                i += 2
            if i < N:
                v[i] = 1 if (next_u64(s) & mask) < row[i] else -1


@njit(cache=True)
def gibbs_potts_table(W, kind, gamma, theta, chains, k, s, thr):
    """gibbs_potts for binary hidden units, with cumulative P(x_i | h) read from `visible_table_potts`."""
    N = chains.shape[1]
    qm1 = thr.shape[2]
    mask = np.uint64(0xFFFFFFFF)
    for ch in range(chains.shape[0]):
        x = chains[ch]
        for _ in range(k):
            c = _hidden_config(W, kind, gamma, theta, s, x, True)
            for i in range(N):
                r = next_u64(s) & mask
                a = 0
                while a < qm1 and r >= thr[c, i, a]:
                    a += 1
                x[i] = a


@njit(cache=True)
def log_p_unnorm_spin(W, g, kind, gamma, theta, data):
    """log P(v) + log Z = sum_i g_i v_i + sum_mu Gamma_mu(I_mu(v)), for each row of `data`."""
    n, N = data.shape
    M = W.shape[0]
    out = np.empty(n)
    I = np.empty(M)
    for b in range(n):
        v = data[b]
        hidden_inputs_spin(W, v, I)
        acc = 0.0
        for i in range(N):
            acc += g[i] * v[i]
        for mu in range(M):
            acc += pot.cgf(kind, I[mu], gamma[mu], theta[mu])
        out[b] = acc
    return out


@njit(cache=True)
def log_p_unnorm_potts(W, g, kind, gamma, theta, data):
    """log P(x) + log Z = sum_i g_i(x_i) + sum_mu Gamma_mu(I_mu(x)), for each row of `data`."""
    n, N = data.shape
    M = W.shape[0]
    out = np.empty(n)
    I = np.empty(M)
    for b in range(n):
        x = data[b]
        hidden_inputs_potts(W, x, I)
        acc = 0.0
        for i in range(N):
            acc += g[i, x[i]]
        for mu in range(M):
            acc += pot.cgf(kind, I[mu], gamma[mu], theta[mu])
        out[b] = acc
    return out
