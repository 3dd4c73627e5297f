"""Provenance: what produced a cell (software versions, source commit, host) and who ran a sweep.

Computed once per process and cached (a task returns its own with its cells); stored per cell as a JSON string (`provenance`) and per run in
the store's root attribute `runs` (a JSON list of {command, host, pid, start, end, cells_run}).
"""

from __future__ import annotations

import functools
import json
import platform
import socket
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("rbm-sweep", "numpy", "numba", "llvmlite", "ray", "zarr", "xarray")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=1)
def source_commit() -> str:
    """The git commit of the package's source tree, with '+dirty' when it has uncommitted changes, or
    'unknown' (an installed wheel, no git)."""
    src = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """Versions of the packages that determine the results, the source commit, Python and the host."""
    return {"versions": {p: _version(p) for p in PACKAGES}, "commit": source_commit(),
            "python": platform.python_version(), "machine": platform.machine(), "host": socket.gethostname()}


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo), else platform.processor() or the machine type."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def contract() -> dict:
    """What bit-identity depends on (recorded in the store's root attribute `environment` and checked on every
    run): the package version and source commit, numpy, numba and llvmlite, the processor model, the CPU
    LLVM compiles the kernels for and its vector width (the kernels' SIMD reductions depend on it)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    width = 512 if features.get("avx512f") else 256 if features.get("avx2") or features.get("avx") else 128
    return {"rbm-sweep": _version("rbm-sweep"), "commit": source_commit(), "numpy": _version("numpy"),
            "numba": _version("numba"), "llvmlite": _version("llvmlite"), "cpu": cpu_model(),
            "llvm_cpu": llvm.get_host_cpu_name(), "vector_width": width}


def contract_diff(stored: dict | None, current: dict) -> list[str]:
    """`key: stored -> current` for each entry of the bit-identity contract that differs (a store without one
    differs in every entry)."""
    stored = stored or {}
    return [f"{k}: {stored.get(k, 'not recorded')} -> {v}" for k, v in current.items() if stored.get(k) != v]


def cell_record(data_seed: int, train_seed: int, attempts: int, wall_time: float, env: dict | None = None) -> str:
    """The JSON provenance of one finished cell; `env`: the environment() of the process that computed it."""
    return json.dumps({**(env or environment()), "data_seed": str(data_seed), "train_seed": str(train_seed),
                       "attempts": attempts, "wall_time_s": round(wall_time, 6),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, sort_keys=True)


def run_record() -> dict:
    """The start of a `sweep run`: command line, host, pid, start time, software."""
    return {"command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "host": socket.gethostname(),
            "pid": __import__("os").getpid(), "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "end": None, "commit": source_commit(), "version": _version("rbm-sweep")}
