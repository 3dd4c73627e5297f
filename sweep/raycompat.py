"""The private Ray APIs this package uses, in one place, behind a version check.

- the attempt number of the running task (`ray._private.worker.global_worker.core_worker
  .get_current_task_attempt_number()`): a lost worker's retry counts as attempt 2;
- `ray._raylet.GcsClient`, to probe a cluster address and its token in a child process before `ray.init`
  (Ray's own client waits 20-40 s, or aborts its process when token authentication finds no token).

Both were checked against the Ray versions in TESTED; outside that range they are not called: attempts then
count 1 per start of a task, and the address probe is left to `ray.init`.
"""

from __future__ import annotations

import functools

TESTED = ((2, 40), (2, 60))
"""Ray versions (major, minor), inclusive, whose private APIs above were checked."""


@functools.lru_cache(maxsize=1)
def supported() -> bool:
    """Whether the installed Ray is in TESTED."""
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("ray").split(".")[:2])
    except Exception:  # noqa: BLE001 - no Ray, or an unreadable version
        return False
    return TESTED[0] <= (major, minor) <= TESTED[1]


def task_attempt() -> int:
    """1 for a task's first execution, 2 for Ray's first retry of it (after a lost worker or node), ...; 1 outside
    a Ray task or with an untested Ray."""
    if not supported():
        return 1
    try:
        import ray

        return int(ray._private.worker.global_worker.core_worker.get_current_task_attempt_number()) + 1
    except Exception:  # noqa: BLE001 - outside Ray, or an API this Ray lacks
        return 1


GCS_PROBE = """
import sys
from ray._raylet import GcsClient
import ray.exceptions
try:
    GcsClient(address=sys.argv[1]).get_all_node_info(timeout=float(sys.argv[2]))
    print("ok")
except ray.exceptions.AuthenticationError as exc:
    print("auth: " + " ".join(str(exc).split()))
except Exception as exc:
    print("other: " + type(exc).__name__)
"""
"""A child process's program: prints `ok`, `auth: <reason>` or `other: <error>` for a GCS address (argv[1])."""
