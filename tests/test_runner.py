"""The orchestrator end to end on local Ray: run, resume after SIGKILL, checkpoints, failures, growth."""

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

from sweep.config.grid import expand
from sweep import open_results, parse_sweep, run_cell, run_sweep
from sweep.run.cell import VARIABLES
from sweep.store.lease import Lease, read_holder
from sweep.store.results_store import DONE, FAILED, ResultsStore, StoreError

FAULTS = str(Path(__file__).parent / "faults.py")

# The fast loop (pytest -m "not slow and not cluster") keeps this module's in-process runs on one local Ray (a tiny
# sweep end to end, `sweep run` through the CLI): one Ray start-up, then about a second a test. The drivers in
# subprocesses, the signals and the larger sweeps are slow.

SMALL = """
name: small
seed: 7
data: {{model: ising, n_visible: 12}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: {method}, pcd_steps: 2, learning_rate: 0.05, batch_size: 20, record_every: 2, checkpoint_every: {ckpt}, test_fraction: 0.2}}
grid:
  data.beta: {betas}
  train.seed: [0, 1]
  zip:
    - {{data.n_samples: [100, 200], train.epochs: [{epochs}, {epochs2}]}}
"""


def small(betas="[0.3, 0.9]", method="exact", epochs=6, epochs2=4, ckpt=2):
    return SMALL.format(betas=betas, method=method, epochs=epochs, epochs2=epochs2, ckpt=ckpt)


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def data_vars(path):
    ds = xr.open_zarr(path).load()
    return {v: ds[v].values for v in VARIABLES + ("cell_data_seed", "cell_train_seed")}


def assert_same_data(a, b):
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def test_end_to_end_local_ray(tmp_path, ray_local):
    f = write(tmp_path, small())
    summary = run_sweep(f, store=str(tmp_path / "a.zarr"), progress=False)
    assert summary.ok and summary.done == 8 and summary.ran == 8
    ds = open_results(str(tmp_path / "a.zarr"))
    assert ds["weights"].dims == ("beta", "seed", "n_samples", "epoch", "hidden", "visible")
    assert ds["epochs"].dims == ("n_samples",) and ds["epochs"].values.tolist() == [6, 4]
    assert ds["epoch"].values.tolist() == [0, 2, 4, 6]
    assert (ds["status"].values == DONE).all()
    assert ds["status"].attrs["flag_meanings"] == "pending running done failed"
    # NaN past a cell's last recorded epoch (epochs 4 along n_samples=200)
    w = ds["weights"].sel(n_samples=200).values
    assert np.isnan(w[..., 3, :, :]).all() and not np.isnan(w[..., :3, :, :]).any()
    # the store holds exactly what run_cell computes for the same cell
    sweep = parse_sweep(f.read_text())
    cell = expand(sweep).cell((1, 0, 0))
    one = run_cell({**cell.config.as_dict(), "seed": sweep.seed})
    stored = ds.isel(beta=1, seed=0, n_samples=0)
    np.testing.assert_array_equal(stored["weights"].values, one["weights"].values)
    np.testing.assert_array_equal(stored["loglik_test"].values, one["loglik_test"].values)
    assert np.isfinite(stored["loglik_test"].values).all()
    assert ds.attrs["spec_hash"] == sweep.spec_hash()
    # rerunning a finished sweep runs nothing
    again = run_sweep(f, store=str(tmp_path / "a.zarr"), progress=False)
    assert again.ok and again.ran == 0


def test_failing_cell_is_recorded_and_others_finish(tmp_path, ray_local, monkeypatch):
    from sweep.run import tasks

    f = write(tmp_path, small())
    url = str(tmp_path / "f.zarr")
    orig = tasks.execute_cell

    def failing(store, cell, attempt):  # the cell's computation raises (in a reused worker: restored after)
        from sweep.run import cell as cell_module

        compute = cell_module.cell_arrays

        def broken(*args, **kwargs):
            raise RuntimeError("injected failure")

        if "beta=0.9, seed=1" in cell.label():
            cell_module.cell_arrays = broken
        try:
            return orig(store, cell, attempt)
        finally:
            cell_module.cell_arrays = compute

    monkeypatch.setattr(tasks, "execute_cell", failing)
    summary = run_sweep(f, store=url, progress=False)
    assert not summary.ok and summary.failed == 2 and summary.done == 6
    ds = open_results(url)
    st = ds["status"].sel(beta=0.9, seed=1).values
    assert (st == FAILED).all()
    assert (ds["attempts"].sel(beta=0.9, seed=1).values == 1).all()  # recorded once, not retried
    err = str(ds["error"].sel(beta=0.9, seed=1, n_samples=100).values)
    assert "RuntimeError: injected failure" in err and "Traceback" in err
    assert (ds["status"].sel(beta=0.3).values == DONE).all()


