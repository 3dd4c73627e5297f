"""Matrix products with a two-valued operand, by table lookup (the "four Russians" method).

Every large product of an RBM update has one operand that takes two values per entry: the visible
spins (+-1) in the hidden inputs I = V W^T and in the gradient sum_r t_r v_r, the binary hidden
units (+-1 or 0/1) in the visible fields F = H W. Group the two-valued index into blocks of four:
for block g and each of its 16 patterns p, tabulate once the sum of the other operand's four rows
with the pattern's values; the product is then one table row per block, a quarter of the
multiply-adds, and each lookup adds a contiguous row (a loop LLVM vectorises).

Blocks are strided, block g = {g, g + G, g + 2G, g + 3G} (G = ``n_groups(n)``), so that the
codes of a row are four contiguous passes; indices beyond n are absent (bit 0, and their table rows
must be zero). Bit j of a code is entry g + jG; an entry's bit is ``x > 0`` (a +1 spin, a 1 bit).

    n_groups(n)                               G = ceil(n / 4)
    row_codes(X, n, codes)                    codes[r, g] = sum_j [X[r, g + jG] > 0] << j
    column_codes(X, n_rows, codes)            codes[g, c] = sum_j [X[g + jG, c] > 0] << j
    group_table(X, lo, hi, out)               out[g, p, :] = sum_j val(bit j of p) X[g + jG, :]
    gather_rows(table, codes, out)            out[r, :] = sum_g table[g, codes[r, g], :]
    gather_columns(table, codes, out)         out[c, :] = sum_g table[g, codes[g, c], :]

For few hidden units a table row is too short to pay; the direct products vectorise over sites:

    dot_rows(W, rows, out)                    out[r, mu] = sum_i W[mu, i] rows[r, i]
    accumulate_rows(T, w, rows, out)          out[m, :] = sum_r w[r] T[r, m] rows[r, :]

with val(0) = lo, val(1) = hi. Potts (one-hot) operands need no table: W itself, laid out as
table[i, a, :], is gathered with the states as codes (gather_rows with codes = the configurations).
All functions are dtype-generic (float32 in the Gibbs sweeps, float64 in the exact method).
"""

import numpy as np
from numba import njit

from .vecmath import cast_like

# reassociation lets LLVM vectorise the sums; results then depend on the vector width (bit-identical
# on a given machine type and software stack, as everywhere in these kernels)
FLAGS = {"contract", "reassoc", "nsz", "arcp"}


@njit(cache=True, inline="always")
def n_groups(n):
    """Number of strided blocks of four covering n entries."""
    return (n + 3) // 4


