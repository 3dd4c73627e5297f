"""The private Ray APIs this package uses, in one place, behind a version check.

- the attempt number of the running task (`ray._private.worker.global_worker.core_worker
  .get_current_task_attempt_number()`): a lost worker's retry counts as attempt 2;
- `ray._raylet.GcsClient`, to probe a cluster address and its token in a child process before `ray.init`
  (Ray's own client waits 20-40 s, or aborts its process when token authentication finds no token);
- `ray._private.utils.set_sigterm_handler` and `ray._private.services.ConsolePopen`, patched for the time of
  one `ray.init` by `ray_init_guard`: `ray.init` would replace the caller's SIGTERM handler with one that raises
  SystemExit wherever the main thread is (it hung a driver inside Ray once), and would start the local Ray's
  processes (GCS, raylet, ...) in the caller's process group, so a SIGTERM to the group (systemd, a job
  scheduler, a terminal) killed the raylet under a driver that still ran (SIGABRT). Under the guard the
  caller's handlers stay (and are put back after `ray.init`), and Ray's processes start in their own session:
  they still end with the driver (Ray's fate sharing), which stops them itself;
- `ray._private.services.find_gcs_addresses` and `find_bootstrap_address`, for `--address auto`
  (`sweep.run.ray_launcher.resolve_auto`): the Ray instances running on this machine, and the one `ray start` recorded;
- `ray._private.ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER` (the environment variable of that name, read
  when Ray is imported), set for the driver during `ray.init` by `ray_init_guard`: otherwise the driver's core
  worker installs abseil's failure handler for SIGTERM too (a SIGTERM then printed C++ stack lines) and
  `ray.shutdown` uninstalls it by putting SIGTERM back to its *default* action at the C level, behind Python's
  back, 0.3 s into a 1.4 s shutdown (measured here), so a SIGTERM during the rest of it killed a command that
  had finished (exit -15). The processes Ray starts (GCS, raylet, workers) read their own environment and keep
  their crash handlers.

They were checked against the Ray versions in TESTED; outside that range they are not called: attempts then
count 1 per start of a task, the address probe is left to `ray.init`, `ray.init` runs unguarded (the handlers
are still put back after it), and `--address auto` is left to Ray.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading

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


SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def ray_init_guard():
    """Around `ray.init` (see the module docstring): the caller's signal handlers survive it (and Ray's shutdown),
    and the local Ray's processes start in a session of their own."""
    main = threading.current_thread() is threading.main_thread()
    saved = {s: signal.getsignal(s) for s in SIGNALS} if main else {}
    undo = []
    if supported():
        try:
            import ray._private.services as services
            import ray._private.utils as utils

            popen = services.ConsolePopen

            class SessionPopen(popen):  # Ray's processes out of the caller's process group
                def __init__(self, *args, **kwargs):
                    kwargs.setdefault("start_new_session", True)
                    super().__init__(*args, **kwargs)

            keep = utils.set_sigterm_handler
            if main:
                utils.set_sigterm_handler = lambda handler: None
                undo.append(lambda: setattr(utils, "set_sigterm_handler", keep))
                import ray._private.ray_constants as constants

                failure_handler = constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER
                constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
                undo.append(lambda: setattr(constants, "RAY_DISABLE_FAILURE_SIGNAL_HANDLER", failure_handler))
            services.ConsolePopen = SessionPopen
            undo.append(lambda: setattr(services, "ConsolePopen", popen))
        except Exception:  # noqa: BLE001 - an API this Ray lacks: unguarded, handlers still put back below
            pass
    try:
        yield
    finally:
        for u in reversed(undo):
            u()
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def stop_ray() -> None:
    """Shut down the Ray this process joined, if any, with what Ray's C++ threads write to file descriptor 2
    meanwhile (an interrupted run's cancelled tasks: `task_manager.cc: Failed to push error to driver ...`)
    sent to this package's logger at DEBUG instead of the user's terminal: the command has already said how it
    ended. A failure of the shutdown is left to Ray's own exit handler, which tries again."""
    import logging
    import os
    import sys
    import tempfile

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    saved = captured = None
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        captured = tempfile.TemporaryFile()
        os.dup2(captured.fileno(), 2)
    except (OSError, ValueError):  # no stderr to protect
        saved = None
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        if captured is not None:
            captured.seek(0)
            text = captured.read().decode(errors="replace").strip()
            captured.close()
            if text:
                logging.getLogger(__name__).debug("Ray during its shutdown:\n%s", text)


def local_ray_instances() -> tuple[set, "str | None"]:
    """(GCS addresses of the Ray instances running on this machine, the address `ray start` recorded or None);
    (set(), None) with an untested Ray."""
    if not supported():
        return set(), None
    try:
        from ray._private import services

        services.find_gcs_addresses.cache_clear()
        return set(services.find_gcs_addresses()), services.find_bootstrap_address(None)
    except Exception:  # noqa: BLE001 - an API this Ray lacks
        return set(), None
