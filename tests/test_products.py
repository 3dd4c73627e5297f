"""kernels.products: table-lookup and direct products against plain NumPy, for awkward sizes (n not a
multiple of 4, one column, a partial last block) and both working precisions."""

import numpy as np
import pytest

from kernels.products import (
    accumulate_rows,
    column_codes,
    dot_rows,
    gather_columns,
    gather_rows,
    group_table,
    n_groups,
    padded_width,
    row_codes,
    transpose_into,
)


def spins(rng, shape):
    return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)


def ref_codes(X, n):
    G = n_groups(n)
    codes = np.zeros((X.shape[0], G), np.uint8)
    for g in range(G):
        for j in range(4):
            i = g + j * G
            if i < n:
                codes[:, g] |= (X[:, i] > 0).astype(np.uint8) << j
    return codes


@pytest.mark.parametrize("n", [1, 3, 4, 7, 12, 100, 101])
def test_row_and_column_codes(n):
    rng = np.random.default_rng(n)
    X = spins(rng, (9, n + 5))  # wider than n: only the first n columns count
    codes = np.empty((9, n_groups(n)), np.uint8)
    row_codes(X, n, codes)
    np.testing.assert_array_equal(codes, ref_codes(X, n))
    bits = (rng.random((n + 2, 6)) < 0.5).astype(np.uint8)  # 0/1 bits work as well as +-1 spins
    cc = np.empty((n_groups(n), 6), np.uint8)
    column_codes(bits, n, cc)
    np.testing.assert_array_equal(cc, ref_codes(bits[:n].T, n).T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 1.0)])
@pytest.mark.parametrize("n,L", [(7, 1), (12, 5), (100, 20), (101, 33)])
def test_lookup_product_equals_the_matrix_product(dtype, lo, hi, n, L):
    """sum_i val(x_ri) A[i, :] by group_table + gather_rows, and the column form, equal X @ A."""
    rng = np.random.default_rng(n * L)
    G = n_groups(n)
    A = np.zeros((4 * G, L), dtype)
    A[:n] = rng.normal(size=(n, L))
    X = spins(rng, (13, n))
    vals = np.where(X > 0, hi, lo)
    ref = vals @ A[:n].astype(np.float64)
    table = np.empty((G, 16, L), dtype)
    group_table(A, lo, hi, table)
    codes = np.empty((13, G), np.uint8)
    row_codes(X, n, codes)
    out = np.empty((13, L), dtype)
    gather_rows(table, codes, out)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, atol=tol * np.sqrt(n))
    # the column form: the blocks run over the rows of a (n, 13) array
    ccodes = np.empty((G, 13), np.uint8)
    column_codes(np.ascontiguousarray(X.T), n, ccodes)
    out_c = np.empty((13, L), dtype)
    gather_columns(table, ccodes, out_c)
    np.testing.assert_allclose(out_c, ref, atol=tol * np.sqrt(n))


def test_gather_rows_with_states_as_codes():
    """Potts: W laid out as table[i, a, :] and the configurations as codes give sum_i W[:, i, x_i]."""
    rng = np.random.default_rng(1)
    N, q, M = 9, 5, 3
    table = rng.normal(size=(N, q, M))
    X = rng.integers(0, q, (6, N)).astype(np.int8)
    out = np.empty((6, M))
    gather_rows(table, X, out)
    np.testing.assert_allclose(out, table[np.arange(N), X].sum(1), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [1, 3, 4, 5, 9])
def test_direct_products(dtype, M):
    rng = np.random.default_rng(M)
    R, N = 11, padded_width(70)
    rows = spins(rng, (R, N))
    rows[:, 70:] = 0
    W = np.zeros((M + 2, N), dtype)
    W[:M, :70] = rng.normal(size=(M, 70))
    out = np.empty((R, M), dtype)
    dot_rows(W, rows, out)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, rows @ W[:M].T.astype(np.float64), atol=tol * 10)
    T = rng.normal(size=(R, M)).astype(dtype)
    w = rng.normal(size=R).astype(dtype)
    w[2] = 0.0
    for L in (M, M + 1):  # with and without the field row (T read as 1 beyond its columns)
        acc = np.empty((L, N), dtype)
        accumulate_rows(T, w, rows, acc)
        Tx = np.hstack([T, np.ones((R, 1), dtype)])[:, :L].astype(np.float64)
        np.testing.assert_allclose(acc, (Tx * w[:, None]).T @ rows, atol=tol * 10)


def test_transpose_into_and_padded_width():
    A = np.arange(35.0).reshape(5, 7)
    out = np.full((9, 5), -1.0, np.float32)
    transpose_into(A, out)
    np.testing.assert_array_equal(out[:7], A.T)
    assert np.all(out[7:] == -1)
    assert [padded_width(n) for n in (1, 64, 65, 100)] == [64, 64, 128, 128]
