"""Hidden-unit potentials of the RBM (docs/physics.md section 3), as Numba kernels.

A hidden unit h with potential U(h) and input I has the conditional density
P(h | I) = exp(-U(h) + h I - Gamma(I)), with the cumulant generating function

    Gamma(I) = log( integral or sum over h of exp(-U(h) + h I) ),    Gamma'(I) = <h | I>.

| kind             | h takes  | U(h)                        | Gamma(I)                                            |
|------------------|----------|-----------------------------|-----------------------------------------------------|
| SPIN = 0         | {-1, +1} | -theta h                    | log(2 cosh(I + theta))                              |
| BERNOULLI = 1    | {0, 1}   | -theta h                    | log(1 + exp(I + theta))                             |
| GAUSSIAN = 2     | real     | gamma h^2/2 + theta h       | (I - theta)^2/(2 gamma) + log(sqrt(2 pi / gamma))   |
| DOUBLE_WELL = 3  | real     | gamma h^2/2 + theta |h|     | log(sqrt(pi/(2 gamma)) [erfcx(x+) + erfcx(x-)])     |

with x+- = (theta -+ I)/sqrt(2 gamma) and gamma > 0 (gamma is ignored by spin and bernoulli units).
The double well is a mixture of two truncated normals of variance 1/gamma: the branch h > 0 has
weight p+ = erfcx(x+)/(erfcx(x+) + erfcx(x-)) and is N((I - theta)/gamma, 1/gamma) restricted to
h > 0; the branch h < 0 is the mirror image of N(-(I + theta)/gamma, 1/gamma) restricted to > 0.
Each branch's mean is sqrt(2/gamma) * (1/(sqrt(pi) erfcx(x)) - x) = inv_mills_excess(sqrt(2) x) /
sqrt(gamma), evaluated without cancellation; branch weights are formed from log_erfcx, so nothing
overflows or becomes 0/0 for |I| up to ~1e150 * sqrt(gamma).

Per-call kernels take ``(kind, I, gamma, theta)`` as plain numbers and branch on ``kind``;
``*_units`` helpers apply them to an input array whose last axis indexes hidden units, with one
(gamma, theta) per unit.
"""

import math

import numpy as np
from numba import njit

from kernels.rng import normal, uniform
from kernels.special import (
    LOG2,
    inv_mills_excess,
    log1pexp,
    log_erfcx,
    logcosh,
    sigmoid,
    truncnorm_positive,
)

SPIN = 0
BERNOULLI = 1
GAUSSIAN = 2
DOUBLE_WELL = 3

POTENTIALS = {"spin": SPIN, "bernoulli": BERNOULLI, "gaussian": GAUSSIAN, "double_well": DOUBLE_WELL}

_HALF_LOG_2PI = 0.91893853320467274178  # log(sqrt(2 pi))
_HALF_LOG_PI_2 = 0.22579135264472743236  # log(sqrt(pi/2))


@njit(cache=True)
def _dw_branches(I, gamma, theta):
    """Double-well pieces: log_erfcx(x+), log_erfcx(x-) and the branch weights p+, p- = 1 - p+."""
    r = math.sqrt(2.0 * gamma)
    lp = log_erfcx((theta - I) / r)
    lm = log_erfcx((theta + I) / r)
    return lp, lm, sigmoid(lp - lm), sigmoid(lm - lp)


@njit(cache=True)
def _dw_branch_means(I, gamma, theta):
    """Double-well branch means: (E[h | h > 0, I], E[-h | h < 0, I]), both > 0."""
    sg = math.sqrt(gamma)
    # standardized truncation points a = -mean/std of each branch: sqrt(2) x+-
    ep = inv_mills_excess((theta - I) / sg) / sg
    em = inv_mills_excess((theta + I) / sg) / sg
    return ep, em


@njit(cache=True)
def cgf(kind, I, gamma, theta):
    """Gamma(I) = log sum/integral exp(-U(h) + h I) for the potential ``kind`` (table above)."""
    if kind == SPIN:
        return logcosh(I + theta) + LOG2
    elif kind == BERNOULLI:
        return log1pexp(I + theta)
    elif kind == GAUSSIAN:
        d = I - theta
        return 0.5 * d * d / gamma + _HALF_LOG_2PI - 0.5 * math.log(gamma)
    elif kind == DOUBLE_WELL:
        lp, lm, _, _ = _dw_branches(I, gamma, theta)
        hi = max(lp, lm)
        return _HALF_LOG_PI_2 - 0.5 * math.log(gamma) + hi + math.log1p(math.exp(min(lp, lm) - hi))
    return math.nan


