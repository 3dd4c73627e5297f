"""Exact samplers of the ring data models (docs/physics.md 2.1-2.3) by transfer matrices.

Every configuration is an independent exact draw (no burn-in): the first site (or first block of R
sites) is drawn from diag(T^N) / Tr T^N, then each next site x_(i+R) given the block B_i and B_1 with

    P(x_(i+R) | B_i, B_1) ∝ T(B_i, B_(i+1)) [T^(N-i)](B_(i+1), B_1),      i = 1 .. N-R,

and the remaining R-1 closing couplings are fixed by B_1. Tables of these conditionals are precomputed
from matrix powers rescaled to unit maximum (the scale cancels in each conditional). Ising: a threshold
table, one 32-bit uniform and one compare per site (two sites per 64-bit xoshiro256** draw). Potts/XY:
Walker alias tables, one 64-bit draw per site (32 bits pick the bucket, 32 bits the coin). Every
probability is exact to a few units of 2^-32, and a state of zero probability is never drawn.

Shift symmetry: every kernel depends on x_i - x_j mod q only, so the conditionals given B_1 equal those
given B_1 - x_1 (all entries shifted by -x_1). The table is stored for blocks with x_1 = 0 only (a factor
q smaller); B_1 itself, hence x_1, is drawn from the full diag(T^N).

Problems too large for a table (see `exact_fits`) go to the heat-bath MCMC of kernels.mcmc.
"""

import numpy as np
from numba import njit

from .mcmc import mcmc_sample_xy
from .rng import new_state, next_u64, uniform
from .transfer import block_power_step, block_weights, check_ring_args

# Exact block sampler budget: conditional table entries N S^2 / q * q = N S^2 (uint32 + int8 each) and the
# matrix-power work N S^2 q (multiply-adds), S = q^R.
MAX_TABLE_ENTRIES = 20_000_000
MAX_SETUP_WORK = 1_000_000_000

_TWO32 = 4294967296.0


def exact_fits(n_visible, q, n_couplings):
    """True when the exact block sampler is used: N q^(2R) <= MAX_TABLE_ENTRIES, N q^(2R+1) <= MAX_SETUP_WORK."""
    s = q**n_couplings
    return n_visible * s * s <= MAX_TABLE_ENTRIES and n_visible * s * s * q <= MAX_SETUP_WORK


# ----------------------------------------------------------------------------------------------- Ising


def ising_conditionals(n_visible, beta):
    """float64[N-1, 2, 2] table p[i, a, s] = P(v_(i+2) = +1 | v_(i+1), v_1), 0-based site i+1 -> i+2.

    Index 0 means spin +1, index 1 spin -1. With m = N - 1 - i remaining bonds and T^m(a, b) ∝ 1 + a b t^m,
    P(c | a, s) ∝ exp(beta a c) (1 + c s t^m), t = tanh(beta). Evaluated in logs, with t^m = exp(-x),
    x = m ell, ell = -ln t, so that 1 - t^m stays accurate (and nothing overflows) when t rounds to 1.
    """
    n = int(n_visible)
    beta = float(beta)
    if beta == 0.0:
        return np.full((n - 1, 2, 2), 0.5)
    m = (n - 1 - np.arange(n - 1)).astype(np.float64)
    e2 = np.exp(-2.0 * beta)
    y = 2.0 * e2 / (1.0 + e2)  # 1 - tanh(beta)
    # ln(-ln t) = ln(-ln(1 - y)), and -ln(1 - y) = y (1 + O(y)) with ln y = ln 2 - 2 beta - ln(1 + e2)
    log_ell = np.log(2.0) - 2.0 * beta - np.log1p(e2) if y < 1e-8 else np.log(-np.log1p(-y))
    log_x = np.log(m) + log_ell
    x = np.exp(log_x)
    with np.errstate(divide="ignore"):
        log_minus = np.where(x > 1e-8, np.log(-np.expm1(-x)), log_x)  # ln(1 - t^m)
    log_plus = np.log1p(np.exp(-x))  # ln(1 + t^m)
    p = np.empty((n - 1, 2, 2))
    for ai, a in enumerate((1.0, -1.0)):
        for si, (up, down) in enumerate(((log_plus, log_minus), (log_minus, log_plus))):
            z = 2.0 * beta * a + up - down  # ln w(+1) - ln w(-1)
            p[:, ai, si] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return p


