"""The one seam for execution (sweep.run.launcher): the serial launcher writes the Ray launcher's bits without
importing Ray; the CLI's `--launcher`; a fake launcher drives the runner, which has no other way out."""

import bdb
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from _limits import Deadline, communicate
from _limits import run as run_within
from _limits import wait as wait_within

from sweep import run_sweep
from sweep.config.errors import StorageFailure
from sweep.run import tasks
from sweep.run.launcher import BatchFailed, ExecutorLost, Launcher, NodeLost, NodeProbe
from sweep.run.runner import RayLost
from sweep.run.serial_launcher import SerialLauncher
from sweep.store.lease import read_holder
from sweep.store.outcomes import DONE, FAILED, PENDING
from sweep.store.results_store import ResultsStore

ROOT = str(Path(__file__).resolve().parent.parent)
FAULTS = str(Path(__file__).parent / "faults.py")
VARYING = ("wall_time", "host", "provenance")  # when and where a cell ran: not its bits
CELLS = 8

SMALL = """
name: small
seed: 7
data: {model: ising, n_visible: 12}
rbm: {hidden: spin, n_hidden: 2}
train: {method: exact, pcd_steps: 2, learning_rate: 0.05, batch_size: 20, record_every: 2, checkpoint_every: 2, test_fraction: 0.2}
grid:
  data.beta: [0.3, 0.9]
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [100, 200], train.epochs: [6, 4]}
"""


def sweep_file(tmp_path) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(SMALL)
    return p


def bits(url) -> dict:
    """Every data variable of a store but those that say when and where a cell ran, with the chunk digests."""
    ds = xr.open_zarr(str(url)).load()
    out = {v: ds[v].values for v in ds.data_vars if v not in VARYING}
    out["chunk_digests"] = ds.attrs.get("chunk_digests")
    return out


def assert_same_bits(a: dict, b: dict, resumed: bool = False) -> None:
    """The same bits; `resumed`: but for the attempts (a cell an interrupted run had sent counts one more)."""
    assert sorted(a) == sorted(b)
    for k in a:
        if resumed and k == "attempts":
            assert (a[k] <= b[k]).all() and (b[k] <= a[k] + 1).all()
            continue
        if isinstance(a[k], np.ndarray) and a[k].dtype.kind == "f":
            assert np.array_equal(a[k], b[k], equal_nan=True), k
        else:
            assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def status(url) -> np.ndarray:
    return ResultsStore(str(url)).group("r")["status"][...]


def done_cells(url) -> int:
    try:
        return int((status(url) == DONE).sum())
    except Exception:  # noqa: BLE001 - a store not created yet
        return 0


def child_env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=ROOT, **extra)


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    """A serial run of the small sweep: its store's bits."""
    tmp = tmp_path_factory.mktemp("serial")
    url = tmp / "serial.zarr"
    summary = run_sweep(sweep_file(tmp), store=str(url), progress=False, launcher="serial")
    assert summary.ok and summary.ran == CELLS, summary.text()
    return bits(url)


# ------------------------------------------------------------------------------------- same stores, same bits
def test_a_serial_and_a_ray_run_write_the_same_bits(tmp_path, ray_local, serial_reference):
    """Every data variable, the cells' seeds, statuses, attempts and the digest of every chunk."""
    url = tmp_path / "ray.zarr"
    summary = run_sweep(sweep_file(tmp_path), store=str(url), progress=False)
    assert summary.ok and summary.ran == CELLS, summary.text()
    ray_bits = bits(url)
    assert (ray_bits["status"] == DONE).all() and (ray_bits["attempts"] == 1).all()
    assert ray_bits["cell_train_seed"].size == CELLS and len(set(ray_bits["cell_train_seed"].ravel())) > 1
    assert_same_bits(serial_reference, ray_bits)


