"""kernels.vecmath: the SIMD-friendly elementary functions against high-precision references (mpmath)."""

import mpmath
import numpy as np
import pytest
from numba import njit

from kernels.vecmath import FLAGS, exp32, exp64, log1p_unit, log2cosh64, sigmoid32, sigmoid64, sigmoid_fast, tanh32, tanh64

mpmath.mp.dps = 40

_FUNCS = {"exp32": exp32, "exp64": exp64, "log1p_unit": log1p_unit, "tanh32": tanh32, "tanh64": tanh64,
          "sigmoid32": sigmoid32, "sigmoid64": sigmoid64, "log2cosh64": log2cosh64}


def _applier(f):
    # compiled with the callers' flags (reassociation on), as the kernels call them; not cached
    @njit(fastmath=FLAGS | {"reassoc"}, error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])

    return apply


def _run(name, x):
    out = np.empty_like(x)
    _applier(_FUNCS[name])(x, out)
    return out


def _mp(f, x):
    return np.array([float(f(mpmath.mpf(float(v)))) for v in x])


@pytest.mark.parametrize("name,dtype,lo,hi,rtol", [
    ("exp64", np.float64, -708.0, 709.0, 5e-16),
    ("exp64", np.float64, -1.0, 1.0, 5e-16),
    ("exp32", np.float32, -87.0, 88.0, 4e-7),
    ("exp32", np.float32, -2.0, 2.0, 4e-7),
])
def test_exp(name, dtype, lo, hi, rtol):
    x = np.linspace(lo, hi, 4001).astype(dtype)
    ref = _mp(mpmath.exp, x)
    got = _run(name, x).astype(np.float64)
    assert np.max(np.abs(got - ref) / ref) < rtol


def test_exp_clamps_instead_of_overflowing():
    big = _run("exp64", np.array([-1e4, 1e4, 800.0]))
    assert np.all(np.isfinite(big)) and big[0] > 0 and big[1] > 1e307
    big32 = _run("exp32", np.array([-1e4, 1e4], np.float32))
    assert np.all(np.isfinite(big32)) and big32[0] > 0 and big32[1] > 1e38


def test_log1p_unit():
    e = np.concatenate([np.linspace(0, 1, 2001), np.geomspace(1e-300, 1e-3, 200)])
    ref = _mp(mpmath.log1p, e)
    got = _run("log1p_unit", e)
    assert got[0] == 0.0
    nz = ref > 0
    assert np.max(np.abs(got[nz] - ref[nz]) / ref[nz]) < 5e-16


@pytest.mark.parametrize("name,dtype,atol", [("tanh64", np.float64, 3e-16), ("tanh32", np.float32, 3e-7)])
def test_tanh(name, dtype, atol):
    big = np.finfo(dtype).max / 10
    x = np.concatenate([np.linspace(-30, 30, 3001), [-big, big, 0.0]]).astype(dtype)
    ref = _mp(mpmath.tanh, x)
    got = _run(name, x).astype(np.float64)
    assert np.max(np.abs(got - ref)) < atol


@pytest.mark.parametrize("name,dtype,rtol", [("sigmoid64", np.float64, 5e-16), ("sigmoid32", np.float32, 4e-7)])
def test_sigmoid_keeps_relative_precision_in_both_tails(name, dtype, rtol):
    lim = 700 if dtype == np.float64 else 80
    x = np.linspace(-lim, lim, 4001).astype(dtype)
    ref = _mp(lambda v: 1 / (1 + mpmath.exp(-v)), x)
    got = _run(name, x).astype(np.float64)
    assert np.max(np.abs(got - ref) / ref) < rtol


def test_log2cosh64():
    x = np.linspace(-700, 700, 4001)
    ref = _mp(lambda v: mpmath.log(2 * mpmath.cosh(v)), x)
    got = _run("log2cosh64", x)
    assert np.max(np.abs(got - ref) / np.abs(ref)) < 5e-16


def test_sigmoid_fast_picks_the_precision_of_its_argument():
    @njit
    def both(a, b):
        return sigmoid_fast(a), sigmoid_fast(b)

    r32, r64 = both(np.float32(0.3), 0.3)
    assert r32 == pytest.approx(1 / (1 + np.exp(-0.3)), rel=4e-7)
    assert r64 == pytest.approx(1 / (1 + np.exp(-0.3)), rel=1e-15)
    assert float(np.float32(r32)) == r32 and float(np.float32(r64)) != r64  # float32 vs float64 results