def test_a_cell_that_kills_its_worker_fails_alone(tmp_path, ray_local, monkeypatch):
    """Cells travel in batches; a batch lost beyond its retries is split, so only the cell that kills its worker
    is recorded failed (with the error), and its batch-mates finish."""
    from sweep.run import runner
    from sweep.run import tasks

    f = write(tmp_path, small())
    url = str(tmp_path / "k.zarr")
    orig = tasks.execute_cell

    def crashing(store, cell, attempt):
        if cell.label().startswith("beta=0.9, seed=1, n_samples=100,"):
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(store, cell, attempt)

    monkeypatch.setattr(tasks, "execute_cell", crashing)
    monkeypatch.setattr(runner, "TASK_SECONDS", 100.0)  # several cells per task
    summary = run_sweep(f, store=url, progress=False, max_retries=1)
    assert summary.failed == 1 and summary.done == 7, summary.text()
    ds = open_results(url)
    bad = ds.sel(beta=0.9, seed=1, n_samples=100)
    assert int(bad["status"]) == FAILED and "Worker" in str(bad["error"].values)
    assert (ds["status"].values == DONE).sum() == 7


@pytest.mark.slow  # about 4 s: retries with back-off
def test_a_cell_the_store_refuses_fails_alone_with_the_reason(tmp_path, ray_local, monkeypatch):
    """A cell whose data the store refuses (epochs it does not lay out) fails its batch; the batch is rerun one
    cell per task, so only that cell is recorded failed, with the store's reason."""
    from sweep.run import runner
    from sweep.run import tasks

    f = write(tmp_path, small())
    url = str(tmp_path / "w.zarr")
    orig = tasks.execute_cell

    def shifted(store, cell, attempt):
        r = orig(store, cell, attempt)
        if cell.label().startswith("beta=0.3, seed=1, n_samples=200,"):
            r.arrays["epoch"] = r.arrays["epoch"] + 1
        return r

    monkeypatch.setattr(tasks, "execute_cell", shifted)
    monkeypatch.setattr(runner, "TASK_SECONDS", 100.0)  # several cells per task
    summary = run_sweep(f, store=url, progress=False)
    assert summary.failed == 1 and summary.done == 7, summary.text()
    bad = open_results(url).sel(beta=0.3, seed=1, n_samples=200)
    assert int(bad["status"]) == FAILED and "lacks epochs this cell records" in str(bad["error"].values)


def test_grid_extension_reuses_done_cells(tmp_path, ray_local):
    url = str(tmp_path / "g.zarr")
    run_sweep(write(tmp_path, small()), store=url, progress=False)
    before = data_vars(url)
    wall = open_results(url)["wall_time"].values.copy()
    grown = run_sweep(write(tmp_path, small(betas="[0.3, 0.9, 0.5]"), "g2.yaml"), store=url, progress=False)
    assert grown.ok and grown.ran == 4 and grown.total == 12
    ds = open_results(url)
    assert ds["beta"].values.tolist() == [0.3, 0.9, 0.5]
    after = data_vars(url)
    for k in before:
        assert np.array_equal(after[k][:2], before[k], equal_nan=True), k
    np.testing.assert_array_equal(ds["wall_time"].values[:2], wall)


def test_other_sweep_refused_with_what_differs(tmp_path, ray_local):
    url = str(tmp_path / "d.zarr")
    run_sweep(write(tmp_path, small()), store=url, progress=False)
    before = data_vars(url)
    other = small().replace("learning_rate: 0.05", "learning_rate: 0.1")
    with pytest.raises(StoreError, match=r"train.learning_rate: 0.05 -> 0.1"):
        run_sweep(write(tmp_path, other, "o.yaml"), store=url, progress=False)
    assert_same_data(before, data_vars(url))


