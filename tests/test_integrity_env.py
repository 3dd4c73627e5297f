"""Integrity of the environment: the bit-identity contract covers Numba's code generation (another target CPU is
refused, in the driver and in a worker), a store recorded before those entries existed still resumes, and a
damaged Numba cache is rebuilt instead of failing every cell.

Drivers and cells run as child processes with the environment under test (NUMBA_CPU_NAME=generic, a fresh
NUMBA_CACHE_DIR); each compiles the kernels it needs, cold where its cache is fresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _limits import scaled
from kernels import cache
from sweep.store.lease import Lease
from sweep.run.provenance import contract, contract_diff
from sweep.store.results_store import ResultsStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SWEEP = """
name: integrity-env
seed: 5
data: {model: ising, n_visible: 8, n_samples: 120}
rbm: {hidden: spin, n_hidden: 2}
train: {method: pcd, pcd_steps: 1, learning_rate: 0.05, batch_size: 20, epochs: 4, record_every: 2,
        test_fraction: 0.25}
grid:
  data.beta: [0.4, 0.8]
"""
NUMBA_VARS = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_OPT", "NUMBA_ENABLE_AVX", "NUMBA_DISABLE_JIT",
              "NUMBA_LOOP_VECTORIZE", "NUMBA_SLP_VECTORIZE")


def child_env(**extra) -> dict:
    """This process's environment without Numba settings under test, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in NUMBA_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return dict(env, **extra)


def run(args: list, env: dict, timeout: float = 400) -> tuple[int, str, str]:
    r = subprocess.run([sys.executable] + [str(a) for a in args], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=scaled(timeout))
    return r.returncode, r.stdout, r.stderr


def sweep_cli(*args, **env) -> tuple[int, str]:
    code, out, err = run(["-m", "sweep.cli", *args], child_env(**env))
    return code, out + err


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A finished store created under the default target (in a child process, as a user would)."""
    folder = tmp_path_factory.mktemp("env")
    f = folder / "s.yaml"
    f.write_text(SWEEP)
    url = folder / "s.zarr"
    code, out = sweep_cli("run", f, "--store", url, "--quiet", NUMBA_CACHE_DIR=str(folder / "cache"))
    assert code == 0, out
    return f, url


def set_environment(url: Path, env: dict) -> None:
    st = ResultsStore(str(url))
    lease = Lease.acquire(st.location)
    try:
        st.update_root_attrs(environment=json.dumps(env, sort_keys=True))
    finally:
        lease.release()


# ------------------------------------------------------------------------------------- the contract
def test_the_contract_records_what_numba_compiles_for():
    c = contract()
    assert c["llvm_cpu"] and c["llvm_features"].startswith(("+", "-"))
    assert c["numba_opt"] == 3 and c["numba_jit"] is True and c["numba_vectorize"] == "loop=1 slp=0"
    assert contract_diff(c, contract()) == []
    assert contract_diff(dict(c, numba_opt=0), c) == ["numba_opt: 0 -> 3"]
    flipped = c["llvm_features"].replace("+", "#").replace("-", "+").replace("#", "-")
    (line,) = contract_diff(dict(c, llvm_features=flipped), c)
    assert line.startswith("llvm_features: ") and "flags differ" in line and len(line) < 300


def test_a_store_under_another_target_is_refused_then_allowed(store):
    f, url = store
    host = ResultsStore(str(url)).environment()
    code, out = sweep_cli("run", f, "--store", url, "--quiet", NUMBA_CPU_NAME="generic")
    assert code == 2 and "Traceback" not in out, out
    assert out.startswith(f"{url}: the environment differs"), out
    assert f"llvm_cpu: {host['llvm_cpu']} -> generic" in out and "llvm_features: " in out, out
    assert "--allow-env-change" in out
    assert ResultsStore(str(url)).environment() == host  # refused before anything changed

    code, out = sweep_cli("run", f, "--store", url, "--quiet", "--allow-env-change", NUMBA_CPU_NAME="generic")
    assert code == 0, out
    st = ResultsStore(str(url))
    assert st.environment()["llvm_cpu"] == "generic" and st.environment()["llvm_features"] == ""
    assert any(c.startswith(f"llvm_cpu: {host['llvm_cpu']} -> generic") for c in st.runs()[-1]["environment_change"])
    set_environment(url, host)  # back to the default target for the other tests


def test_a_worker_under_another_target_reports_it_and_is_refused(store):
    """The contract a node reports is computed by the probe task (sweep.run.tasks.probe_store) in the worker's own
    process: here that body runs in a process with NUMBA_CPU_NAME=generic, and the driver's check refuses it."""
    from sweep.config.errors import StoreError
    from sweep.run.runner import _check_nodes

    _, url = store
    st = ResultsStore(str(url))
    probe = ("import json, sys\nfrom sweep.run.tasks import probe_store\n"
             "print(json.dumps(probe_store(sys.argv[1], None, 'no-token')))\n")
    code, out, err = run(["-c", probe, url], child_env(NUMBA_CPU_NAME="generic"))
    assert code == 0, err
    theirs = json.loads(out.splitlines()[-1])["contract"]
    assert theirs["llvm_cpu"] == "generic" and theirs != contract()
    assert _check_nodes(str(url), st, {"node A": contract()}, allow=False) == []
    with pytest.raises(StoreError) as info:
        _check_nodes(str(url), st, {"node B": theirs}, allow=False)
    assert " of node B differs" in str(info.value) and "llvm_cpu: " in str(info.value)


