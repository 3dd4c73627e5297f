"""Running a test module inside a loopback-only network namespace (helper of test_cluster.py, test_s3.py and
test_slurm.py), and the set-up those modules share inside it.

The servers those tests start (Ray nodes, an S3 server) must see no network but loopback: Ray would
otherwise advertise the machine's external address (ray#26293), and nothing a test starts may talk to
anything but 127.0.0.1. So such a module defines two sets of tests:

- outside (the default collection): one launcher test, marked `cluster` (out of the fast loop; the module's
  other outside tests stay in it), that calls `run_inner(__file__, tmp_path)`; it runs
  `python -m pytest <module>` under `unshare -n` (root) with SWEEP_NETNS_INNER=1, a time limit that
  stretches with the machine's load (_limits.py), and fails with the inner run's output when anything inside
  failed; it skips, saying why, when not root or when `unshare`, `ip` or another program it is given is
  missing (scripts/install-test-deps);
- inside (SWEEP_NETNS_INNER=1): the real tests. Their fixtures stop what they start by PID, and record
  every PID with `record_pids`; after the inner run the launcher kills any recorded process still alive
  (by PID) and fails if there was one.

Shared inside: `short_folder` (a recorded temporary folder with a path short enough for Unix sockets),
`start_sweep` / `finish` / `kill_session` (a `sweep` command in a session of its own, recorded, waited for
with a load-scaled limit, killed with its session), `kill_pids`, `own_hostname` (a command in a UTS namespace
of its own). Every `unshare` the tests run is built here or in cluster/loopback.py (`namespace_command`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

import _limits

ROOT = Path(__file__).resolve().parent.parent
INNER_ENV, PIDS_ENV = "SWEEP_NETNS_INNER", "SWEEP_NETNS_PIDS"
INNER = os.environ.get(INNER_ENV) == "1"


def _load_loopback():
    spec = importlib.util.spec_from_file_location("loopback", ROOT / "cluster" / "loopback.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("loopback", mod)
    spec.loader.exec_module(mod)
    return mod


loopback = _load_loopback()


def system_program(name: str):
    """The path of a system program (also in the sbin folders, which a plain user's PATH may lack), or None."""
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if os.access(f"{folder}/{name}", os.X_OK):
            return f"{folder}/{name}"
    return shutil.which(name)


def record_pids(pids, label: str) -> None:
    """Note processes a fixture started (inside the namespace), so that the launcher can check they are gone.
    Record a process started with `start_new_session=True` and its whole session is covered."""
    folder = os.environ.get(PIDS_ENV)
    if not folder:
        return
    with open(Path(folder) / f"{label}.pids", "a") as f:
        for pid in sorted(pids):
            start = loopback._started(pid)
            if start is not None:
                f.write(f"{pid} {start}\n")


def record_path(path) -> None:
    """A temporary folder to remove after the inner run, should its fixture not get to it."""
    folder = os.environ.get(PIDS_ENV)
    if folder:
        with open(Path(folder) / "paths", "a") as f:
            f.write(f"{path}\n")


def short_folder(prefix: str) -> Path:
    """A new folder under /tmp, recorded for removal after the inner run (`record_path`): a short path, as Unix
    socket paths (Ray's, munge's) must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    record_path(path)
    return path


def own_hostname(cmd: list, hostname: str = "localhost") -> list:
    """`cmd` run with the host name `hostname`, in a UTS namespace of its own (`unshare -u`, root)."""
    return ["unshare", "-u", "--", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"', *cmd]


def kill_pids(pids) -> None:
    """SIGKILL each PID still there."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_sweep(args, label: str, env=None, cwd=None) -> subprocess.Popen:
    """`python -m sweep.cli ARGS` in a session of its own (a local Ray it starts included), stdout and stderr
    together as text; its PID recorded under `label`, which covers its session."""
    p = subprocess.Popen([sys.executable, "-m", "sweep.cli", *map(str, args)], env=env, cwd=cwd, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    record_pids([p.pid], label)
    return p


def kill_session(proc: subprocess.Popen, label: str) -> str:
    """SIGKILL `proc` and its session (its descendants recorded under `label` first, should one have left the
    session); its output."""
    record_pids([proc.pid] + loopback._children(proc.pid), label)
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()[0] or ""


def finish(proc: subprocess.Popen, seconds: float, what: str) -> str:
    """The output of `proc` (from start_sweep) once it exits; once `seconds` (on an idle machine, stretched by the
    load: _limits.py) have passed, its session is killed and the test fails, naming `what` and showing the end
    of the output."""
    try:
        out, _ = _limits.communicate(proc, seconds)
    except subprocess.TimeoutExpired as e:
        out = kill_session(proc, "timed-out")
        pytest.fail(f"{what} did not finish in {e.timeout:.0f} s ({seconds:g} s idle, load-scaled):\n{out[-4000:]}")
    return out


def _sessions() -> dict:
    """pid -> session id of every live process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                out[int(entry)] = int(fields[3])
    return out


def _leftovers(folder: Path) -> list[str]:
    """Recorded processes still alive, and every live member of a session a recorded process leads: killed
    here, by PID, and returned as 'label:pid (comm)'."""
    left, leaders = {}, {}
    for path in sorted(folder.glob("*.pids")):
        for line in path.read_text().split("\n"):
            if line.strip():
                pid, start = int(line.split()[0]), line.split()[1]
                leaders[pid] = path.stem
                if loopback._started(pid) == start:
                    left[pid] = path.stem
    for pid, sid in _sessions().items():
        if sid in leaders and pid != os.getpid():
            left.setdefault(pid, leaders[sid])
    names = [f"{label}:{pid} ({loopback._comm(pid)})" for pid, label in sorted(left.items())]
    kill_pids(left)
    paths = folder / "paths"
    if paths.exists():
        for line in paths.read_text().split("\n"):
            if line.strip():
                shutil.rmtree(line.strip(), ignore_errors=True)
    return names


def run_inner(test_file: str, tmp_path: Path, timeout: float = 240, programs=()) -> str:
    """Run `test_file`'s inner tests in a new loopback-only network namespace; return their output. Skips, saying
    why, when not root or when a system program is missing: `unshare`, `ip`, or one of `programs` ((program,
    Debian package) pairs the inner tests start)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: its servers run in a loopback-only network namespace (unshare -n)")
    needed = (("unshare", "util-linux"), ("ip", "iproute2"), *programs)
    missing = [f"{tool} ({package})" for tool, package in needed if system_program(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: `bash scripts/install-test-deps` as root installs them")
    pids = tmp_path / "pids"
    pids.mkdir()
    # `timeout`: seconds on an idle machine, stretched by the load (_limits.py); pytest-timeout inside gets 30 s
    # less, so that its fixtures still clean up
    inner_limit = max(30, int(_limits.scaled(timeout)) - 30)
    cmd = loopback.namespace_command([
        sys.executable, "-m", "pytest", str(test_file), "-q", "-rs", "-p", "no:cacheprovider",
        "-o", f"timeout={inner_limit}", "-o", "timeout_method=signal", "--basetemp", str(tmp_path / "inner")])
    env = dict(os.environ, **{INNER_ENV: "1", PIDS_ENV: str(pids)})
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    timed_out = None
    try:
        out, _ = _limits.communicate(proc, timeout)
    except subprocess.TimeoutExpired as e:
        timed_out = e.timeout
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    left = _leftovers(pids)
    problems = []
    if timed_out is not None:
        problems.append(f"the namespace run passed its {timed_out:.0f} s limit ({timeout:g} s idle, load-scaled)")
    elif proc.returncode != 0:
        problems.append(f"tests inside the namespace failed (exit {proc.returncode})")
    if left:
        problems.append(f"processes left running (now killed by PID): {', '.join(left)}")
    assert not problems, "; ".join(problems) + f"; output of the namespace run:\n{out[-12000:]}"
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if "skipped" in last:
        warnings.warn(f"inside the namespace: {last}", stacklevel=2)
    print(out)
    return out