def test_concurrent_run_is_refused(tmp_path, ray_local):
    url = str(tmp_path / "c.zarr")
    f = write(tmp_path, small())
    run_sweep(f, store=url, progress=False)
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)  # this live process now holds the store, as a running driver would
    try:
        with pytest.raises(StoreError, match="being run by another `sweep run`"):
            run_sweep(f, store=url, progress=False)
    finally:
        lease.release()
    # a dead driver's lease does not block: a lease file naming a pid that no longer exists
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    st.location.write("_lease/0000000007.json", (
        '{"host": "%s", "pid": %d, "token": "x", "started": "", "heartbeat": %f, "seconds": 30}'
        % (__import__("socket").gethostname(), dead.pid, time.time())).encode())
    assert run_sweep(f, store=url, progress=False).ok


def _cli(args, env=None, **kw):
    """`sweep ARGS` in its own session; with `env` holding FAULT_* variables, through tests/faults.py."""
    e = dict(os.environ, **(env or {}))
    cmd = [FAULTS] if any(k.startswith("FAULT_") for k in (env or {})) else ["-m", "sweep.cli"]
    return subprocess.Popen([sys.executable, *cmd, *args], env=e, start_new_session=True, **kw)


def longer():
    """12 PCD cells of about a second each: long enough to interrupt a run mid-sweep."""
    return small(betas="[0.2, 0.5, 0.8]", method="pcd", epochs=60, epochs2=40, ckpt=10).replace(
        "n_visible: 12", "n_visible: 100").replace("pcd_steps: 2", "pcd_steps: 20").replace(
        "[100, 200]", "[1000, 2000]")


def wait_for_done(url: str, n: int, p: subprocess.Popen, limit: float = 240) -> None:
    """Wait until at least `n` cells of the store are done, `p` (the driver) still running; fail after `limit`
    seconds (on an idle machine, stretched by the load)."""
    deadline, done = Deadline(limit), 0
    while not deadline.expired():
        time.sleep(0.05)
        assert p.poll() is None, "the driver finished before it could be interrupted mid-sweep"
        try:
            done = int((ResultsStore(url).group("r")["status"][...] == DONE).sum())
        except Exception:  # noqa: BLE001 - store not created yet
            continue
        if done >= n:
            return
    pytest.fail(f"{url}: {done} cells done after {deadline}, waiting for {n}")


@pytest.mark.slow  # about 1 min: drivers in subprocesses, one SIGKILLed
def test_sigkill_driver_then_rerun_is_bit_identical(tmp_path):
    f = write(tmp_path, longer())
    ref, url = str(tmp_path / "ref.zarr"), str(tmp_path / "k.zarr")
    assert wait_within(_cli(["run", str(f), "--store", ref]), 300) == 0
    p = _cli(["run", str(f), "--store", url, "--max-parallel", "1"])
    wait_for_done(url, 2, p)  # kill once some, not all, cells are done
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert (ResultsStore(url).group("r")["status"][...] == DONE).sum() < 12
    assert wait_within(_cli(["run", str(f), "--store", url]), 300) == 0
    assert_same_data(data_vars(ref), data_vars(url))


@pytest.mark.slow  # about 50 s: drivers in subprocesses
def test_cell_killed_mid_training_resumes_from_checkpoint(tmp_path):
    text = small(betas="[0.6]", method="pcd", epochs=12, epochs2=8, ckpt=4)
    f = write(tmp_path, text)
    ref, url = str(tmp_path / "ref.zarr"), str(tmp_path / "r.zarr")
    assert wait_within(_cli(["run", str(f), "--store", ref]), 300) == 0
    # every cell's first attempt is SIGKILLed after its first checkpoint (epoch 4); Ray retries it
    assert wait_within(_cli(["run", str(f), "--store", url], env={"FAULT_KILL_AFTER_CHECKPOINT": "1"}), 300) == 0
    ds = open_results(url)
    assert (ds["attempts"].values == 2).all()
    assert_same_data(data_vars(ref), data_vars(url))
    assert not (Path(url) / "checkpoints" / "c0-0-0.npz").exists()


