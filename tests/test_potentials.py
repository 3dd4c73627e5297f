"""Tests for kernels/special.py and kernels/potentials.py against scipy (docs/physics.md section 3).

References are computed independently: quadrature (or the 2-state sum) of exp(-U(h) + h I), the
scipy special functions, scipy.stats.truncnorm, and CDFs obtained by integrating the density.
"""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from kernels.potentials import (
    BERNOULLI,
    DOUBLE_WELL,
    GAUSSIAN,
    POTENTIALS,
    SPIN,
    cgf,
    cgf_prime,
    cgf_prime_units,
    cgf_units,
    mean_dU_dtheta,
    mean_dU_dtheta_units,
    sample,
    sample_units,
)
from kernels.rng import new_state
from kernels.special import (
    erfcx,
    inv_mills_excess,
    log1pexp,
    log_erfcx,
    logcosh,
    sigmoid,
    truncnorm_positive,
)

N_DRAWS = 20000
KS_P_MIN = 1e-3

# --------------------------------------------------------------------------------------------
# Numba drivers for the per-call kernels
# --------------------------------------------------------------------------------------------
from numba import njit  # noqa: E402


@njit  # not cached: a cached caller would not see edits to the kernels it calls
def _draw_potential(kind, I, gamma, theta, seed_state, n):
    s = seed_state.copy()
    out = np.empty(n)
    for k in range(n):
        out[k] = sample(kind, I, gamma, theta, s)
    return out


@njit  # not cached: a cached caller would not see edits to the kernels it calls
def _draw_truncnorm(mu, sigma, seed_state, n):
    s = seed_state.copy()
    out = np.empty(n)
    for k in range(n):
        out[k] = truncnorm_positive(s, mu, sigma)
    return out


def draw(kind, I, gamma, theta, seed=12345, n=N_DRAWS):
    return _draw_potential(kind, float(I), float(gamma), float(theta), new_state(seed), n)


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------
def U_ref(kind, h, gamma, theta):
    if kind in (SPIN, BERNOULLI):
        return -theta * h
    if kind == GAUSSIAN:
        return gamma * h * h / 2 + theta * h
    return gamma * h * h / 2 + theta * abs(h)


def _pieces(kind, I, gamma, theta):
    """Integration intervals [lo, hi] (split at 0) with the peak of -U + hI in each, and the shift."""
    sd = 1 / math.sqrt(gamma)
    if kind == GAUSSIAN:
        mp = mn = (I - theta) / gamma
    else:
        mp, mn = (I - theta) / gamma, (I + theta) / gamma
    peak_p, peak_n = max(0.0, mp), min(0.0, mn)
    f = lambda h: -U_ref(kind, h, gamma, theta) + h * I  # noqa: E731
    shift = max(f(peak_p), f(peak_n))
    pieces = [(min(0.0, peak_n - 40 * sd), 0.0, peak_n), (0.0, max(0.0, peak_p + 40 * sd), peak_p)]
    return pieces, f, shift


def ref_integrals(kind, I, gamma, theta, powers=(1, 2, 4), absolute=False):
    """log Z and E[g(h)^k] for g = h (or |h|) by quadrature / 2-state sum."""
    if kind in (SPIN, BERNOULLI):
        hs = np.array([-1.0, 1.0]) if kind == SPIN else np.array([0.0, 1.0])
        logw = hs * (I + theta)
        logZ = special.logsumexp(logw)
        p = np.exp(logw - logZ)
        g = np.abs(hs) if absolute else hs
        return logZ, {k: float(np.sum(p * g**k)) for k in powers}
    pieces, f, shift = _pieces(kind, I, gamma, theta)

    def integral(k):
        tot = 0.0
        for lo, hi, pk in pieces:
            if hi <= lo:
                continue
            pts = [pk] if lo < pk < hi else None
            g = (lambda h: abs(h)) if absolute else (lambda h: h)  # noqa: E731
            val, _ = integrate.quad(
                lambda h: g(h) ** k * math.exp(f(h) - shift), lo, hi, points=pts,
                epsabs=0, epsrel=1e-13, limit=500,
            )
            tot += val
        return tot

    z = integral(0)
    return shift + math.log(z), {k: integral(k) / z for k in powers}


