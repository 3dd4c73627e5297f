"""RBM conditionals and Gibbs sweeps of all persistent chains together (docs/physics.md section 3).

Model parameters, as training keeps them (float64):
    spin visible   v_i in {-1,+1} (int8):  W (M, N), g (N,)
    Potts visible  x_i in {0..q-1} (int8): W (M, N, q), g (N, q) (zero-sum gauge over the last axis)
    hidden units: one potential `kind` (kernels.potentials codes) with per-unit gamma (M,), theta (M,)

Hidden input I_mu = sum_i w_{i mu}(v_i); P(h_mu | v) ∝ exp(-U(h_mu) + h_mu I_mu);
P(v_i | h) ∝ exp(g_i(v_i) + sum_mu w_{i mu}(v_i) h_mu).

Site arrays are padded to Np = padded_width(N) entries (a multiple of 64, so that loops over sites
have no scalar remainder): padding entries of W, g and of the chain rows are zero and stay zero (the
samplers write only the N real sites), so they never change a result.

A sweep v -> h -> v advances every chain at once, in three vectorised passes: hidden inputs of all
chains (table lookups, kernels.products), hidden units, visible units. It reads the parameters from a
*model*, a copy laid out for it (`SpinModel`, `PottsModel`; filled by `load_spin_model` /
`load_potts_model` after every parameter update), and writes only into preallocated scratch
(`ChainScratch`): nothing is allocated inside an update. Working precision is the model's dtype:
float32 for PCD, where it halves the cost of every pass and its rounding (1e-7 relative per value,
about sqrt(rows) times that in the sums over the rows of an update) is far below the estimator's noise
(~1/sqrt(chains)); float64 for the exact method's data term.

Visible units given binary (spin / bernoulli) hidden units take one of three routes (`visible_route`):
    VIS_TABLE    P(v_i | h) tabulated for all 2^M hidden patterns once per update (pays when
                 2^M <= chains * k): a sweep compares draws with a table row;
    VIS_GROUPS   fields F = H W by lookup over blocks of four hidden units, then the conditionals;
    VIS_REAL     real-valued hidden units (gaussian, double_well): F = g + sum_mu h_mu W_mu.
Random numbers: binary units and visible units use 32-bit uniforms from lockstep lanes
(kernels.rng.fill_lanes), one buffer per sweep; real-valued hidden units draw from the scalar stream.
A probability p is resolved to 2^-24 (float compares u * (1 + e^-x) < 1 with 24-bit u) or to
2^-32 with a relative error 1e-7 of min(p, 1 - p) (integer thresholds of the table route).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from . import potentials as pot
from .products import dot_rows, gather_rows, group_table, n_groups, padded_width, row_codes, transpose_into
from .rng import fill_lanes, lanes_buffer_size
from .vecmath import cast_like, exp32

FLAGS = {"contract", "reassoc", "nsz", "arcp"}  # SIMD sums; results per machine type (see products)

VIS_TABLE, VIS_GROUPS, VIS_REAL = 0, 1, 2
MAX_TABLE_HIDDEN = 10
DIRECT_MAX_HIDDEN = 24
"""Up to this many hidden units the hidden inputs (and the spin-visible gradient) are direct products
over contiguous sites; above it, lookups over blocks of four (kernels.products), whose table rows of M
entries are too short to pay for few units."""


def direct_products(n_hidden):
    """True when n_hidden hidden units take the direct products, not the lookups (M <= DIRECT_MAX_HIDDEN).

    The layouts (spin_model, potts_model, kernels.train.minibatch_scratch) ask this at allocation time
    and the jitted code follows the arrays' shapes, so tests can lower DIRECT_MAX_HIDDEN to reach the
    lookup paths at small M.
    """
    return n_hidden <= DIRECT_MAX_HIDDEN

_F32 = np.float32
_TWO24 = np.float32(16777216.0)
_TWO32 = 4294967296.0
_MAX_U32 = 4294967295.0  # largest uint32, as a float64

SpinModel = namedtuple("SpinModel", "n WT tab_v W tab_h thr f g theta")
SpinModel.__doc__ = """Spin-visible parameters laid out for the sweeps (dtype F = working precision).

    n      int               N, the number of (real) visible units; site arrays have Np >= N entries
    WT     (4 Gv, M) F       W^T; rows >= N zero (Gv = n_groups(N)); empty if M <= DIRECT_MAX_HIDDEN
    tab_v  (Gv, 16, M) F     group_table(WT, -1, 1): hidden inputs of +-1 rows by lookup (idem)
    W      (4 Gh, Np) F      W; rows >= M zero (Gh = n_groups(M))
    tab_h  (Gh, 16, Np) F    group_table(W, lo, hi) with g added to block 0 (VIS_GROUPS; else empty)
    thr    (2^M, Np) uint32  floor(2^32 P(v_i = +1 | hidden pattern)) (VIS_TABLE; else empty)
    f      (2^M, Np) F       scratch: the visible fields of every hidden pattern (VIS_TABLE)
    g      (Np,) F           visible fields
    theta  (M,) F            hidden fields
