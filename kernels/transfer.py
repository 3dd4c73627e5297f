"""Angular kernels, transfer matrices and exact ring correlations (docs/physics.md 2.1-2.3).

Conventions. States x in {0..q-1}; an angular kernel is a float64[q] array K with K[d] the coupling of
two states whose difference is d mod q, so every model here is invariant under a global shift of all x
(the transfer matrices are circulant). The Ising ring is q = 2 with v = 1 - 2x and K(d) = cos(pi d).

Nearest-neighbour ring (R = 1), P(x) ∝ exp(beta sum_i K(x_i - x_{i+1})):

    T(a, b) = exp(beta K((a - b) mod q)),   Z = Tr T^N
    lambda_k = sum_d exp(beta K(d)) exp(-2 pi i k d / q),  t_k = lambda_k / lambda_0
    <exp(2 pi i m (x_i - x_{i+d}) / q)> = Tr(D^m T^d D^-m T^(N-d)) / Tr T^N
                                        = sum_k t_k^(N-d) t_(k-m)^d / sum_k t_k^N,   D = diag(exp(2 pi i a/q))

For a symmetric kernel (K(d) = K(q-d), true of all named kernels) lambda_k is real and
lambda_(k-m) may be replaced by lambda_(k+m), which is the form of PHYSICS 2.2. Powers are taken of
t_k (|t_k| <= 1 by Perron-Frobenius) so nothing overflows for rings of hundreds of sites.

Range-R ring, E = -beta sum_i sum_{r=1..R} J_r K(x_i - x_{i+r}): block states B_i = (x_i, ..., x_{i+R-1})
are coded as code(B) = sum_k x_{i+k} q^k (k = 0..R-1), S = q^R of them. The block transfer matrix is
nonzero only from B to its shift B' = (x_{i+1}, ..., x_{i+R}), code(B') = code(B) // q + x_{i+R} q^(R-1),
with weight W[code(B), x_{i+R}] = exp(beta sum_r J_r K(x_i - x_{i+r})) and Z = Tr T^N (a closed walk of
length N on this de Bruijn graph is exactly one N-periodic configuration, for any N >= 1).
"""

import numpy as np
from numba import njit

KERNEL_NAMES = ("cosine", "potts", "short_range")


def _check_q(q):
    if isinstance(q, bool) or int(q) != q or q < 2:
        raise ValueError(f"q must be an integer >= 2, got {q!r}")
    return int(q)


def _check_beta(beta):
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    return beta


