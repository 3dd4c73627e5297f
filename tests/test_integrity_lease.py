"""Integrity, second campaign: the lease (no clock can wedge it, untrusted files, `unlock --force`), signals in
every phase of `sweep run`, a closed output, `--address auto`, a dead raylet, the API's argument checks, one
run per process (issue 16: findings 4, 5, 8, 9, 10, 11, and parts of 13 and 16).

Drivers that get signals run as child processes of `python -m sweep.cli`; everything else runs in this
process, on the module-wide local Ray where it needs one. Lease periods are small (SWEEP_LEASE_SECONDS, or a
lease file's own `seconds`), and the tests wait on progress, never on fixed wall-clock limits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _limits import scaled
from sweep import run_sweep
from sweep.run.cell import VARIABLES
from sweep.store.lease import FORCED, Lease, LeaseHeld, LeaseLost, break_lease, read_holder
from sweep.store.location import Location
from sweep.store.results_store import DONE, FAILED, PENDING, ResultsStore

pytestmark = pytest.mark.slow

ROOT = str(Path(__file__).resolve().parent.parent)
SWEEP = """
name: lease
seed: 5
data: {{model: ising, n_visible: {n}, n_samples: 400}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: pcd, pcd_steps: 5, learning_rate: 0.05, batch_size: 40, epochs: {epochs}, record_every: 10,
        checkpoint_every: 10, test_fraction: 0.2}}
grid:
  data.beta: [0.3, 0.6, 0.9]
  train.seed: [0, 1, 2, 3]
"""


def sweep_text(n=12, epochs=40) -> str:
    return SWEEP.format(n=n, epochs=epochs)


def write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def data(url) -> dict:
    ds = xr.open_zarr(Location(str(url)).zarr_store()).load()
    return {v: ds[v].values for v in VARIABLES + ("cell_data_seed", "cell_train_seed", "status")}


def assert_same(a: dict, b: dict) -> None:
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def status(url) -> np.ndarray:
    return ResultsStore(str(url)).group("r")["status"][...]


def answers(*args, env=None) -> tuple[int, str]:
    """A command in this process (CliRunner): (exit code, output); never an exception other than SystemExit."""
    from typer.testing import CliRunner

    from sweep.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args], env=env)
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.output, r.exception)
    return r.exit_code, r.output


def start(*args, env=None, faults=False, **kw) -> subprocess.Popen:
    """`sweep ARGS` as a child process in its own session (its process group is its own); with `faults`, the
    fault driver (tests/faults.py) instead, configured by `env`."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    cmd = [str(Path(__file__).parent / "faults.py")] if faults else ["-m", "sweep.cli"]
    return subprocess.Popen([sys.executable, *cmd, *[str(a) for a in args]], text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})), start_new_session=True, **kw)


def wait_until(predicate, p: subprocess.Popen | None = None, what: str = "", limit: float = 300) -> None:
    """Wait for `predicate()` (checked every 50 ms), the driver `p` still running. The limit only keeps a broken
    run from hanging the suite; a busy machine is slower, never wrong."""
    deadline = time.time() + scaled(limit)
    while not predicate():
        if p is not None and p.poll() is not None:
            raise AssertionError(f"the driver ended before {what}: {p.communicate()}")
        assert time.time() < deadline, f"no progress: {what}"
        time.sleep(0.05)


def lease_files(url) -> list:
    folder = Path(url) / "_lease"
    return sorted(n for n in os.listdir(folder) if n[:10].isdigit()) if folder.is_dir() else []


def done_count(url) -> int:
    try:
        return int((status(url) == DONE).sum())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_local):
    """An uninterrupted run: the bits every interrupted-then-resumed run must give; and a finished store to copy."""
    folder = tmp_path_factory.mktemp("ref")
    f = write(folder, sweep_text())
    url = folder / "ref.zarr"
    assert run_sweep(f, store=str(url), progress=False).ok
    return {"file": f, "url": url, "data": data(url)}