"""

PottsModel = namedtuple("PottsModel", "n WT W tab_h thr f g theta")
PottsModel.__doc__ = """Potts-visible parameters laid out for the sweeps (dtype F = working precision).

    n      int                    N, the number of (real) visible units; site arrays have Np >= N entries
    WT     (N, q, M) F            WT[i, a, mu] = W[mu, i, a]: hidden inputs by gather (codes = states);
                                  empty if M <= DIRECT_MAX_HIDDEN (then W is gathered site by site)
    W      (4 Gh, q, Np) F        W[mu, a, i] (state-major: sampling vectorises over sites); rows >= M zero
    tab_h  (Gh, 16, q Np) F       group_table(W, lo, hi) with g added to block 0 (VIS_GROUPS; else empty)
    thr    (2^M, q - 1, Np) uint32 floor(2^32 P(x_i <= a | hidden pattern)) (VIS_TABLE; else empty)
    f      (q + 3, Np) F          scratch: one pattern's fields and three per-site rows (VIS_TABLE)
    g      (q, Np) F              visible fields, state-major
    theta  (M,) F                 hidden fields
"""

ChainScratch = namedtuple("ChainScratch", "codes I bits hcodes H F aux buf")
ChainScratch.__doc__ = """Per-chain scratch of the sweeps (C chains; F = working precision).

    codes   (C, Gv) uint8     visible block codes (spin visible; (C, 0) for Potts)
    I       (C, M) F          hidden inputs
    bits    (C, M) uint8      binary hidden units as bits (1 for h = +1 or h = 1)
    hcodes  (C, Gh) uint8     hidden block codes (VIS_GROUPS)
    H       (C, M) float64    real-valued hidden units (VIS_REAL)
    F       (1, Q, Np) F      visible fields of one chain (Q = 1 for spins, q for Potts): chains are
                              sampled one by one from their fields, which stay in cache
    aux     (3, Np) F         per-site scratch of the Potts draw
    buf     (n,) uint64       random buffer: C (M + N) 32-bit uniforms a sweep
