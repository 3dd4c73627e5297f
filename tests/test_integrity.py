"""Integrity under faults: the lease, crash-safe creation and growth, environment errors, damaged metadata, the
environment contract, the truth of `status`. Every fault is followed by a rerun that must finish the sweep
with data bit-identical to an uninterrupted run.

Drivers that are killed run as child processes (`tests/faults.py` installs the faults); the rest run in this
process on a module-wide local Ray.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _limits import Deadline, communicate, scaled
from _limits import run as run_within

from sweep import run_sweep
from sweep.run.cell import VARIABLES
from sweep.config.errors import StorageFailure, StoreError
from sweep.store.lease import Lease, LeaseHeld, LeaseLost, break_lease, read_holder
from sweep.store.location import Location
from sweep.store.results_store import DONE, FAILED, RUNNING, ResultsStore

pytestmark = pytest.mark.slow

FAULTS = str(Path(__file__).parent / "faults.py")
SWEEP = """
name: integrity
seed: 11
data: {{model: ising, n_visible: 12, n_samples: 200}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: pcd, pcd_steps: 2, learning_rate: 0.05, batch_size: 20, epochs: {epochs}, record_every: 4,
        checkpoint_every: 4, test_fraction: 0.2}}
grid:
  data.beta: {betas}
  train.seed: [0, 1]