def ref_cdf(kind, I, gamma, theta, n_linear=3000, n_geom=600):
    """CDF of h | I by quadrature of the density between grid points, linearly interpolated.

    The grid is uniform over the support plus geometric near the cusp at 0 (the density can decay
    there on a scale much shorter than 1/sqrt(gamma)). Interpolation accuracy is checked on the fly:
    the CDF interpolated from every other grid point must match the quadrature at the others.
    """
    pieces, f, shift = _pieces(kind, I, gamma, theta)
    sd = 1 / math.sqrt(gamma)
    if kind == GAUSSIAN:
        lo, hi = pieces[0][2] + pieces[1][2] - 12 * sd, pieces[0][2] + pieces[1][2] + 12 * sd  # mode +- 12 sd
    else:
        lo, hi = pieces[0][2] - 12 * sd, pieces[1][2] + 12 * sd  # (tail mass beyond: < 1e-32)
    ext = max(-lo, hi, 1e-3)
    geo = np.geomspace(1e-7, ext, n_geom)
    grid = np.union1d(np.linspace(lo, hi, n_linear + 1), np.concatenate([-geo, [0.0], geo]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    dens = lambda h: math.exp(f(h) - shift)  # noqa: E731
    inc = [integrate.quad(dens, a, b, epsabs=0, epsrel=1e-12)[0] for a, b in zip(grid[:-1], grid[1:])]
    c = np.concatenate([[0.0], np.cumsum(inc)])
    c /= c[-1]
    coarse = np.interp(grid[1::2], grid[::2], c[::2])
    assert np.max(np.abs(coarse - c[1::2])) < 2e-4  # so the full grid is good to ~5e-5 << 1/sqrt(n)
    return lambda x: np.interp(x, grid, c, left=0.0, right=1.0)


# Parameter sets (I, gamma, theta): theta<0 double wells, theta>0 kinks, large |I|, extreme gamma
DW_CASES = [
    (0.0, 1.0, 0.0),
    (0.7, 1.0, 1.5),
    (-1.3, 2.0, -2.0),
    (3.0, 0.5, -1.0),
    (0.4, 4.0, -6.0),
    (-2.0, 1.0, 8.0),
    (30.0, 1.0, -2.0),
    (-30.0, 0.2, 0.5),
    (200.0, 3.0, -5.0),
    (-200.0, 1.0, 2.0),
    (0.1, 100.0, -100.0),
    (1000.0, 1.0, -3.0),
    (-5.0, 0.01, 3.0),
]
GAUSS_CASES = [(0.0, 1.0, 0.0), (0.5, 2.0, -0.3), (-30.0, 0.5, 1.0), (200.0, 4.0, 3.0), (-1000.0, 1.0, 0.0)]
BINARY_CASES = [(0.0, 0.0), (0.5, -0.2), (-3.0, 1.0), (30.0, 0.0), (-200.0, 5.0), (1000.0, -2.0), (-1000.0, 0.0)]

ALL_CASES = (
    [(SPIN, I, 1.0, t) for I, t in BINARY_CASES]
    + [(BERNOULLI, I, 1.0, t) for I, t in BINARY_CASES]
    + [(GAUSSIAN, *c) for c in GAUSS_CASES]
    + [(DOUBLE_WELL, *c) for c in DW_CASES]
)


def _id(c):
    names = {v: k for k, v in POTENTIALS.items()}
    return f"{names[c[0]]}-I{c[1]}-g{c[2]}-t{c[3]}"


# --------------------------------------------------------------------------------------------
# special.py
# --------------------------------------------------------------------------------------------
def test_erfcx_matches_scipy():
    xs = np.concatenate([
        np.linspace(-26.6, 30.0, 4001),
        np.geomspace(30.0, 1e300, 200),
        -np.geomspace(1e-300, 26.6, 200),
        np.geomspace(1e-300, 4.0, 200),
        [0.0, 3.999999999, 4.0, 4.000000001],
    ])
    ours = np.array([erfcx(x) for x in xs])
    # scipy evaluates 2 exp(x^2) - erfcx(-x) for x < 0, whose exp(x*x) carries ~x^2 eps relative error
    rtol = 5e-14 + 2.0 * np.minimum(xs, 0.0) ** 2 * np.finfo(float).eps
    assert np.all(np.abs(ours / special.erfcx(xs) - 1) <= rtol)
    assert erfcx(-26.7) == math.inf and erfcx(-1e300) == math.inf and erfcx(-math.inf) == math.inf
    assert erfcx(math.inf) == 0.0
    assert math.isnan(erfcx(math.nan))


def test_erfcx_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    xs = np.concatenate([np.linspace(-26.6, 40.0, 667), np.geomspace(40.0, 1e6, 30)])
    for x in xs:
        ref = mpmath.exp(mpmath.mpf(x) ** 2) * mpmath.erfc(mpmath.mpf(x))
        assert abs(erfcx(x) / float(ref) - 1) < 2e-15, x


def test_log_erfcx_matches_scipy_and_is_finite_for_very_negative_x():
    xs = np.concatenate([np.linspace(-26.0, 50.0, 2001), np.geomspace(50, 1e300, 100)])
    ours = np.array([log_erfcx(x) for x in xs])
    np.testing.assert_allclose(ours, np.log(special.erfcx(xs)), rtol=1e-13, atol=1e-14)
    # beyond overflow of erfcx: log erfcx(x) = x^2 + log erfc(x) = x^2 + log 2 + log_ndtr(-sqrt2 x)
    xs = -np.geomspace(1.0, 1e100, 300)
    ours = np.array([log_erfcx(x) for x in xs])
    ref = xs**2 + math.log(2) + special.log_ndtr(-math.sqrt(2) * xs)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=1e-14)


def test_inv_mills_excess_matches_quadrature():
    # E[z - a | z > a] for z ~ N(0,1) = int t exp(-a t - t^2/2) / int exp(-a t - t^2/2) over t > 0
    for a in [-30.0, -5.0, -1.0, 0.0, 0.3, 1.0, 2.5, 5.0, 5.7, 8.0, 20.0, 100.0, 1e4]:
        top = max(-a, 0.0) + 40.0 / max(1.0, a)
        pk = [max(-a, 0.0)] if a < 0 else None
        num = integrate.quad(lambda t: t * math.exp(-a * t - t * t / 2 - (a * a / 2 if a < 0 else 0)), 0, top,
                             points=pk, epsabs=0, epsrel=1e-13, limit=200)[0]
        den = integrate.quad(lambda t: math.exp(-a * t - t * t / 2 - (a * a / 2 if a < 0 else 0)), 0, top,
                             points=pk, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert inv_mills_excess(a) == pytest.approx(num / den, rel=1e-11), a
    # far tail: asymptotic series 1/a - 2/a^3 + 10/a^5
    for a in [1e6, 1e100, 1e300]:
        assert inv_mills_excess(a) == pytest.approx((1 - 2 / a / a) / a, rel=1e-15)
    # scipy: phi(a)/Q(a) - a in the moderate range where it has no cancellation trouble
    for a in np.linspace(-10, 3, 27):
        ref = math.sqrt(2 / math.pi) / special.erfcx(a / math.sqrt(2)) - a
        assert inv_mills_excess(a) == pytest.approx(ref, rel=1e-13)


def test_softplus_logcosh_sigmoid():
    xs = np.concatenate([np.linspace(-50, 50, 2001), [-1e3, -745.0, -40.0, 40.0, 745.0, 1e3, 1e300, -1e300]])
    sp = np.array([log1pexp(x) for x in xs])
    np.testing.assert_allclose(sp, np.logaddexp(0.0, xs), rtol=1e-15, atol=0)
    lc = np.array([logcosh(x) for x in xs])
    ref = np.logaddexp(xs, -xs) - math.log(2)
    np.testing.assert_allclose(lc, ref, rtol=1e-15, atol=1e-15)
    sg = np.array([sigmoid(x) for x in xs])
    np.testing.assert_allclose(sg, special.expit(xs), rtol=1e-15, atol=1e-300)
    assert logcosh(1e-8) == pytest.approx(0.5e-16, rel=1e-6)  # no cancellation error at 0 beyond atol


TRUNCNORM_CASES = [
    (0.0, 1.0),
    (1.0, 2.0),
    (5.0, 1.0),  # a = -5: almost untruncated
    (-0.2, 1.0),  # naive rejection branch, a = 0.2
    (-0.5, 1.0),  # Robert branch, a = 0.5
    (-3.0, 0.5),
    (-30.0, 1.0),
    (-1000.0, 1.0),
    (1000.0, 1.0),
    (-2.0, 1e-3),
]


@pytest.mark.parametrize("mu,sigma", TRUNCNORM_CASES)
def test_truncnorm_positive_matches_scipy(mu, sigma):
    x = _draw_truncnorm(mu, sigma, new_state(7), N_DRAWS)
    assert np.all(x > 0)
    dist = stats.truncnorm(-mu / sigma, np.inf, loc=mu, scale=sigma)
    if -mu / sigma > 30:  # scipy's loc/scale arithmetic cancels here; standardize by hand
        # z - a is what matters: (x/sigma) ~ standardized truncnorm on (a, inf) shifted by -a
        a = -mu / sigma
        cdf = lambda y: -np.expm1(special.log_ndtr(-(a + y / sigma)) - special.log_ndtr(-a))  # noqa: E731
        mean = sigma * (math.sqrt(2 / math.pi) / special.erfcx(a / math.sqrt(2)) - a)
        mean = sigma * (1 / a - 2 / a**3 + 10 / a**5) if a > 1e3 - 1 else mean
        p = stats.kstest(x, cdf).pvalue
    else:
        p = stats.kstest(x, dist.cdf).pvalue
        mean = dist.mean()
    assert p > KS_P_MIN, p
    se = x.std() / math.sqrt(x.size)
    assert abs(x.mean() - mean) < 5 * se


def test_truncnorm_extreme_tail_is_exponential():
    # a = -mu/sigma = 500: x / sigma ~ Exp(rate ~ a) up to O(1/a^2); no cancellation, no zeros
    x = _draw_truncnorm(-1e3, 2.0, new_state(3), N_DRAWS)
    assert np.all(x > 0)
    p = stats.kstest(x * 500.0 / 2.0, "expon").pvalue
    assert p > KS_P_MIN
    x = _draw_truncnorm(-1e200, 1.0, new_state(3), 100)
    assert np.all(x > 0) and np.all(np.isfinite(x))


# --------------------------------------------------------------------------------------------
# potentials.py: Gamma, Gamma', <dU/dtheta>
# --------------------------------------------------------------------------------------------
def test_codes():
    assert (SPIN, BERNOULLI, GAUSSIAN, DOUBLE_WELL) == (0, 1, 2, 3)
    assert POTENTIALS == {"spin": 0, "bernoulli": 1, "gaussian": 2, "double_well": 3}


@pytest.mark.parametrize("case", ALL_CASES, ids=_id)
def test_cgf_and_derivatives_match_integration(case):
    kind, I, gamma, theta = case
    logZ, m = ref_integrals(kind, I, gamma, theta, powers=(1,))
    _, mabs = ref_integrals(kind, I, gamma, theta, powers=(1,), absolute=True)
    G = cgf(kind, I, gamma, theta)
    assert G == pytest.approx(logZ, rel=1e-11, abs=1e-11)
    mean = cgf_prime(kind, I, gamma, theta)
    scale = max(1.0, abs(I) / gamma) if kind in (GAUSSIAN, DOUBLE_WELL) else 1.0
    assert mean == pytest.approx(m[1], rel=1e-9, abs=1e-10 * scale)
    # Gamma' against a central finite difference of Gamma (step relative to the curvature scale)
    d = 1e-4 * (math.sqrt(gamma) if kind in (GAUSSIAN, DOUBLE_WELL) else 1.0)
    fd = (cgf(kind, I + d, gamma, theta) - cgf(kind, I - d, gamma, theta)) / (2 * d)
    assert mean == pytest.approx(fd, rel=1e-6, abs=1e-6 + 1e-14 * abs(G) / d)
    # <dU/dtheta | I>
    dU = mean_dU_dtheta(kind, I, gamma, theta)
    expect = {SPIN: -m[1], BERNOULLI: -m[1], GAUSSIAN: m[1], DOUBLE_WELL: mabs[1]}[kind]
    assert dU == pytest.approx(expect, rel=1e-9, abs=1e-10 * scale)
    # ... which is -dGamma/dtheta
    dt = 1e-4 * (math.sqrt(gamma) if kind in (GAUSSIAN, DOUBLE_WELL) else 1.0)
    fdt = -(cgf(kind, I, gamma, theta + dt) - cgf(kind, I, gamma, theta - dt)) / (2 * dt)
    assert dU == pytest.approx(fdt, rel=1e-6, abs=1e-6 + 1e-14 * abs(G) / dt)


def test_closed_forms():
    for I in [-3.0, 0.0, 0.4, 2.0]:
        for th in [-1.0, 0.0, 0.5]:
            assert cgf(SPIN, I, 1.0, th) == pytest.approx(math.log(2 * math.cosh(I + th)), rel=1e-14)
            assert cgf(BERNOULLI, I, 1.0, th) == pytest.approx(math.log1p(math.exp(I + th)), rel=1e-14)
            for g in [0.5, 2.0]:
                ref = (I - th) ** 2 / (2 * g) + math.log(math.sqrt(2 * math.pi / g))
                assert cgf(GAUSSIAN, I, g, th) == pytest.approx(ref, rel=1e-14, abs=1e-15)
                # the docs/physics.md erfcx formula, with scipy's erfcx
                r = math.sqrt(2 * g)
                ref = math.log(math.sqrt(math.pi / (2 * g)) * (special.erfcx((th - I) / r) + special.erfcx((th + I) / r)))
                assert cgf(DOUBLE_WELL, I, g, th) == pytest.approx(ref, rel=1e-13, abs=1e-14)
    # theta = 0 double well is the theta = 0 Gaussian unit
    for I in [-50.0, -1.0, 0.3, 7.0]:
        assert cgf(DOUBLE_WELL, I, 1.5, 0.0) == pytest.approx(cgf(GAUSSIAN, I, 1.5, 0.0), rel=1e-13)
        assert cgf_prime(DOUBLE_WELL, I, 1.5, 0.0) == pytest.approx(I / 1.5, rel=1e-12, abs=1e-14)


def test_stable_and_monotone_over_wide_range():
    Is = np.concatenate([-np.geomspace(1e3, 1e-3, 60), [0.0], np.geomspace(1e-3, 1e3, 60)])
    for kind in (SPIN, BERNOULLI, GAUSSIAN, DOUBLE_WELL):
        for gamma in [1e-2, 1.0, 1e2]:
            for theta in [-1e2, -2.0, 0.0, 2.0, 1e2]:
                G = np.array([cgf(kind, I, gamma, theta) for I in Is])
                m = np.array([cgf_prime(kind, I, gamma, theta) for I in Is])
                dU = np.array([mean_dU_dtheta(kind, I, gamma, theta) for I in Is])
                assert np.all(np.isfinite(G)) and np.all(np.isfinite(m)) and np.all(np.isfinite(dU))
                # Gamma convex => Gamma' non-decreasing
                assert np.all(np.diff(m) >= -1e-12 * (1 + np.abs(m[1:]))), (kind, gamma, theta)
                if kind == DOUBLE_WELL:
                    assert np.all(dU >= np.abs(m) * (1 - 1e-12))  # <|h|> >= |<h>|


def test_double_well_tends_to_spin_unit():
    Is = np.linspace(-3, 3, 13)
    errs_G, errs_m = [], []
    for lam in [1e2, 1e3, 1e4, 1e5]:
        G = np.array([cgf(DOUBLE_WELL, I, lam, -lam) for I in Is])
        m = np.array([cgf_prime(DOUBLE_WELL, I, lam, -lam) for I in Is])
        G0 = cgf(DOUBLE_WELL, 0.0, lam, -lam)
        eG = np.max(np.abs(G - G0 - (np.logaddexp(Is, -Is) - math.log(2))))
        em = np.max(np.abs(m - np.tanh(Is)))
        # leading corrections: I^2/(2 lam) in Gamma, I/lam in the mean
        assert eG < 9 / (2 * lam) * 1.01 and em < 3 / lam * 1.5
        errs_G.append(eG)
        errs_m.append(em)
    assert np.all(np.diff(errs_G) < 0) and np.all(np.diff(errs_m) < 0)
    assert errs_G[-1] < 1e-4 and errs_m[-1] < 1e-4
    # samples: signs distributed like a spin unit, |h| ~ 1
    lam, I = 1e4, 0.6
    h = draw(DOUBLE_WELL, I, lam, -lam, seed=5)
    sgn = np.sign(h)
    assert abs(sgn.mean() - math.tanh(I)) < 5 * math.sqrt((1 - math.tanh(I) ** 2) / h.size)
    assert np.all(np.abs(np.abs(h) - 1) < 0.1)


def test_units_helpers_match_scalar_calls():
    rng = np.random.default_rng(0)
    I = rng.normal(scale=5.0, size=(7, 3))
    gamma = np.array([0.5, 1.0, 3.0])
    theta = np.array([-2.0, 0.0, 1.5])
    for kind in (SPIN, BERNOULLI, GAUSSIAN, DOUBLE_WELL):
        for fn, fu in [(cgf, cgf_units), (cgf_prime, cgf_prime_units), (mean_dU_dtheta, mean_dU_dtheta_units)]:
            got = fu(kind, I, gamma, theta)
            assert got.shape == I.shape
            ref = np.array([[fn(kind, I[b, mu], gamma[mu], theta[mu]) for mu in range(3)] for b in range(7)])
            np.testing.assert_array_equal(got, ref)
        # non-contiguous input
        got = cgf_units(kind, np.asfortranarray(I), gamma, theta)
        np.testing.assert_array_equal(got, cgf_units(kind, I, gamma, theta))
        # sampling: same stream, same element order as scalar draws in C order
        s1, s3 = new_state(9), new_state(9)
        hs = sample_units(kind, I, gamma, theta, s1)
        assert hs.shape == I.shape
        seq = _sample_seq(kind, I.ravel(), np.tile(gamma, 7), np.tile(theta, 7), s3)
        np.testing.assert_array_equal(hs.ravel(), seq)
        np.testing.assert_array_equal(s1, s3)  # both streams advanced identically


@njit  # not cached: a cached caller would not see edits to the kernels it calls
def _sample_seq(kind, I, gamma, theta, s):
    out = np.empty(I.size)
    for k in range(I.size):
        out[k] = sample(kind, I[k], gamma[k], theta[k], s)
    return out


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------
SAMPLE_CASES = (
    [(SPIN, 0.3, 1.0, -0.1), (SPIN, -2.0, 1.0, 0.5), (BERNOULLI, 0.3, 1.0, 0.2), (BERNOULLI, -4.0, 1.0, 1.0)]
    + [(GAUSSIAN, 0.5, 2.0, -0.3), (GAUSSIAN, -30.0, 0.5, 1.0)]
    + [
        (DOUBLE_WELL, 0.0, 1.0, 0.0),
        (DOUBLE_WELL, 0.3, 1.0, -2.0),  # two wells, both populated
        (DOUBLE_WELL, 1.0, 2.0, 1.5),  # cusp at 0
        (DOUBLE_WELL, -3.0, 0.5, 4.0),  # both branch modes far below 0: Robert sampler
        (DOUBLE_WELL, 30.0, 1.0, -2.0),  # one well, far out
        (DOUBLE_WELL, 0.2, 50.0, -50.0),  # near the spin limit
    ]
)


@pytest.mark.parametrize("case", SAMPLE_CASES, ids=_id)
def test_samples_match_density(case):
    kind, I, gamma, theta = case
    h = draw(kind, I, gamma, theta, seed=2024)
    _, m = ref_integrals(kind, I, gamma, theta, powers=(1, 2, 4))
    n = h.size
    assert abs(h.mean() - m[1]) <= 5 * math.sqrt((m[2] - m[1] ** 2) / n) + 1e-12
    assert abs((h**2).mean() - m[2]) <= 5 * math.sqrt(max(m[4] - m[2] ** 2, 0.0) / n) + 1e-12
    if kind in (SPIN, BERNOULLI):
        up = 1.0
        down = -1.0 if kind == SPIN else 0.0
        assert set(np.unique(h)) <= {up, down}
        p_up = (m[1] - down) / (up - down)
        assert stats.binomtest(int(np.sum(h == up)), n, p_up).pvalue > KS_P_MIN
    else:
        p = stats.kstest(h, ref_cdf(kind, I, gamma, theta)).pvalue
        assert p > KS_P_MIN, p


def test_ks_test_detects_wrong_branch_weights():
    """The KS reference is sharp enough to see a modest error in a double well (guards the test itself)."""
    h = draw(DOUBLE_WELL, 0.3, 1.0, -2.0, seed=2024)
    wrong = ref_cdf(DOUBLE_WELL, 0.45, 1.0, -2.0)
    assert stats.kstest(h, wrong).pvalue < KS_P_MIN


def test_sampling_is_deterministic():
    for kind, I, gamma, theta in SAMPLE_CASES:
        a = draw(kind, I, gamma, theta, seed=99, n=500)
        b = draw(kind, I, gamma, theta, seed=99, n=500)
        c = draw(kind, I, gamma, theta, seed=100, n=500)
        np.testing.assert_array_equal(a, b)
        if kind in (GAUSSIAN, DOUBLE_WELL):
            assert not np.array_equal(a, c)
    x = _draw_truncnorm(-30.0, 1.0, new_state(1), 100)
    np.testing.assert_array_equal(x, _draw_truncnorm(-30.0, 1.0, new_state(1), 100))
