"""Special functions and a truncated-normal sampler for Numba kernels.

Everything here is a small ``@njit(cache=True)`` function on plain floats (plus an xoshiro256**
state from :mod:`kernels.rng` for the sampler). The functions are written to stay finite and
accurate over the whole real line, because hidden-unit inputs in a trained RBM reach |I| ~ 1e3.

* ``erfcx(x)      = exp(x^2) erfc(x)``                  (scaled complementary error function)
* ``log_erfcx(x)  = log(erfcx(x))``                     (finite for every finite x)
* ``inv_mills_excess(a) = phi(a) / Q(a) - a``          (Q = 1 - Phi; mean excess of N(0,1) | z > a)
* ``log1pexp(x)   = log(1 + exp(x))``                   (softplus)
* ``logcosh(x)    = log(cosh(x))``
* ``sigmoid(x)    = 1 / (1 + exp(-x))``
* ``truncnorm_positive(s, mu, sigma)``: one draw of N(mu, sigma^2) conditioned on > 0.

Methods. erfcx: for |x| < 4, ``erfc(x) * exp(x^2)`` with x^2 split into an exactly representable
head and a small tail so that the exponential adds no error growing like x^2 eps; for x >= 4, the
continued fraction (Abramowitz & Stegun 7.1.14)

    erfcx(x) = 1 / (sqrt(pi) K(x)),  K(x) = x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))

evaluated backward with a fixed depth (24 levels: relative error < 1e-15 for x >= 4); for x < 0 the
same ``erfc(x) exp(x^2)`` form, which equals 2 exp(x^2) - erfcx(-x) and overflows to +inf below
x ~ -26.64. Truncated normal: for a = -mu/sigma < 0.3 naive rejection from N(mu, sigma^2); otherwise
C. P. Robert, "Simulation of truncated normal variables", Stat. Comput. 5 (1995) 121, exponential
proposal with the optimal rate lambda = (a + sqrt(a^2 + 4))/2 (acceptance >= 0.8 for every a >= 0.3),
returning sigma * (z - a) directly so that no cancellation occurs deep in the tail.
"""

import math

from numba import njit

from kernels.rng import normal, uniform_open

SQRT_PI = 1.7724538509055160273
INV_SQRT_PI = 0.56418958354775628695
SQRT2 = 1.4142135623730950488
LOG2 = 0.69314718055994530942

_CF_START = 4.0  # erfcx switches from erfc*exp to the continued fraction here
_CF_DEPTH = 24  # continued-fraction levels; enough for 1e-16 at x >= 4
_ERFCX_NEG_OVERFLOW = -26.65  # erfcx(x) > DBL_MAX below this
_ROBERT_START = 0.3  # truncnorm_positive: naive rejection below, Robert (1995) above


@njit(cache=True, fastmath=False)
def _exp_x2(x):
    """exp(x^2) for |x| < 16384 without the ~x^2 eps error of exp(x*x).

    x^2 = h^2 + (2h + l) l with h = |x| rounded down to a multiple of 2^-12 (h^2 is exact in a
    double) and l = |x| - h (exact), so only the small tail (2h + l) l carries rounding error.
    """
    a = abs(x)
    h = math.floor(a * 4096.0) / 4096.0
    lo = a - h
    return math.exp(h * h) * math.exp((h + h + lo) * lo)


@njit(cache=True, fastmath=False)
def _erfcx_cf_tail(x):
    """Tail t(x) = K(x) - x of the erfcx continued fraction, for x >= 4 (erfcx = 1/(sqrt(pi)(x+t)))."""
    t = 0.0
    for k in range(_CF_DEPTH, 0, -1):
        t = (0.5 * k) / (x + t)
    return t


