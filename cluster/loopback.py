#!/usr/bin/env python3
"""A real multi-node Ray cluster on one machine: every node on 127.0.0.1, in a loopback-only network
namespace. Used by tests/test_cluster.py, benchmarks/bench_scaling.py and the checklist in cluster/README.md.

    python3 cluster/loopback.py --workers 2 -- sweep run sweeps/quickstart.yaml --store /tmp/q.zarr

runs the command against a head node (0 CPUs: it only schedules) plus N worker nodes (`--num-cpus 1` each),
then stops every process it started, by PID. As root it re-executes itself under `unshare -n` first: Ray
rewrites a loopback node address to the machine's external one when there is one (ray#26293), so the
nodes must live where loopback is the only interface; nothing leaves the machine. The command sees
RAY_ADDRESS, RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (a fresh token: token authentication stays on),
HOME in a temporary folder (an existing ~/.ray/auth_token is neither used nor touched) and usage stats
off. The dashboard is not started. Exit status: the command's.

Python use (inside such a namespace):

    with LoopbackCluster(workers=2) as c:
        subprocess.run([...], env=c.env())
        c.kill_node(c.workers[0])             # lose a worker node (its raylet and its cells)
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HEALTH_ENV = {  # Ray's defaults detect a lost node after about 30 s; a loopback cluster can be quicker
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def script(name: str) -> str:
    """A console script of this Python's installation (found even when PATH lacks it, e.g. a pyenv shim not yet
    rehashed), else from PATH."""
    import sysconfig

    own = Path(sysconfig.get_path("scripts")) / name
    return str(own) if own.exists() else (shutil.which(name) or name)


def loopback_only() -> bool:
    """True when this process's network namespace has no interface but `lo`."""
    try:  # /proc/net/dev is per network namespace (/sys/class/net is not, without a sysfs remount)
        with open("/proc/net/dev") as f:
            names = [line.split(":", 1)[0].strip() for line in f.read().splitlines()[2:]]
    except OSError:
        return False
    return names == ["lo"]


def namespace_command(argv: list[str]) -> list[str]:
    """`argv` run in a new loopback-only network namespace (root; util-linux `unshare`, iproute2 `ip`)."""
    import shlex

    return ["unshare", "-n", "--", "bash", "-c", "ip link set lo up && exec " + shlex.join(argv)]


def _children(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc), deepest last."""
    parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = [], [pid]
    while frontier:
        nxt = [p for p, pp in parent.items() if pp in frontier]
        out += nxt
        frontier = nxt
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _started(pid: int) -> Optional[str]:
    """The kernel's start time of a live process (None when gone or a zombie): tells a PID apart from a later
    process that reuses it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _alive(pid: int) -> bool:
    return _started(pid) is not None


@dataclass
class Node:
    name: str
    proc: subprocess.Popen  # `ray start --block`: the node's processes are its descendants
    log: Path
    seen: dict = field(default_factory=dict)  # every process of the node seen so far: pid -> start time

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> set:
        return set(self.seen)

    def note(self) -> list[int]:
        """Record the node's current processes; return them."""
        procs = _children(self.pid)
        for pid in [self.pid] + procs:
            start = _started(pid)
            if start is not None:
                self.seen.setdefault(pid, start)
        return procs

    def still_running(self) -> list[int]:
        """Processes of the node seen so far that are still the same live processes."""
        return [pid for pid, start in self.seen.items() if _started(pid) == start]

    def raylet_pid(self) -> Optional[int]:
        for p in _children(self.pid):
            if _comm(p) == "raylet":
                return p
        return None


