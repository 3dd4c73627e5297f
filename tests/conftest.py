"""Fixtures shared by the test modules."""

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray of 2 CPUs for the module's in-process runs (sweep.run_sweep joins it), Numba single-threaded."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024,
             runtime_env={"env_vars": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}},
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()