def copy_of(reference, tmp_path: Path, name: str = "copy.zarr") -> Path:
    url = tmp_path / name
    shutil.copytree(reference["url"], url)
    return url


# ------------------------------------------------------------------------------------- clocks (finding 8)
HOLDER = textwrap.dedent("""
    import sys, time
    real = time.time
    time.time = lambda: real() + float(sys.argv[2])   # this holder's wall clock is off by argv[2] seconds
    import sweep.store.lease as lease
    lease.socket.gethostname = lambda: "otherhost"      # and it runs on another host
    from sweep.store.location import Location
    held = lease.Lease.acquire(Location(sys.argv[1]), "holder")
    print("held", flush=True)
    sys.stdin.read()                                    # hold (renewing) until the test closes stdin
    held.release()
""")


def holder(url: Path, skew: float) -> subprocess.Popen:
    """A driver on "another host" whose clock is `skew` seconds off, holding `url`'s lease (period 1 s)."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(url), str(skew)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT,
                                                                    SWEEP_LEASE_SECONDS="1"))
    assert p.stdout.readline() == "held\n"
    return p


@pytest.mark.parametrize("skew", [3600.0, -120.0])
def test_no_clock_skew_wedges_or_steals_the_lease(tmp_path, skew):
    """A holder on another host whose clock runs 1 h ahead or 2 min behind: while it renews, a rival is refused
    (however old or new its heartbeat looks); once it is killed, the rival takes the store over after watching
    its unchanged file for one lease period of its own clock, not after an hour (or never)."""
    loc = Location(str(tmp_path / "skew.zarr"))
    p = holder(tmp_path / "skew.zarr", skew)
    try:
        h = read_holder(loc)
        assert h.host == "otherhost" and abs(h.heartbeat - time.time() - skew) < 60
        beat = h.beat
        wait_until(lambda: read_holder(loc).beat > beat, what="a renewal")  # it renews: a counter, not a clock
        with pytest.raises(LeaseHeld, match="host otherhost"):
            Lease.acquire(loc, "rival")
        code, out = answers("unlock", loc.url)
        assert code == 2 and "being run by another `sweep run` (host otherhost" in out, out
    finally:
        p.kill()
        p.wait()
    t0 = time.monotonic()
    rival = Lease.acquire(loc, "rival")
    assert time.monotonic() - t0 >= 1.0  # it watched one period of the holder's lease before taking over
    assert rival.taken_over.host == "otherhost" and lease_files(loc.url) == [f"{rival.generation:010d}.json"]
    rival.release()


WEDGED = textwrap.dedent("""
    import sys, threading, time
    from sweep.store.lease import Lease
    from sweep.store.location import Location
    stop = threading.Event()
    held = Lease.acquire(Location(sys.argv[1]), "wedged", stop=stop)
    print("held", flush=True)
    if sys.argv[2] == "main-ends":   # the main thread ends; another thread keeps the process running
        threading.Thread(target=time.sleep, args=(600,)).start()
    else:                            # told to stop (a signal's event), then wedged for good
        stop.set()
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["main-ends", "wedged-after-stop"])
def test_the_heartbeat_stops_with_the_main_thread_or_after_a_stop(tmp_path, how):
    """Finding 4: a driver whose main thread ended, or that was told to stop and hangs, must not keep the store:
    its heartbeat stops (at once, or two lease periods after the stop), so a rival takes the store over although
    the process still runs."""
    url = tmp_path / "wedged.zarr"
    p = subprocess.Popen([sys.executable, "-c", WEDGED, str(url), how], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT, SWEEP_LEASE_SECONDS="1"))
    try:
        assert p.stdout.readline() == "held\n"
        loc = Location(str(url))
        pid = read_holder(loc).pid
        lease, deadline = None, time.time() + scaled(300)  # the limit only keeps a broken heartbeat from hanging the suite
        while lease is None:  # refused while it still renews (at most two periods after the stop), then taken
            try:
                lease = Lease.acquire(loc, "rival")
            except LeaseHeld:
                assert p.poll() is None and time.time() < deadline, "the heartbeat outlived its main thread"
        assert p.poll() is None and lease.taken_over.pid == pid == p.pid  # the process runs; the lease is free
        lease.release()
    finally:
        p.kill()
        p.wait()