def test_a_serial_run_imports_no_ray(tmp_path):
    """Through the Python API and through the CLI, a serial run never imports Ray."""
    f = sweep_file(tmp_path)
    program = ("import sys\nfrom sweep import run_sweep\n"
               f"s = run_sweep({str(f)!r}, store={str(tmp_path / 'api.zarr')!r}, progress=False, launcher='serial')\n"
               "print(s.ok, sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    r = run_within([sys.executable, "-c", program], 120, capture_output=True, text=True, env=child_env())
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "True []", r.stdout + r.stderr[-3000:]
    url = tmp_path / "cli.zarr"
    r = run_within([sys.executable, "-X", "importtime", "-m", "sweep", "run", str(f), "--store", str(url),
                    "--launcher", "serial", "-q"], 120, capture_output=True, text=True, env=child_env())
    assert r.returncode == 0 and r.stdout.startswith(f"{CELLS}/{CELLS} cells done, 0 failed"), r.stdout + r.stderr[-3000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "sweep.run.serial_launcher" in imported and "numba" in imported, imported[-20:]
    assert not [m for m in imported if m == "ray" or m.startswith("ray.")]


def test_serial_with_an_address_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from sweep.cli import app

    f = sweep_file(tmp_path)
    url = tmp_path / "r.zarr"
    r = CliRunner().invoke(app, ["run", str(f), "--store", str(url), "--launcher", "serial", "--address",
                                 "10.0.0.1:6379"])
    assert r.exit_code == 2, r.output
    assert r.output == ("--launcher serial runs the cells in this process and joins no cluster: drop --address "
                        "10.0.0.1:6379, or use --launcher ray\n")
    r = CliRunner().invoke(app, ["run", str(f), "--store", str(url), "--launcher", "dask"])
    assert r.exit_code == 2 and "dask" in r.output and "Traceback" not in r.output
    with pytest.raises(ValueError, match="^run_sweep: the serial launcher runs the cells in this process and joins "
                                         "no cluster: leave address out$"):
        run_sweep(f, store=str(url), launcher=SerialLauncher(), address="10.0.0.1:6379")
    with pytest.raises(ValueError, match=r"^run_sweep: launcher must be one of ray, serial, got 'dask'$"):
        run_sweep(f, store=str(url), launcher="dask")
    with pytest.raises(TypeError, match=r"^run_sweep: launcher must be one of ray, serial or a Launcher, got 3$"):
        run_sweep(f, store=str(url), launcher=3)
    assert not url.exists()  # refused before anything was touched


# ------------------------------------------------------------------------------------- Ctrl-C under serial
def test_an_interrupted_serial_run_keeps_what_came_back_and_resumes(tmp_path, monkeypatch, serial_reference):
    """A KeyboardInterrupt inside a cell: the cell is abandoned, the batches that came back are kept, nothing is
    recorded failed, the run record says interrupted, the lease is released; the rerun gives the same bits."""
    f, url = sweep_file(tmp_path), tmp_path / "i.zarr"
    original, seen = tasks.execute_cell, []

    def interrupted_at_the_sixth(store, cell, attempt):
        seen.append(cell.index)
        if len(seen) == 6:
            raise KeyboardInterrupt
        return original(store, cell, attempt)

    monkeypatch.setattr(tasks, "execute_cell", interrupted_at_the_sixth)
    monkeypatch.setattr("sweep.run.runner.TASK_SECONDS", 1e-6)  # one cell per batch after the first wave
    with pytest.raises(KeyboardInterrupt):
        run_sweep(f, store=str(url), progress=False, launcher="serial", max_parallel=1)
    st = status(url)
    assert not (st == FAILED).any() and 1 <= (st == DONE).sum() <= 5 and (st != DONE).any(), st
    assert read_holder(ResultsStore(str(url)).location) is None
    runs = json.loads(xr.open_zarr(str(url)).attrs["runs"])
    assert runs[-1]["interrupted"] and runs[-1]["cells_done"] == int((st == DONE).sum())
    monkeypatch.setattr(tasks, "execute_cell", original)
    again = run_sweep(f, store=str(url), progress=False, launcher="serial")
    assert again.ok and again.ran == CELLS - int((st == DONE).sum())
    assert_same_bits(serial_reference, bits(url), resumed=True)


def test_ctrl_c_of_sweep_run_under_serial_says_how_to_resume(tmp_path, serial_reference):
    """SIGINT to `sweep run --launcher serial` mid-sweep: exit 130, the interrupted line with a resume command
    that keeps --launcher serial, the lease released; the resumed run has the serial bits."""
    f, url = sweep_file(tmp_path), tmp_path / "c.zarr"
    p = subprocess.Popen([sys.executable, FAULTS, "run", str(f), "--store", str(url), "--launcher", "serial",
                          "--max-parallel", "1", "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=child_env(FAULT_CELL_DELAY="0.7"), start_new_session=True)
    deadline = Deadline(120)
    while done_cells(url) == 0:  # the first batch came back: the run is mid-sweep
        assert p.poll() is None and not deadline.expired(), f"no cell done after {deadline}, or the run ended"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGINT)
    out, _ = communicate(p, 60)
    assert p.returncode == 130, out
    line = out.strip().splitlines()[-1]
    assert line.startswith("interrupted: ") and line.endswith(
        f' of {CELLS} cells done; rerun "sweep run {f} --store {url} --launcher serial" to resume'), out
    assert "Traceback" not in out and read_holder(ResultsStore(str(url)).location) is None
    assert not (status(url) == FAILED).any()
    assert wait_within(subprocess.Popen([sys.executable, "-m", "sweep", "run", str(f), "--store", str(url),
                                         "--launcher", "serial", "-q"], env=child_env()), 120) == 0
    assert_same_bits(serial_reference, bits(url), resumed=True)


# ------------------------------------------------------------------------------------- the seam is the only way out
class FakeLauncher(Launcher):
    """Runs each batch in this process when it is waited for, recording every call it gets. `trouble(number,
    cells)` may return the error a batch's outcome raises instead of running it."""

    name = "fake"

    def __init__(self, trouble=None):
        self.trouble = trouble or (lambda number, cells: None)
        self.calls, self.batches, self.cancelled = [], [], []
        self.queued, self.finished, self.most_in_flight = {}, {}, 0

    def start(self, address, num_cpus, max_retries):
        self.calls.append(("start", address, num_cpus, max_retries))

    def cpus(self):
        return 2

    def probe_nodes(self, url, storage_options, token, timeout):
        self.calls.append(("probe",))
        answer = tasks.probe_store(url, storage_options, token)
        return [NodeProbe("the fake node", answer["problem"], answer["contract"])]

    def submit(self, url, storage_options, cells):
        number = len(self.batches)
        self.batches.append([tuple(c.index) for c in cells])
        self.calls.append(("submit", number))
        self.queued[number] = (url, storage_options, list(cells))
        self.most_in_flight = max(self.most_in_flight, len(self.queued) + len(self.finished))
        return number

    def wait(self, handles, timeout):
        number = min(handles)
        url, options, cells = self.queued.pop(number)
        error = self.trouble(number, cells)
        self.finished[number] = error if error is not None else tasks.execute_batch(url, options, cells)
        return [number]

    def outcome(self, handle):
        self.calls.append(("outcome", handle))
        result = self.finished.pop(handle)
        if isinstance(result, BaseException):
            raise result
        return result

    def cancel(self, handles):
        self.cancelled += list(handles)

    def close(self):
        self.calls.append(("close",))


def test_a_fake_launcher_drives_the_whole_run(tmp_path, serial_reference):
    fake = FakeLauncher()
    url = tmp_path / "fake.zarr"
    summary = run_sweep(sweep_file(tmp_path), store=str(url), progress=False, launcher=fake, max_retries=2)
    assert summary.ok and summary.ran == CELLS, summary.text()
    assert fake.calls[0] == ("start", None, None, 2) and fake.calls[1] == ("probe",) and fake.calls[-1] == ("close",)
    sent = [i for batch in fake.batches for i in batch]
    assert sorted(sent) == sent and len(set(sent)) == CELLS  # every cell once, in grid order
    assert len(fake.batches) > 1 and fake.most_in_flight <= 2 * fake.cpus() and not fake.cancelled
    assert [c for c in fake.calls if c[0] == "outcome"] == [("outcome", n) for n in range(len(fake.batches))]
    assert_same_bits(serial_reference, bits(url))


def test_lost_nodes_failed_batches_and_a_lost_executor_reach_the_runner_as_neutral_errors(tmp_path, serial_reference):
    f = sweep_file(tmp_path)
    # a node lost under the first batch: its cells run again, one per batch; a failed batch of several cells is
    # split, and the cell that fails alone is recorded failed with the launcher's message
    first_cell = {}

    def trouble(number, cells):
        if number == 0:
            first_cell["index"] = tuple(cells[0].index)
            return NodeLost("the fake node died (injected)")
        if len(cells) > 1:
            return BatchFailed("WorkerCrashedError: a worker died (injected)")
        if tuple(cells[0].index) == first_cell["index"] and number > 1:
            return BatchFailed("WorkerCrashedError: this cell kills its worker (injected)")
        return None

    fake = FakeLauncher(trouble)
    url = tmp_path / "lost.zarr"
    summary = run_sweep(f, store=str(url), progress=False, launcher=fake)
    assert summary.failed == 1 and summary.done == CELLS - 1, summary.text()
    assert summary.failures[0][2] == "WorkerCrashedError: this cell kills its worker (injected)"
    several = [b for b in fake.batches if len(b) > 1]  # lost with the node, or failed: each cell once more alone
    alone = [b[0] for b in fake.batches if len(b) == 1]
    assert several and all(alone.count(i) == 1 for b in several for i in b), fake.batches
    # the executor lost: RayLost naming it, nothing failed, the cells in flight pending again, those cancelled
    fake = FakeLauncher(lambda number, cells: ExecutorLost("the fake executor died (injected)") if number == 1
                        else None)
    url = tmp_path / "executor.zarr"
    with pytest.raises(RayLost, match=f"^{url}: the fake executor died \\(injected\\); the run stopped, no cell was "
                                      "recorded as failed"):
        run_sweep(f, store=str(url), progress=False, launcher=fake)
    st = status(url)
    assert not (st == FAILED).any() and (st == PENDING).any() and (st == DONE).any(), st
    assert fake.cancelled == sorted(fake.queued) and fake.calls[-1] == ("close",)
    assert read_holder(ResultsStore(str(url)).location) is None
    assert run_sweep(f, store=str(url), progress=False, launcher="serial").ok
    assert_same_bits(serial_reference, bits(url), resumed=True)
    # a failure of the storage environment under a batch stops the run, nothing recorded failed
    disk_full = BatchFailed("OSError: [Errno 28] No space left on device")
    disk_full.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    url = tmp_path / "full.zarr"
    with pytest.raises(StorageFailure, match=f"^{url}: "):
        run_sweep(f, store=str(url), progress=False, launcher=FakeLauncher(lambda number, cells: disk_full))
    assert not (status(url) == FAILED).any()


def test_the_serial_launcher_runs_the_oldest_batch_and_drops_cancelled_ones(monkeypatch):
    ran = []

    def body(url, storage_options, cells, cell_fn, attempt):
        ran.append(cells)
        if cells == ["bad"]:
            raise OSError(errno.EROFS, "Read-only file system")
        return ("outcome", cells, attempt)

    monkeypatch.setattr(tasks, "execute_batch", body)
    serial = SerialLauncher()
    serial.start(None, None, 3)
    a, b, c, d = (serial.submit("u", None, [x]) for x in ("a", "b", "c", "bad"))
    assert serial.wait([c, b], timeout=0) == [b] and ran == [["b"]]
    assert serial.wait([c, b], timeout=0) == [b]  # finished and not yet collected
    assert serial.outcome(b) == ("outcome", ["b"], 1)
    with pytest.raises(ValueError, match="not a finished batch"):
        serial.outcome(b)  # collected once
    serial.cancel([a])
    assert serial.wait([a, c], timeout=0) == [c] and ran == [["b"], ["c"]]
    assert serial.wait([d], timeout=0) == [d]
    with pytest.raises(BatchFailed, match=r"^OSError: \[Errno 30\] Read-only file system$") as caught:
        serial.outcome(d)
    assert isinstance(caught.value.__cause__, OSError)
    serial.close()  # c finished but not collected: forgotten
    assert serial.wait([a, c], timeout=0) == [] and ran == [["b"], ["c"], ["bad"]]
    def quit_in_the_debugger(*args):
        raise bdb.BdbQuit

    monkeypatch.setattr(tasks, "execute_batch", quit_in_the_debugger)
    with pytest.raises(bdb.BdbQuit):  # pdb's `quit` in a cell stops the run, as Ctrl-C does
        serial.wait([serial.submit("u", None, ["e"])], timeout=0)
    assert serial.cpus() == 1
    with pytest.raises(ValueError, match="joins no cluster"):
        serial.start("10.0.0.1:6379", None, 3)