def test_workers_in_another_environment_than_their_driver_are_refused(tmp_path):
    """A Ray whose workers compile for another target than the driver (here its runtime_env sets
    NUMBA_CPU_NAME=generic; a `ray start` from another shell does the same): the probe of the driver's own node
    reports the workers' contract, and the run stops before any cell runs."""
    import ray

    from sweep import run_sweep
    from sweep.config.errors import StoreError
    from sweep.store.results_store import DONE

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP)
    url = tmp_path / "w.zarr"
    ray.init(num_cpus=1, include_dashboard=False, object_store_memory=80 * 1024 * 1024, logging_level="ERROR",
             log_to_driver=False, runtime_env={"env_vars": {"NUMBA_CPU_NAME": "generic", "NUMBA_NUM_THREADS": "1"}})
    try:
        with pytest.raises(StoreError) as info:
            run_sweep(f, store=str(url), progress=False, log=False)
    finally:
        ray.shutdown()
    msg = str(info.value)
    assert msg.startswith(f"{url}: the environment of node ")
    assert f"llvm_cpu: {contract()['llvm_cpu']} -> generic" in msg
    assert not (ResultsStore(str(url)).group("r")["status"][...] == DONE).any()


def test_a_store_recorded_before_the_codegen_entries_resumes(store):
    """A contract without the new entries (as stores before them recorded it): those are not compared, so the
    store resumes on its machine, and records them from then on; its llvm_cpu (the host's, the target Numba
    used) refuses another target anyway."""
    f, url = store
    host = ResultsStore(str(url)).environment()
    old = {k: host[k] for k in ("rbm-sweep", "commit", "numpy", "numba", "llvmlite", "cpu", "llvm_cpu",
                                "vector_width")}
    assert contract_diff(old, contract()) == []
    set_environment(url, old)
    try:
        code, out = sweep_cli("run", f, "--store", url, "--quiet", NUMBA_CPU_NAME="generic")
        assert code == 2 and f"llvm_cpu: {host['llvm_cpu']} -> generic" in out and "Traceback" not in out, out
        assert ResultsStore(str(url)).environment() == old
        code, out = sweep_cli("run", f, "--store", url, "--quiet")
        assert code == 0, out
        assert ResultsStore(str(url)).environment() == host  # the entries it lacked, recorded
        assert "environment_change" not in ResultsStore(str(url)).runs()[-1]
        code, out = sweep_cli("run", f, "--store", url, "--quiet", NUMBA_OPT="0")
        assert code == 2 and "numba_opt: 3 -> 0" in out and "Traceback" not in out, out
    finally:
        set_environment(url, host)