def angular_kernel(name, q):
    """float64[q] kernel K(d), d = 0..q-1.

    "cosine": cos(2 pi d / q); "potts": [d == 0]; "short_range": [min(d, q - d) <= 1] (constant, hence no
    interaction, for q <= 3). A 1-D array-like of length q is accepted as a custom kernel and returned as
    a float64 copy.
    """
    q = _check_q(q)
    d = np.arange(q)
    if isinstance(name, str):
        if name == "cosine":
            return np.cos(2.0 * np.pi * d / q)
        if name == "potts":
            return (d == 0).astype(np.float64)
        if name == "short_range":
            return (np.minimum(d, q - d) <= 1).astype(np.float64)
        raise ValueError(f"unknown kernel {name!r}; expected one of {KERNEL_NAMES} or an array of length q")
    k = np.array(name, dtype=np.float64)
    if k.shape != (q,):
        raise ValueError(f"a custom kernel must be a 1-D array of length q={q}, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("a custom kernel must be finite")
    return k


def is_symmetric_kernel(kernel):
    """True when K(d) = K(q - d) for all d (then T is symmetric and every lambda_k is real)."""
    k = np.asarray(kernel, dtype=np.float64)
    return bool(np.allclose(k, np.roll(k[::-1], 1), rtol=0.0, atol=1e-14 * max(1.0, np.abs(k).max())))


def transfer_matrix(kernel, beta):
    """q x q transfer matrix T(a, b) = exp(beta K((a - b) mod q))."""
    k = np.asarray(kernel, dtype=np.float64)
    q = k.size
    a = np.arange(q)
    return np.exp(beta * k[(a[:, None] - a[None, :]) % q])


def circulant_eigenvalues(kernel, beta):
    """lambda_k = sum_d exp(beta K(d)) exp(-2 pi i k d / q), eigenvalue of T on f_k(a) = exp(2 pi i k a/q).

    Real (the cosine sum of PHYSICS 2.2) for a symmetric kernel, complex otherwise.
    """
    k = np.asarray(kernel, dtype=np.float64)
    lam = np.fft.fft(np.exp(beta * k))  # fft computes sum_d c_d exp(-2 pi i k d / q)
    return lam.real.copy() if is_symmetric_kernel(k) else lam


def eigenvalue_ratios(kernel, beta):
    """t_k = lambda_k / lambda_0 (|t_k| <= 1), computed from exp(beta (K - max K)) so it never overflows."""
    k = np.asarray(kernel, dtype=np.float64)
    lam = np.fft.fft(np.exp(beta * (k - k.max())))
    t = lam / lam[0].real
    return t.real.copy() if is_symmetric_kernel(k) else t


def _ring_distances(n, d):
    d = np.asarray(d)
    if np.any(d < 0) or np.any(d > n):
        raise ValueError(f"distances must lie in [0, N={n}]")
    return d


def ising_pair_correlation(beta, n, d):
    """Exact <v_i v_(i+d)> on an Ising ring of n sites: (t^d + t^(n-d)) / (1 + t^n), t = tanh(beta)."""
    d = _ring_distances(n, d)
    t = np.tanh(_check_beta(beta))
    return (t**d + t ** (n - d)) / (1.0 + t**n)


def correlation_length(beta):
    """xi(beta) = -1 / ln(tanh(beta)) of the infinite Ising chain (0 at beta = 0)."""
    b = np.asarray(beta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        xi = -1.0 / np.log(np.tanh(b))
    return xi if xi.ndim else float(xi)


def xy_pair_correlation(kernel, beta, n, d, harmonic=1):
    """Exact <exp(2 pi i m (x_i - x_(i+d)) / q)> on a ring of n sites (closed form, m = harmonic).

    = sum_k t_k^(n-d) t_(k-m)^d / sum_k t_k^n. Real for a symmetric kernel (then it is <cos(...)>).
    """
    d = _ring_distances(n, d)
    t = eigenvalue_ratios(kernel, beta)
    q = t.size
    ts = t[(np.arange(q) - harmonic) % q]
    dd = np.atleast_1d(d)[:, None]
    num = np.sum(t[None, :] ** (n - dd) * ts[None, :] ** dd, axis=1)
    den = np.sum(t**n)
    out = num / den
    return out if np.ndim(d) else out[0]


def pair_correlation_trace(tmat, n, d, g, h):
    """Exact <g(x_i) h(x_(i+d))> = Tr(G T^d H T^(n-d)) / Tr T^n on a ring, for any transfer matrix T >= 0.

    g, h are vectors over the states (G = diag(g), H = diag(h)); T is scaled by its spectral radius first.
    """
    tmat = np.asarray(tmat)
    rho = np.max(np.abs(np.linalg.eigvals(tmat)))
    tn = tmat / rho
    g = np.asarray(g)
    h = np.asarray(h)
    z = np.trace(np.linalg.matrix_power(tn, n))
    out = []
    for dk in np.atleast_1d(_ring_distances(n, d)):
        m1 = g[:, None] * np.linalg.matrix_power(tn, int(dk))
        m2 = h[:, None] * np.linalg.matrix_power(tn, int(n - dk))
        out.append(np.trace(m1 @ m2) / z)
    out = np.array(out)
    return out if np.ndim(d) else out[0]


def xy_pair_correlation_trace(kernel, beta, n, d, harmonic=1):
    """Same quantity as xy_pair_correlation, from the general trace form Tr(D^m T^d D^-m T^(n-d)) / Tr T^n."""
    k = np.asarray(kernel, dtype=np.float64)
    q = k.size
    phase = np.exp(2j * np.pi * harmonic * np.arange(q) / q)
    out = pair_correlation_trace(transfer_matrix(k - k.max(), beta), n, d, phase, phase.conj())
    return out.real.copy() if is_symmetric_kernel(k) else out


def block_weights(kernel, beta, couplings):
    """Compact block transfer matrix W (float64[S, q], S = q^R): W[code(B), x] = T(B, shift(B, x)).

    W[code, x] = exp(beta (sum_r J_r K(x_0 - x_r) - max)), where x_0..x_(R-1) are the digits of code
    (x_0 least significant) and x_R = x. The constant shift by the maximum cancels in every probability.
    """
    k = np.asarray(kernel, dtype=np.float64)
    q = k.size
    j = np.asarray(couplings, dtype=np.float64)
    r = j.size
    s = q**r
    digits = (np.arange(s)[:, None] // q ** np.arange(r)[None, :]) % q  # (S, R)
    full = np.concatenate(
        [np.repeat(digits[:, None, :], q, axis=1), np.broadcast_to(np.arange(q)[None, :, None], (s, q, 1))],
        axis=2,
    )  # (S, q, R+1): x_0..x_R
    e = np.zeros((s, q))
    for rr in range(1, r + 1):
        e += j[rr - 1] * k[(full[:, :, 0] - full[:, :, rr]) % q]
    return np.exp(beta * (e - e.max()))


def block_transfer_matrix(kernel, beta, couplings):
    """Dense S x S block transfer matrix (S = q^R) built from block_weights (small S only)."""
    w = block_weights(kernel, beta, couplings)
    s, q = w.shape
    tm = np.zeros((s, s))
    top = s // q
    for code in range(s):
        for x in range(q):
            tm[code, code // q + x * top] = w[code, x]
    return tm


@njit(cache=True)
def block_power_step(w, m_prev, out):
    """out = T @ m_prev for the block matrix given compactly by w (S x q); returns max(out) (>0)."""
    s, q = w.shape
    top = s // q
    ncol = m_prev.shape[1]
    mx = 0.0
    for code in range(s):
        base = code // q
        for c in range(ncol):
            out[code, c] = 0.0
        for x in range(q):
            wx = w[code, x]
            if wx == 0.0:
                continue
            row = m_prev[base + x * top]
            for c in range(ncol):
                out[code, c] += wx * row[c]
        for c in range(ncol):
            if out[code, c] > mx:
                mx = out[code, c]
    return mx


def check_ring_args(n_samples, n_visible, q, beta, seed, kernel, couplings):
    """Validate the arguments shared by the ring samplers; return (q, beta, K float64[q], J float64[R]).

    Raises ValueError with a message naming the bad argument. q <= 127 because samples are int8.
    """
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 0:
        raise ValueError(f"n_samples must be an integer >= 0, got {n_samples!r}")
    if isinstance(n_visible, bool) or int(n_visible) != n_visible or n_visible < 2:
        raise ValueError(f"n_visible must be an integer >= 2 (a ring needs two sites), got {n_visible!r}")
    q = _check_q(q)
    if q > 127:
        raise ValueError(f"q must be <= 127 (samples are int8), got {q}")
    beta = _check_beta(beta)
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    k = angular_kernel(kernel, q)
    j = np.atleast_1d(np.array(couplings, dtype=np.float64))
    if j.ndim != 1 or j.size == 0 or not np.all(np.isfinite(j)):
        raise ValueError(f"couplings must be a non-empty 1-D sequence of finite J_1..J_R, got {couplings!r}")
    return q, beta, k, j