"""


def sweep_text(betas="[0.3, 0.9]", epochs=8):
    return SWEEP.format(betas=betas, epochs=epochs)


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


def cli(*args, env=None, faults=False, timeout=300) -> tuple[int, str]:
    """`sweep ARGS` in a child process (through tests/faults.py when `faults`); (exit code, output)."""
    cmd = [sys.executable, FAULTS] if faults else [sys.executable, "-m", "sweep.cli"]
    r = run_within(cmd + [str(a) for a in args], timeout, capture_output=True, text=True,  # load-scaled
                   env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout + r.stderr


def start(*args, env=None, faults=False) -> subprocess.Popen:
    cmd = [sys.executable, FAULTS] if faults else [sys.executable, "-m", "sweep.cli"]
    return subprocess.Popen(cmd + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **(env or {})), start_new_session=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_local):
    """An uninterrupted run of the sweep (and of its extension along beta): the bits every rerun must give."""
    folder = tmp_path_factory.mktemp("ref")
    out = {}
    for key, betas in (("base", "[0.3, 0.9]"), ("grown", "[0.3, 0.9, 0.6]")):
        url = folder / f"{key}.zarr"
        assert run_sweep(write(folder, sweep_text(betas), f"{key}.yaml"), store=str(url), progress=False).ok
        out[key] = data(url)
    return out


# ------------------------------------------------------------------------------------- the lease
def _race(url, start_at, queue):
    while time.time() < start_at:
        pass
    try:
        lease = Lease.acquire(Location(url), "race")
        queue.put("won")
        time.sleep(1.5)
        lease.release()
    except LeaseHeld:
        queue.put("held")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        queue.put(f"error {exc!r}")


def test_rivals_at_one_instant_one_lease(tmp_path):
    """20 trials of 4 processes taking a new store's lease at the same instant: exactly one wins each time."""
    ctx = mp.get_context("fork")
    for trial in range(20):
        url = str(tmp_path / f"r{trial}.zarr")
        q = ctx.Queue()
        at = time.time() + 0.3
        procs = [ctx.Process(target=_race, args=(url, at, q)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(scaled(30))
        got = sorted(q.get(timeout=scaled(5)) for _ in procs)
        assert got == ["held", "held", "held", "won"], (trial, got)


def test_stale_leases_are_taken_over_and_live_ones_refused(tmp_path, monkeypatch):
    loc = Location(str(tmp_path / "l.zarr"))
    a = Lease.acquire(loc, "a")
    with pytest.raises(LeaseHeld, match=r"being run by another `sweep run` \(host .*, pid %d" % os.getpid()):
        Lease.acquire(loc, "b")
    with pytest.raises(LeaseHeld):
        break_lease(loc)  # `sweep unlock` refuses a live holder
    a.release()
    # a holder on another host whose file does not change for one lease period (watched on this clock) is gone,
    # whatever its heartbeat says
    loc.write("_lease/0000000004.json", json.dumps({"token": "t", "host": "elsewhere", "pid": 1, "heartbeat":
                                                    time.time() + 3600, "seconds": 1}).encode())
    b = Lease.acquire(loc, "b")
    assert b.generation == 5 and [g for g in os.listdir(loc.path("_lease"))] == ["0000000005.json"]
    b.release()
    # a holder on another host that renews (its counter changes) is live, whatever its heartbeat says
    stop = __import__("threading").Event()

    def renew():
        beat = 0
        while not stop.wait(0.1):
            beat += 1
            loc.write("_lease/0000000006.json", json.dumps({"token": "t", "host": "elsewhere", "pid": 1, "beat": beat,
                                                            "heartbeat": time.time() - 120, "seconds": 1}).encode())

    renew_thread = __import__("threading").Thread(target=renew, daemon=True)
    renew_thread.start()
    try:
        while not loc.exists("_lease/0000000006.json"):
            time.sleep(0.05)
        with pytest.raises(LeaseHeld, match="host elsewhere"):
            Lease.acquire(loc, "c")
    finally:
        stop.set()
        renew_thread.join()
    # this host, a process that is gone: stale at once, and `sweep unlock` removes it
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    loc.write("_lease/0000000007.json", json.dumps({"token": "t", "host": __import__("socket").gethostname(),
                                                    "pid": dead.pid, "heartbeat": time.time(), "seconds": 30}).encode())
    assert break_lease(loc).pid == dead.pid and read_holder(loc) is None


def test_a_lost_lease_stops_table_writes(tmp_path):
    loc = Location(str(tmp_path / "l.zarr"))
    a = Lease.acquire(loc, "a")
    a.check()
    loc.write("_lease/0000000001.json", json.dumps({"token": "other", "host": "elsewhere", "pid": 1,
                                                    "heartbeat": time.time(), "seconds": 30}).encode())
    with pytest.raises(LeaseLost, match="lost its lease on the store to another `sweep run` \\(host elsewhere"):
        a.check()
    with pytest.raises(LeaseLost):
        a.renew()
    a.release()  # releases nothing of the new holder's
    assert read_holder(loc).token == "other"


def test_a_stopped_driver_loses_its_lease_and_stops(tmp_path, reference):
    """A driver stopped (SIGSTOP) longer than its lease: a second run takes the store over and finishes it; the
    first, woken up, stops with a message and writes nothing more. The data are the uninterrupted run's."""
    f = write(tmp_path, sweep_text(epochs=2000))  # cells of seconds: the stop falls before the last one is done
    url = tmp_path / "stopped.zarr"
    env = {"SWEEP_LEASE_SECONDS": "1"}  # this host: a stopped holder is stale after 4 lease periods
    first = start("run", f, "--store", url, "--max-parallel", "1", env=env)
    deadline = Deadline(240)
    while not deadline.expired():
        time.sleep(0.1)
        assert first.poll() is None, first.stdout.read()
        try:
            if (ResultsStore(str(url)).group("r")["status"][...] == DONE).sum() >= 1:
                break
        except Exception:  # noqa: BLE001 - not created yet
            continue
    os.kill(first.pid, signal.SIGSTOP)
    try:
        time.sleep(5)
        code, out = cli("run", f, "--store", url, env=env)
        assert code == 0, out
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, _ = communicate(first, 120)
    assert first.returncode == 2 and "lost its lease on the store" in out and "Traceback" not in out, out
    ref_url = tmp_path / "ref.zarr"
    assert cli("run", f, "--store", ref_url)[0] == 0
    assert_same(data(ref_url), data(url))


# ------------------------------------------------------------------------------------- creation and growth
def answers(*args) -> tuple[int, str]:
    """A read-only command in this process (CliRunner): (exit code, output)."""
    from typer.testing import CliRunner

    from sweep.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.output, r.exception)
    return r.exit_code, r.output


@pytest.mark.parametrize("at", [1, 13, 26, 27])  # the marker, an array, the root, the run record
def test_a_driver_killed_while_creating_leaves_a_store_the_next_run_finishes(tmp_path, reference, at):
    """SIGKILL at the `at`-th file write of creation (1: the marker; 2-25: arrays' metadata and coordinates; 26:
    the root; 27: the first run record, after creation): every command then answers with a message, and the
    rerun finishes the sweep, bit-identical."""
    f = write(tmp_path, sweep_text())
    url = tmp_path / "c.zarr"
    code, out = cli("run", f, "--store", url, env={"FAULT_KILL_DRIVER_AT_WRITE": str(at)}, faults=True)
    assert code == -signal.SIGKILL, out
    for args in (["status", url], ["verify", url], ["plan", f, "--store", url], ["show", url]):
        code, out = answers(*args)
        assert "Traceback" not in out and code in (0, 2), (args, out)
    code, out = cli("run", f, "--store", url)
    assert code == 0, out
    assert_same(reference["base"], data(url))
    assert answers("verify", url)[0] == 0


@pytest.mark.parametrize("at", [1, 25])  # an array, the root (the run record after it: as creation's 27)
def test_a_driver_killed_while_growing_the_store(tmp_path, reference, at):
    """SIGKILL at the `at`-th file write while the grid grows along beta (1-24: arrays' metadata and
    coordinates, 25: the root, 26: the run record): a run of the original sweep mends the store back, and the
    extended run then finishes with the uninterrupted extension's bits."""
    url = tmp_path / "g.zarr"
    base, grown = write(tmp_path, sweep_text()), write(tmp_path, sweep_text("[0.3, 0.9, 0.6]"), "g.yaml")
    assert cli("run", base, "--store", url)[0] == 0
    code, out = cli("run", grown, "--store", url, env={"FAULT_KILL_DRIVER_AT_WRITE": str(at)}, faults=True)
    assert code == -signal.SIGKILL, out
    code, out = cli("run", base, "--store", url)  # the old sweep: metadata shrunk back where the growth got to
    assert "Traceback" not in out and code == (2 if at >= 26 else 0), out  # from 26 the store holds the new sweep
    assert answers("verify", url)[0] == 0
    code, out = cli("run", grown, "--store", url)
    assert code == 0, out
    assert_same(reference["grown"], data(url))


def test_two_drivers_at_one_instant_end_to_end(tmp_path, reference):
    """Three trials: two `sweep run` on a new store started together: one runs the sweep, the other is refused
    with a message naming the holder (no traceback), and the store is the uninterrupted run's."""
    f = write(tmp_path, sweep_text())
    for trial in range(3):
        url = tmp_path / f"two{trial}.zarr"
        procs = [start("run", f, "--store", url) for _ in range(2)]
        outs = [communicate(p, 300)[0] for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], (codes, outs)
        loser = outs[[p.returncode for p in procs].index(2)]
        assert "being run by another `sweep run`" in loser and "Traceback" not in loser, loser
        assert_same(reference["base"], data(url))


# ------------------------------------------------------------------------------------- environment errors
def _mount_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: mounts a small tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Fill the file system of `folder` up: the next write there fails with ENOSPC."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    for _ in range(64):  # the last bytes, in small writes
        try:
            with open(filler, "ab") as f:
                f.write(b"\0" * 4096)
        except OSError:
            break
    return filler


def test_a_full_disk_at_creation_and_mid_run(tmp_path, reference):
    """ENOSPC while creating (a tmpfs too small for the metadata), then mid-run (the disk filled up once the
    store exists): one line naming the store and the cause, exit 2, no traceback, no partial file; once there
    is room, the rerun finishes bit-identical."""
    f = write(tmp_path, sweep_text(epochs=600))
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "24k")
    try:
        url = disk / "full.zarr"
        code, out = cli("run", f, "--store", url)  # refused before anything is made: the store cannot fit
        assert code == 2 and out.count("\n") == 1 and "--allow-large" in out and "free at" in out, out
        assert not url.exists()
        code, out = cli("run", f, "--store", url, "--allow-large")  # past the estimate: the disk itself fills
        assert code == 2 and out.count("\n") == 1, out
        assert out.startswith(f"{url}: no space left on device") and "rerun the same command" in out, out
        assert not url.exists()  # nothing half made is left
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        p = start("run", f, "--store", url, "--max-parallel", "1")
        deadline = Deadline(240)
        while not (url / "zarr.json").exists() and not deadline.expired() and p.poll() is None:
            time.sleep(0.05)
        filler = _fill(disk)
        out, _ = communicate(p, 300)
        assert p.returncode == 2 and "no space left on device" in out and "Traceback" not in out, out
        assert not [q for q in url.rglob("*") if ".partial" in q.name], "partial files left behind"
        code, out = answers("status", url)
        assert code == 0 and "Traceback" not in out, out
        filler.unlink()
        code, out = cli("run", f, "--store", url)
        assert code == 0, out
        ref_url = tmp_path / "ref.zarr"
        assert cli("run", f, "--store", ref_url)[0] == 0
        assert_same(data(ref_url), data(url))
        assert answers("verify", url)[0] == 0
    finally:
        _umount(disk)