# ------------------------------------------------------------------------------------- a damaged cache
CELL = """
import hashlib, json, logging, sys
logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
from numba.core.dispatcher import Dispatcher
import kernels, importlib, pkgutil
from sweep.run.cell import run_cell
spec = {"seed": 3, "data": {"model": "ising", "n_visible": 8, "n_samples": 100, "beta": 0.5},
        "rbm": {"hidden": "spin", "n_hidden": 2},
        "train": {"method": "pcd", "pcd_steps": 1, "learning_rate": 0.05, "batch_size": 20, "epochs": 4,
                  "record_every": 2, "test_fraction": 0.2}}
ds = run_cell(spec)
h = hashlib.sha256()
for v in sorted(ds.data_vars):
    h.update(v.encode() + ds[v].values.tobytes())
loaded = sorted(o._cache._cache_file._index_path
                for m in pkgutil.iter_modules(kernels.__path__)
                for o in vars(importlib.import_module("kernels." + m.name)).values()
                if isinstance(o, Dispatcher) and sum(o._cache_hits.values()))
print(json.dumps({"digest": h.hexdigest(), "loaded": loaded, "folder": str(kernels.CACHE_DIR)}))
"""


def test_a_damaged_cache_is_rebuilt_and_gives_the_same_bits(tmp_path):
    env = child_env(NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def cell() -> tuple[dict, str]:
        code, out, err = run(["-c", CELL], env)
        assert code == 0, err[-3000:]
        return json.loads(out.splitlines()[-1]), err

    clean, _ = cell()  # cold: compiles and caches
    warm, err = cell()
    assert warm["digest"] == clean["digest"] and len(warm["loaded"]) >= 2 and "damaged" not in err
    index = Path(warm["loaded"][0])
    data = sorted(Path(warm["loaded"][1]).parent.glob(Path(warm["loaded"][1]).stem + ".*.nbc"))[0]
    index.write_bytes(index.read_bytes()[:40])  # truncated
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x10  # one bit: still a valid pickle, caught by the digest only
    data.write_bytes(bytes(raw))

    rebuilt, err = cell()
    assert rebuilt["digest"] == clean["digest"]
    warnings = [line for line in err.splitlines() if line.startswith("kernels.cache WARNING damaged Numba cache in")]
    assert len(warnings) == 2, err[-3000:]
    assert any(index.name in w and str(index.parent) in w for w in warnings), warnings
    assert any(data.name in w for w in warnings), warnings
    assert index.exists() and data.exists()  # cached afresh
    again, err = cell()
    assert again["digest"] == clean["digest"] and "damaged" not in err

    # the check before dispatch: the same damage found without compiling, the files removed
    garbled = sorted(Path(clean["folder"]).rglob("*.nbc"))[-1]
    garbled.write_bytes(b"\x80\x05garbage")
    index.write_bytes(b"")
    other = index.parent / "notebook.f-3.py311.nbi"  # another function cached in the same folder: not ours to judge
    other.write_bytes(b"plain Numba")
    assert sorted(cache.scan(Path(clean["folder"]))) == sorted([garbled.name, index.name])
    assert not garbled.exists() and not index.exists() and cache.scan(Path(clean["folder"])) == []
    assert other.exists()


def test_the_driver_checks_the_cache_before_dispatch(store):
    """A damaged kernel file in the cache of a `sweep run`: found before any cell runs, removed, noted in the run's
    log; the cells compute as they would have."""
    f, url = store
    folder = url.parent / "cache"
    (damaged,) = [p for p in sorted(folder.rglob("*.nbc")) if p.name.startswith("train.")][:1]
    damaged.write_bytes(damaged.read_bytes()[:-7])  # truncated
    other = url.parent / "other.zarr"
    code, out = sweep_cli("run", f, "--store", other, "--quiet", NUMBA_CACHE_DIR=str(folder))
    assert code == 0, out
    (log,) = sorted((url.parent / "other.zarr.logs").glob("run-*.log"))
    assert f"damaged Numba cache file removed, its kernel compiles again: {damaged.name}" in log.read_text()
    a, b = (xr.open_zarr(str(u)).load() for u in (url, other))
    for v in ("weights", "loglik_train"):
        assert np.array_equal(a[v].values, b[v].values), v