def _to_thresholds(p):
    """Probabilities -> uint64 thresholds round(p 2^32) in [0, 2^32] (draw the event when u32 < threshold)."""
    return np.clip(np.rint(np.asarray(p) * _TWO32), 0.0, _TWO32).astype(np.uint64)


@njit(cache=True, inline="always")
def _next_u32(state, buf, have):
    """32 random bits, two per 64-bit draw: returns (bits, buffer, whether the buffer holds a half)."""
    if have:
        return buf & np.uint64(0xFFFFFFFF), buf, False
    buf = next_u64(state)
    return buf >> np.uint64(32), buf, True


@njit(cache=True)
def _ising_fill(out, thr, state):
    """Fill out (int8[n, N]) with exact Ising rings; thr[i, a, s] from ising_conditionals (uint64, 2^-32 units)."""
    n_samples, n = out.shape
    half = np.uint64(0x80000000)
    buf = np.uint64(0)
    have = False
    for k in range(n_samples):
        u, buf, have = _next_u32(state, buf, have)
        s = 0 if u < half else 1
        out[k, 0] = 1 - 2 * s
        a = s
        for i in range(n - 1):
            u, buf, have = _next_u32(state, buf, have)
            a = 0 if u < thr[i, a, s] else 1
            out[k, i + 1] = 1 - 2 * a


def sample_ising(n_samples, n_visible, beta, seed):
    """Exact samples of the Ising ring P(v) ∝ exp(beta sum_i v_i v_(i+1)): int8 (n_samples, n_visible) of +-1.

    v_1 is uniform, then v_(i+1) from P(v_(i+1) | v_i, v_1) (ising_conditionals). Deterministic for a seed.
    """
    check_ring_args(n_samples, n_visible, 2, beta, seed, "cosine", (1.0,))
    n_samples, n_visible, beta = int(n_samples), int(n_visible), float(beta)
    thr = _to_thresholds(ising_conditionals(n_visible, beta))
    out = np.empty((n_samples, n_visible), dtype=np.int8)
    _ising_fill(out, thr, new_state(seed))
    return out


# ------------------------------------------------------------------------------------- Potts / XY blocks


@njit(cache=True)
def _block_powers(w, n, cols):
    """Rescaled powers of the block matrix T (compact w, S x q): returns (v, diag_n).

    v[m] = T^m[:, cols] / max(T^m) for m = 0..n (float64[n+1, S, len(cols)]); diag_n = diag(T^n) / max(T^n).
    """
    s = w.shape[0]
    ncol = cols.size
    v = np.zeros((n + 1, s, ncol))
    cur = np.eye(s)
    nxt = np.empty((s, s))
    for c in range(ncol):
        v[0, cols[c], c] = 1.0
    for m in range(1, n + 1):
        mx = block_power_step(w, cur, nxt)
        inv = 1.0 / mx
        for a in range(s):
            for b in range(s):
                cur[a, b] = nxt[a, b] * inv
        for a in range(s):
            for c in range(ncol):
                v[m, a, c] = cur[a, cols[c]]
    diag_n = np.empty(s)
    for a in range(s):
        diag_n[a] = cur[a, a]
    return v, diag_n