class LoopbackCluster:
    """Head (0 CPUs by default) plus worker nodes on 127.0.0.1, started one at a time with `ray start --block`,
    token authentication on, stopped by PID. Must run in a loopback-only network namespace."""

    def __init__(self, workers: int = 2, cpus_per_worker: int = 1, head_cpus: int = 0, port: int = 6379,
                 root: Optional[str] = None, object_store_mb: int = 80, fast_health_checks: bool = True,
                 extra_env: Optional[dict] = None, on_node=None):
        """`on_node(node)` is called as soon as a node's `ray start` runs (each node is a session of its own,
        led by that process): a caller that must clean up even when this object cannot can record it."""
        self.n_workers, self.cpus_per_worker, self.head_cpus = workers, cpus_per_worker, head_cpus
        self.port, self.object_store_mb = port, object_store_mb
        self._own_root = root is None
        # short: Ray's unix sockets live under the temp dir and their paths must stay under 108 bytes
        self.root = Path(root or tempfile.mkdtemp(prefix="rayl", dir="/tmp"))
        self.token = secrets.token_hex(32)
        self.head: Optional[Node] = None
        self.workers: list[Node] = []
        self._extra = dict(HEALTH_ENV if fast_health_checks else {}, **(extra_env or {}))
        self._on_node = on_node

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, base: Optional[dict] = None) -> dict:
        """Environment of every node and of drivers: token auth, private HOME and Ray temp dir."""
        env = dict(os.environ if base is None else base)
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(THREAD_ENV, **self._extra)
        env.update(HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_ADDRESS=self.address,
                   RAY_TMPDIR=str(self.root / "t"), RAY_USAGE_STATS_ENABLED="0")
        return env

    # -- starting
    def _start(self, name: str, args: list[str], timeout: float, hide: tuple = ()) -> Node:
        log = self.root / f"{name}.log"
        env = self.env()
        env.pop("RAY_ADDRESS")
        cmd = [script("ray"), "start", *args, "--node-ip-address=127.0.0.1", "--block",
               f"--temp-dir={self.root / 't'}", f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
               "--disable-usage-stats"]
        if hide:  # a node of another machine: these folders are empty there (a private mount namespace)
            import shlex

            mounts = " && ".join(f"mount -t tmpfs none {shlex.quote(str(p))}" for p in hide)
            cmd = ["unshare", "-m", "--propagation", "private", "--", "bash", "-c",
                   f"{mounts} && exec {shlex.join(cmd)}"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        node = Node(name, proc, log)
        if self._on_node is not None:
            self._on_node(node)
        deadline = time.time() + timeout
        while time.time() < deadline:
            node.note()
            if proc.poll() is not None:
                raise RuntimeError(f"{name}: `ray start` exited with {proc.returncode}; its log:\n"
                                   + log.read_text(errors="replace")[-3000:])
            if b"Ray runtime started" in log.read_bytes():
                return node
            time.sleep(0.2)
        self._stop_node(node)
        raise TimeoutError(f"{name}: not started after {timeout:.0f} s; its log:\n"
                           + log.read_text(errors="replace")[-3000:])

    def start_head(self, timeout: float = 60) -> Node:
        if not loopback_only():
            raise RuntimeError("LoopbackCluster must run in a loopback-only network namespace "
                               "(`unshare -n`; see namespace_command): Ray would advertise the external address")
        self.head = self._start("head", ["--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}",
                                         "--include-dashboard=false"], timeout)
        return self.head

    def add_worker(self, timeout: float = 60, hide: tuple = ()) -> Node:
        """Start one more worker node and wait until the cluster counts it alive. `hide`: folders this node does
        not see (an empty tmpfs over each, in a mount namespace of its own; root): a node without the driver's
        local disk."""
        n = len(self.workers)
        node = self._start(f"worker{n}", [f"--address={self.address}", f"--num-cpus={self.cpus_per_worker}"],
                           timeout, tuple(hide))
        self.workers.append(node)
        self.wait_alive(1 + sum(1 for w in self.workers if w.proc.poll() is None), timeout)
        return node

    def start(self, timeout: float = 90) -> "LoopbackCluster":
        try:
            self.start_head(timeout)
            for _ in range(self.n_workers):  # one at a time: concurrent starts race for ports
                self.add_worker(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    # -- inspecting
    def alive_nodes(self) -> int:
        """Nodes the GCS counts alive (-1 when the GCS cannot be asked)."""
        code = ("from ray._raylet import GcsClient\n"
                f"c = GcsClient(address='{self.address}')\n"
                "print(sum(1 for n in c.get_all_node_info(timeout=5).values() if n.state == 0))\n")
        r = subprocess.run([sys.executable, "-c", code], env=self.env(), capture_output=True, text=True, timeout=30)
        try:
            return int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return -1

    def wait_alive(self, n: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        got = -1
        while time.time() < deadline:
            got = self.alive_nodes()
            if got == n:
                return
            time.sleep(0.5)
        raise TimeoutError(f"the cluster has {got} nodes alive after {timeout:.0f} s, expected {n}")

    # -- losing and stopping nodes
    def kill_raylet(self, node: Node) -> int:
        """SIGKILL the node's raylet (its `ray start --block` then ends the node's other processes)."""
        pid = node.raylet_pid()
        if pid is None:
            raise RuntimeError(f"{node.name}: no raylet process found")
        node.note()
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_node(self, node: Node) -> list[int]:
        """Lose a node as if its machine died: SIGKILL its raylet, then at once every other process of the node
        (the cells it was running included) and its `ray start`. Returns the PIDs killed, the raylet first."""
        procs = node.note()
        raylet = node.raylet_pid()
        if raylet is None:
            raise RuntimeError(f"{node.name}: no raylet process found")
        killed = []
        for pid in [raylet] + [p for p in procs if p != raylet] + [node.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        node.proc.wait(10)
        return killed

    def _stop_node(self, node: Node, grace: float = 10) -> None:
        if node.proc.poll() is None:
            node.note()
            node.proc.send_signal(signal.SIGTERM)  # ray start --block ends its processes on SIGTERM
            try:
                node.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        for pid in node.still_running():  # whatever is left, by PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if node.proc.poll() is None:
            node.proc.wait(5)

    def pids(self) -> set:
        """Every process of this cluster seen so far (`ray start` processes and their descendants)."""
        out = set()
        for node in ([self.head] if self.head else []) + self.workers:
            if node.proc.poll() is None:
                node.note()
            out |= {node.pid} | node.pids
        return out

    def stop(self) -> None:
        """Stop every node this object started (workers first), by PID; remove the temp folder."""
        for node in reversed(self.workers):
            self._stop_node(node)
        if self.head is not None:
            self._stop_node(self.head)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LoopbackCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                usage="%(prog)s [--workers N] [--cpus-per-worker C] -- COMMAND ...")
    p.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    p.add_argument("--cpus-per-worker", type=int, default=1, help="--num-cpus of each worker node (default 1)")
    p.add_argument("--head-cpus", type=int, default=0, help="--num-cpus of the head node (default 0)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run against the cluster")
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        p.error("give a command after --")
    if not loopback_only():
        if os.environ.get("LOOPBACK_REEXEC"):
            p.error("still not in a loopback-only network namespace after `unshare -n`")
        if os.geteuid() != 0:
            p.error("needs root, to create a loopback-only network namespace with `unshare -n`")
        own = [sys.executable, os.path.abspath(__file__)] + (argv if argv is not None else sys.argv[1:])
        return subprocess.call(namespace_command(own), env=dict(os.environ, LOOPBACK_REEXEC="1"))
    def stop_on_term(signum, frame):  # SIGTERM (timeout, kill): stop the command and the cluster like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    cluster = LoopbackCluster(workers=args.workers, cpus_per_worker=args.cpus_per_worker, head_cpus=args.head_cpus)
    t0 = time.time()
    proc = None
    try:
        with cluster:
            print(f"loopback cluster at {cluster.address}: head + {args.workers} worker nodes "
                  f"({time.time() - t0:.1f} s to start)", file=sys.stderr, flush=True)
            proc = subprocess.Popen(cmd, env=cluster.env())
            rc = proc.wait()
    except KeyboardInterrupt:
        rc = 130
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("interrupted: command and cluster stopped", file=sys.stderr, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