BAD = [('{"host": "x", "pid": 1, "heartbeat": 1e999, "seconds": 1}', "heartbeat inf is not in"),
       ('{"host": "x", "pid": 1, "heartbeat": -5}', "heartbeat -5 is not in"),
       ('{"host": "x", "pid": "12"}', 'pid "12" is not an integer'),
       ('{"host": 7, "pid": 12}', "host 7 is not a string"),
       ('{"host": "x", "pid": 12, "seconds": 1e6}', "seconds 1000000.0 is not in [0.5, 3600]"),
       ('{"host": "x", "pid": 12, "seconds": 0.1}', "seconds 0.1 is not in [0.5, 3600]"),
       ('{"host": "x", "pid": 12, "beat": true}', "beat true is not an integer"),
       ('{"host": "x", "pid": 12, "mono": NaN}', "mono nan is not in"),
       ('[1, 2]', "a JSON list, not an object"),
       ('{"host": "x"', "not valid JSON"),
       ('{"pid": 3}', "no host")]


def test_absurd_lease_values_are_named_and_expire_after_one_period(tmp_path, monkeypatch):
    """Lease files with absurd values or wrong types: every reader names the file and what is wrong (no
    traceback), and each counts as gone once seen unchanged for one lease period of the observer."""
    monkeypatch.setenv("SWEEP_LEASE_SECONDS", "1")
    loc = Location(str(tmp_path / "bad.zarr"))
    for i, (body, why) in enumerate(BAD):
        key = f"_lease/{2 * i:010d}.json"
        loc.write(key, body.encode())
        h = read_holder(loc)
        assert why in h.problem and h.describe() == f"an unusable lease file {key} ({h.problem})", (body, h)
        if i % 2:  # `sweep unlock` removes it once it was unchanged for a period
            code, out = answers("unlock", loc.url, env={"SWEEP_LEASE_SECONDS": "1"})
            assert code == 0 and out.strip() == f"{loc.url}: removed the lease of {h.describe()} (no longer running)"
        else:  # a run takes it over
            lease = Lease.acquire(loc, "after")
            assert lease.taken_over.problem == h.problem and lease_files(loc.url) == [f"{2 * i + 1:010d}.json"]
            lease.release()
        assert read_holder(loc) is None
    # a file that keeps changing is not taken over, however bad
    stop = threading.Event()

    def scribble():
        n = 0
        while not stop.wait(0.05):
            n += 1
            loc.write("_lease/0000000100.json", b"garbage %d" % n)

    t = threading.Thread(target=scribble, daemon=True)
    t.start()
    try:
        wait_until(lambda: read_holder(loc) is not None, what="the scribbler's file")
        with pytest.raises(LeaseHeld, match=r"_lease/0000000100.json is not a valid lease \(not valid JSON.*changed "
                                             "while watched"):
            Lease.acquire(loc, "after")
    finally:
        stop.set()
        t.join()