def test_a_read_only_mount(tmp_path, reference):
    f = write(tmp_path, sweep_text())
    disk = tmp_path / "ro"
    _mount_tmpfs(disk, "64m")
    try:
        done, todo = disk / "done.zarr", disk / "todo.zarr"
        assert cli("run", f, "--store", done)[0] == 0
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for url in (done, todo):
            code, out = cli("run", f, "--store", url)
            assert code == 2 and out.strip() == f"{url}: read-only file system" + out.strip().split(
                "read-only file system", 1)[1], out
            assert "Traceback" not in out and out.count("\n") == 1, out
        code, out = cli("status", done)  # reading works
        assert code == 0 and "4 done" in out, out
        code, out = cli("verify", done, "--repair")
        assert code == 2 and "read-only file system" in out and "Traceback" not in out, out
    finally:
        _umount(disk)


@pytest.mark.parametrize("name", ["a[1].zarr", "x::y.zarr", "sp ace*?.zarr"])
def test_store_paths_are_paths_not_patterns(tmp_path, reference, name):
    f = write(tmp_path, sweep_text())
    url = tmp_path / name
    code, out = cli("run", f, "--store", url)
    assert code == 0, out
    assert_same(reference["base"], data(url))
    for args in (["status", url], ["verify", url], ["show", url]):
        code, out = cli(*args)
        assert code == 0 and "Traceback" not in out, (args, out)


