"""Heat-bath (Gibbs) MCMC for the range-R Potts/XY ring, with burn-in and thinning from measured tau.

Model (docs/physics.md 2.3): P(x) ∝ exp(beta sum_i sum_{r=1..R} J_r K(x_i - x_(i+r))), x_i in {0..q-1}, ring of
N sites. The Ising ring is q = 2, K(d) = cos(pi d), v = 1 - 2x (mcmc_sample_ising).

A sweep updates sites 0..N-1 in order, each from its exact conditional
P(x_i = c | rest) ∝ exp(beta sum_r J_r [K(c - x_(i+r)) + K(x_(i-r) - c)]) (a term with i+r = i mod N does
not depend on x_i and is dropped). Chains are advanced in lockstep from one xoshiro256** stream, so the
result is a deterministic function of the seed.

Burn-in and thinning: a pilot run of independent chains records, after every sweep, the energy per site
and the order parameter m = (1/N) sum_j exp(2 pi i x_j / q) (as |m| and Re m); on the second half of the
pilot (the first is discarded) the integrated autocorrelation time of each series is measured with Sokal's
windowed estimator, and tau is the largest of them. The pilot is doubled until its kept half spans
>= 50 tau (or max_pilot_sweeps is reached). Production chains start fresh, run burn_in >= 20 tau sweeps,
then record one sample every thin >= 2 tau sweeps.

Sokal's convention: tau_int = 1/2 + sum_{t>=1} rho(t) (tau_int = 1/2 for independent draws, and the
variance of a mean of n draws is 2 tau_int var / n), the sum cut at the smallest window W >= c tau_int(W).
"""

import math

import numpy as np
from numba import njit

from .rng import new_state, randbelow, uniform
from .transfer import check_ring_args


@njit(cache=True)
def _heat_bath_site(x, i, kmat, j, beta, p, state):
    """Redraw x[i] from its conditional given the rest of the ring (heat bath)."""
    n = x.size
    q = kmat.shape[0]
    for c in range(q):
        p[c] = 0.0
    for r in range(1, j.size + 1):
        if r % n == 0:
            continue
        jr = j[r - 1]
        right = x[(i + r) % n]
        left = x[(i - r) % n]
        for c in range(q):
            p[c] += jr * (kmat[c, right] + kmat[left, c])
    mx = p[0]
    for c in range(1, q):
        if p[c] > mx:
            mx = p[c]
    tot = 0.0
    for c in range(q):
        p[c] = math.exp(beta * (p[c] - mx))
        tot += p[c]
    u = uniform(state) * tot
    c = 0
    acc = p[0]
    while c < q - 1 and u >= acc:
        c += 1
        acc += p[c]
    x[i] = c


@njit(cache=True)
def sweep(x, kmat, j, beta, p, state):
    """One heat-bath sweep of sites 0..N-1 of one chain x (int64[N])."""
    for i in range(x.size):
        _heat_bath_site(x, i, kmat, j, beta, p, state)


@njit(cache=True)
def ring_energy(x, kmat, j):
    """Energy per site e = -(1/N) sum_i sum_r J_r K(x_i - x_(i+r)) (beta not included)."""
    n = x.size
    e = 0.0
    for i in range(n):
        for r in range(1, j.size + 1):
            e -= j[r - 1] * kmat[x[i], x[(i + r) % n]]
    return e / n


@njit(cache=True)
def order_parameter(x, q):
    """m = (1/N) sum_j exp(2 pi i x_j / q), returned as (Re m, |m|)."""
    re = 0.0
    im = 0.0
    for v in x:
        re += math.cos(2.0 * math.pi * v / q)
        im += math.sin(2.0 * math.pi * v / q)
    re /= x.size
    im /= x.size
    return re, math.sqrt(re * re + im * im)


@njit(cache=True)
def random_chains(n_chains, n, q, state):
    """Independent uniform starting configurations, int64[n_chains, n]."""
    x = np.empty((n_chains, n), dtype=np.int64)
    for c in range(n_chains):
        for i in range(n):
            x[c, i] = randbelow(state, q)
    return x


@njit(cache=True)
def run_recorded(x, kmat, j, beta, n_sweeps, state):
    """Advance every chain n_sweeps sweeps; return float64[3, n_chains, n_sweeps]: energy, Re m, |m|."""
    n_chains = x.shape[0]
    q = kmat.shape[0]
    p = np.empty(q)
    rec = np.empty((3, n_chains, n_sweeps))
    for t in range(n_sweeps):
        for c in range(n_chains):
            sweep(x[c], kmat, j, beta, p, state)
            rec[0, c, t] = ring_energy(x[c], kmat, j)
            re, ab = order_parameter(x[c], q)
            rec[1, c, t] = re
            rec[2, c, t] = ab
    return rec


