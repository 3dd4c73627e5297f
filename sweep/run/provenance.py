"""Provenance: what produced a cell (software versions, source commit, host) and who ran a sweep; the bit-identity
contract (contract(): versions, processor, and what Numba compiles the kernels for in this process).

environment() is computed once per process and cached (a task returns its own with its cells); stored per cell as
a JSON string (`provenance`) and per run in the store's root attribute `runs` (a JSON list of {command, host, pid,
start, end, cells_run}). contract() is computed at each call, from the calling process's environment.
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


CODEGEN_SETTINGS = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NUMBA_ENABLE_AVX", "NUMBA_OPT", "NUMBA_LOOP_VECTORIZE",
                    "NUMBA_SLP_VECTORIZE", "NUMBA_DISABLE_INTEL_SVML", "NUMBA_DISABLE_JIT")
"""The environment variables through which Numba's settings change the kernels' machine code, hence their bits
(codegen() records their effect, not the variables). Not among them: NUMBA_NUM_THREADS (no kernel is
`parallel`; Ray workers run with one thread, sweep.run.ray_launcher.THREAD_ENV), NUMBA_BOUNDSCHECK (checks, no other
arithmetic: it changes no bit of a kernel that runs), fast-math (each kernel states its flags; Numba has no
global switch)."""


def codegen() -> dict:
    """What Numba compiles the kernels for in this process, read the way Numba itself decides
    (numba.core.codegen.JITCPUCodegen: NUMBA_CPU_NAME else the host's CPU; NUMBA_CPU_FEATURES, "" for
    NUMBA_CPU_NAME=generic, else the host's features less AVX where NUMBA_ENABLE_AVX is off), and the settings
    that change the generated code: optimization level, loop and SLP vectorization, Intel SVML, the JIT itself.
    The environment is reread first, as Numba does before each compilation."""
    from numba.core import codegen as nbcodegen
    from numba.core import config
    import llvmlite.binding as llvm

    config.reload_config()
    cpu = config.CPU_NAME if config.CPU_NAME is not None else llvm.get_host_cpu_name()
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else nbcodegen.get_host_cpu_features()
    opt = config.OPT
    return {"llvm_cpu": cpu, "llvm_features": features,
            "numba_opt": "max" if getattr(opt, "is_opt_max", False) else int(opt),
            "numba_vectorize": f"loop={int(config.LOOP_VECTORIZE)} slp={int(config.SLP_VECTORIZE)}",
            "numba_svml": bool(getattr(config, "USING_SVML", False)),  # decided once, when numba is imported
            "numba_jit": not config.DISABLE_JIT}


@functools.lru_cache(maxsize=1)
def _host_vector_width() -> int:
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    return 512 if features.get("avx512f") else 256 if features.get("avx2") or features.get("avx") else 128


def contract() -> dict:
    """What bit-identity depends on (recorded in the store's root attribute `environment` and checked on every
    run): the package version and source commit, numpy, numba and llvmlite, the processor model and its vector
    width (the kernels' SIMD reductions depend on it), and what Numba compiles for in this process (codegen():
    the target CPU `llvm_cpu`, which is the host's unless NUMBA_CPU_NAME says otherwise, its features and the
    code-generation settings). Computed in the calling process from its own environment: a Ray task calling it
    reports its worker's."""
    return {"rbm-sweep": _version("rbm-sweep"), "commit": source_commit(), "numpy": _version("numpy"),
            "numba": _version("numba"), "llvmlite": _version("llvmlite"), "cpu": cpu_model(),
            "vector_width": _host_vector_width(), **codegen()}


def _feature_diff(stored: str, current: str) -> str:
    """The flags that differ between two LLVM feature strings ("+avx2,-avx512f,..."), as `stored -> current`."""
    def flags(s):
        return dict((f[1:], f[0]) for f in s.split(",") if f[:1] in "+-" and len(f) > 1)

    a, b = flags(stored), flags(current)
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k, "-") != b.get(k, "-"))
    def shown(s, d):
        if not s:
            return "none given (the target CPU's own)"
        return ",".join(d.get(k, "-") + k for k in changed[:8]) + (",..." if len(changed) > 8 else "")

    return f"{shown(stored, a)} -> {shown(current, b)} ({len(changed)} flags differ)"


def contract_diff(stored: dict | None, current: dict) -> list[str]:
    """`key: stored -> current` for each entry of the bit-identity contract that differs (for the LLVM features,
    the flags that differ). A store without a contract differs in every entry; an entry the stored contract
    lacks is unknown and not compared: a store written before that entry was recorded resumes where everything
    it did record is the same (its `llvm_cpu` has always been the target Numba compiled for: the host's CPU
    unless NUMBA_CPU_NAME was set, so a run for another target is still refused)."""
    if not stored:
        return [f"{k}: not recorded -> {v}" for k, v in current.items()]
    out = []
    for k, v in current.items():
        if k not in stored or stored[k] == v:
            continue
        if k == "llvm_features" and isinstance(stored[k], str) and isinstance(v, str):
            out.append(f"{k}: {_feature_diff(stored[k], v)}")
        else:
            out.append(f"{k}: {stored[k]} -> {v}")
    return out


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