def test_a_lease_path_that_is_a_folder_or_a_file(tmp_path, reference):
    """A folder where a lease file belongs: status names it, verify and unlock answer without a traceback, a run
    takes it over; a file where the lease folder belongs: one line naming it, exit 2, from every command."""
    url = copy_of(reference, tmp_path)
    (url / "_lease" / "0000000003.json").mkdir(parents=True)
    (url / "_lease" / "0000000003.json" / "x").write_text("x")
    code, out = answers("status", url)
    assert code == 0 and "lease: _lease/0000000003.json is not a valid lease (a folder, not a file)" in out, out
    code, out = answers("verify", url)
    assert code == 0 and "Traceback" not in out, out
    code, out = answers("unlock", url, env={"SWEEP_LEASE_SECONDS": "1"})
    assert code == 0 and "removed the lease of an unusable lease file _lease/0000000003.json (a folder" in out, out
    assert lease_files(url) == []
    shutil.rmtree(url / "_lease")
    (url / "_lease").write_text("not a folder")
    for args in (["status", url], ["unlock", url], ["unlock", url, "--force"], ["run", reference["file"], "--store",
                                                                                  url]):
        code, out = answers(*args)
        assert code == 2 and out.strip() == (f"{url}: {url / '_lease'} is a file where the store's lease folder "
                                             "belongs; remove it (`sweep run` makes the folder)"), (args, out)


def test_unlock_force_frees_a_live_looking_lease_and_the_next_run_records_it(tmp_path, reference, monkeypatch):
    """A driver that looks live (its process runs, it renews): `unlock` refuses, `unlock --force` frees the store
    and says what it freed (host, pid, since); that driver finds its lease lost; the next run's record notes the
    forced unlock."""
    url = copy_of(reference, tmp_path)
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from sweep.store.lease import Lease, LeaseLost
        from sweep.store.location import Location
        held = Lease.acquire(Location(sys.argv[1]), "holder")
        print("held", flush=True)
        while True:
            time.sleep(0.05)
            try:
                held.check()
            except LeaseLost as exc:
                print(exc, flush=True)
                break
    """), str(url)], stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT,
                                                                 SWEEP_LEASE_SECONDS="1"))
    try:
        assert p.stdout.readline() == "held\n"
        h = read_holder(Location(str(url)))
        code, out = answers("unlock", url)
        assert code == 2 and f"pid {p.pid}" in out and "--force" in out, out
        code, out = answers("unlock", url, "--force")
        assert code == 0 and out.strip().startswith(
            f"{url}: forced: removed the lease of host {socket.gethostname()}, pid {p.pid}, since {h.started}"), out
        assert "lost its lease on the store to `sweep unlock`" in p.stdout.readline()
        assert p.wait(timeout=scaled(60)) == 0
    finally:
        p.kill()
        p.wait()
    assert json.loads((url / FORCED).read_text())[0]["pid"] == p.pid
    assert run_sweep(reference["file"], store=str(url), progress=False).ok
    runs = ResultsStore(str(url)).runs()
    assert runs[-1]["forced_unlock"][0]["pid"] == p.pid and runs[-1]["forced_unlock"][0]["since"] == h.started
    assert not (url / FORCED).exists() and "forced_unlock" not in runs[0]
    assert run_sweep(reference["file"], store=str(url), progress=False).ok
    assert "forced_unlock" not in ResultsStore(str(url)).runs()[-1]  # noted once


# ------------------------------------------------------------------------------------- signals (findings 4, 10)
@pytest.mark.parametrize("sig, phase, group", [
    (signal.SIGTERM, "start-up", False), (signal.SIGHUP, "start-up", False), (signal.SIGTERM, "mid-run", False),
    (signal.SIGHUP, "mid-run", False), (signal.SIGTERM, "mid-run", True), (signal.SIGTERM, "start-up", True)])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(tmp_path, reference, sig, phase, group):
    """SIGTERM or SIGHUP, to the driver or to its whole process group (systemd, Slurm, a closed terminal), while
    Ray starts (the lease taken, no cell done) or mid-run: exit 128 + the signal, the resume line, no traceback
    and no Ray stack lines, the lease released; the rerun finishes with the uninterrupted run's bits."""
    f = write(tmp_path, sweep_text())
    url = tmp_path / "sig.zarr"
    # cells slowed by a second each (same bits): on an idle machine the run outlasts its first done cell
    p = start("run", f, "--store", url, "--max-parallel", "1", faults=True, env={"FAULT_CELL_DELAY": "1"})
    if phase == "start-up":
        wait_until(lambda: lease_files(url), p, "the driver took the lease")
    else:
        wait_until(lambda: done_count(url) >= 1, p, "a cell was done")
    (os.killpg if group else os.kill)(p.pid, sig)
    out, err = p.communicate(timeout=scaled(300))
    assert p.returncode == 128 + sig, (p.returncode, out, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted ({signal.Signals(sig).name}): ") and last.endswith(
        f'rerun "sweep run {f} --store {url}" to resume'), err
    assert "Traceback" not in err + out and "*** SIGABRT" not in err and "Check failed" not in err, err
    assert read_holder(Location(str(url))) is None, "the interrupted driver kept the store's lease"
    if phase == "mid-run":
        assert 1 <= done_count(url) < 12
        runs = ResultsStore(str(url)).runs()
        assert runs[-1]["interrupted"] is True and runs[-1]["end"]
    assert run_sweep(f, store=str(url), progress=False).ok
    assert_same(reference["data"], data(url))