@njit(cache=True)
def run_production(x, kmat, j, beta, burn_in, thin, out, state):
    """burn_in sweeps, then out[t * n_chains + c] = chain c after burn_in + (t+1) thin sweeps (rows < len(out))."""
    n_chains, n = x.shape
    p = np.empty(kmat.shape[0])
    for _ in range(burn_in):
        for c in range(n_chains):
            sweep(x[c], kmat, j, beta, p, state)
    n_rows = out.shape[0]
    n_per = (n_rows + n_chains - 1) // n_chains
    for t in range(n_per):
        for _ in range(thin):
            for c in range(n_chains):
                sweep(x[c], kmat, j, beta, p, state)
        for c in range(n_chains):
            row = t * n_chains + c
            if row < n_rows:
                for i in range(n):
                    out[row, i] = x[c, i]


def integrated_autocorr_time(series, c=6.0):
    """Sokal's windowed estimate of tau_int = 1/2 + sum_{t>=1} rho(t) for one series or several chains.

    series: (L,) or (n_chains, L); each chain's mean is removed and the biased autocovariances (1/L) are
    averaged over chains. The window is the smallest W with W >= c tau_int(W). Returns (tau, W); a series
    with no variance gives (0.5, 0).
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n_len = x.shape[1]
    x = x - x.mean(axis=1, keepdims=True)
    nfft = 1 << (2 * n_len - 1).bit_length()
    f = np.fft.rfft(x, n=nfft, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=1)[:, :n_len].mean(axis=0) / n_len
    if not acov[0] > 1e-300:
        return 0.5, 0
    rho = acov / acov[0]
    taus = 0.5 + np.concatenate(([0.0], np.cumsum(rho[1:])))
    ok = np.nonzero(np.arange(n_len) >= c * taus)[0]
    w = int(ok[0]) if ok.size else n_len - 1
    return float(max(taus[w], 0.5)), w


def _kernel_matrix(k):
    q = k.size
    a = np.arange(q)
    return np.ascontiguousarray(k[(a[:, None] - a[None, :]) % q])


def mcmc_sample_xy(
    n_samples,
    n_visible,
    q,
    beta,
    seed,
    kernel="cosine",
    couplings=(1.0,),
    n_chains=16,
    n_pilot_chains=4,
    pilot_sweeps=256,
    max_pilot_sweeps=65536,
    window_c=6.0,
    burn_in_factor=20.0,
    thin_factor=2.0,
):
    """Heat-bath MCMC samples of the range-R ring: (int8[n_samples, n_visible] of states 0..q-1, info).

    Row t * n_chains + c is the t-th sample of chain c. info: tau (max of tau_energy, tau_order_re,
    tau_order_abs, in sweeps), burn_in, thin, n_chains, pilot_sweeps (total pilot length) and
    pilot_converged (the kept half of the pilot spans >= 50 tau). burn_in = ceil(burn_in_factor tau),
    thin = ceil(thin_factor tau); factors below 20 and 2 are refused.
    """
    q, beta, k, j = check_ring_args(n_samples, n_visible, q, beta, seed, kernel, couplings)
    n_samples, n = int(n_samples), int(n_visible)
    if int(n_chains) < 1 or int(n_pilot_chains) < 1 or int(pilot_sweeps) < 16:
        raise ValueError("need n_chains >= 1, n_pilot_chains >= 1 and pilot_sweeps >= 16")
    if burn_in_factor < 20.0 or thin_factor < 2.0:
        raise ValueError("burn_in_factor must be >= 20 and thin_factor >= 2 (in units of tau)")
    kmat = _kernel_matrix(k)
    state = new_state(seed)

    xp = random_chains(int(n_pilot_chains), n, q, state)
    rec = run_recorded(xp, kmat, j, beta, int(pilot_sweeps), state)
    while True:
        kept = rec[:, :, rec.shape[2] // 2 :]
        taus = [integrated_autocorr_time(kept[o], window_c)[0] for o in range(3)]
        tau = max(taus)
        converged = kept.shape[2] >= 50.0 * tau
        if converged or rec.shape[2] >= max_pilot_sweeps:
            break
        rec = np.concatenate([rec, run_recorded(xp, kmat, j, beta, rec.shape[2], state)], axis=2)

    burn_in = max(int(math.ceil(burn_in_factor * tau)), 1)
    thin = max(int(math.ceil(thin_factor * tau)), 1)
    n_chains = int(n_chains)
    x = random_chains(n_chains, n, q, state)
    out = np.empty((n_samples, n), dtype=np.int8)
    run_production(x, kmat, j, beta, burn_in, thin, out, state)
    info = {
        "tau": tau,
        "tau_energy": taus[0],
        "tau_order_re": taus[1],
        "tau_order_abs": taus[2],
        "burn_in": burn_in,
        "thin": thin,
        "n_chains": n_chains,
        "pilot_sweeps": int(rec.shape[2]),
        "pilot_converged": bool(converged),
    }
    return out, info


def mcmc_sample_ising(n_samples, n_visible, beta, seed, **options):
    """Heat-bath MCMC samples of the Ising ring: (int8[n_samples, n_visible] of +-1, info); q = 2, v = 1 - 2x."""
    x, info = mcmc_sample_xy(n_samples, n_visible, 2, beta, seed, **options)
    return (1 - 2 * x).astype(np.int8), info