# ------------------------------------------------------------------------------------- damaged metadata
def test_deleted_array_metadata_is_found_refused_and_repaired(tmp_path, ray_local, reference):
    from typer.testing import CliRunner

    from sweep.cli import app

    f = write(tmp_path, sweep_text())
    url = tmp_path / "m.zarr"
    assert run_sweep(f, store=str(url), progress=False).ok
    (url / "weights" / "zarr.json").unlink()
    (url / "beta" / "zarr.json").write_text("{not json")
    cli_ = CliRunner()
    r = cli_.invoke(app, ["verify", str(url)])
    assert r.exit_code == 1, r.output
    assert "metadata: weights: its metadata (weights/zarr.json) is missing" in r.output
    assert "metadata: beta: its metadata (beta/zarr.json) is not valid JSON" in r.output
    assert "torn" not in r.output.replace("0 torn", "")
    for grid in (sweep_text(), sweep_text("[0.3, 0.9, 0.6]")):  # neither a resume nor a growth touches it
        r = cli_.invoke(app, ["run", str(write(tmp_path, grid, "again.yaml")), "--store", str(url)])
        assert r.exit_code == 2 and "damaged metadata: weights: its metadata" in r.output, r.output
        assert f"sweep verify {url} --repair" in r.output
    r = cli_.invoke(app, ["verify", str(url), "--repair"])
    assert r.exit_code == 0 and "repaired" in r.output, r.output
    assert cli_.invoke(app, ["verify", str(url)]).exit_code == 0
    summary = run_sweep(f, store=str(url), progress=False)
    assert summary.ok and summary.ran == 0
    assert_same(reference["base"], data(url))


def test_a_lost_root_is_restored_from_the_sweep_file(tmp_path, ray_local, reference):
    from typer.testing import CliRunner

    from sweep.cli import app

    f = write(tmp_path, sweep_text())
    url = tmp_path / "root.zarr"
    assert run_sweep(f, store=str(url), progress=False).ok
    (url / "zarr.json").unlink()
    cli_ = CliRunner()
    for args in (["status", str(url)], ["run", str(f), "--store", str(url)], ["verify", str(url), "--repair"]):
        r = cli_.invoke(app, args)
        assert r.exit_code == 2 and "root metadata" in r.output and "--sweep" in r.output, (args, r.output)
    other = write(tmp_path, sweep_text("[0.3, 0.9, 0.6]"), "other.yaml")
    r = cli_.invoke(app, ["verify", str(url), "--repair", "--sweep", str(other)])
    assert r.exit_code == 2 and "is not the store's" in r.output, r.output
    r = cli_.invoke(app, ["verify", str(url), "--repair", "--sweep", str(f)])
    assert r.exit_code == 0 and "restored the root metadata" in r.output, r.output
    assert run_sweep(f, store=str(url), progress=False).ran == 0
    assert_same(reference["base"], data(url))