"""


def visible_route(kind, n_hidden, n_chains, k):
    """VIS_TABLE, VIS_GROUPS or VIS_REAL (module docstring) for a PCD-k run with n_chains chains."""
    if kind not in (pot.SPIN, pot.BERNOULLI):
        return VIS_REAL
    # a table entry costs about what one chain-site update costs (M additions and one exp)
    if n_hidden <= MAX_TABLE_HIDDEN and (1 << n_hidden) <= n_chains * k:
        return VIS_TABLE
    return VIS_GROUPS


def binary_levels(kind):
    """(lo, hi): the two values of a binary hidden unit (spin: -1, +1; bernoulli: 0, 1)."""
    return (-1.0, 1.0) if kind == pot.SPIN else (0.0, 1.0)


def spin_model(n_hidden, n_visible, route=VIS_REAL, dtype=np.float32):
    """An empty SpinModel for `route` (fill it with load_spin_model)."""
    M, N = n_hidden, n_visible
    Np = padded_width(N)
    gv, gh = (0 if direct_products(M) else n_groups(N)), n_groups(M)
    return SpinModel(
        n=N, WT=np.zeros((4 * gv, M), dtype), tab_v=np.zeros((gv, 16, M), dtype),
        W=np.zeros((4 * gh, Np), dtype),
        tab_h=np.zeros((gh, 16, Np) if route == VIS_GROUPS else (0, 16, Np), dtype),
        thr=np.zeros(((1 << M) if route == VIS_TABLE else 0, Np), np.uint32),
        f=np.zeros(((1 << M) if route == VIS_TABLE else 0, Np), dtype),
        g=np.zeros(Np, dtype), theta=np.zeros(M, dtype))


def potts_model(n_hidden, n_visible, q, route=VIS_REAL, dtype=np.float32):
    """An empty PottsModel for `route` (fill it with load_potts_model)."""
    M, N = n_hidden, n_visible
    Np = padded_width(N)
    gh = n_groups(M)
    return PottsModel(
        n=N, WT=np.zeros((0 if direct_products(M) else N, q, M), dtype), W=np.zeros((4 * gh, q, Np), dtype),
        tab_h=np.zeros((gh, 16, q * Np) if route == VIS_GROUPS else (0, 16, q * Np), dtype),
        thr=np.zeros(((1 << M) if route == VIS_TABLE else 0, q - 1, Np), np.uint32),
        f=np.zeros((q + 3, Np), dtype),
        g=np.zeros((q, Np), dtype), theta=np.zeros(M, dtype))


def chain_scratch(n_chains, n_hidden, n_visible, q=None, dtype=np.float32):
    """ChainScratch for n_chains chains (q=None: spin visible units)."""
    C, M, N = n_chains, n_hidden, n_visible
    Np = padded_width(N)
    return ChainScratch(
        codes=np.zeros((C, n_groups(N) if q is None else 0), np.uint8), I=np.zeros((C, M), dtype),
        bits=np.zeros((C, M), np.uint8), hcodes=np.zeros((C, n_groups(M)), np.uint8),
        H=np.zeros((C, M)), F=np.zeros((1, 1 if q is None else q, Np), dtype),
        aux=np.zeros((3, Np), dtype), buf=np.zeros(lanes_buffer_size(C * (M + N)), np.uint64))


# ------------------------------------------------------------------------------------ models


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _spin_tables(W, g, P, lo, hi, route):
    """Fill the visible-unit tables of a SpinModel from its W, g (route VIS_GROUPS or VIS_TABLE)."""
    M, N = W.shape
    if route == VIS_GROUPS:
        group_table(P.W, lo, hi, P.tab_h)
        for p in range(16):
            row = P.tab_h[0, p]
            for i in range(N):
                row[i] += P.g[i]
    elif route == VIS_TABLE:
        visible_table_spin(P.W[:M], P.g, lo, hi, P.n, P.f, P.thr)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def load_spin_model(W, g, theta, lo, hi, route, P):
    """Copy W (M, N), g (N,), theta (M,) (float64) into the SpinModel P and rebuild its tables.

    lo, hi: binary_levels of the hidden units (used by VIS_GROUPS / VIS_TABLE).
    """
    M, N = W.shape
    for mu in range(M):
        for i in range(N):
            P.W[mu, i] = W[mu, i]
        P.theta[mu] = theta[mu]
    for i in range(N):
        P.g[i] = g[i]
    if P.tab_v.shape[0] > 0:
        transpose_into(W, P.WT)
        group_table(P.WT, -1.0, 1.0, P.tab_v)
    _spin_tables(W, g, P, lo, hi, route)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def load_potts_model(W, g, theta, lo, hi, route, P):
    """Copy W (M, N, q), g (N, q), theta (M,) (float64) into the PottsModel P and rebuild its tables."""
    M, N, q = W.shape
    for mu in range(M):
        for i in range(N):
            for a in range(q):
                P.W[mu, a, i] = W[mu, i, a]
        P.theta[mu] = theta[mu]
    if P.WT.shape[0] > 0:
        transpose_into(W.reshape(M, N * q), P.WT.reshape(N * q, M))
    for i in range(N):
        for a in range(q):
            P.g[a, i] = g[i, a]
    if route == VIS_GROUPS:
        Gh = P.tab_h.shape[0]
        K = P.tab_h.shape[2]
        group_table(P.W.reshape(4 * Gh, K), lo, hi, P.tab_h)
        gflat = P.g.reshape(K)
        for p in range(16):
            row = P.tab_h[0, p]
            for k in range(K):
                row[k] += gflat[k]
    elif route == VIS_TABLE:
        visible_table_potts(P.W[:M], P.g, lo, hi, P.f, P.thr)


@njit(cache=True, inline="always")
def _top_bit(p):
    """Index of the highest set bit of p >= 1."""
    j = 0
    while (p >> (j + 1)) > 0:
        j += 1
    return j


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def visible_table_spin(W, g, lo, hi, n, f, thr):
    """thr[p, i] = floor(2^32 P(v_i = +1 | h(p))), clipped to 2^32 - 1, for every hidden pattern p and
    the sites i < n.

    W (M, Np), g (Np,) float; h(p)_mu = hi if bit mu of p is set, else lo; f (2^M, Np) float scratch
    (receives the fields); thr (2^M, Np) uint32. The fields f(p) = g + sum_mu h_mu W_mu are built
    pattern by pattern (each the pattern without its highest bit plus (hi - lo) times that bit's row);
    the smaller of P(+1), P(-1) is computed, so both tails keep their relative precision. Spin hidden
    units with g = 0: the pattern with every bit flipped has fields -f, so the upper half of the table
    is the bitwise complement of the lower half (no exponential).
    """
    M = W.shape[0]
    N = n
    mirror = lo == -1.0 and hi == 1.0
    for i in range(N):
        if g[i] != 0:
            mirror = False
    n_pat = (1 << (M - 1)) if mirror else (1 << M)
    f0 = f[0]
    low = cast_like(lo, f)
    d = cast_like(hi - lo, f)
    for i in range(N):
        f0[i] = g[i]
    for mu in range(M):
        row = W[mu]
        for i in range(N):
            f0[i] += low * row[i]
    for p in range(1, n_pat):
        fp = f[p]
        j = _top_bit(p)
        src = f[p - (1 << j)]
        row = W[j]
        for i in range(N):
            fp[i] = src[i] + d * row[i]
    for p in range(n_pat):
        fp = f[p]
        out = thr[p]
        for i in range(N):
            x = _F32(fp[i])
            e = exp32(_F32(-2.0) * abs(x))
            small = np.int32(e / (_F32(1.0) + e) * _F32(_TWO32))  # 2^32 min(P(+1), P(-1)) < 2^31
            out[i] = np.uint32(small ^ -np.int32(x >= 0))  # x >= 0: 2^32 - 1 - small
    full = (1 << M) - 1
    for p in range(n_pat, 1 << M):
        src = thr[full ^ p]
        out = thr[p]
        for i in range(N):
            out[i] = ~src[i]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def visible_table_potts(W, g, lo, hi, scratch, thr):
    """thr[p, a, i] = floor(2^32 P(x_i <= a | h(p))) for a < q - 1 and every hidden pattern p.

    W (M, q, N), g (q, N) float (state-major); scratch (q + 3, N) float32; thr (2^M, q - 1, N)
    uint32. The softmax over states is computed in float32.
    """
    M, q, N = W.shape
    f = scratch[:q]
    m = scratch[q]
    tot = scratch[q + 1]
    for p in range(1 << M):
        for a in range(q):
            for i in range(N):
                f[a, i] = g[a, i]
        for mu in range(M):
            hm = _F32(hi if (p >> mu) & 1 else lo)
            for a in range(q):
                for i in range(N):
                    f[a, i] += hm * W[mu, a, i]
        _softmax_columns(f, m, tot, N)
        for i in range(N):
            tot[i] = _F32(_TWO32) / tot[i]
        for i in range(N):
            m[i] = 0.0
        for a in range(q - 1):
            out = thr[p, a]
            for i in range(N):
                m[i] += f[a, i]
                out[i] = np.uint32(min(np.float64(m[i] * tot[i]), _MAX_U32))


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _softmax_columns(f, m, tot, N):
    """f[a, i] <- exp(f[a, i] - max_a f[a, i]) in place for i < N; tot[i] = sum_a f[a, i]. m scratch."""
    q = f.shape[0]
    for i in range(N):
        m[i] = f[0, i]
    for a in range(1, q):
        for i in range(N):
            m[i] = max(m[i], f[a, i])
    for i in range(N):
        tot[i] = 0.0
    for a in range(q):
        for i in range(N):
            e = exp32(_F32(f[a, i] - m[i]))
            f[a, i] = e
            tot[i] += e


# ------------------------------------------------------------------------------------ conditionals


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def hidden_inputs_spin(P, rows, codes, I):
    """I[r, mu] = sum_i W[mu, i] v_r[i] for the rows v_r of `rows` (R, Np) int8 +-1 (padding 0): by
    lookup (codes (R, Gv) uint8 receives the rows' block codes), or as dot products for
    M <= DIRECT_MAX_HIDDEN. I (R, M) in the model's dtype.
    """
    if P.tab_v.shape[0] == 0:
        dot_rows(P.W, rows, I)
    else:
        row_codes(rows, P.n, codes)
        gather_rows(P.tab_v, codes, I)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def hidden_inputs_potts(P, rows, I):
    """I[r, mu] = sum_i W[mu, i, x_r[i]] for the rows x_r of `rows` (R, Np) int8 states (padding 0), by
    gather (of rows of M entries, or of single entries for M <= DIRECT_MAX_HIDDEN)."""
    if P.WT.shape[0] > 0:
        gather_rows(P.WT, rows, I)
        return
    R, M = I.shape
    N = rows.shape[1]
    for r in range(R):
        x = rows[r]
        for mu in range(M):
            w = P.W[mu]
            acc = cast_like(0.0, w)
            for i in range(N):
                acc += w[x[i], i]
            I[r, mu] = acc


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_hidden_bits(I, theta, lo, hi, u, bits):
    """bits[c, mu] = 1 with probability sigmoid((hi - lo)(I[c, mu] + theta[mu])), else 0.

    That is P(h = hi | I) for a binary unit with values lo, hi (spin: P(+1) = sigmoid(2(I + theta))).
    I (C, M) float32 (overwritten with -(hi - lo)(I + theta)); theta (M,) float32; u: uint32 uniforms,
    at least C M (u[c M + mu] is used); bits (C, M) uint8.
    """
    C, M = I.shape
    d = _F32(hi - lo)
    for c in range(C):
        for mu in range(M):
            I[c, mu] = -d * (I[c, mu] + theta[mu])
    x = I.reshape(C * M)
    b = bits.reshape(C * M)
    for k in range(C * M):
        uu = _F32(u[k] >> np.uint32(8))
        b[k] = np.uint8(uu * (_F32(1.0) + exp32(x[k])) < _TWO24)


@njit(cache=True, fastmath=False)
def sample_hidden_real(kind, I, gamma, theta, s, H):
    """H[c, mu] ~ P(h_mu | I[c, mu]) for real-valued units (any kind), from the scalar stream s."""
    C, M = I.shape
    for c in range(C):
        for mu in range(M):
            H[c, mu] = pot.sample(kind, np.float64(I[c, mu]), gamma[mu], theta[mu], s)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def visible_fields_real(W, g, H, F):
    """F[c, k] = g[k] + sum_mu H[c, mu] W[mu, k] over the flattened visible layout.

    W (>= M, Q, N) float, g (Q, N), H (C, M) float64, F (C, Q, N) in W's dtype.
    """
    C, M = H.shape
    K = F.shape[1] * F.shape[2]
    gf = g.reshape(K)
    for c in range(C):
        f = F[c].reshape(K)
        for k in range(K):
            f[k] = gf[k]
        for mu in range(M):
            h = _F32(H[c, mu])
            w = W[mu].reshape(K)
            for k in range(K):
                f[k] += h * w[k]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def visible_fields_groups(tab_h, hcodes, F):
    """F[c] = sum_g tab_h[g, hcodes[c, g]]: the visible fields of hidden patterns, by lookup over blocks
    of four hidden units (hcodes: row_codes of the hidden bits, (C, Gh) uint8).

    tab_h (Gh, 16, Q Np) from load_*_model (fields included); F (C, Q, Np).
    """
    C = F.shape[0]
    gather_rows(tab_h, hcodes, F.reshape(C, F.shape[1] * F.shape[2]))


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_spins(F, u, V, N):
    """V[c, i] = +1 with probability sigmoid(2 F[c, 0, i]), else -1 (int8), for the sites i < N.

    F (C, 1, >= N) float; u: uint32 uniforms, at least C N (u[c N + i] is used); V (C, >= N) int8.
    """
    C = F.shape[0]
    for c in range(C):
        f = F[c, 0]
        v = V[c]
        base = c * N
        for i in range(N):
            uu = _F32(u[base + i] >> np.uint32(8))
            v[i] = np.int8(2 * (uu * (_F32(1.0) + exp32(_F32(-2.0) * f[i])) < _TWO24) - 1)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_spins_groups(tab_h, hcodes, u, V, N, f):
    """V[c, i] = +1 with probability sigmoid(2 F[c, i]), else -1, for i < N, with the fields F[c] =
    sum_g tab_h[g, hcodes[c, g]] (VIS_GROUPS: visible_fields_groups and sample_spins fused).

    Each chain's fields go to the row f (>= N floats, in L1) and are sampled at once; the rows are
    added four at a time in the order of gather_rows (same sums, same bits). tab_h (Gh, 16, Np) with
    the fields g in block 0; hcodes (C, Gh) uint8; u: uint32 uniforms (u[c N + i]); V (C, >= N) int8.
    """
    C, G = hcodes.shape
    for c in range(C):
        cc = hcodes[c]
        if G >= 4:
            t0, t1, t2, t3 = tab_h[0, cc[0]], tab_h[1, cc[1]], tab_h[2, cc[2]], tab_h[3, cc[3]]
            for i in range(N):
                f[i] = (t0[i] + t1[i]) + (t2[i] + t3[i])
            g = 4
        else:
            t0 = tab_h[0, cc[0]]
            for i in range(N):
                f[i] = t0[i]
            g = 1
        while g + 4 <= G:
            t0, t1, t2, t3 = tab_h[g, cc[g]], tab_h[g + 1, cc[g + 1]], tab_h[g + 2, cc[g + 2]], tab_h[g + 3, cc[g + 3]]
            for i in range(N):
                f[i] += (t0[i] + t1[i]) + (t2[i] + t3[i])
            g += 4
        while g < G:
            t0 = tab_h[g, cc[g]]
            for i in range(N):
                f[i] += t0[i]
            g += 1
        v = V[c]
        base = c * N
        for i in range(N):
            uu = _F32(u[base + i] >> np.uint32(8))
            v[i] = np.int8(2 * (uu * (_F32(1.0) + exp32(_F32(-2.0) * f[i])) < _TWO24) - 1)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_spins_table(thr, bits, u, V, N):
    """V[c, i] = +1 if u[c N + i] < thr[p_c, i] else -1 for i < N, p_c = sum_mu bits[c, mu] << mu."""
    C, M = bits.shape
    for c in range(C):
        p = 0
        for mu in range(M):
            p |= np.int64(bits[c, mu]) << mu
        row = thr[p]
        v = V[c]
        uc = u[c * N:(c + 1) * N]
        for i in range(N):
            v[i] = np.int8(2 * (uc[i] < row[i]) - 1)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_potts(F, u, aux, X, N):
    """X[c, i] ~ softmax_a F[c, a, i] (int8 states) for i < N; F (C, q, Np) is overwritten; aux (3, Np)
    scratch; u: >= C N uint32 uniforms (u[c N + i] is used)."""
    C, q, _ = F.shape
    m = aux[0]
    tot = aux[1]
    cum = aux[2]
    for c in range(C):
        f = F[c]
        _softmax_columns(f, m, tot, N)
        base = c * N
        x = X[c]
        for i in range(N):
            tot[i] *= _F32(u[base + i] >> np.uint32(8)) * _F32(1.0 / 16777216.0)  # u tot
            cum[i] = 0.0
            m[i] = 0.0  # the state, counted in float
        for a in range(q - 1):
            for i in range(N):
                cum[i] += f[a, i]
                m[i] += _F32(cum[i] <= tot[i])
        for i in range(N):
            x[i] = np.int8(m[i])


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sample_potts_table(thr, bits, u, X, N):
    """X[c, i] = #{a < q - 1 : u[c N + i] >= thr[p_c, a, i]} for i < N: the state whose cumulative
    interval holds u."""
    C, M = bits.shape
    qm1 = thr.shape[1]
    for c in range(C):
        p = 0
        for mu in range(M):
            p |= np.int64(bits[c, mu]) << mu
        x = X[c]
        uc = u[c * N:(c + 1) * N]
        for i in range(N):
            x[i] = 0
        for a in range(qm1):
            row = thr[p, a]
            for i in range(N):
                x[i] += np.int8(uc[i] >= row[i])


# ------------------------------------------------------------------------------------ sweeps


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _hidden_step(kind, P, gamma, theta64, lo, hi, route, S, u, s):
    """Sample the hidden units of every chain from S.I (bits for binary units, S.H otherwise)."""
    if route == VIS_REAL:
        sample_hidden_real(kind, S.I, gamma, theta64, s, S.H)
    else:
        sample_hidden_bits(S.I, P.theta, lo, hi, u, S.bits)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gibbs_sweeps_spin(P, kind, gamma, theta, lo, hi, route, chains, k, s, lanes, S):
    """Advance every chain (rows of `chains`, (C, Np) int8 +-1, padding 0) by k sweeps v -> h -> v, in place.

    P: SpinModel (loaded); gamma, theta (M,) float64 (real-valued units); lo, hi: binary_levels;
    route: visible_route; s: scalar stream (real-valued hidden units); lanes: uint64[2, LANES]; S:
    ChainScratch for these chains (its contents are scratch only).
    """
    C = chains.shape[0]
    N = P.n
    M = S.I.shape[1]
    u = S.buf.view(np.uint32)
    uh = u[:C * M]
    uv = u[C * M:]
    for _ in range(k):
        hidden_inputs_spin(P, chains, S.codes, S.I)
        fill_lanes(lanes, S.buf)
        _hidden_step(kind, P, gamma, theta, lo, hi, route, S, uh, s)
        if route == VIS_TABLE:
            sample_spins_table(P.thr, S.bits, uv, chains, N)
            continue
        if route == VIS_GROUPS:
            row_codes(S.bits, M, S.hcodes)
            sample_spins_groups(P.tab_h, S.hcodes, uv, chains, N, S.F[0, 0])
            continue
        for c in range(C):  # one chain at a time: its fields stay in cache
            visible_fields_real(P.W, P.g.reshape(1, P.g.shape[0]), S.H[c:c + 1], S.F)
            sample_spins(S.F, uv[c * N:(c + 1) * N], chains[c:c + 1], N)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gibbs_sweeps_potts(P, kind, gamma, theta, lo, hi, route, chains, k, s, lanes, S):
    """Advance every Potts chain (rows of `chains`, (C, Np) int8 states, padding 0) by k sweeps, in place.

    Arguments as gibbs_sweeps_spin, with a PottsModel P.
    """
    C = chains.shape[0]
    N = P.n
    M = S.I.shape[1]
    u = S.buf.view(np.uint32)
    uh = u[:C * M]
    uv = u[C * M:]
    for _ in range(k):
        hidden_inputs_potts(P, chains, S.I)
        fill_lanes(lanes, S.buf)
        _hidden_step(kind, P, gamma, theta, lo, hi, route, S, uh, s)
        if route == VIS_TABLE:
            sample_potts_table(P.thr, S.bits, uv, chains, N)
            continue
        if route == VIS_GROUPS:
            row_codes(S.bits, M, S.hcodes)
        for c in range(C):  # one chain at a time: its fields stay in cache
            if route == VIS_GROUPS:
                visible_fields_groups(P.tab_h, S.hcodes[c:c + 1], S.F)
            else:
                visible_fields_real(P.W, P.g, S.H[c:c + 1], S.F)
            sample_potts(S.F, uv[c * N:(c + 1) * N], S.aux, chains[c:c + 1], N)


def gibbs(W, g, kind, gamma, theta, chains, k, s, lanes, route=None):
    """k Gibbs sweeps of every chain (rows of `chains`, (C, N) int8) in place (spin visible if W is 2-D,
    Potts if 3-D): a convenience over load_*_model and gibbs_sweeps_* that allocates its model, scratch
    and padded rows (tests, burn-in)."""
    M, N = W.shape[:2]
    C = chains.shape[0]
    rows = np.zeros((C, padded_width(N)), np.int8)
    rows[:, :N] = chains
    route = visible_route(kind, M, C, k) if route is None else route
    lo, hi = binary_levels(kind)
    gamma = np.asarray(gamma, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if W.ndim == 2:
        P = spin_model(M, N, route)
        load_spin_model(W, g, theta, lo, hi, route, P)
        S = chain_scratch(C, M, N)
        gibbs_sweeps_spin(P, kind, gamma, theta, lo, hi, route, rows, k, s, lanes, S)
    else:
        q = W.shape[2]
        P = potts_model(M, N, q, route)
        load_potts_model(W, g, theta, lo, hi, route, P)
        S = chain_scratch(C, M, N, q)
        gibbs_sweeps_potts(P, kind, gamma, theta, lo, hi, route, rows, k, s, lanes, S)
    chains[:] = rows[:, :N]


# ------------------------------------------------------------------------------------ likelihood


@njit(cache=True, inline="always")
def binary_hidden_value(kind, c, mu):
    """Value of hidden unit mu in the hidden configuration with bit pattern c (spin: +-1, bernoulli: 0/1)."""
    bit = (c >> mu) & 1
    if kind == pot.SPIN:
        return 2.0 * bit - 1.0
    return np.float64(bit)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def dot_spin(W, mu, v):
    """sum_i W[mu, i] v[i]."""
    acc = 0.0
    for i in range(v.shape[0]):
        acc += W[mu, i] * v[i]
    return acc


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def dot_potts(W, mu, x):
    """sum_i W[mu, i, x[i]]."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc += W[mu, i, x[i]]
    return acc


@njit(cache=True, fastmath=False)
def log_p_unnorm_spin(W, g, kind, gamma, theta, data):
    """log P(v) + log Z = sum_i g_i v_i + sum_mu Gamma_mu(I_mu(v)), for each row of `data` (float64)."""
    n, N = data.shape
    M = W.shape[0]
    out = np.empty(n)
    for b in range(n):
        v = data[b]
        acc = 0.0
        for i in range(N):
            acc += g[i] * v[i]
        for mu in range(M):
            acc += pot.cgf(kind, dot_spin(W, mu, v), gamma[mu], theta[mu])
        out[b] = acc
    return out


@njit(cache=True, fastmath=False)
def log_p_unnorm_potts(W, g, kind, gamma, theta, data):
    """log P(x) + log Z = sum_i g_i(x_i) + sum_mu Gamma_mu(I_mu(x)), for each row of `data` (float64)."""
    n, N = data.shape
    M = W.shape[0]
    out = np.empty(n)
    for b in range(n):
        x = data[b]
        acc = 0.0
        for i in range(N):
            acc += g[i, x[i]]
        for mu in range(M):
            acc += pot.cgf(kind, dot_potts(W, mu, x), gamma[mu], theta[mu])
        out[b] = acc
    return out