def test_a_closed_output_neither_keeps_the_lease_nor_is_a_storage_failure(tmp_path, reference):
    """`sweep run ... 2>&1 | head -2`: the reader goes away after two lines; the run goes on to its end without
    a display (exit 0), releases the lease, writes no "cannot reach the object store", and its log notes why
    the display stopped."""
    f = write(tmp_path, sweep_text())
    url = tmp_path / "pipe.zarr"
    r, w = os.pipe()
    p = start("run", f, "--store", url, "--max-parallel", "1", "-v", stdout=w, stderr=w)
    os.close(w)
    with os.fdopen(r) as reader:
        lines = [reader.readline() for _ in range(2)]
    assert all(lines), lines
    assert p.wait(timeout=scaled(300)) == 0
    assert read_holder(Location(str(url))) is None
    assert_same(reference["data"], data(url))
    logs = list(Path(str(url) + ".logs").glob("*.log"))
    text = "".join(x.read_text() for x in logs)
    assert "the output was closed (BrokenPipeError" in text and "cannot reach the object store" not in text, text
    assert text.rstrip().endswith("finished: 12 cells run (12 done, 0 failed)"), text


# ------------------------------------------------------------------------------------- --address auto (finding 9)
def test_address_auto_never_joins_another_programs_private_ray(tmp_path, ray_local):
    """This test process's own `ray.init()` (the module's local Ray) is a private instance: `--address auto`
    from another process refuses it with one line saying whose it is, and leaves the store as it was."""
    f = write(tmp_path, sweep_text())
    url = tmp_path / "auto.zarr"
    p = start("run", f, "--store", url, "--address", "auto")
    out, err = p.communicate(timeout=scaled(300))
    assert p.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "--address auto: the Ray instances on this machine are other programs' private `ray.init()` " in err, err
    assert f"started by pid {os.getpid()}: " in err, err
    assert not url.exists()


