"""kernels.rng lockstep lanes: the vectorised xoroshiro128++ against a plain-Python reference, and the
statistics of its 32-bit uniforms (uniformity; independence across lanes, halves and successive steps).

Chi-square tests use fixed seeds (deterministic, not flaky) and a rejection level of 1e-4; a power check
shows that the same tests reject a slightly biased or correlated generator.
"""

import numpy as np
import pytest
from scipy import stats

from kernels.rng import LANES, fill_lanes, lanes_buffer_size, lanes_from_stream, new_state, next_u64

MASK = (1 << 64) - 1
P_MIN = 1e-4


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def xoroshiro128pp(s0, s1, n):
    """Reference xoroshiro128++ (Blackman & Vigna's C code, in Python integers): n outputs."""
    out = []
    for _ in range(n):
        out.append((_rotl((s0 + s1) & MASK, 17) + s0) & MASK)
        s1 ^= s0
        s0 = _rotl(s0, 49) ^ s1 ^ ((s1 << 21) & MASK)
        s1 = _rotl(s1, 28)
    return out, (s0, s1)


def _uniforms(seed, n_u32):
    lanes = lanes_from_stream(new_state(seed))
    buf = np.empty(lanes_buffer_size(n_u32), np.uint64)
    fill_lanes(lanes, buf)
    return buf


def test_lanes_match_the_reference_generator():
    S = lanes_from_stream(new_state(7))
    start = S.copy()
    steps = 40
    buf = np.empty(steps * LANES, np.uint64)
    fill_lanes(S, buf)
    out = buf.reshape(steps, LANES)
    for lane in (0, 1, LANES // 2, LANES - 1):
        ref, (e0, e1) = xoroshiro128pp(int(start[0, lane]), int(start[1, lane]), steps)
        assert [int(x) for x in out[:, lane]] == ref
        assert (int(S[0, lane]), int(S[1, lane])) == (e0, e1)  # the state advanced exactly `steps` steps


def test_lanes_are_seeded_from_the_scalar_stream_deterministically():
    s1, s2 = new_state(3), new_state(3)
    a, b = lanes_from_stream(s1), lanes_from_stream(s2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s1, s2)  # and the scalar stream advanced the same way
    assert not np.array_equal(lanes_from_stream(new_state(4)), a)
    ref = new_state(3)
    words = [next_u64(ref) for _ in range(2 * LANES)]
    assert [int(x) for x in a.T.ravel()] == [int(w) for w in words]  # lane l gets outputs 2l, 2l + 1
    assert np.all((a[0] != 0) | (a[1] != 0))


def test_buffer_size():
    assert lanes_buffer_size(1) == LANES
    assert lanes_buffer_size(2 * LANES) == LANES
    assert lanes_buffer_size(2 * LANES + 1) == 2 * LANES


def _chi2_uniform(counts):
    return stats.chisquare(counts).pvalue


@pytest.mark.parametrize("half", ["low", "high"])
def test_32bit_uniforms_are_uniform(half):
    u = _uniforms(11, 2_000_000).view(np.uint32)
    u = u[0::2] if half == "low" else u[1::2]  # little endian: low half first
    for shift in (24, 16, 0):  # top, middle and bottom byte of the 32 bits
        counts = np.bincount((u >> np.uint32(shift)) & np.uint32(255), minlength=256)
        assert _chi2_uniform(counts) > P_MIN


def _pair_pvalue(a, b, bins=16):
    h, _, _ = np.histogram2d(a, b, bins=bins, range=[[0, 2**32], [0, 2**32]])
    return stats.chi2_contingency(h)[1]


def test_lockstep_lanes_are_independent():
    steps = 40000
    buf = _uniforms(5, 2 * LANES * steps).view(np.uint32).reshape(steps, LANES, 2)
    lo = buf[:, :, 0].astype(np.float64)
    # neighbouring lanes at the same step, the two halves of one output, and one lane at successive steps
    for a, b in [(lo[:, 0], lo[:, 1]), (lo[:, 7], lo[:, 8]), (lo[:, 0], lo[:, LANES - 1]),
                 (lo[:, 3], buf[:, 3, 1].astype(np.float64)), (lo[:-1, 5], lo[1:, 5])]:
        assert _pair_pvalue(a, b) > P_MIN
    # and all lanes together: the correlation matrix of the lanes is the identity within sampling noise
    r = np.corrcoef(lo.T)
    off = r[~np.eye(LANES, dtype=bool)]
    assert np.max(np.abs(off)) < 5 / np.sqrt(steps)


def test_the_tests_have_power():
    """A 1% bias of the top bit and a weak dependence between two lanes are both rejected."""
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2**32, 1_000_000, dtype=np.uint64)
    biased = np.where(rng.random(u.size) < 0.01, u | (1 << 31), u)
    counts = np.bincount((biased >> 24) & 255, minlength=256)
    assert _chi2_uniform(counts) < P_MIN
    a = rng.integers(0, 2**32, 40000, dtype=np.uint64).astype(np.float64)
    b = np.where(rng.random(a.size) < 0.05, a, rng.integers(0, 2**32, a.size, dtype=np.uint64).astype(np.float64))
    assert _pair_pvalue(a, b) < P_MIN
