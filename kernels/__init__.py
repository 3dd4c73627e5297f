"""Numba kernels: exact ring samplers and RBM training. Pure array functions: no I/O, no Ray, no xarray.

Public API:
    sample_ising(n_samples, n_visible, beta, seed) -> int8 (n_samples, n_visible) of +-1
    sample_xy(n_samples, n_visible, q, beta, seed, kernel="cosine", couplings=(1.0,)) -> int8 states 0..q-1
    sample_ring(...): the same with method "auto" | "exact" | "mcmc"; mcmc_sample_xy / mcmc_sample_ising
    TrainConfig, TrainState, fit(cfg, train, test=None, seed=0, state=None, stop_epoch=None)
    exact_loglik(cfg, state, data), init_state(cfg, train, seed)

Numba caches the compiled kernels in a folder keyed by a hash of these sources and of Numba's code-generation
settings, and a damaged cache file is removed and its kernel compiled again (kernels/cache.py): the one module
here that touches the environment, and only to say where compiled code goes and to keep it whole.
"""

from .cache import configure as _configure_cache

CACHE_DIR = _configure_cache()  # before any kernel is decorated or compiled

from .exact import MAX_EXACT_HIDDEN  # noqa: E402
from .potentials import POTENTIALS  # noqa: E402
from .rng import new_state  # noqa: E402
from .mcmc import mcmc_sample_ising, mcmc_sample_xy  # noqa: E402
from .samplers import sample_ising, sample_ring, sample_xy  # noqa: E402
from .train import TrainConfig, TrainState, exact_loglik, fit, init_state  # noqa: E402


def _guard_caches() -> None:
    import importlib
    import pkgutil

    from .cache import guard

    guard(importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__))


_guard_caches()  # every kernel's cache checked (kernels/cache.py), before any kernel compiles

__all__ = [
    "CACHE_DIR",
    "MAX_EXACT_HIDDEN",
    "POTENTIALS",
    "TrainConfig",
    "TrainState",
    "exact_loglik",
    "fit",
    "init_state",
    "new_state",
    "mcmc_sample_ising",
    "mcmc_sample_xy",
    "sample_ising",
    "sample_ring",
    "sample_xy",
]
