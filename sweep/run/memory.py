"""How much memory this process may use, and byte counts for people (sweep.run.plan's estimates, sweep.views.table' batches).

- :func:`machine_memory`: the physical memory, or less where a cgroup or RLIMIT_AS limits this process.
- :func:`available_memory`: what is free now: the kernel's MemAvailable, the cgroup's limit minus its use, and
  RLIMIT_AS minus this process's address space, whichever is least.
"""

from __future__ import annotations

import os
import resource

_CGROUP = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
           ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _read_int(path: str):
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError:
        return None
    return int(value) if value.isdigit() else None


def _proc_field(path: str, name: str):
    """A `Name:   123 kB` field of a /proc file, in bytes (None when absent)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _rlimit_as():
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def machine_memory() -> int:
    """Bytes of memory this process may use at most: the physical memory, or less where a cgroup or RLIMIT_AS
    limits it."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit, _ in _CGROUP:
        value = _read_int(limit)
        if value is not None:
            total = min(total, value)
    soft = _rlimit_as()
    return min(total, soft) if soft is not None else total


def available_memory() -> int:
    """Bytes of memory this process can still take now (see the module docstring); at least 0."""
    free = _proc_field("/proc/meminfo", "MemAvailable")
    if free is None:
        free = machine_memory()
    for limit, used in _CGROUP:
        a, b = _read_int(limit), _read_int(used)
        if a is not None and b is not None:
            free = min(free, a - b)
    soft = _rlimit_as()
    if soft is not None:
        size = _proc_field("/proc/self/status", "VmSize") or 0
        free = min(free, soft - size)
    return max(0, free)


def nbytes(n: float) -> str:
    """A byte count for people: 512 B, 3.2 kB, 41 MB, 1.5 GB, 2.3e+03 TB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"
