"""The Ray launcher (sweep.run.launcher): local Ray or a Ray cluster, each batch of cells a Ray task. Every Ray
call of a run is here (and Ray's private APIs in sweep.run.raycompat).

- `start`: joins the Ray this process already joined (a notebook, a test), or the cluster at `address` (or
  RAY_ADDRESS; "auto": the cluster this user started on this machine, resolve_auto), failing within seconds
  with ClusterUnreachable where Ray itself would take 20-40 s (_preflight); otherwise starts a new local Ray
  (never a cluster that `ray start` left on this machine), its processes in their own session
  (sweep.run.raycompat.ray_init_guard). Workers run single-threaded (THREAD_ENV).
- a batch is a Ray task of one CPU that Ray retries `max_retries` times after a lost worker or node (its
  attempt number, sweep.run.raycompat.task_attempt, travels with the outcome); the storage probe is a task of no
  CPU pinned to each node that has CPUs;
- errors of `ray.get` become the launcher-neutral errors: Ray's local raylet dead or a RaySystemError ->
  ExecutorLost, a node dead -> NodeLost, anything else -> BatchFailed (`TypeName: message`, the task's own
  exception as its cause);
- `cancel` is `ray.cancel` (a KeyboardInterrupt in the task, never a killed worker); `close` leaves Ray running
  for the process's next run (the `sweep` command stops it as it exits, sweep.run.raycompat.stop_ray).
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from . import tasks
from .launcher import BatchFailed, ClusterUnreachable, ExecutorLost, Launcher, NodeLost, NodeProbe
from .raycompat import GCS_PROBE, local_ray_instances, ray_init_guard, supported, task_attempt
from ..store.outcomes import BatchOutcome

THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


_REMOTE = {}


def _remote_functions(ray, max_retries: int):
    """The Ray remote functions, one per process (exporting a new one per run costs every worker a reload).
    The batch function looks tasks.execute_cell up when it is built, so a test can substitute it."""
    key = (max_retries, tasks.execute_cell)
    if key not in _REMOTE:
        cell_fn = tasks.execute_cell

        def run_batch(url, storage_options, cells):
            return tasks.execute_batch(url, storage_options, cells, cell_fn, task_attempt())

        _REMOTE[key] = (ray.remote(num_cpus=1, max_retries=max_retries)(run_batch),
                        ray.remote(num_cpus=0, max_retries=0)(tasks.probe_store))
    return _REMOTE[key]


AUTH_HINT = ("Ray clusters use token authentication (on by default): the driver needs RAY_AUTH_MODE=token and the "
             "cluster's token in RAY_AUTH_TOKEN (or a file named by RAY_AUTH_TOKEN_PATH; `ray get-auth-token` on the "
             "head node prints it)")


def _preflight(address: str, timeout: float = 5.0) -> None:
    """Fail within seconds, with a clear message, where Ray itself takes 20-40 s: nothing listening at a
    `host:port` cluster address, or a token the cluster refuses. Anything else is left to ray.init."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():  # "auto", "ray://...": Ray's own checks
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterUnreachable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; is its head node "
                              "running (`ray start --head`), and is the address its GCS address (port 6379 by "
                              "default)?") from None
    if not supported():
        return
    # in a child process: Ray's client aborts its process when token mode is on and no token is found
    import subprocess

    try:
        r = subprocess.run([sys.executable, "-c", GCS_PROBE, address, str(timeout)], capture_output=True, text=True,
                           timeout=4 * timeout + 30)
    except (OSError, subprocess.TimeoutExpired):
        return
    lines = r.stdout.strip().splitlines()
    if lines and lines[-1].startswith("auth:"):
        reason = lines[-1][len("auth:"):].strip().split(". Ensure that")[0]
        raise ClusterUnreachable(f"cannot join the Ray cluster at {address}: {reason}. {AUTH_HINT}")
    if r.returncode != 0 and "Token authentication is enabled but Ray couldn't find an authentication token" in r.stderr:
        raise ClusterUnreachable(f"cannot join the Ray cluster at {address}: token authentication is on and no token "
                              f"was found. {AUTH_HINT}")


def _init_ray(address: Optional[str], num_cpus: Optional[int]):
    import ray

    if ray.is_initialized():  # a notebook or test that already joined Ray
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None  # RAY_ADDRESS joins a cluster like --address
    runtime_env = {"env_vars": dict(THREAD_ENV)}
    if address:
        if address == "auto":
            address = resolve_auto()
        _preflight(address)
        try:
            with ray_init_guard():
                ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:  # what _preflight did not catch
            reason = str(exc).split(". Ensure that")[0]  # Ray's own long hint replaced by ours
            raise ClusterUnreachable(f"cannot join the Ray cluster at {address}: {reason}. {AUTH_HINT}") from None
    else:
        # "local": a new local instance, never a cluster that `ray start` left on this machine (Ray's default)
        with ray_init_guard():
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, runtime_env=runtime_env,
                     object_store_memory=100 * 1024 * 1024, logging_level="ERROR", log_to_driver=False)
    return ray