# ------------------------------------------------------------------------------------- the API (findings 5, 16)
@pytest.mark.parametrize("kwargs, error, text", [
    ({"max_parallel": -1}, ValueError, "max_parallel must be >= 1, got -1"),
    ({"max_parallel": 0}, ValueError, "max_parallel must be >= 1"),
    ({"num_cpus": 0}, ValueError, "num_cpus must be >= 1"),
    ({"max_retries": -2}, ValueError, "max_retries must be >= 0"),
    ({"max_parallel": 2.5}, TypeError, "max_parallel must be an integer"),
    ({"max_parallel": True}, TypeError, "max_parallel must be an integer"),
    ({"store": 123}, TypeError, "store must be a path or URL (str or os.PathLike), got 123"),
    ({"store": ""}, ValueError, "store must not be empty"),
    ({"address": 6379}, TypeError, "address must be a Ray address"),
    ({"storage_options": "anon"}, TypeError, "storage_options must be a dict"),
    ({"allow_env_change": "yes"}, TypeError, "allow_env_change must be True or False"),
    ({"progress": "loud"}, ValueError, "progress must be True, False"),
])
def test_run_sweep_checks_its_arguments_before_touching_anything(tmp_path, monkeypatch, kwargs, error, text):
    monkeypatch.chdir(tmp_path)
    f = write(tmp_path, sweep_text())
    kwargs = {"store": str(tmp_path / "api.zarr"), "progress": False, **kwargs}
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        run_sweep(f, **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["s.yaml"]  # no store, no `./123`, no lease


def test_one_run_per_process(tmp_path, reference):
    """Two threads running run_sweep on two stores: the second is refused with one line (one run per process),
    before touching its store; the first finishes unharmed."""
    f = write(tmp_path, sweep_text(epochs=200))
    first, second = tmp_path / "one.zarr", tmp_path / "two.zarr"
    result = {}

    def run_first():
        try:
            result["summary"] = run_sweep(f, store=str(first), progress=False, max_parallel=1)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["error"] = exc

    t = threading.Thread(target=run_first)
    t.start()
    try:
        wait_until(lambda: lease_files(first) or not t.is_alive(), what="the first run took its lease")
        from sweep.run.runner import RunInProgress

        with pytest.raises(RunInProgress, match=f"^{second}: another run_sweep is running in this process \\(store "
                                                 f"{first}\\); one run per process"):
            run_sweep(f, store=str(second), progress=False)
        assert not second.exists()
    finally:
        t.join()
    assert "error" not in result and result["summary"].ok, result


# ------------------------------------------------------------------------------------- a dead raylet (finding 16)
def test_a_dead_raylet_is_no_cell_failure(tmp_path, reference, monkeypatch):
    """Ray's LocalRayletDiedError from a task: the run stops with one message naming the cause, no cell is
    recorded failed, the cells in flight are pending again, the lease is released; the rerun finishes with the
    uninterrupted run's bits."""
    import ray

    from sweep.run import ray_launcher, runner

    real = ray_launcher._init_ray
    calls = [0]

    class DyingRay:
        """Ray, whose raylet dies under the third task result the driver collects."""

        def __init__(self, ray_module):
            self._ray = ray_module

        def __getattr__(self, name):
            return getattr(self._ray, name)

        def get(self, ref, *args, **kwargs):
            value = self._ray.get(ref, *args, **kwargs)
            if isinstance(ref, ray.ObjectRef) and not isinstance(value, dict):
                calls[0] += 1
                if calls[0] == 3:
                    raise ray.exceptions.LocalRayletDiedError()
            return value

    monkeypatch.setattr(ray_launcher, "_init_ray", lambda address, num_cpus: DyingRay(real(address, num_cpus)))
    monkeypatch.setattr(runner, "TASK_SECONDS", 1e-6)  # one cell per task: several results to collect
    f = write(tmp_path, sweep_text())
    url = tmp_path / "raylet.zarr"
    with pytest.raises(runner.RayLost, match=f"^{url}: Ray's local raylet died \\(LocalRayletDiedError.*; the run "
                                             "stopped, no cell was recorded as failed"):
        run_sweep(f, store=str(url), progress=False, max_parallel=2)
    st = status(url)
    assert not (st == FAILED).any() and (st == PENDING).any() and (st == DONE).sum() >= 1, st
    assert read_holder(Location(str(url))) is None
    monkeypatch.setattr(ray_launcher, "_init_ray", real)
    assert run_sweep(f, store=str(url), progress=False).ok
    assert_same(reference["data"], data(url))


def test_cells_lost_with_another_node_run_again(tmp_path, reference, monkeypatch):
    """A NodeDiedError (another node lost beyond Ray's retries) for one task: its cells run once more, nothing is
    recorded failed, and the run finishes with the uninterrupted run's bits."""
    import ray

    from sweep.run import ray_launcher, runner

    real = ray_launcher._init_ray
    calls = [0]

    class NodeLosingRay:
        def __init__(self, ray_module):
            self._ray = ray_module

        def __getattr__(self, name):
            return getattr(self._ray, name)

        def get(self, ref, *args, **kwargs):
            value = self._ray.get(ref, *args, **kwargs)
            if isinstance(ref, ray.ObjectRef) and not isinstance(value, dict):
                calls[0] += 1
                if calls[0] == 2:
                    raise ray.exceptions.NodeDiedError("node 1234 died (injected)")
            return value

    monkeypatch.setattr(ray_launcher, "_init_ray", lambda address, num_cpus: NodeLosingRay(real(address, num_cpus)))
    monkeypatch.setattr(runner, "TASK_SECONDS", 1e-6)
    f = write(tmp_path, sweep_text())
    url = tmp_path / "node.zarr"
    summary = run_sweep(f, store=str(url), progress=False, max_parallel=2)
    assert summary.ok and summary.failed == 0 and calls[0] == 13, (summary.text(), calls)
    assert_same(reference["data"], data(url))


def test_a_sigterm_after_the_command_finished_is_ignored_even_after_rays_shutdown(tmp_path):
    """An unguarded Ray's shutdown puts SIGTERM back to its default action at the C level a moment into the
    shutdown (sweep.run.raycompat): SIGTERMs once a `sweep` command has finished (every 10 ms through Ray's shutdown,
    then from an exit handler that runs after Ray's own) must not kill the process (exit -15)."""
    script = tmp_path / "late.py"
    script.write_text(textwrap.dedent("""
        import atexit, os, signal, sys, threading, time

        def late():  # registered before Ray's exit handler, so it runs after it
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            sys.stdout.write(f"survived {sent[0]} signals\\n")
            sys.stdout.flush()

        atexit.register(late)
        import ray
        from sweep.cli.entry import run
        from sweep.run.raycompat import ray_init_guard

        sent = [0]

        def spray():  # SIGTERMs through the command's end and Ray's shutdown
            for _ in range(400):
                time.sleep(0.01)
                os.kill(os.getpid(), signal.SIGTERM)
                sent[0] += 1

        def app():
            with ray_init_guard():  # as sweep.run.ray_launcher starts Ray
                ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            ray.get(ray.remote(lambda: 1).remote())
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the finished command's state (sweep.cli.entry.run)
            threading.Thread(target=spray, daemon=True).start()
            raise SystemExit(0)

        run(app)
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=scaled(120))
    assert r.returncode == 0 and "survived" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


def test_what_ray_writes_to_stderr_as_it_stops_goes_to_the_log(tmp_path):
    """Ray's C++ threads write straight to file descriptor 2 while an interrupted run's tasks are cancelled
    (`task_manager.cc: Failed to push error to driver`, once after the `interrupted` line in CI): `stop_ray`
    sends those bytes to the package's logger at DEBUG and gives file descriptor 2 back afterwards."""
    script = tmp_path / "stop.py"
    script.write_text(textwrap.dedent("""
        import logging, os, sys, types

        fake = types.ModuleType("ray")  # a stand-in whose shutdown writes below Python, as Ray's threads do
        state = {"up": True}
        fake.is_initialized = lambda: state["up"]
        def shutdown():
            os.write(2, b"[E task_manager.cc:1545] Failed to push error to driver\\n")
            state["up"] = False
        fake.shutdown = shutdown
        sys.modules["ray"] = fake
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
        from sweep.run.raycompat import stop_ray

        stop_ray()
        stop_ray()  # nothing to stop: nothing happens
        os.write(2, b"stderr is back\\n")
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=scaled(120))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "stderr is back\n", r.stderr
    assert "sweep.run.raycompat DEBUG Ray during its shutdown:" in r.stdout and "Failed to push error" in r.stdout
