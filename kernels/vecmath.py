"""Elementary functions written for loops that LLVM vectorises.

Numba lowers ``math.exp`` to a library call that no loop vectorises here (there is no SVML), so the
Gibbs sweeps and the exact sums use these instead. Each is a small jitted function of one float, built
only from arithmetic, ``floor``, conversions and a bit cast, so a loop over an array of them becomes
SIMD code. They are deliberately not inlined by Numba: LLVM inlines them with their own fast-math
flags, so a caller compiled with reassociation cannot spoil their range reduction.

* ``exp32(x)``: float32 e^x, relative error < 4e-7 on [-87, 88] (arguments are clamped to it).
* ``exp64(x)``: float64 e^x, relative error < 4e-16 on [-708, 709] (clamped to it).
* ``log1p_unit(e)``: float64 log(1 + e) for 0 <= e <= 1, relative error < 3e-16.
* ``tanh32`` / ``tanh64``, ``sigmoid32`` / ``sigmoid64``: from one exponential of -|x|, so they
  never overflow; ``sigmoid_fast(x)`` picks the one of x's precision.
* ``cast_like(x, arr)``: x converted to arr's dtype (for code generic over float32 / float64).

Method: Cody-Waite reduction x = n ln 2 + r with |r| <= ln(2)/2, a Taylor polynomial for e^r, and
2^n assembled from its IEEE bits. n is rounded with np.floor, which stays in the argument's precision
(math.floor returns an int64, whose conversions run at half the vector width: 1.6x slower loops).
log1p_unit uses log(1 + e) = 2 atanh(z), z = e / (2 + e) <= 1/3.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# fast-math flags that keep the written order of operations (no reassociation) and keep NaN/Inf
# semantics; "contract" lets LLVM fuse a*b + c into an FMA.
FLAGS = {"contract", "nsz", "arcp"}


@intrinsic
def int32_bits_as_float32(typingctx, x):
    """The float32 whose IEEE bits are the int32 ``x``."""
    if x != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def int64_bits_as_float64(typingctx, x):
    """The float64 whose IEEE bits are the int64 ``x``."""
    if x != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_F32 = np.float32


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def exp32(x):
    """e^x for a float32 x (clamped to [-87, 88]); relative error < 4e-7."""
    x = min(max(x, _F32(-87.0)), _F32(88.0))
    n = np.floor(x * _F32(1.4426950408889634) + _F32(0.5))  # float32 floor: no trip through int64
    r = x - n * _F32(0.693145751953125)  # ln 2 in two parts: n * hi is exact
    r = r - n * _F32(1.428606765330187e-06)
    p = _F32(1.9875691500e-4)
    p = p * r + _F32(1.3981999507e-3)
    p = p * r + _F32(8.3334519073e-3)
    p = p * r + _F32(4.1665795894e-2)
    p = p * r + _F32(1.6666665459e-1)
    p = p * r + _F32(5.0000001201e-1)
    p = p * r * r + r + _F32(1.0)
    return p * int32_bits_as_float32(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))


# 1/k! for k = 12 .. 2 (Horner, highest first)
_INV_FACT = (2.08767569878680989792e-09, 2.50521083854417187751e-08, 2.75573192239858906526e-07,
             2.75573192239858906526e-06, 2.48015873015873015873e-05, 1.98412698412698412698e-04,
             1.38888888888888888889e-03, 8.33333333333333333333e-03, 4.16666666666666666667e-02,
             1.66666666666666666667e-01, 0.5)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def exp64(x):
    """e^x for a float64 x (clamped to [-708, 709]); relative error < 4e-16."""
    x = min(max(x, -708.0), 709.0)
    n = np.floor(x * 1.4426950408889634 + 0.5)  # float64 floor (math.floor would give an int64)
    r = x - n * 0.693147180369123816490  # ln 2 = hi + lo, hi with 21 trailing zero bits
    r = r - n * 1.90821492927058770002e-10
    p = _INV_FACT[0]
    for k in range(1, 11):
        p = p * r + _INV_FACT[k]
    p = (p * r * r + r) + 1.0
    return p * int64_bits_as_float64((np.int64(n) + np.int64(1023)) << np.int64(52))


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def log1p_unit(e):
    """log(1 + e) for a float64 0 <= e <= 1; relative error < 3e-16."""
    z = e / (2.0 + e)
    w = z * z
    p = 1.0 / 35.0
    for k in range(16, -1, -1):
        p = p * w + 1.0 / (2 * k + 1)
    return 2.0 * z * p


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def tanh32(x):
    """tanh of a float32, from e^(-2|x|)."""
    e = exp32(_F32(-2.0) * abs(x))
    t = (_F32(1.0) - e) / (_F32(1.0) + e)
    return t if x >= 0 else -t


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def tanh64(x):
    """tanh of a float64, from e^(-2|x|) (absolute error < 1e-16 near 0)."""
    e = exp64(-2.0 * abs(x))
    t = (1.0 - e) / (1.0 + e)
    return t if x >= 0 else -t


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sigmoid32(x):
    """1 / (1 + e^-x) of a float32, from e^(-|x|)."""
    e = exp32(-abs(x))
    return _F32(1.0) / (_F32(1.0) + e) if x >= 0 else e / (_F32(1.0) + e)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def sigmoid64(x):
    """1 / (1 + e^-x) of a float64, from e^(-|x|)."""
    e = exp64(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def log2cosh64(x):
    """log(2 cosh x) = |x| + log(1 + e^(-2|x|)) of a float64."""
    a = abs(x)
    return a + log1p_unit(exp64(-2.0 * a))


def sigmoid_fast(x):
    """1 / (1 + e^-x) in x's precision (sigmoid32 or sigmoid64); for jitted code."""
    raise NotImplementedError("sigmoid_fast is for jitted code")


@overload(sigmoid_fast, inline="always")
def _sigmoid_fast(x):
    if x == types.float32:
        return lambda x: sigmoid32(x)
    if isinstance(x, types.Float):
        return lambda x: sigmoid64(x)
    return None


def cast_like(x, arr):
    """x converted to the dtype of the array arr; for jitted code."""
    raise NotImplementedError("cast_like is for jitted code")


@overload(cast_like, inline="always")
def _cast_like(x, arr):
    dt = arr.dtype

    def impl(x, arr):
        return dt(x)

    return impl