def padded_width(n):
    """n rounded up to a multiple of 64: rows this long have no scalar remainder in vectorised loops."""
    return -(-int(n) // 64) * 64


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def row_codes(X, n, codes):
    """codes[r, g] = sum_j [X[r, g + jG] > 0] << j over the first n columns of X.

    X: (R, >= n) int8 or uint8 (+-1 spins or 0/1 bits); codes: (R, G) uint8 with G = n_groups(n).
    """
    G = codes.shape[1]
    for r in range(codes.shape[0]):
        x = X[r]
        c = codes[r]
        if 4 * G == n:
            for g in range(G):
                c[g] = np.uint8((x[g] > 0) | ((x[G + g] > 0) << 1) | ((x[2 * G + g] > 0) << 2)
                                | ((x[3 * G + g] > 0) << 3))
        else:
            for g in range(G):
                c[g] = np.uint8(x[g] > 0)
            for j in range(1, 4):
                off = j * G
                for g in range(min(G, n - off)):
                    c[g] |= np.uint8(x[off + g] > 0) << j


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def column_codes(X, n_rows, codes):
    """codes[g, c] = sum_j [X[g + jG, c] > 0] << j over the first n_rows rows of X (blocks of rows).

    X: (>= n_rows, C) int8 or uint8; codes: (G, C) uint8 with G = n_groups(n_rows).
    """
    G, C = codes.shape
    for g in range(G):
        out = codes[g]
        x = X[g]
        for c in range(C):
            out[c] = np.uint8(x[c] > 0)
        for j in range(1, 4):
            r = g + j * G
            if r < n_rows:
                x = X[r]
                for c in range(C):
                    out[c] |= np.uint8(x[c] > 0) << j


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def group_table(X, lo, hi, out):
    """out[g, p, :] = sum_j val_j X[g + jG, :], val_j = hi if bit j of p is set else lo.

    X: (4G, L) float (rows of absent entries must be zero); out: (G, 16, L), same dtype. Each pattern
    is the one without its highest bit plus (hi - lo) times that bit's row: 16 L additions a block.
    """
    G = out.shape[0]
    L = X.shape[1]
    d = cast_like(hi - lo, X)
    lo = cast_like(lo, X)
    for g in range(G):
        base = out[g, 0]
        for m in range(L):
            base[m] = lo * (X[g, m] + X[g + G, m] + X[g + 2 * G, m] + X[g + 3 * G, m])
        for p in range(1, 16):
            j = 3 if p >= 8 else (2 if p >= 4 else (1 if p >= 2 else 0))
            src = out[g, p - (1 << j)]
            row = X[g + j * G]
            dst = out[g, p]
            for m in range(L):
                dst[m] = src[m] + d * row[m]


@njit(cache=True, inline="always", fastmath=FLAGS)
def _add_rows(o, t0, t1, t2, t3, L):
    for m in range(L):
        o[m] += (t0[m] + t1[m]) + (t2[m] + t3[m])


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gather_rows(table, codes, out):
    """out[r, :L] = sum_g table[g, codes[r, g], :L] for every row r of codes.

    table: (G, K, L) float; codes: (R, G) integer in [0, K); out: (R, >= L), same dtype as table.
    Four blocks are added per pass over the output row (fewer loads and stores of it).
    """
    G, _, L = table.shape
    if L == 1:
        for r in range(codes.shape[0]):
            c = codes[r]
            acc = table[0, c[0], 0]
            for g in range(1, G):
                acc += table[g, c[g], 0]
            out[r, 0] = acc
        return
    for r in range(codes.shape[0]):
        o = out[r]
        c = codes[r]
        for m in range(L):
            o[m] = 0
        g = 0
        while g + 4 <= G:
            _add_rows(o, table[g, c[g]], table[g + 1, c[g + 1]], table[g + 2, c[g + 2]],
                      table[g + 3, c[g + 3]], L)
            g += 4
        while g < G:
            t = table[g, c[g]]
            for m in range(L):
                o[m] += t[m]
            g += 1


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gather_columns(table, codes, out):
    """out[c, :L] = sum_g table[g, codes[g, c], :L] for every column c of codes.

    table: (G, K, L) float; codes: (G, C) integer in [0, K); out: (C, >= L), same dtype as table.
    """
    G, _, L = table.shape
    for c in range(codes.shape[1]):
        o = out[c]
        for m in range(L):
            o[m] = 0
        g = 0
        while g + 4 <= G:
            _add_rows(o, table[g, codes[g, c]], table[g + 1, codes[g + 1, c]],
                      table[g + 2, codes[g + 2, c]], table[g + 3, codes[g + 3, c]], L)
            g += 4
        while g < G:
            t = table[g, codes[g, c]]
            for m in range(L):
                o[m] += t[m]
            g += 1


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def transpose_into(A, out):
    """out[j, i] = A[i, j] for A (I, J) (any float dtypes); out (>= J, I). Contiguous writes, strided
    reads (which LLVM turns into vector gathers: 3x faster here than the other way round)."""
    n_i, n_j = A.shape
    for j in range(n_j):
        o = out[j]
        for i in range(n_i):
            o[i] = A[i, j]


# ---------------------------------------------------------------------------------------------
# Direct products, for few hidden units (a table row of M < ~8 entries is too short to pay)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def dot_rows(W, rows, out):
    """out[r, mu] = sum_i W[mu, i] rows[r, i] for mu < out.shape[1].

    W: (>= M, N) float; rows: (R, N) int8; out: (R, M), same dtype as W. Four hidden units share each
    pass over a row (four accumulators, one conversion of each entry).
    """
    R, M = out.shape
    N = rows.shape[1]
    zero = cast_like(0.0, W)
    for r in range(R):
        x = rows[r]
        mu = 0
        while mu + 4 <= M:
            w0, w1, w2, w3 = W[mu], W[mu + 1], W[mu + 2], W[mu + 3]
            a0 = a1 = a2 = a3 = zero
            for i in range(N):
                xi = cast_like(x[i], W)
                a0 += w0[i] * xi
                a1 += w1[i] * xi
                a2 += w2[i] * xi
                a3 += w3[i] * xi
            out[r, mu], out[r, mu + 1], out[r, mu + 2], out[r, mu + 3] = a0, a1, a2, a3
            mu += 4
        while mu < M:
            w = W[mu]
            acc = zero
            for i in range(N):
                acc += w[i] * cast_like(x[i], W)
            out[r, mu] = acc
            mu += 1


@njit(cache=True, fastmath=FLAGS, error_model="numpy", inline="always")
def _row_coefficient(T, w, r, m):
    """w[r] T[r, m], with T's missing last column read as 1."""
    return w[r] * T[r, m] if m < T.shape[1] else w[r]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def accumulate_rows(T, w, rows, out):
    """out[m, :] = sum_r w[r] T[r, m] rows[r, :] for every row m of out; a row m beyond T's columns
    reads T[r, m] as 1 (out[M] = sum_r w[r] rows[r]: the gradient of visible fields).

    T: (R, M) float; w: (R,) float; rows: (R, N) int8; out: (L, N), L = M or M + 1, dtype of T.
    Register-blocked: four rows by up to four output rows per pass (each entry converted once, each
    output entry loaded and stored once per four rows).
    """
    L, N = out.shape
    R = w.shape[0]
    for m in range(L):
        o = out[m]
        for i in range(N):
            o[i] = 0
    r = 0
    while r + 4 <= R:
        x0, x1, x2, x3 = rows[r], rows[r + 1], rows[r + 2], rows[r + 3]
        m = 0
        while m + 2 <= L:
            a0, a1 = _row_coefficient(T, w, r, m), _row_coefficient(T, w, r + 1, m)
            a2, a3 = _row_coefficient(T, w, r + 2, m), _row_coefficient(T, w, r + 3, m)
            b0, b1 = _row_coefficient(T, w, r, m + 1), _row_coefficient(T, w, r + 1, m + 1)
            b2, b3 = _row_coefficient(T, w, r + 2, m + 1), _row_coefficient(T, w, r + 3, m + 1)
            oa, ob = out[m], out[m + 1]
            for i in range(N):
                y0 = cast_like(x0[i], out)
                y1 = cast_like(x1[i], out)
                y2 = cast_like(x2[i], out)
                y3 = cast_like(x3[i], out)
                oa[i] += (a0 * y0 + a1 * y1) + (a2 * y2 + a3 * y3)
                ob[i] += (b0 * y0 + b1 * y1) + (b2 * y2 + b3 * y3)
            m += 2
        if m < L:
            a0, a1 = _row_coefficient(T, w, r, m), _row_coefficient(T, w, r + 1, m)
            a2, a3 = _row_coefficient(T, w, r + 2, m), _row_coefficient(T, w, r + 3, m)
            oa = out[m]
            for i in range(N):
                oa[i] += (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i])
        r += 4
    while r < R:
        x = rows[r]
        for m in range(L):
            t = _row_coefficient(T, w, r, m)
            o = out[m]
            for i in range(N):
                o[i] += t * x[i]
        r += 1