def test_run_cell_is_deterministic_and_seeded_by_values():
    spec = {"seed": 3, "data": {"model": "xy", "n_visible": 8, "q": 4, "beta": 0.7, "n_samples": 120},
            "rbm": {"hidden": "double_well", "n_hidden": 2, "theta": -1.0, "gamma": 2.0},
            "train": {"method": "pcd", "pcd_steps": 2, "epochs": 3, "batch_size": 30, "record_every": 1}}
    a, b = run_cell(spec), run_cell(spec)
    assert a["weights"].dims == ("epoch", "hidden", "visible", "state")
    assert a["weights"].shape == (4, 2, 8, 4)
    for v in VARIABLES:
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v
    c = run_cell({**spec, "train": {**spec["train"], "seed": 1}})  # another replica: same data seed
    assert c.attrs["data_seed"] == a.attrs["data_seed"] and c.attrs["train_seed"] != a.attrs["train_seed"]
    assert not np.array_equal(a["weights"].values, c["weights"].values)
    with pytest.raises(ValueError, match="grid"):
        run_cell({**spec, "grid": {"data.beta": [0.1]}})


@pytest.mark.slow  # about 4 s: three commands in fresh processes
def test_cli_errors_are_clean(tmp_path):
    bad = write(tmp_path, "data: {model: ising, beta: -1}\ntrain: {batch_sise: 3}\n", "bad.yaml")
    r = subprocess.run([sys.executable, "-m", "sweep.cli", "run", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{bad}: data.beta: must be >= 0" in r.stderr
    assert "train.batch_sise" in r.stderr and "batch_size" in r.stderr
    r = subprocess.run([sys.executable, "-m", "sweep.cli", "status", str(tmp_path / "none.zarr")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no sweep store" in r.stderr and "Traceback" not in r.stderr
    # a cluster address nothing listens on: a clear message at once (Ray itself waits about 40 s)
    good = Path(__file__).parent.parent / "sweeps" / "quickstart.yaml"
    r = run_within([sys.executable, "-m", "sweep.cli", "run", str(good), "--store", str(tmp_path / "q.zarr"),
                    "--address", "127.0.0.1:1"], 60, capture_output=True, text=True)
    assert r.returncode == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and read_holder(ResultsStore(str(tmp_path / "q.zarr")).location) is None
    assert not (tmp_path / "q.zarr").exists()  # a refused run leaves nothing behind


def test_cli_status_show_query_exports(tmp_path, ray_local):
    from typer.testing import CliRunner

    from sweep.cli import app

    url = str(tmp_path / "q.zarr")
    run_sweep(write(tmp_path, small()), store=url, progress=False)
    cli = CliRunner()
    r = cli.invoke(app, ["status", url])
    assert r.exit_code == 0 and "8 cells: 0 pending, 0 running, 8 done, 0 failed" in r.output
    r = cli.invoke(app, ["show", url])
    assert r.exit_code == 0 and "weights" in r.output and "sweep file:" in r.output and "data.beta" in r.output
    r = cli.invoke(app, ["query", url, "--sel", "beta=0.9", "--sel", "seed=1", "--var", "weights"])
    assert r.exit_code == 0 and "(n_samples: 2, epoch: 4, hidden: 2, visible: 12)" in r.output
    ref = open_results(url)["weights"].sel(beta=0.9, seed=1).values
    for suffix in (".nc", ".csv", ".json"):
        out = tmp_path / f"w{suffix}"
        r = cli.invoke(app, ["query", url, "--sel", "beta=0.9", "--out", str(out)])
        assert r.exit_code == 0 and out.stat().st_size > 0, r.output
    back = xr.open_dataset(tmp_path / "w.nc")
    np.testing.assert_array_equal(back["weights"].sel(seed=1).values, ref)
    r = cli.invoke(app, ["query", url, "--sel", "beta=0.4"])
    assert r.exit_code == 2 and "0.4 is not on the grid ([0.3, 0.9])" in r.output
    r = cli.invoke(app, ["query", url, "--var", "wieghts"])
    assert r.exit_code == 2 and "no such variable" in r.output


def test_potts_sweep_with_hidden_units_on_the_grid_is_padded(tmp_path, ray_local):
    text = """
name: xy-pad
data: {model: xy, n_visible: 6, q: 3, n_samples: 60, beta: 0.8}
rbm: {hidden: double_well, theta: -1.0, gamma: 2.0}
train: {method: pcd, pcd_steps: 2, batch_size: 20, epochs: 2}
grid:
  rbm.n_hidden: [1, 3]
"""
    url = str(tmp_path / "p.zarr")
    assert run_sweep(write(tmp_path, text), store=url, progress=False).ok
    ds = open_results(url)
    assert ds["weights"].dims == ("n_hidden", "epoch", "hidden", "visible", "state")
    w = ds["weights"].values
    assert w.shape == (2, 3, 3, 6, 3)
    assert np.isnan(w[0, :, 1:]).all() and not np.isnan(w[0, :, 0]).any() and not np.isnan(w[1]).any()
    np.testing.assert_allclose(np.nansum(w, axis=-1)[1], 0, atol=1e-6)  # zero-sum gauge survives storage


@pytest.mark.slow  # about 16 s: the 12-cell quickstart sweep
def test_quickstart_sweep_shows_the_transition(tmp_path, ray_local):
    """sweeps/quickstart.yaml as shipped: place fields well above beta_c(n_samples), none below."""
    url = str(tmp_path / "quick.zarr")
    assert run_sweep(Path(__file__).parent.parent / "sweeps" / "quickstart.yaml", store=url, progress=False).ok
    ds = open_results(url)
    last = ds["weights"].isel(hidden=0).where(ds["epoch"] == ds["epochs"]).max("epoch", skipna=True)
    phi = 2 * np.pi * np.arange(ds.sizes["visible"]) / ds.sizes["visible"]
    w2 = last.values ** 2
    R = np.abs((w2 * np.exp(1j * phi)).sum(-1)) / w2.sum(-1)  # (beta, seed, n_samples)
    R = xr.DataArray(R.mean(1), coords={"beta": ds["beta"], "n_samples": ds["n_samples"]},
                     dims=("beta", "n_samples"))
    assert float(R.sel(beta=1.0, n_samples=10000)) > 0.8
    assert float(R.sel(beta=0.4, n_samples=10000)) > 0.8  # beta_c(1e4) = 0.10
    assert float(R.sel(beta=0.1, n_samples=100)) < 0.35  # beta_c(100) = 0.69
    assert float(R.sel(beta=0.1, n_samples=1000)) < 0.35  # beta_c(1000) = 0.27


def test_provenance_per_cell_and_per_run(tmp_path, ray_local):
    import json

    url = str(tmp_path / "prov.zarr")
    run_sweep(write(tmp_path, small()), store=url, progress=False)
    ds = open_results(url)
    rec = json.loads(str(ds["provenance"].values[0, 0, 0]))
    for pkg in ("numpy", "numba", "llvmlite", "ray", "zarr", "xarray", "rbm-sweep"):
        assert rec["versions"][pkg] and rec["versions"][pkg] != "not installed", pkg
    assert rec["commit"] and rec["host"] and rec["attempts"] == 1 and rec["wall_time_s"] > 0
    assert rec["train_seed"] == str(int(ds["cell_train_seed"].values[0, 0, 0]))
    runs = json.loads(ds.attrs["runs"])
    assert len(runs) == 1 and runs[0]["start"] and runs[0]["end"] and runs[0]["cells_run"] == 8


def test_verify_finds_flipped_and_truncated_chunks_and_run_repairs_them(tmp_path, ray_local):
    from typer.testing import CliRunner

    from sweep.cli import app

    f = write(tmp_path, small())
    url = str(tmp_path / "v.zarr")
    run_sweep(f, store=url, progress=False)
    before = data_vars(url)
    cli = CliRunner()
    r = cli.invoke(app, ["verify", url])
    assert r.exit_code == 0 and "8 cells checked: 0 metadata problems, 0 corrupt, 0 torn, 0 partial files" in r.output
    flipped = tmp_path / "v.zarr" / "weights" / "c.0.1.0.0.0.0"  # one file per cell and variable
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    flipped.write_bytes(bytes(raw))
    cut = tmp_path / "v.zarr" / "loglik_train" / "c.1.0.1.0"
    cut.write_bytes(cut.read_bytes()[:5])
    stray = tmp_path / "v.zarr" / "weights" / "c.0.0.0.0.0.0.abc.partial"
    stray.write_bytes(b"x")
    r = cli.invoke(app, ["verify", url])
    assert r.exit_code == 1
    assert "corrupt beta[0], seed[1], n_samples[0]: weights: ValueError" in r.output
    assert "corrupt beta[1], seed[0], n_samples[1]: loglik_train" in r.output
    assert "stray partial file" in r.output
    r = cli.invoke(app, ["verify", url, "--repair"])
    assert r.exit_code == 0 and "repaired" in r.output and not stray.exists()
    st = open_results(url)["status"].values
    assert (st == 0).sum() == 2  # exactly the two corrupt cells are pending again
    summary = run_sweep(f, store=url, progress=False)
    assert summary.ok and summary.ran == 2
    assert_same_data(before, data_vars(url))
    assert cli.invoke(app, ["verify", url]).exit_code == 0


def test_plan_diff_cases(tmp_path, ray_local):
    from typer.testing import CliRunner

    from sweep.cli import app

    url = str(tmp_path / "pl.zarr")
    f = write(tmp_path, small())
    cli = CliRunner()
    r = cli.invoke(app, ["plan", str(f), "--store", url])
    assert r.exit_code == 0 and "create; 0 done, 8 to run" in r.output and "run would: run 8 cells (8 new" in r.output
    assert not Path(url).exists()  # planning writes nothing
    run_sweep(f, store=url, progress=False)
    r = cli.invoke(app, ["plan", str(f), "--store", url])
    assert "(no change)" in r.output and "run would: run 0 cells (0 new, 0 unfinished or failed), skip 8 done" in r.output
    # extend an axis
    r = cli.invoke(app, ["plan", str(write(tmp_path, small(betas="[0.3, 0.9, 0.5]"), "e.yaml")), "--store", url])
    assert "+ data.beta: [0.5]" in r.output and "run would: run 4 cells (4 new, 0 unfinished or failed), skip 8 done" in r.output
    # remove a value
    r = cli.invoke(app, ["plan", str(write(tmp_path, small(betas="[0.3]"), "r.yaml")), "--store", url])
    assert "- data.beta: [0.9]" in r.output and "run would refuse this store" in r.output
    # change a constant
    r = cli.invoke(app, ["plan", str(write(tmp_path, small().replace("batch_size: 20", "batch_size: 25"), "c.yaml")),
                         "--store", url])
    assert "~ train.batch_size: 20 -> 25" in r.output and "run would refuse" in r.output
    # --dry-run prints the same plan
    r2 = cli.invoke(app, ["run", str(f), "--store", url, "--dry-run"])
    assert r2.output == cli.invoke(app, ["plan", str(f), "--store", url]).output


def test_data_set_replicas_open_as_two_seed_dimensions(tmp_path, ray_local):
    """A grid over data.seed x train.seed: both are 1-D indexed dimensions of the plain xarray Dataset (no
    store variable takes their names), and different data seeds give different data."""
    from sweep.run.cell import sample_data

    text = """
name: replicas
data: {model: ising, n_visible: 12, n_samples: 100, beta: 0.7}
rbm: {hidden: spin, n_hidden: 1}
train: {method: exact, learning_rate: 0.05, batch_size: 20, epochs: 4, record_every: 2}
grid:
  data.seed: [1, 2, 3]
  train.seed: [0, 1]
"""
    url = str(tmp_path / "rep.zarr")
    assert run_sweep(write(tmp_path, text), store=url, progress=False).ok
    ds = xr.open_zarr(url)
    assert ds["weights"].dims[:2] == ("data_seed", "train_seed")
    for dim, values in (("data_seed", [1, 2, 3]), ("train_seed", [0, 1])):
        assert ds[dim].dims == (dim,) and ds[dim].values.tolist() == values and dim in ds.indexes
    assert ds.sel(data_seed=2, train_seed=1)["weights"].shape == (3, 1, 12)
    seeds = ds["cell_data_seed"].values
    assert (seeds == seeds[:, :1]).all() and seeds[:, 0].tolist() == [1, 2, 3]  # data.seed is the data seed
    assert len(set(ds["cell_train_seed"].values.ravel().tolist())) == 6
    cell = expand(parse_sweep(text)).cell((0, 0))
    one, two = (sample_data(cell.config.data, s) for s in (1, 2))
    assert not np.array_equal(one, two)
    w = ds["weights"].isel(epoch=-1).values
    assert not np.array_equal(w[0, 0], w[1, 0])  # same initialisation stream label, other data: other weights


def test_set_overrides_make_the_stored_sweep(tmp_path, ray_local):
    from typer.testing import CliRunner

    from sweep.cli import app

    cli = CliRunner()
    f = write(tmp_path, small())
    url = str(tmp_path / "o.zarr")
    r = cli.invoke(app, ["run", str(f), "--store", url, "--set", "train.learning_rate=0.1", "--set", "name=trial2"])
    assert r.exit_code == 0, r.output
    ds = open_results(url)
    assert ds.attrs["sweep_yaml"].startswith(f"# {f} with --set train.learning_rate=0.1 --set name=trial2\n")
    assert parse_sweep(ds.attrs["sweep_yaml"]).base["train"]["learning_rate"] == 0.1
    r = cli.invoke(app, ["run", str(f), "--store", url, "--set", "train.learning_rate=0.1", "--set", "name=trial2"])
    assert r.exit_code == 0 and "0 run now" in r.output, r.output
    r = cli.invoke(app, ["run", str(f), "--store", url])  # the file without the override: another sweep
    assert r.exit_code == 2 and "holds a different sweep" in r.output and "train.learning_rate: 0.1 -> 0.05" in r.output
    assert r.output.rstrip().endswith(f"to run it in a new store:\n  sweep run {f} --store {tmp_path / 'o-2.zarr'}")
    r = cli.invoke(app, ["plan", str(f), "--store", url, "--set", "train.batch_size=1000"])
    assert r.exit_code == 2 and "(from --set train.batch_size=1000)" in r.output and "Traceback" not in r.output
    r = cli.invoke(app, ["run", str(f), "--set", "train.epoch=3", "--store", url])
    assert r.exit_code == 2 and "--set train.epoch=3: train has no field 'epoch'" in r.output
    r = cli.invoke(app, ["show", url])
    assert "with --set train.learning_rate=0.1" in r.output
    summary = run_sweep(f, store=str(tmp_path / "api.zarr"), progress=False,
                        overrides={"train.learning_rate": 0.1, "name": "trial2"})
    assert summary.ok and open_results(str(tmp_path / "api.zarr")).attrs["spec_hash"] == ds.attrs["spec_hash"]


@pytest.mark.slow  # about 80 s: drivers in subprocesses, one interrupted
def test_ctrl_c_stops_cleanly_and_the_rerun_is_bit_identical(tmp_path):
    """SIGINT mid-sweep: scheduling stops, the driver says how far it got and the command that resumes, exits
    130 soon after; the rerun finishes the sweep with the uninterrupted run's bits."""
    f = write(tmp_path, longer())
    ref, url = str(tmp_path / "ref.zarr"), str(tmp_path / "i.zarr")
    assert wait_within(_cli(["run", str(f), "--store", ref]), 300) == 0
    p = _cli(["run", str(f), "--store", url, "--max-parallel", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
             text=True)
    wait_for_done(url, 2, p)
    t0 = time.time()
    os.killpg(p.pid, signal.SIGINT)
    out, _ = communicate(p, 120)
    took = time.time() - t0
    assert p.returncode == 130, out
    line = out.strip().splitlines()[-1]
    assert line.startswith("interrupted: ") and f' of 12 cells done; rerun "sweep run {f} --store {url}" to resume' in line
    assert "Traceback" not in out
    print(f"exit after SIGINT: {took:.1f} s")  # the issue asks for 10 s; measured, not asserted (2 busy cores)
    runs = json.loads(open_results(url).attrs["runs"])
    assert runs[-1]["interrupted"] and runs[-1]["cells_run"] >= 2
    assert wait_within(_cli(["run", str(f), "--store", url]), 300) == 0
    assert_same_data(data_vars(ref), data_vars(url))


@pytest.mark.slow  # about 8 s: signals to a process as it exits
def test_a_signal_while_the_interpreter_exits_is_no_traceback(tmp_path):
    """A Ctrl-C or SIGTERM after the command finished (while Ray's exit handlers stop its processes) changes
    nothing: the exit code stays the command's, and nothing but the command's output is printed."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "cmd.py"
    script.write_text(
        "import atexit, sys, time\n"
        "from sweep.cli.entry import quiet_interrupts, run\n"
        "quiet_interrupts()\n"
        "atexit.register(lambda: time.sleep(3))  # as Ray's shutdown waits for its processes\n"
        "def app():\n"
        "    print('done', flush=True)\n"
        "    sys.exit(0)\n"
        "run(app)\n")
    for sig in (signal.SIGINT, signal.SIGTERM):
        p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        assert p.stdout.readline() == "done\n"
        time.sleep(0.5)
        p.send_signal(sig)
        out, _ = communicate(p, 30)
        assert (p.returncode, out) == (0, ""), (sig, out)
