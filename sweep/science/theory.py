"""Theory of docs/physics.md section 6, drawn over the data: spectra, thresholds, small-beta dynamics.

Pure functions (numpy in, numpy out; scalars give floats, arrays broadcast), no I/O; numpy and scipy
only (no kernels, no Numba: a notebook can use it anywhere). The empirical side (top eigenvalue of sampled
data) is sweep.science.spectrum. Every formula below is checked numerically in tests/test_theory.py (against the
kernels' transfer matrices, enumeration and sampled data); what those checks found is recorded here.

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
    xi_m = -1 / ln t_m: c_m(d) -> t_m^d = exp(-d / xi_m) on a large ring  xy_correlation_length

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

__all__ = [
    "correlation_length", "ising_pair_correlation", "xy_pair_correlation", "ising_signal_eigenvalue", "mp_edge", "beta_c", "beta_c_samples",
    "xy_ratios", "xy_correlation_length", "xy_signal_eigenvalue", "xy_null_edge", "xy_crossover_samples",
    "angular_kernel", "ANGULAR_KERNELS",
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
    """xi(beta) = -1 / ln(tanh(beta)) of the Ising chain (0 at beta = 0)."""
    b = np.asarray(beta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        xi = -1.0 / np.log(np.tanh(b))
    return _out(xi)


def ising_pair_correlation(beta, n_visible, d):
    """Exact <v_i v_(i+d)> on the Ising ring of N sites: (t^d + t^(N-d)) / (1 + t^N), t = tanh(beta)."""
    d = np.asarray(d, dtype=np.float64)
    n = float(n_visible)
    tn = _tanh_pow(beta, n)
    return _out((_tanh_pow(beta, d) + _tanh_pow(beta, n - d)) / (1.0 + tn))


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


ANGULAR_KERNELS = ("cosine", "potts", "short_range")
"""Named angular kernels K(d), as in the data models (PHYSICS 2.2-2.3)."""


def angular_kernel(name, q):
    """float64[q] kernel K(d), d = 0..q-1: "cosine" cos(2 pi d / q), "potts" [d = 0], "short_range"
    [min(d, q - d) <= 1]; an array of length q is a custom kernel."""
    q = int(q)
    if q < 2:
        raise ValueError(f"q must be >= 2, got {q}")
    d = np.arange(q)
    if isinstance(name, str):
        if name == "cosine":
            return np.cos(2.0 * np.pi * d / q)
        if name == "potts":
            return (d == 0).astype(np.float64)
        if name == "short_range":
            return (np.minimum(d, q - d) <= 1).astype(np.float64)
        raise ValueError(f"unknown kernel {name!r}; expected one of {ANGULAR_KERNELS} or an array of length q")
    k = np.array(name, dtype=np.float64)
    if k.shape != (q,):
        raise ValueError(f"a custom kernel must be a 1-D array of length q={q}, got shape {k.shape}")
    return k


def _kernel_ratios(beta, q, kernel):
    """t_k = lambda_k / lambda_0 of the circulant T(a, b) = exp(beta K(a - b)): the FFT of exp(beta K),
    computed from exp(beta (K - max K)) so it never overflows (real for a symmetric kernel)."""
    k = angular_kernel(kernel, int(q))
    lam = np.fft.fft(np.exp(float(beta) * (k - k.max())))
    t = lam / lam[0].real
    symmetric = np.allclose(k, k[(-np.arange(len(k))) % len(k)])
    return t.real.copy() if symmetric else t


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


def xy_correlation_length(beta, q, kernel="cosine", harmonic=1):
    """xi = -1 / ln t_m of the XY ring (m = harmonic): the decay length of <cos(2 pi m (x_i - x_(i+d)) / q)>
    = t_m^d on a large ring (0 at beta = 0). At q = 2 it is the Ising xi(beta) (cosine kernel: +-1)."""
    t = np.asarray(xy_ratios(beta, q, kernel=kernel, k=harmonic), dtype=np.float64)
    with np.errstate(divide="ignore"):
        xi = -1.0 / np.log(np.abs(t))
    return _out(xi)


def xy_pair_correlation(beta, q, n_visible, d, kernel="cosine", harmonic=1):
    """Exact <exp(2 pi i m (x_i - x_(i+d)) / q)> on the XY ring (m = harmonic; for a symmetric kernel it
    is real, <cos(2 pi m (x_i - x_(i+d)) / q)>): sum_k t_k^(N-d) t_(k-m)^d / sum_k t_k^N (PHYSICS 2.2)."""
    t = _kernel_ratios(beta, q, kernel)
    n = int(n_visible)
    dd = np.atleast_1d(np.asarray(d, dtype=np.int64))[:, None]
    ts = t[(np.arange(int(q)) - harmonic) % int(q)]
    out = np.sum(t[None, :] ** (n - dd) * ts[None, :] ** dd, axis=1) / np.sum(t**n)
    out = out.real if np.all(np.abs(out.imag) < 1e-14) else out
    return _out(out if np.ndim(d) else out[0])


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


def _rhs_into(w, f):
    """f = rhs of the M-unit flow (w float64[M, N]; M = 1, 2 give ode_one_unit_rhs / ode_two_units_rhs):
    f[a, i] = w[a, i+1] + w[a, i-1] + w[a, i] sum_b w[b, i]^2 - sum_b w[b, i] (w w^T)[a, b]."""
    f[:, 1:-1] = w[:, 2:]
    f[:, 1:-1] += w[:, :-2]
    f[:, 0] = w[:, 1] + w[:, -1]
    f[:, -1] = w[:, 0] + w[:, -2]
    f += w * (w * w).sum(axis=0)
    f -= np.dot(np.dot(w, w.T), w)
    return f


def _integrate(w, dt, steps, tol, check_every):
    """Explicit Euler w += dt rhs(w) in place, until max |rhs| < tol (checked every check_every steps)."""
    f = np.empty_like(w)
    done = 0
    res = float(np.abs(_rhs_into(w, f)).max())
    while done < steps and res >= tol:
        k = min(check_every, steps - done)
        for _ in range(k):
            _rhs_into(w, f)
            f *= dt
            w += f
        done += k
        res = float(np.abs(_rhs_into(w, f)).max())
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
    (N <= 16); the model term summed over the 2^M hidden states h in {-1, +1}^M:
    P(h) ∝ prod_i 2 cosh(x_i(h)), x_i(h) = sum_mu W[mu, i] h_mu, <v_i h_mu> = sum_h P(h) h_mu tanh(x_i(h)).
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
    h = (1 - 2 * ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1)).astype(np.float64)  # (2^M, M)
    x = h @ w  # (2^M, N)
    ax = np.abs(x)
    logp = np.sum(ax + np.log1p(np.exp(-2 * ax)), axis=1)  # sum_i log(2 cosh x_i) - N log 2
    ph = np.exp(logp - logp.max())
    ph /= ph.sum()
    vh = (h * ph[:, None]).T @ np.tanh(x)  # (M, N)
    g = data - vh
    return g[0] if one else g