def _proc(pid: str) -> tuple:
    """(argv, parent pid, uid) of a process from /proc; ([], "", -1) when it cannot be read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return argv, fields.get("PPid", "").strip(), int(fields.get("Uid", "-1").split()[0])
    except (OSError, ValueError, IndexError):
        return [], "", -1


def _owner(address: str) -> tuple:
    """(uid, parent pid, the parent's command line) of the Ray instance whose GCS is at `address` on this
    machine (from its processes' `--gcs-address`); (-1, "", "") when none is found."""
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        argv, ppid, uid = _proc(pid)
        if f"--gcs-address={address}" in argv:
            parent = _proc(ppid)[0] if ppid else []
            return uid, ppid, " ".join(parent)[:120]
    return -1, "", ""


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"


def resolve_auto() -> str:
    """`--address auto`: the GCS address of the Ray cluster this user started on this machine with `ray start
    --head` (the address Ray records for it, its processes running and this user's); ClusterUnreachable, saying
    whose the instances found are, otherwise. Never another program's private `ray.init()` instance (its driver
    owns it and stops it when it ends), nor another user's. With an untested Ray, "auto" is left to Ray."""
    if not supported():
        return "auto"
    running, recorded = local_ray_instances()
    if recorded and recorded in running:
        uid, _, _ = _owner(recorded)
        if uid in (-1, os.getuid()):
            return recorded
        raise ClusterUnreachable(f"--address auto: the Ray cluster at {recorded} on this machine is {_user(uid)}'s, "
                                 "not yours; pass its address explicitly to join it, or leave --address out to start "
                                 "a local Ray for this run")
    if not running:
        raise ClusterUnreachable("--address auto: no Ray cluster runs on this machine (start one with `ray start "
                                 "--head`), or leave --address out to start a local Ray for this run")
    found = []
    for addr in sorted(running):
        uid, ppid, parent = _owner(addr)
        who = f"{_user(uid)}'s" if uid != -1 else "someone's"
        found.append(f"{addr} ({who}, started by pid {ppid or '?'}: {parent or '?'})")
    raise ClusterUnreachable("--address auto: the Ray instances on this machine are other programs' private "
                             "`ray.init()` instances, not clusters started with `ray start --head`: "
                             + "; ".join(found) + "; start a cluster with `ray start --head` and pass its "
                             "address, or leave --address out to start a local Ray for this run")



RAY_LOST = {"LocalRayletDiedError": "Ray's local raylet died", "NodeDiedError": "a Ray node died",
            "RaySystemError": "Ray failed (RaySystemError)"}


def _ray_lost(exc: BaseException) -> Optional[str]:
    """What failed when `exc` (from ray.get) is a failure of Ray itself rather than of the cells: the local
    raylet or a node died, a Ray system error; None otherwise (a worker killed by its cell is the cell's)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for cls in type(exc).__mro__:
            what = RAY_LOST.get(cls.__name__)
            if what:
                first = " ".join(str(exc).split())[:160]
                return f"{what} ({type(exc).__name__}: {first})" if first else f"{what} ({type(exc).__name__})"
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


class RayLauncher(Launcher):
    """Batches as Ray tasks (see the module docstring)."""

    name = "ray"

    def __init__(self):
        self.ray = None  # the ray module once started (_init_ray's answer: a test may wrap it)
        self.task = self.probe = None

    def start(self, address: Optional[str], num_cpus: Optional[int], max_retries: int) -> None:
        self.ray = _init_ray(address, num_cpus)
        self.task, self.probe = _remote_functions(self.ray, max_retries)

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def probe_nodes(self, url: str, storage_options: Optional[dict], token: str, timeout: float) -> list[NodeProbe]:
        """One probe task pinned to each live node that has CPUs (the driver's own too: its workers may not share
        the driver's environment, a Ray started elsewhere, a runtime_env setting NUMBA_CPU_NAME)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            return []
        refs = {self.probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
            url, storage_options, token): n for n in nodes}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        probes = []
        for ref, node in refs.items():
            where = f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:8]}, host {node.get('NodeManagerHostname', '?')})"
            if ref not in ready:
                probes.append(NodeProbe(where, f"no answer to the storage probe in {timeout:.0f} s", None))
                continue
            try:
                answer = ray.get(ref)
                probes.append(NodeProbe(where, answer["problem"], answer["contract"]))
            except Exception as exc:  # noqa: BLE001 - a node that cannot even run the probe
                probes.append(NodeProbe(where, f"{type(exc).__name__}: {exc}", None))
        return probes

    def submit(self, url: str, storage_options: Optional[dict], cells: Sequence):
        return self.task.remote(url, storage_options, cells)

    def wait(self, handles: Sequence, timeout: float) -> list:
        ready, rest = self.ray.wait(list(handles), num_returns=1, timeout=timeout)
        if ready and rest:  # collect everything else that is already finished
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def outcome(self, handle) -> BatchOutcome:
        try:
            return self.ray.get(handle)
        except Exception as exc:  # noqa: BLE001 - worker or node lost beyond the retries, Ray lost, or the task's error
            lost = _ray_lost(exc)
            if lost and lost.startswith(RAY_LOST["NodeDiedError"]):
                raise NodeLost(lost) from exc
            if lost:
                raise ExecutorLost(lost) from exc
            raise BatchFailed(f"{type(exc).__name__}: {exc}") from exc

    def cancel(self, handles: Sequence) -> None:
        for ref in handles:
            try:
                self.ray.cancel(ref)
            except Exception:  # noqa: BLE001 - a finished task, or a Ray that failed: nothing left to stop
                pass

    def close(self) -> None:
        self.task = self.probe = None