@njit(cache=True)
def cgf_prime(kind, I, gamma, theta):
    """Gamma'(I) = <h | I>: tanh(I + theta), sigmoid(I + theta), (I - theta)/gamma, or the
    double-well mixture p+ E[h | h > 0] - (1 - p+) E[-h | h < 0]."""
    if kind == SPIN:
        return math.tanh(I + theta)
    elif kind == BERNOULLI:
        return sigmoid(I + theta)
    elif kind == GAUSSIAN:
        return (I - theta) / gamma
    elif kind == DOUBLE_WELL:
        _, _, pp, pm = _dw_branches(I, gamma, theta)
        ep, em = _dw_branch_means(I, gamma, theta)
        return pp * ep - pm * em
    return math.nan


@njit(cache=True)
def mean_dU_dtheta(kind, I, gamma, theta):
    """<dU/dtheta | I>: -<h> (spin, bernoulli), <h> (gaussian), <|h|> (double_well).

    The likelihood gradient for theta is <dU/dtheta>_model - <dU/dtheta | I(v)>_data.
    """
    if kind == SPIN:
        return -math.tanh(I + theta)
    elif kind == BERNOULLI:
        return -sigmoid(I + theta)
    elif kind == GAUSSIAN:
        return (I - theta) / gamma
    elif kind == DOUBLE_WELL:
        _, _, pp, pm = _dw_branches(I, gamma, theta)
        ep, em = _dw_branch_means(I, gamma, theta)
        return pp * ep + pm * em
    return math.nan


@njit(cache=True)
def sample(kind, I, gamma, theta, s):
    """One draw of h ~ P(h | I) for the potential ``kind``; advances the xoshiro256** state ``s``.

    spin: +1 with probability sigmoid(2(I + theta)), else -1; bernoulli: 1 with probability
    sigmoid(I + theta); gaussian: (I - theta)/gamma + N(0, 1)/sqrt(gamma); double_well: the positive
    branch with probability p+ (then a truncated normal of mean (I - theta)/gamma, variance 1/gamma,
    on h > 0), else minus a truncated normal of mean -(I + theta)/gamma on > 0.
    One uniform is used for the discrete choice, then the continuous part.
    """
    if kind == SPIN:
        return 1.0 if uniform(s) < sigmoid(2.0 * (I + theta)) else -1.0
    elif kind == BERNOULLI:
        return 1.0 if uniform(s) < sigmoid(I + theta) else 0.0
    elif kind == GAUSSIAN:
        sd = 1.0 / math.sqrt(gamma)
        return (I - theta) / gamma + sd * normal(s)
    elif kind == DOUBLE_WELL:
        _, _, pp, _ = _dw_branches(I, gamma, theta)
        sd = 1.0 / math.sqrt(gamma)
        if uniform(s) < pp:
            return truncnorm_positive(s, (I - theta) / gamma, sd)
        return -truncnorm_positive(s, -(I + theta) / gamma, sd)
    return math.nan


# ---------------------------------------------------------------------------------------------
# Array helpers: I[..., mu] with one (gamma[mu], theta[mu]) per hidden unit mu.
# ---------------------------------------------------------------------------------------------


_CGF, _CGF_PRIME, _MEAN_DU = 0, 1, 2


@njit(cache=True)
def _per_unit(what, kind, I, gamma, theta):
    """Apply cgf / cgf_prime / mean_dU_dtheta (`what`) to I[..., mu] with (gamma[mu], theta[mu])."""
    m = theta.shape[0]
    flat = np.ascontiguousarray(I).reshape(I.size)
    out = np.empty(I.size)
    for k in range(I.size):
        mu = k % m
        if what == _CGF:
            out[k] = cgf(kind, flat[k], gamma[mu], theta[mu])
        elif what == _CGF_PRIME:
            out[k] = cgf_prime(kind, flat[k], gamma[mu], theta[mu])
        else:
            out[k] = mean_dU_dtheta(kind, flat[k], gamma[mu], theta[mu])
    return out.reshape(I.shape)


def cgf_units(kind, I, gamma, theta):
    """Gamma_mu(I[..., mu]) elementwise; I of any shape whose last axis has length len(theta)."""
    return _per_unit(_CGF, kind, I, gamma, theta)


def cgf_prime_units(kind, I, gamma, theta):
    """<h_mu | I[..., mu]> elementwise (same layout as cgf_units)."""
    return _per_unit(_CGF_PRIME, kind, I, gamma, theta)


def mean_dU_dtheta_units(kind, I, gamma, theta):
    """<dU_mu/dtheta_mu | I[..., mu]> elementwise (same layout as cgf_units)."""
    return _per_unit(_MEAN_DU, kind, I, gamma, theta)


@njit(cache=True)
def sample_units(kind, I, gamma, theta, s):
    """One draw h[..., mu] ~ P(h_mu | I[..., mu]) per element, in C order (same layout as cgf_units)."""
    m = theta.shape[0]
    flat = np.ascontiguousarray(I).reshape(I.size)
    out = np.empty(I.size)
    for k in range(I.size):
        mu = k % m
        out[k] = sample(kind, flat[k], gamma[mu], theta[mu], s)
    return out.reshape(I.shape)