@njit(cache=True)
def alias_table(p, thr, alias):
    """Walker/Vose alias table of weights p (float64[q] >= 0, sum > 0) into thr (uint32[q]), alias (int8[q]).

    Draw: k uniform in 0..q-1 and u32 uniform; state k if u32 < thr[k], else alias[k]. thr is the kept
    fraction in units of 2^-32 (clipped at 2^32 - 1); an alias is always a state of positive weight and a
    state of zero weight has thr = 0, so it is never drawn.
    """
    q = p.size
    tot = 0.0
    for x in range(q):
        tot += p[x]
    scaled = np.empty(q)
    small = np.empty(q, dtype=np.int64)
    large = np.empty(q, dtype=np.int64)
    ns = 0
    nl = 0
    for x in range(q):
        scaled[x] = p[x] * q / tot
        alias[x] = x
        if scaled[x] < 1.0:
            small[ns] = x
            ns += 1
        else:
            large[nl] = x
            nl += 1
    keep = np.ones(q)
    while ns > 0 and nl > 0:
        ns -= 1
        lo = small[ns]
        g = large[nl - 1]
        keep[lo] = scaled[lo]
        alias[lo] = g
        scaled[g] = (scaled[g] + scaled[lo]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    # leftovers (large, or small only by rounding) keep themselves: keep = 1, alias = self
    two32 = 4294967296.0
    best = np.argmax(p)
    for x in range(q):
        if p[x] <= 0.0 and alias[x] == x:
            alias[x] = best
        t = np.rint(keep[x] * two32)
        if p[x] <= 0.0:
            t = 0.0
        if t > two32 - 1.0:
            t = two32 - 1.0
        thr[x] = np.uint32(t)


@njit(cache=True)
def _block_tables(w, v, n, r):
    """Alias tables of the conditionals for steps j = 0..n-r-1 (site x_(j+r), 0-based, given B_j, B_1).

    P(x | B, c) ∝ w[B, x] v[n-1-j][shift(B, x), c], c indexing the blocks B_1 with x_1 = 0. Returns thr
    (uint32[C, n-r, S, q]) and alias (int8[C, n-r, S, q]) as made by alias_table; rows of unreachable
    blocks (zero weight) are left uniform, and are never visited.
    """
    s, q = w.shape
    top = s // q
    ncol = v.shape[2]
    steps = max(n - r, 0)
    thr = np.full((ncol, steps, s, q), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    alias = np.zeros((ncol, steps, s, q), dtype=np.int8)
    p = np.empty(q)
    for c in range(ncol):
        for j in range(steps):
            vm = v[n - 1 - j]
            for b in range(s):
                base = b // q
                tot = 0.0
                for x in range(q):
                    p[x] = w[b, x] * vm[base + x * top, c]
                    tot += p[x]
                if tot <= 0.0:
                    for x in range(q):
                        alias[c, j, b, x] = x
                    continue
                alias_table(p, thr[c, j, b], alias[c, j, b])
    return thr, alias


@njit(cache=True)
def _block_fill(out, q, r, b1_cdf, b1_first, b1_rel, thr, alias, nxt, state):
    """Fill out (int8[n_samples, N]) with exact ring samples from the precomputed alias tables.

    B_1 is drawn from b1_cdf (cumulative diag(T^N) / Tr T^N over all S blocks, 53-bit uniform); x_1 =
    b1_first[B_1] and the walk continues in the frame x_1 = 0 (b1_rel[B_1] = code of B_1 - x_1);
    nxt[code, x] = shift(code, x). Each site takes one 64-bit draw: the high 32 bits pick the alias
    bucket (hi * q) >> 32, the low 32 bits the coin.
    """
    n_samples, n = out.shape
    s_states = b1_cdf.size
    steps = thr.shape[1]
    lo_mask = np.uint64(0xFFFFFFFF)
    q64 = np.uint64(q)
    first = min(r, n)
    for k in range(n_samples):
        b1 = np.searchsorted(b1_cdf, uniform(state), side="right")
        if b1 >= s_states:
            b1 = s_states - 1
        sh = b1_first[b1]
        code = b1_rel[b1]
        c = code // q
        cc = code
        for j in range(first):
            x = cc % q + sh
            if x >= q:
                x -= q
            out[k, j] = x
            cc //= q
        tc = thr[c]
        ac = alias[c]
        for j in range(steps):
            z = next_u64(state)
            kk = np.int64(((z >> np.uint64(32)) * q64) >> np.uint64(32))
            if (z & lo_mask) < tc[j, code, kk]:
                x = kk
            else:
                x = np.int64(ac[j, code, kk])
            y = x + sh
            if y >= q:
                y -= q
            out[k, j + r] = y
            if r == 1:
                code = x
            else:
                code = nxt[code, x]


def _exact_block_sample(n_samples, n, q, beta, seed, k, j):
    r = j.size
    w = block_weights(k, beta, j)
    s = q**r
    codes = np.arange(s)
    cols = codes[codes % q == 0]  # blocks with x_1 = 0, column index c = code // q
    v, diag_n = _block_powers(w, n, cols)
    thr, alias = _block_tables(w, v, n, r)
    p_b1 = diag_n / diag_n.sum()
    b1_cdf = np.cumsum(p_b1)
    b1_cdf /= b1_cdf[-1]
    digits = (codes[:, None] // q ** np.arange(r)[None, :]) % q
    b1_first = digits[:, 0].astype(np.int64)
    b1_rel = (((digits - b1_first[:, None]) % q) * q ** np.arange(r)[None, :]).sum(axis=1).astype(np.int64)
    nxt = (codes[:, None] // q + np.arange(q)[None, :] * (s // q)).astype(np.int64)
    out = np.empty((n_samples, n), dtype=np.int8)
    _block_fill(out, q, r, b1_cdf, b1_first, b1_rel, thr, alias, nxt, new_state(seed))
    p_x1 = np.bincount(b1_first, weights=p_b1, minlength=q)  # P(x_1): uniform by the global shift symmetry
    return out, {"method": "exact", "block_states": s, "table_entries": int(thr.size), "p_first": p_x1}


def sample_ring(
    n_samples,
    n_visible,
    q,
    beta,
    seed,
    kernel="cosine",
    couplings=(1.0,),
    method="auto",
    return_info=False,
    **mcmc_options,
):
    """Samples of the range-R Potts/XY ring, P(x) ∝ exp(beta sum_i sum_r J_r K(x_i - x_(i+r))).

    kernel: "cosine" | "potts" | "short_range" | float array of length q (transfer.angular_kernel);
    couplings: (J_1, ..., J_R). method: "exact" (block transfer matrix; ValueError if it does not fit
    the budget of exact_fits), "mcmc" (kernels.mcmc.mcmc_sample_xy, options passed through) or "auto"
    (exact when it fits). Returns int8 (n_samples, n_visible) of states 0..q-1, and with return_info
    also a dict (method, and the MCMC diagnostics or the exact sampler's P(x_1)).
    """
    q, beta, k, j = check_ring_args(n_samples, n_visible, q, beta, seed, kernel, couplings)
    n_samples, n = int(n_samples), int(n_visible)
    if method not in ("auto", "exact", "mcmc"):
        raise ValueError(f"method must be 'auto', 'exact' or 'mcmc', got {method!r}")
    fits = exact_fits(n, q, j.size)
    if method == "exact" and not fits:
        raise ValueError(f"exact sampler too large for N={n}, q={q}, R={j.size}; use method='mcmc' or 'auto'")
    if method == "mcmc" or (method == "auto" and not fits):
        out, info = mcmc_sample_xy(n_samples, n, q, beta, seed, kernel=k, couplings=j, **mcmc_options)
        info = dict(info, method="mcmc")
    else:
        out, info = _exact_block_sample(n_samples, n, q, beta, int(seed), k, j)
    return (out, info) if return_info else out


def sample_xy(n_samples, n_visible, q, beta, seed, kernel="cosine", couplings=(1.0,)):
    """Samples of the discretized XY (Potts) ring: int8 (n_samples, n_visible) of states 0..q-1 (q <= 127).

    P(x) ∝ exp(beta sum_i sum_{r=1..R} J_r K(x_i - x_(i+r))), K = cos(2 pi d / q) by default. Exact (block
    transfer matrix over q^R states) when it fits the table budget, heat-bath MCMC otherwise (sample_ring).
    """
    return sample_ring(n_samples, n_visible, q, beta, seed, kernel=kernel, couplings=couplings)