# ------------------------------------------------------------------------------------- environment contract
def test_an_environment_change_is_refused_then_allowed(tmp_path, ray_local, reference):
    f = write(tmp_path, sweep_text())
    url = tmp_path / "env.zarr"
    st = ResultsStore(str(url))
    assert run_sweep(f, store=str(url), progress=False).ok
    env = st.environment()
    assert set(env) == {"rbm-sweep", "commit", "numpy", "numba", "llvmlite", "cpu", "llvm_cpu", "vector_width",
                        "llvm_features", "numba_opt", "numba_vectorize", "numba_svml", "numba_jit"}
    assert env["vector_width"] in (128, 256, 512) and env["numpy"] == np.__version__
    other = dict(env, numpy="1.0.0", llvm_cpu="pentium")
    lease = Lease.acquire(st.location)
    st.update_root_attrs(environment=json.dumps(other))
    lease.release()
    with pytest.raises(StoreError) as info:
        run_sweep(write(tmp_path, sweep_text("[0.3, 0.9, 0.6]"), "g.yaml"), store=str(url), progress=False)
    msg = str(info.value)
    assert f"numpy: 1.0.0 -> {np.__version__}" in msg and "llvm_cpu: pentium -> " in msg and "--allow-env-change" in msg
    assert ResultsStore(str(url)).group("r")["status"].shape == (2, 2)  # refused before anything changed
    summary = run_sweep(write(tmp_path, sweep_text("[0.3, 0.9, 0.6]"), "g.yaml"), store=str(url), progress=False,
                        allow_env_change=True)
    assert summary.ok and summary.ran == 2
    runs = st.runs()
    assert any(f"numpy: 1.0.0 -> {np.__version__}" in c for c in runs[-1]["environment_change"])
    assert st.environment() == env  # the store now records the environment it was continued in
    assert_same(reference["grown"], data(url))


# ------------------------------------------------------------------------------------- truthful records
def test_status_tells_stale_running_cells_and_an_interrupted_run_counts(tmp_path, reference):
    f = write(tmp_path, sweep_text(epochs=1000))
    url = tmp_path / "stale.zarr"
    # cells slowed by 2 s each (same bits): an idle machine must not finish before a cell is seen running
    p = start("run", f, "--store", url, "--max-parallel", "1", faults=True, env={"FAULT_CELL_DELAY": "2"})
    deadline = Deadline(240)
    while not deadline.expired():
        time.sleep(0.1)
        try:
            st = ResultsStore(str(url)).group("r")["status"][...]
            if (st == DONE).sum() >= 1 and (st == RUNNING).sum() >= 1:
                break
        except Exception:  # noqa: BLE001 - not created yet
            continue
    code, out = answers("status", url)
    assert "being run by host" in out, out
    os.killpg(p.pid, signal.SIGINT)
    out, _ = communicate(p, 60)
    assert p.returncode == 130 and "interrupted: " in out and "to resume" in out and "Traceback" not in out, out
    runs = ResultsStore(str(url)).runs()
    assert runs[-1]["interrupted"] is True and runs[-1]["cells_run"] >= 1 and runs[-1]["end"]
    # a driver killed outright leaves cells marked running: status says nobody runs them
    p = start("run", f, "--store", url, "--max-parallel", "1")
    deadline = Deadline(240)
    while not deadline.expired():
        time.sleep(0.1)
        if (ResultsStore(str(url)).group("r")["status"][...] == RUNNING).sum() >= 1:
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    code, out = answers("status", url)
    assert code == 0 and "running: stale, no driver holds the store" in out, out
    assert cli("run", f, "--store", url)[0] == 0


def test_a_diverging_training_fails_its_cell_with_the_reason(tmp_path, ray_local):
    text = sweep_text().replace("learning_rate: 0.05", "learning_rate: 1.0e300")
    url = tmp_path / "inf.zarr"
    summary = run_sweep(write(tmp_path, text), store=str(url), progress=False)
    assert summary.failed == 4 and summary.done == 0
    ds = xr.open_zarr(str(url))
    err = str(ds["error"].values[0, 0])
    assert err.startswith("training diverged: weights not finite") and "lower train.learning_rate" in err, err
    assert (ds["status"].values == FAILED).all()


# ------------------------------------------------------------------------------------- the campaign
def test_a_seeded_fault_campaign(tmp_path):
    """The second campaign's kinds of fault once each (signals, moved and rewritten chunks, a wrong repair file, a
    lease from a clock an hour ahead), in an order drawn from seed 0, each followed by reruns: no lost or corrupt
    cell, data bit-identical to the uninterrupted run every time; and kill-worker. The first campaign's other
    kinds (driver kills, Ctrl-C, a full disk, two drivers) have tests of their own above and in test_runner.py;
    benchmarks/bench_faults.py draws from every kind."""
    sys.path.insert(0, str(Path(__file__).parent))
    from campaign import KINDS, Campaign

    kinds = ("kill-worker",) + KINDS[KINDS.index("sigterm"):]
    c = Campaign(tmp_path / "campaign", seed=0)
    try:
        c.reference()
        outcomes = [c.trial(i, kind) for i, kind in enumerate(c.schedule(len(kinds), kinds))]
    finally:
        c.cleanup()
    assert {o.kind for o in outcomes} == set(kinds)
    bad = [f"trial {o.trial} {o.kind} ({o.detail}): {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert not bad, "\n".join(bad)
