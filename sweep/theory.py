"""Theory of docs/physics.md section 6, drawn over the data: spectra, thresholds, small-beta dynamics.

Pure functions (numpy in, numpy out; scalars give floats, arrays broadcast), no I/O. Every formula
below is checked numerically in tests/test_theory.py; what those checks found is recorded here.

Ising ring (N sites, t = tanh(beta), PHYSICS 2.1)
    xi = -1 / ln t                                                    correlation_length
    C_ij = <v_i v_j> = (t^d + t^(N-d)) / (1 + t^N), d = |i - j|       (circulant)
    lambda_signal = sum_d C(d) = exp(2 beta) (1 - t^N)/(1 + t^N)      ising_signal_eigenvalue
        the exact top eigenvalue of C (uniform eigenvector, Perron-Frobenius), since
        sum_{d=0}^{N-1} (t^d + t^(N-d)) = (1 + t)(1 - t^N)/(1 - t) and (1 + t)/(1 - t) = exp(2 beta).
    lambda_MP = (1 + sqrt(r))^2, r = N / n_samples                    mp_edge
        top of the Marchenko-Pastur law of C = V^T V / n for independent unbiased spins.
    beta_c(r) = ln(1 + sqrt(r))   (lambda_signal = lambda_MP, N large) beta_c
    n_c(beta) = N / (sqrt(lambda_signal(beta, N)) - 1)^2              beta_c_samples (its inverse)
    Note: the population spectrum of C is a band, lambda_k = (1 - t^2)/(1 - 2 t cos(2 pi k/N) + t^2)
    (N -> inf), not one isolated spike, so the empirical top eigenvalue crosses over smoothly from
    the MP edge to lambda_signal (and stays above both at finite n_samples); beta_c is the
    crossover line of PHYSICS 5, not a sharp BBP transition.

Discretized XY ring (q states, cosine kernel by default, PHYSICS 2.2)
    one-hot x_(i,a) = [x_i = a], centred with the known mean 1/q. With c_m(d) = <exp(2 pi i m
    (x_i - x_(i+d))/q)> the covariance is
        C_(i,a),(j,b) = (1/q^2) sum_{m=1}^{q-1} c_m(d) exp(-2 pi i m (b - a)/q),
    diagonal in the plane waves exp(2 pi i (k i/N + m a/q)) with eigenvalues
        lambda_(k,m) = (1/q) sum_{d=0}^{N-1} c_m(d) exp(2 pi i k d/N)   (m != 0; m = 0 gives 0).
    The top one is spatially uniform (k = 0) in the first angular harmonic m = +-1:
        lambda_signal = (1/q) (1 + t_1)/(1 - t_1)            (N -> inf; c_1(d) = t_1^|d|)
        lambda_signal(N) = (1/q) sum_{d=0}^{N-1} sum_k t_k^(N-d) t_(k-1)^d / sum_k t_k^N  (exact)
    with a 2-dimensional eigenspace (m = +1 and m = -1 = q-1: cos and sin of 2 pi a/q) for q >= 3,
    1-dimensional for q = 2 (where it is lambda_Ising / 2).          xy_signal_eigenvalue
    Null model (independent uniform states): population covariance (1/q) P, P a projector of rank
    N (q - 1), so the MP edge is (1/q)(1 + sqrt(r'))^2, r' = N (q - 1)/n_samples.  xy_null_edge
    Both verified: the signal against eigvalsh of the exact covariance (enumeration and the exact
    pair correlations), the edge against sampled null data (one-hot data is not Gaussian; the edge is
    still the MP edge, within finite-size fluctuations).
    Crossover n_c = N (q - 1) / (sqrt(q lambda_signal) - 1)^2.       xy_crossover_samples

Small-beta dynamics (PHYSICS 5): w = sqrt(beta) w', tau = beta t, spin hidden units, zero fields.
    one unit:  dw_i/dtau = w_(i+1) + w_(i-1) + w_i^3 - w_i sum_k w_k^2          ode_one_unit_rhs
    two units: dw1_i/dtau = w1_(i+1) + w1_(i-1) + w1_i^3 - w1_i sum_k w1_k^2
                            + w1_i w2_i^2 - w2_i sum_k w1_k w2_k    (and 1 <-> 2) ode_two_units_rhs
    Derivation (checked against the exact population gradient, population_gradient): data term
    <v_i tanh I_1> = sqrt(b) w1_i + b^(3/2) [w1_(i+1) + w1_(i-1) - w1_i S_11 + (2/3) w1_i^3], model term
    <v_i h_1> = sqrt(b) w1_i + b^(3/2) [w2_i X - w1_i^3/3 - w1_i w2_i^2], X = sum w1 w2 (<h_1 h_2> = tanh X);
    corrections are O(beta) relative. The right-hand sides of PHYSICS 5 are correct.
    Both flows are gradient ascents of F = sum_i <w_i, w_(i+1)> + (1/4) sum_i |w_i|^4 - (1/4) tr(G^2), with
    w_i = (w1_i, w2_i) and G the 2x2 Gram matrix of the units: F is invariant under rotations w_i -> R w_i
    in hidden-unit space, so at this order the two-unit stationary states form a one-parameter family
    (two separated peaks, mixed by any rotation). integrate_two_units therefore also returns the
    "unmixed" pair (the rotation maximizing sum w1^4 + w2^4), which shows the two peaks.
    Continuum limit: w'' + 2 w + w^3 - S w = 0, solved by sqrt(2) k sech(k (x - x0)) with S = 4 k = k^2 + 2,
    k = 2 -+ sqrt(2) (sech_profile); the wide one (k = 2 - sqrt(2), S = 2.343) is the stable one. On the
    lattice (N = 100) the flow settles at the site-centred peak S = 2.4001, peak 0.9196, neighbours
    0.7147, 0.4307, 0.2392 (bond-centred: a saddle, S = 2.3876, peak 0.845).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels import exact as _exact
from kernels import potentials as _pot
from kernels import transfer as _transfer
from kernels.samplers import sample_ising, sample_xy

__all__ = [
    "correlation_length", "ising_signal_eigenvalue", "mp_edge", "beta_c", "beta_c_samples",
    "xy_ratios", "xy_signal_eigenvalue", "xy_null_edge", "xy_crossover_samples",
    "top_eigen", "data_statistics",
    "ode_one_unit_rhs", "integrate_one_unit", "ode_two_units_rhs", "integrate_two_units",
    "unmix_two_units", "sech_profile", "SECH_K_STABLE", "SECH_K_NARROW",
    "population_gradient",
]

SECH_K_STABLE = 2.0 - math.sqrt(2.0)
"""k of the wide (stable) continuum profile sqrt(2) k sech(k x)."""
SECH_K_NARROW = 2.0 + math.sqrt(2.0)
"""k of the narrow (unstable) continuum profile."""


def _out(x):
    """0-d arrays -> float, others unchanged."""
    x = np.asarray(x)
    return x.item() if x.ndim == 0 else x


# ----------------------------------------------------------------------------------------- Ising


def correlation_length(beta):
    """xi(beta) = -1 / ln(tanh(beta)) of the Ising chain (0 at beta = 0); kernels.transfer.correlation_length."""
    return _transfer.correlation_length(beta)


def _tanh_pow(beta, n):
    """t^n with t = tanh(beta), computed as exp(n ln t) (0 at beta = 0, no warnings)."""
    b = np.asarray(beta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lt = np.log(np.tanh(b))
    with np.errstate(invalid="ignore"):
        x = np.asarray(n, dtype=np.float64) * lt
    return np.exp(np.where(np.isnan(x), -np.inf, x))


def ising_signal_eigenvalue(beta, n_visible=None):
    """Top eigenvalue of the exact Ising-ring correlation matrix (uniform eigenvector):

        lambda_signal = exp(2 beta) (1 - t^N) / (1 + t^N),   t = tanh(beta);   exp(2 beta) for N = None.

    beta and n_visible broadcast.
    """
    b = np.asarray(beta, dtype=np.float64)
    if np.any(b < 0):
        raise ValueError("beta must be >= 0")
    if n_visible is None:
        return _out(np.exp(2.0 * b))
    tn = _tanh_pow(b, n_visible)
    return _out(np.exp(2.0 * b) * (1.0 - tn) / (1.0 + tn))


def mp_edge(r):
    """Marchenko-Pastur upper edge (1 + sqrt(r))^2, r = N / n_samples (unit-variance null entries)."""
    r = np.asarray(r, dtype=np.float64)
    if np.any(r < 0):
        raise ValueError("r must be >= 0")
    return _out((1.0 + np.sqrt(r)) ** 2)


def beta_c(r):
    """Retarded-learning threshold of PHYSICS 5 (N large): exp(2 beta) = (1 + sqrt(r))^2, beta_c = ln(1 + sqrt(r))."""
    r = np.asarray(r, dtype=np.float64)
    if np.any(r < 0):
        raise ValueError("r must be >= 0")
    return _out(np.log1p(np.sqrt(r)))


def beta_c_samples(beta, n_visible):
    """Sample count at which lambda_signal(beta, N) = lambda_MP(N / n): n_c = N / (sqrt(lambda_signal) - 1)^2.

    Uses the exact finite-N lambda_signal; for N large it inverts beta_c (n_c = N / (e^beta - 1)^2).
    inf where lambda_signal <= 1 (beta = 0). beta and n_visible broadcast.
    """
    lam = np.asarray(ising_signal_eigenvalue(beta, n_visible), dtype=np.float64)
    s = np.sqrt(lam) - 1.0
    with np.errstate(divide="ignore"):
        n = np.where(s > 0, np.asarray(n_visible, dtype=np.float64) / np.where(s > 0, s, 1.0) ** 2, np.inf)
    return _out(n)


# -------------------------------------------------------------------------------------------- XY


def _kernel_ratios(beta, q, kernel):
    return _transfer.eigenvalue_ratios(_transfer.angular_kernel(kernel, int(q)), float(beta))


def xy_ratios(beta, q, kernel="cosine", k=1):
    """t_k = lambda_k / lambda_0 of the circulant transfer matrix T(a, b) = exp(beta K(a - b)):

        lambda_k = sum_{d=0}^{q-1} exp(beta K(d)) cos(2 pi k d / q)   (symmetric kernel).

    beta, q and k broadcast (k taken mod q); kernel as in kernels.transfer.angular_kernel.
    """
    b, qq, kk = np.broadcast_arrays(np.asarray(beta, dtype=np.float64), np.asarray(q), np.asarray(k))
    out = np.empty(b.shape, dtype=np.complex128)
    for idx in np.ndindex(b.shape):
        t = _kernel_ratios(b[idx], qq[idx], kernel)
        out[idx] = t[int(kk[idx]) % int(qq[idx])]
    if np.all(out.imag == 0):
        out = out.real.copy()
    return _out(out)


def _xy_signal_one(beta, q, n, kernel, harmonic):
    t = _kernel_ratios(beta, q, kernel)
    if n is None:
        tm = t[harmonic % q]
        return float(np.real((1.0 + tm) / (1.0 - tm)) / q) if tm != 1 else np.inf
    n = int(n)
    d = np.arange(n)[:, None]
    ts = t[(np.arange(q) - harmonic) % q]
    # sum_d c_m(d), c_m(d) = sum_k t_k^(N-d) t_(k-m)^d / sum_k t_k^N (kernels.transfer.xy_pair_correlation)
    num = np.sum(t[None, :] ** (n - d) * ts[None, :] ** d)
    return float(np.real(num / np.sum(t**n))) / q


def xy_signal_eigenvalue(beta, q, n_visible=None, kernel="cosine", harmonic=1):
    """Top eigenvalue of the one-hot covariance of the XY ring (centred with the known mean 1/q):

        N = None:  (1/q) (1 + t_1) / (1 - t_1)
        finite N:  (1/q) sum_{d=0}^{N-1} c_1(d),  c_1(d) = sum_k t_k^(N-d) t_(k-1)^d / sum_k t_k^N  (exact)

    Eigenspace: spatially uniform, first angular harmonic (cos and sin of 2 pi a / q), dimension 2 for
    q >= 3 (1 for q = 2, where it equals ising_signal_eigenvalue / 2). `harmonic` m gives the eigenvalue
    of the m-th harmonic instead (for the cosine kernel m = 1 is the largest; other kernels may differ).
    beta, q and n_visible broadcast.
    """
    b, qq, nn = np.broadcast_arrays(np.asarray(beta, dtype=np.float64), np.asarray(q),
                                    np.asarray(-1 if n_visible is None else n_visible))
    out = np.empty(b.shape)
    for idx in np.ndindex(b.shape):
        out[idx] = _xy_signal_one(b[idx], int(qq[idx]), None if n_visible is None else int(nn[idx]),
                                  kernel, harmonic)
    return _out(out)


def xy_null_edge(q, n_visible, n_samples):
    """MP edge of the centred one-hot covariance of independent uniform Potts states:

        (1/q) (1 + sqrt(r'))^2,   r' = N (q - 1) / n_samples

    (population covariance (1/q) x a projector of rank N (q - 1)). Arguments broadcast.
    """
    q = np.asarray(q, dtype=np.float64)
    r = np.asarray(n_visible, dtype=np.float64) * (q - 1.0) / np.asarray(n_samples, dtype=np.float64)
    return _out((1.0 + np.sqrt(r)) ** 2 / q)


def xy_crossover_samples(beta, q, n_visible, kernel="cosine", finite=True):
    """Sample count where xy_signal_eigenvalue = xy_null_edge: n_c = N (q - 1) / (sqrt(q lambda_signal) - 1)^2.

    lambda_signal at finite N (finite=True) or N -> inf. inf where q lambda_signal <= 1 (beta = 0).
    """
    lam = np.asarray(xy_signal_eigenvalue(beta, q, n_visible if finite else None, kernel=kernel))
    s = np.sqrt(np.asarray(q, dtype=np.float64) * lam) - 1.0
    num = np.asarray(n_visible, dtype=np.float64) * (np.asarray(q, dtype=np.float64) - 1.0)
    with np.errstate(divide="ignore"):
        n = np.where(s > 0, num / np.where(s > 0, s, 1.0) ** 2, np.inf)
    return _out(n)


# ------------------------------------------------------------------------------------- empirical

_CHUNK = 8192


def _gram(rows_fn, n, dim):
    """sum_s x_s x_s^T and sum_s x_s over n rows given chunkwise by rows_fn(lo, hi) -> float32 (hi-lo, dim).

    float32 products of small integers are exact in chunks of <= 2^24 rows; chunks are summed in float64.
    """
    s = np.zeros((dim, dim))
    m = np.zeros(dim)
    for lo in range(0, n, _CHUNK):
        x = rows_fn(lo, min(n, lo + _CHUNK))
        s += (x.T @ x).astype(np.float64)
        m += x.sum(axis=0, dtype=np.float64)
    return s, m


def _top_eigh(c):
    from scipy.linalg import eigh

    dim = c.shape[0]
    vals, vecs = eigh(c, subset_by_index=[dim - 1, dim - 1])
    return float(vals[0]), vecs[:, 0]


def top_eigen(data, model="ising", q=None, k_max=None):
    """Top eigenvalue and eigenvector weight on the signal modes of sampled ring data.

    Ising (data int +-1, shape (n, N)): C = V^T V / n (known mean 0). top_mode_weight = sum over the
    spatial Fourier modes |k| <= k_max (default 3) of |u_hat_k|^2, u_hat = fft(u) / sqrt(N), u the unit top
    eigenvector (1 for the uniform vector; about (2 k_max + 1)/N for noise).
    XY (data int states 0..q-1, shape (n, N)): C = covariance of the one-hot vectors [x_i = a] centred
    with the known mean 1/q (dimension N q). The signal eigenspace is spatially uniform and in the first
    angular harmonic: the plane waves exp(2 pi i (k i/N +- a/q)) with |k| <= k_max (default 0, the exact
    signal eigenspace of dimension 2, 1 for q = 2). top_mode_weight = |projection of u on it|^2, from the
    unitary 2-D FFT of u reshaped (N, q).
    low_mode_weight: the same with |k| <= 3 for both models (for XY the analogue of the Ising measure:
    at N = 100 the low spatial modes are nearly degenerate, so the k = 0 weight alone stays well below 1
    and varies a lot between seeds even far above the crossover: 0.17 and 0.73 for two seeds at beta 1,
    q 10, N 100, 1e5 samples, where low_mode_weight is 0.98 for both).
    Returns dict(top_eigenvalue, top_mode_weight, low_mode_weight, top_vector (float64[N] or [N, q]),
    n_samples).
    """
    v = np.asarray(data)
    if v.ndim != 2 or v.shape[0] < 1:
        raise ValueError(f"data must be a 2-D array (n_samples, n_visible), got shape {v.shape}")
    n, nv = v.shape
    if model == "ising":
        if not np.all(np.abs(v) == 1):
            raise ValueError("Ising data must be +-1")
        s, _ = _gram(lambda lo, hi: v[lo:hi].astype(np.float32), n, nv)
        lam, u = _top_eigh(s / n)
        km = 3 if k_max is None else int(k_max)
        uh = np.abs(np.fft.fft(u)) ** 2 / nv
        k = np.arange(nv)
        weight = float(uh[np.minimum(k, nv - k) <= km].sum())
        low = float(uh[np.minimum(k, nv - k) <= 3].sum())
        vec = u
    elif model == "xy":
        if q is None:
            raise ValueError("q is required for model='xy'")
        q = int(q)
        if v.min() < 0 or v.max() >= q:
            raise ValueError(f"XY data must be states 0..{q - 1}")
        dim = nv * q
        offs = (np.arange(nv) * q)[None, :]

        def rows(lo, hi):
            x = np.zeros((hi - lo, dim), dtype=np.float32)
            np.put_along_axis(x, v[lo:hi].astype(np.int64) + offs, 1.0, axis=1)
            return x

        s, m = _gram(rows, n, dim)
        m /= n
        c = s / n - (m[:, None] + m[None, :]) / q + 1.0 / q**2
        lam, u = _top_eigh(c)
        km = 0 if k_max is None else int(k_max)
        uh = np.abs(np.fft.fft2(u.reshape(nv, q))) ** 2 / dim
        k = np.arange(nv)
        sel_k = np.minimum(k, nv - k) <= km
        harm = sorted({1 % q, (q - 1) % q})
        weight = float(uh[np.ix_(sel_k, harm)].sum())
        low = float(uh[np.ix_(np.minimum(k, nv - k) <= 3, harm)].sum())
        vec = u.reshape(nv, q)
    else:
        raise ValueError(f"model must be 'ising' or 'xy', got {model!r}")
    return {"top_eigenvalue": lam, "top_mode_weight": weight, "low_mode_weight": low, "top_vector": vec,
            "n_samples": n}


def data_statistics(model, n_visible, beta, n_samples, seed, q=None, kernel="cosine", k_max=None):
    """Sample exact ring data (kernels.samplers) and return its spectrum statistics with the theory.

    dict(top_eigenvalue, top_mode_weight, low_mode_weight) from top_eigen, and signal_eigenvalue (exact finite N) and
    null_edge (MP edge of the null model) for the same (N, n_samples, q). No RBM; cost: sampling plus
    one N x N (Ising) or Nq x Nq (XY) Gram matrix.
    """
    if model == "ising":
        data = sample_ising(n_samples, n_visible, beta, seed)
        sig = ising_signal_eigenvalue(beta, n_visible)
        edge = mp_edge(n_visible / n_samples)
    elif model == "xy":
        if q is None:
            raise ValueError("q is required for model='xy'")
        data = sample_xy(n_samples, n_visible, q, beta, seed, kernel=kernel)
        sig = xy_signal_eigenvalue(beta, q, n_visible, kernel=kernel)
        edge = xy_null_edge(q, n_visible, n_samples)
    else:
        raise ValueError(f"model must be 'ising' or 'xy', got {model!r}")
    st = top_eigen(data, model=model, q=q, k_max=k_max)
    return {"top_eigenvalue": st["top_eigenvalue"], "top_mode_weight": st["top_mode_weight"],
            "low_mode_weight": st["low_mode_weight"], "signal_eigenvalue": float(sig), "null_edge": float(edge)}


# ------------------------------------------------------------------------------ small-beta dynamics


def ode_one_unit_rhs(w):
    """dw_i/dtau = w_(i+1) + w_(i-1) + w_i^3 - w_i sum_k w_k^2 (periodic); w float[..., N], last axis = sites."""
    w = np.asarray(w, dtype=np.float64)
    s = np.sum(w * w, axis=-1, keepdims=True)
    return np.roll(w, -1, axis=-1) + np.roll(w, 1, axis=-1) + w**3 - w * s


def ode_two_units_rhs(w1, w2):
    """(dw1/dtau, dw2/dtau) of two hidden units (periodic, last axis = sites):

        dw1_i/dtau = w1_(i+1) + w1_(i-1) + w1_i^3 - w1_i sum_k w1_k^2 + w1_i w2_i^2 - w2_i sum_k w1_k w2_k

    and 1 <-> 2 (PHYSICS 5; confirmed against the exact population gradient).
    """
    w1 = np.asarray(w1, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    x = np.sum(w1 * w2, axis=-1, keepdims=True)
    f1 = ode_one_unit_rhs(w1) + w1 * w2**2 - w2 * x
    f2 = ode_one_unit_rhs(w2) + w2 * w1**2 - w1 * x
    return f1, f2


@njit(cache=True)
def _rhs_nb(w, f):
    """f = rhs for M units (w float64[M, N]): the M-unit form of the two-unit flow (M = 1, 2)."""
    m, n = w.shape
    g = np.zeros((m, m))
    for a in range(m):
        for b in range(m):
            acc = 0.0
            for i in range(n):
                acc += w[a, i] * w[b, i]
            g[a, b] = acc
    for a in range(m):
        for i in range(n):
            ip = i + 1 if i + 1 < n else 0
            loc = 0.0
            for b in range(m):
                loc += w[b, i] * w[b, i]
            val = w[a, ip] + w[a, i - 1] + w[a, i] * loc
            for b in range(m):
                val -= w[b, i] * g[a, b]
            f[a, i] = val
    mx = 0.0
    for a in range(m):
        for i in range(n):
            if abs(f[a, i]) > mx:
                mx = abs(f[a, i])
    return mx


@njit(cache=True)
def _euler_nb(w, dt, steps):
    f = np.empty_like(w)
    for _ in range(steps):
        _rhs_nb(w, f)
        for a in range(w.shape[0]):
            for i in range(w.shape[1]):
                w[a, i] += dt * f[a, i]
    return _rhs_nb(w, f)


def _integrate(w, dt, steps, tol, check_every):
    done = 0
    res = _rhs_nb(w, np.empty_like(w))
    while done < steps and res >= tol:
        k = min(check_every, steps - done)
        res = _euler_nb(w, dt, k)
        done += k
        if not np.all(np.isfinite(w)):
            raise FloatingPointError(f"Euler integration diverged after {done} steps (dt = {dt} too large?)")
    return done, res


def integrate_one_unit(N=100, dt=0.01, steps=1_000_000, w0=None, seed=0, tol=1e-9, init_scale=1e-3,
                       check_every=1000):
    """Explicit Euler for ode_one_unit_rhs from a small random start until stationary.

    w0 (float[N]) or N(0, init_scale^2) entries from numpy's default_rng(seed). Stops when the residual
    max_i |dw_i/dtau| < tol (checked every check_every steps) or after `steps` steps.
    Returns dict(w, residual, steps, tau = steps dt, converged, sum_sq = sum_k w_k^2, peak = max |w|,
    centre = argmax |w|, profile = |w| rolled so that the peak sits at index N // 2).
    """
    if w0 is None:
        w = init_scale * np.random.default_rng(seed).standard_normal(int(N))
    else:
        w = np.array(w0, dtype=np.float64).ravel()
    w = np.ascontiguousarray(w[None, :])
    n = w.shape[1]
    done, res = _integrate(w, float(dt), int(steps), float(tol), int(check_every))
    w = w[0]
    c = int(np.argmax(np.abs(w)))
    return {"w": w, "residual": float(res), "steps": done, "tau": done * dt, "converged": bool(res < tol),
            "sum_sq": float(w @ w), "peak": float(np.abs(w[c])), "centre": c,
            "profile": np.roll(np.abs(w), n // 2 - c)}


def unmix_two_units(w1, w2):
    """Rotate (w1_i, w2_i) -> R(phi) (w1_i, w2_i) to maximize sum_i (w1_i^4 + w2_i^4) (two-unit varimax).

    The two-unit small-beta flow is invariant under such rotations (module docstring), so its stationary
    states are two separated peaks mixed by an arbitrary angle; this undoes the mixing. With
    z_i = w1_i + i w2_i, sum (a^4 + b^4) = (3/4) sum |z|^4 + (1/4) Re(e^(-4 i phi) sum z^4): phi = arg(sum z^4)/4.
    Returns (u1, u2, phi).
    """
    w1 = np.asarray(w1, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    z = w1 + 1j * w2
    phi = float(np.angle(np.sum(z**4)) / 4.0)
    u = z * np.exp(-1j * phi)
    return u.real.copy(), u.imag.copy(), phi


def integrate_two_units(N=100, dt=0.01, steps=1_000_000, w0=None, seed=0, tol=1e-9, init_scale=1e-3,
                        check_every=1000):
    """Explicit Euler for ode_two_units_rhs from a small random start until stationary.

    w0: float[2, N] or None (N(0, init_scale^2) entries from default_rng(seed)). Stops when
    max |rhs| < tol or after `steps` steps. Returns dict(w1, w2, residual, steps, tau, converged,
    gram = [[S11, X], [X, S22]], u1, u2, phi (unmix_two_units: the two peaks), centres (argmax |u1|,
    argmax |u2|), separation (their ring distance)).
    """
    if w0 is None:
        w = init_scale * np.random.default_rng(seed).standard_normal((2, int(N)))
    else:
        w = np.array(w0, dtype=np.float64).reshape(2, -1)
    w = np.ascontiguousarray(w)
    n = w.shape[1]
    done, res = _integrate(w, float(dt), int(steps), float(tol), int(check_every))
    u1, u2, phi = unmix_two_units(w[0], w[1])
    c1, c2 = int(np.argmax(np.abs(u1))), int(np.argmax(np.abs(u2)))
    sep = abs(c1 - c2)
    return {"w1": w[0].copy(), "w2": w[1].copy(), "residual": float(res), "steps": done, "tau": done * dt,
            "converged": bool(res < tol), "gram": w @ w.T, "u1": u1, "u2": u2, "phi": phi,
            "centres": (c1, c2), "separation": min(sep, n - sep)}


def sech_profile(x, k=SECH_K_STABLE, x0=0.0):
    """Continuum stationary profile w(x) = sqrt(2) k sech(k (x - x0)), k = 2 -+ sqrt(2) (sum of squares 4k).

    Solves w'' + 2 w + w^3 - (int w^2) w = 0 (continuum limit of ode_one_unit_rhs). Broadcasts.
    """
    k = np.asarray(k, dtype=np.float64)
    y = k * (np.asarray(x, dtype=np.float64) - np.asarray(x0, dtype=np.float64))
    return _out(math.sqrt(2.0) * k / np.cosh(y))


# --------------------------------------------------------------------------- exact population gradient

MAX_ENUM_VISIBLE = 16


def population_gradient(W, beta, n_visible=None):
    """Exact population gradient of the mean log-likelihood, spin visible and hidden units, zero fields:

        G[mu, i] = sum_v P_data(v) v_i tanh(I_mu(v)) - <v_i h_mu>_model,   I_mu(v) = sum_j W[mu, j] v_j

    P_data(v) ∝ exp(beta sum_i v_i v_(i+1)) the exact Ising ring, enumerated over all 2^N configurations
    (N <= 16); the model term from kernels.exact.moments_spin (sum over the 2^M hidden states).
    W: float[M, N] or float[N] (one unit; the result has W's shape).
    Small beta: beta^(-3/2) G(sqrt(beta) w) = ode_one_unit_rhs(w) / ode_two_units_rhs(w1, w2) + O(beta).
    """
    w = np.asarray(W, dtype=np.float64)
    one = w.ndim == 1
    w = np.ascontiguousarray(np.atleast_2d(w))
    m, n = w.shape
    if n_visible is not None and int(n_visible) != n:
        raise ValueError(f"W has {n} visible sites, n_visible = {n_visible}")
    if n > MAX_ENUM_VISIBLE:
        raise ValueError(f"enumeration over 2^N data configurations needs N <= {MAX_ENUM_VISIBLE}, got {n}")
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    v = (1 - 2 * bits).astype(np.float64)  # (2^N, N)
    e = float(beta) * np.sum(v * np.roll(v, -1, axis=1), axis=1)
    p = np.exp(e - e.max())
    p /= p.sum()
    data = (np.tanh(v @ w.T) * p[:, None]).T @ v  # (M, N)
    vh = np.empty((m, n))
    _exact.moments_spin(w, np.zeros(n), np.zeros(m), _pot.SPIN, vh, np.empty(n), np.empty(m))
    g = data - vh
    return g[0] if one else g