@njit(cache=True, fastmath=False)
def erfcx(x):
    """Scaled complementary error function exp(x^2) erfc(x).

    Relative accuracy ~1e-15 for all x; +inf for x < ~-26.64 (true overflow) and at -inf; 0 at +inf;
    NaN for NaN. Asymptotically erfcx(x) ~ 1/(x sqrt(pi)) for x -> +inf.
    """
    if x >= _CF_START:
        if x > 1e150:  # t ~ 1/(2x) is negligible; also keeps x + t finite
            return INV_SQRT_PI / x
        return INV_SQRT_PI / (x + _erfcx_cf_tail(x))
    if x > -_CF_START:
        return math.erfc(x) * _exp_x2(x)
    if x < _ERFCX_NEG_OVERFLOW:
        return math.inf
    if x != x:
        return x
    return math.erfc(x) * _exp_x2(x)


@njit(cache=True, fastmath=False)
def log_erfcx(x):
    """log(erfcx(x)) = x^2 + log(erfc(x)), finite for every finite x.

    x < 0: x^2 + log(erfc(x)) (erfc(x) in (1, 2], no overflow, e.g. ~ x^2 + log 2 for x << 0);
    x >= 0: log(erfcx(x)) (~ -log(x sqrt(pi)) for large x).
    """
    if x < 0.0:
        return x * x + math.log(math.erfc(x))
    return math.log(erfcx(x))


@njit(cache=True, fastmath=False)
def inv_mills_excess(a):
    """phi(a)/Q(a) - a = E[z - a | z > a] for z ~ N(0, 1); positive, ~1/a for a -> +inf, ~ -a at -inf.

    phi(a)/Q(a) = sqrt(2/pi) / erfcx(a/sqrt(2)). For a/sqrt(2) >= 4 the difference is taken inside
    the continued fraction (sqrt(2) t(a/sqrt(2)) with t = K - x), so there is no cancellation; below,
    the direct difference loses at most ~2 (a^2/2) eps relative.
    """
    x = a / SQRT2
    if x >= _CF_START:
        if x > 1e150:
            return 1.0 / a
        return SQRT2 * _erfcx_cf_tail(x)
    return SQRT2 * (INV_SQRT_PI / erfcx(x) - x)


@njit(cache=True, fastmath=False)
def log1pexp(x):
    """Softplus log(1 + exp(x)), stable for all x (Maechler 2012 cut points)."""
    if x <= -37.0:
        return math.exp(x)
    if x <= 18.0:
        return math.log1p(math.exp(x))
    if x <= 33.3:
        return x + math.exp(-x)
    return x


@njit(cache=True, fastmath=False)
def logcosh(x):
    """log(cosh(x)) = |x| + log1p(exp(-2|x|)) - log 2, stable for all x."""
    a = abs(x)
    return a + math.log1p(math.exp(-2.0 * a)) - LOG2


@njit(cache=True, fastmath=False)
def sigmoid(x):
    """Logistic function 1/(1 + exp(-x)) without overflow."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, fastmath=False)
def truncnorm_positive(s, mu, sigma):
    """One draw of x ~ N(mu, sigma^2) conditioned on x > 0 (sigma > 0); advances the stream ``s``.

    With a = -mu/sigma (standardized truncation point):
    a < 0.3: propose x = mu + sigma z, z ~ N(0, 1), until x > 0 (acceptance Q(a) > 0.38);
    a >= 0.3: Robert (1995): z - a = E/lambda, E ~ Exp(1), lambda = (a + sqrt(a^2 + 4))/2, accepted
    with probability exp(-(z - lambda)^2 / 2); returns sigma (z - a) > 0. Exact for any a, fine for
    |mu/sigma| up to ~1e150 (no cancellation in the far tail).
    """
    a = -mu / sigma
    if a < _ROBERT_START:
        while True:
            x = mu + sigma * normal(s)
            if x > 0.0:
                return x
    if a < 1e8:
        root = math.sqrt(a * a + 4.0)
        gap = 2.0 / (root + a)  # lambda - a, without cancellation
    else:
        gap = 1.0 / a
    lam = a + gap
    while True:
        d = -math.log(uniform_open(s)) / lam  # z - a
        r = d - gap  # z - lambda
        if -2.0 * math.log(uniform_open(s)) > r * r:
            return sigma * d
