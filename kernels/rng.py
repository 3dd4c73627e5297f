"""Seedable random streams for Numba kernels: xoshiro256** seeded by splitmix64.

A stream is a ``uint64[4]`` array (the xoshiro256** state); it is the only random state a kernel
holds, so copying it checkpoints the stream exactly. ``new_state(seed)`` expands an integer seed
(0 <= seed < 2**64) with splitmix64, as recommended by the generator's authors. Every draw
function takes the state array and advances it in place.

Reference: D. Blackman and S. Vigna, "Scrambled linear pseudorandom number generators" (2021).
"""

import numpy as np
from numba import njit

_MASK64 = (1 << 64) - 1


def new_state(seed):
    """Return a fresh xoshiro256** state (uint64[4]) for an integer seed, by splitmix64."""
    seed = int(seed)
    if not 0 <= seed <= _MASK64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    out = np.empty(4, dtype=np.uint64)
    x = seed
    for k in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out[k] = z ^ (z >> 31)
    return out


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def next_u64(s):
    """Next 64 random bits (xoshiro256**); advances ``s`` in place."""
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return result


@njit(cache=True, inline="always")
def uniform(s):
    """Uniform float64 on [0, 1) with 53 random bits."""
    return np.float64(next_u64(s) >> np.uint64(11)) * 1.1102230246251565e-16


@njit(cache=True, inline="always")
def uniform_open(s):
    """Uniform float64 on (0, 1): safe under log."""
    return (np.float64(next_u64(s) >> np.uint64(11)) + 0.5) * 1.1102230246251565e-16


@njit(cache=True)
def normal(s):
    """Standard normal deviate (Marsaglia polar method; the second deviate is discarded)."""
    while True:
        x = 2.0 * uniform(s) - 1.0
        y = 2.0 * uniform(s) - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 < 1.0:
            return x * np.sqrt(-2.0 * np.log(r2) / r2)


@njit(cache=True, inline="always")
def randbelow(s, n):
    """Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's multiply-shift rejection)."""
    n64 = np.uint64(n)
    threshold = (np.uint64(0) - n64) % n64
    while True:
        x = next_u64(s)
        lo32 = x & np.uint64(0xFFFFFFFF)
        hi32 = x >> np.uint64(32)
        # 64x64 -> 128 product split into high and low words
        a = lo32 * (n64 & np.uint64(0xFFFFFFFF))
        b = hi32 * (n64 & np.uint64(0xFFFFFFFF))
        c = lo32 * (n64 >> np.uint64(32))
        d = hi32 * (n64 >> np.uint64(32))
        mid = (a >> np.uint64(32)) + (b & np.uint64(0xFFFFFFFF)) + (c & np.uint64(0xFFFFFFFF))
        lo = (a & np.uint64(0xFFFFFFFF)) | (mid << np.uint64(32))
        hi = d + (b >> np.uint64(32)) + (c >> np.uint64(32)) + (mid >> np.uint64(32))
        if lo >= threshold:
            return np.int64(hi)


@njit(cache=True)
def permutation(s, n):
    """A uniformly random permutation of 0..n-1 (Fisher-Yates)."""
    p = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = randbelow(s, i + 1)
        t = p[i]
        p[i] = p[j]
        p[j] = t
    return p


@njit(cache=True)
def fill_normal(s, out, std):
    """Fill a float64 array (any shape) with N(0, std^2) deviates, in C order."""
    flat = out.reshape(out.size)
    for k in range(flat.size):
        flat[k] = std * normal(s)
