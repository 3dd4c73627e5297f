"""Issue 16, input findings: sweep files that are not regular files, hostile values, bounded work, output paths,
and `plan` saying what `run` will say.

Every refusal is one line per problem naming the file (or option), the key and the reason, exit 2, no traceback.
Commands that could block or exhaust memory run in a child process with a generous timeout (a regression fails
instead of hanging the suite) and, where memory is the point, a capped address space (RLIMIT_AS).
"""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sweep.views.table
import sweep.run.plan
import sweep.views.report
from _limits import scaled
from sweep import open_results, parse_sweep
from sweep.science import analysis
from sweep.store import layout
from sweep.cli import app
from sweep.config.grid import expand
from sweep.config.gridsyntax import MAX_VALUES
from sweep.store.lease import Lease
from sweep.run.plan import TooLarge, check_fits, fit_problems, footprint, plan_sweep
from sweep.run.provenance import contract
from sweep.config.sweepfile import MAX_RECORDS, SpecError, recorded_epochs
from sweep.store.results_store import DONE, ResultsStore
from sweep.store.cell_table import CellTable

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds for a child that should take about 3 (the imports): only a hang or a runaway reaches it
MEMORY_CAP = 3 << 30  # bytes of address space for a child (Python, numpy, zarr and xarray in about 1.5 GB)
HEAD = "data: {model: ising, n_visible: 10, n_samples: 20}\ntrain: {method: exact, epochs: 1, batch_size: 10}\n"


def sweep_cli(*args, cap=None, cwd=None):
    """`python -m sweep.cli ARGS` in a child (address space capped to `cap` bytes); (exit code, stdout+stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def limit():
        if cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    r = subprocess.run([sys.executable, "-m", "sweep.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=scaled(TIMEOUT), env=env, cwd=cwd, preexec_fn=limit)
    return r.returncode, r.stderr + r.stdout


def one_line(code, out, *needles):
    assert code == 2, out[-3000:]
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out[-3000:]
    for n in needles:
        assert n in out, out
    assert not any(ord(c) < 32 and c != "\n" for c in out), repr(out)


# ------------------------------------------------------------------------------ finding 6: not a regular file
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_fifo_as_the_sweep_file_is_refused_without_blocking(tmp_path, command):
    fifo = tmp_path / "sweep.yaml"
    os.mkfifo(fifo)
    code, out = sweep_cli(command, fifo, "--store", tmp_path / "s.zarr")  # a regression blocks: TIMEOUT fails it
    one_line(code, out, f"{fifo}: (file): a FIFO (named pipe), not a regular file")
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.timeout(TIMEOUT)
def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The stat says regular file (the file was swapped for a FIFO after it): the open must not block, and the
    opened file is checked again."""
    from sweep.config import yamlio

    regular = tmp_path / "r.yaml"
    regular.write_text(HEAD)
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    real = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: real(regular) if self == fifo else real(self, **kw))
    with pytest.raises(SpecError, match=r"f.yaml: \(file\): a FIFO \(named pipe\), not a regular file"):
        yamlio.read_text(fifo)


@pytest.mark.parametrize("path,what", [("/dev/null", "a character device"), ("/dev/zero", "a character device"),
                                       (".", "a folder")])
def test_devices_and_folders_are_refused(tmp_path, path, what):
    code, out = sweep_cli("plan", path, "--store", tmp_path / "s.zarr")
    one_line(code, out, f"{path}: (file): {what}, not a regular file")


def test_proc_self_environ_is_refused_as_not_text(tmp_path):
    code, out = sweep_cli("plan", "/proc/self/environ", "--store", tmp_path / "s.zarr")
    one_line(code, out, "/proc/self/environ: line 1, column ", "a NUL character")


# ------------------------------------------------------------------------------ finding 12: hostile input
@pytest.mark.parametrize("grid", ["", "grid: {}\n", "grid:\n"])
def test_a_sweep_without_grid_keys_is_refused_before_anything_starts(tmp_path, grid):
    f = tmp_path / "g.yaml"
    f.write_text(HEAD + grid)
    for command in ("plan", "run"):
        code, out = sweep_cli(command, f, "--store", tmp_path / "s.zarr")
        one_line(code, out, f"{f}: grid: a sweep needs at least one key on its grid",
                 "give one key one value, e.g. grid: {train.seed: [0]}")
        assert "Ray" not in out
    assert not (tmp_path / "s.zarr").exists()
    with pytest.raises(SpecError, match="needs at least one key on its grid"):
        plan_sweep(parse_sweep(HEAD + grid, "g.yaml"), str(tmp_path / "s.zarr"))  # the API refuses as well


@pytest.mark.parametrize("text,where", [
    (HEAD + "grid: {train.seed: [0]}\n\x00\n", "line 4, column 1: a NUL character"),
    (HEAD + "grid: {train.seed: [0]}\n# \x1b[2J\n", "line 4, column 3: the control character U+001B"),
    ("data: {model: ising}\x07\n", "line 1, column 21: the control character U+0007"),
])
def test_control_characters_in_the_file_are_refused(tmp_path, text, where):
    f = tmp_path / "c.yaml"
    f.write_bytes(text.encode())
    code, out = sweep_cli("plan", f, "--store", tmp_path / "s.zarr")
    one_line(code, out, f"{f}: {where}")


@pytest.mark.slow  # about 5 s: a command per value
def test_control_characters_in_set_values_and_keys_are_escaped(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(HEAD + "grid: {train.seed: [0]}\n")
    code, out = sweep_cli("plan", f, "--set", "name=a\x1b[31mb")
    one_line(code, out, "--set name=a\\x1b[31mb: line 1, column 2: the control character U+001B")
    code, out = sweep_cli("plan", f, "--set", "train.epo\x01chs=5")
    one_line(code, out, "train.epo\\x01chs")
    code, out = sweep_cli("plan", f, "--set", "name=\"a\\x00b\\nc\"")  # a YAML escape makes the NUL and newline
    one_line(code, out, "name: must be a string", "'a\\x00b\\nc'")


def test_a_5000_digit_seed_is_refused_naming_its_key(tmp_path):
    digits = "7" * 5000
    f = tmp_path / "s.yaml"
    f.write_text(HEAD + f"seed: {digits}\ngrid: {{train.seed: [0]}}\n")
    code, out = sweep_cli("plan", f)
    one_line(code, out, f"{f}: seed: an integer of 5000 characters")
    assert len(out) < 300
    f.write_text(HEAD + f"grid: {{train.seed: [0, 0x{'f' * 4000}]}}\n")
    code, out = sweep_cli("plan", f)
    one_line(code, out, f"{f}: grid.train.seed[1]: an integer of 4002 characters")
    f.write_text(HEAD + "grid: {train.seed: [0]}\n")
    code, out = sweep_cli("plan", f, "--set", f"seed={digits}")
    one_line(code, out, "--set seed=777", "(value): an integer of 5000 characters")
    assert len(out) < 400
    with pytest.raises(SpecError, match=r"seed: must be an integer in \[0, 2\*\*64\), got 18446744073709551616"):
        parse_sweep(HEAD + f"seed: {2 ** 64}\n", "s.yaml")
    with pytest.raises(SpecError, match=r"grid.train.seed\[1\]: must be <= 9223372036854775807 on the grid"):
        parse_sweep(HEAD + f"grid: {{train.seed: [0, {2 ** 64 - 1}]}}\n", "s.yaml")  # its coordinate is int64
    assert parse_sweep(HEAD + f"seed: {2 ** 64 - 1}\ngrid: {{data.beta: [1]}}\n", "s.yaml").seed == 2 ** 64 - 1
    with pytest.raises(SpecError, match=r"rbm.n_hidden: must be <= 9223372036854775807 \(the store holds it as a "
                                        r"64-bit integer\)"):
        parse_sweep(HEAD + "rbm: {n_hidden: 1e30}\n", "s.yaml")


@pytest.mark.parametrize("spec,count", [("{arange: [0, 1e308, 1e-308]}", "more values than a float can count"),
                                        ("{arange: [0, 1, 1e-12]}", "about 1e+12 values"),
                                        ("{linspace: [0, 1, 1e300]}", "gives 1e+300 values")])
def test_a_huge_range_is_refused_before_its_values_are_built(tmp_path, spec, count):
    f = tmp_path / "r.yaml"
    f.write_text(HEAD + f"grid:\n  data.beta: {spec}\n")
    code, out = sweep_cli("plan", f, "--store", tmp_path / "s.zarr", cap=MEMORY_CAP)
    one_line(code, out, f"{f}: grid.data.beta.", count, f"more than the {MAX_VALUES} a grid key may take",
             "for more cells put a second key on the grid")


# ------------------------------------------------------------------------------ finding 7: bounded work
def test_recorded_epochs_are_the_per_epoch_union_without_a_per_epoch_set():
    rng = np.random.default_rng(3)
    for _ in range(200):
        pairs = {(int(rng.integers(0, 60)), int(rng.integers(1, 9))) for _ in range(rng.integers(1, 5))}
        want = set()
        for e, r in pairs:
            want.update(range(0, e + 1, r))
            want.add(e)
        assert recorded_epochs(pairs).tolist() == sorted(want)
    assert len(recorded_epochs({(10 ** 9, 10 ** 5)})) == 10 ** 4 + 1
    with pytest.raises(ValueError, match=f"records 1000000001 epochs, more than the {MAX_RECORDS}"):
        recorded_epochs({(10 ** 9, 1)})
    with pytest.raises(ValueError, match="distinct epochs in all"):
        recorded_epochs({(MAX_RECORDS - 5, 1), (3 * MAX_RECORDS, 7)})


def test_epochs_1e9_recorded_every_epoch_is_refused_quickly_in_bounded_memory(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text(HEAD.replace("epochs: 1", "epochs: 1e9, record_every: 1") + "grid: {train.seed: [0]}\n")
    code, out = sweep_cli("plan", f, "--store", tmp_path / "s.zarr", cap=MEMORY_CAP)
    one_line(code, out, f"{f}: train.record_every: train.epochs 1000000000 with record_every 1 records "
                        f"1000000001 epochs, more than the {MAX_RECORDS} a store's epoch axis holds")
    # zipped epochs and record_every whose union is too long, each cell within the bound
    f.write_text(HEAD.replace(", epochs: 1", "") + "grid:\n  zip:\n    - {train.epochs: "
                 f"[{MAX_RECORDS - 10}, {3 * MAX_RECORDS}], train.record_every: [1, 7]}}\n")
    code, out = sweep_cli("plan", f, "--store", tmp_path / "s.zarr", cap=MEMORY_CAP)
    one_line(code, out, "distinct epochs in all")


BIG = """data: {model: ising, n_visible: 1000000, n_samples: 200}
train: {method: pcd, epochs: 1e9, record_every: 1e5, batch_size: 100}
grid: {train.seed: [0, 1]}
"""


def test_plan_prints_memory_per_cell_and_store_size_and_what_run_would_refuse(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(BIG)
    code, out = sweep_cli("plan", f, "--store", tmp_path / "s.zarr", cap=MEMORY_CAP)
    assert code == 0, out
    # 10001 records of 1e6 float32 weights and 1e6 float32 fields: 80 GB a cell
    assert "store: up to 160 GB of data for these 2 cells (80 GB a cell, uncompressed)" in out, out
    assert "memory per cell: up to about " in out
    assert "run would refuse this sweep without --allow-large:" in out
    assert f"  - {f}: a cell needs about " in out and "more than the " in out
    assert not (tmp_path / "s.zarr").exists()
    small = parse_sweep(HEAD + "grid: {train.seed: [0, 1, 2]}\n", "small.yaml")
    fp = footprint(expand(small))
    # 2 records (epochs 0 and 1) of 10 weights, 10 fields, theta, gamma (float32) and 2 log-likelihoods (float64)
    assert fp.cell_data == 2 * (4 * 10 + 4 * 10 + 4 + 4 + 8 + 8)
    assert 0 < fp.cell_memory < 10 ** 6


def test_run_refuses_a_sweep_too_large_before_ray_starts_unless_allowed(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(BIG)
    code, out = sweep_cli("run", f, "--store", tmp_path / "s.zarr", cap=MEMORY_CAP)  # a cell of ~0.5 TB: refused
    lines = out.strip().splitlines()
    assert code == 2 and "Traceback" not in out, out
    assert lines[0].startswith(f"{f}: a cell needs about ") and "pass --allow-large" in lines[0], out
    assert all(line.startswith(f"{f}: ") for line in lines) and len(lines) <= 2, out
    assert "Ray" not in out and not (tmp_path / "s.zarr").exists()  # the folder the run made is gone
    # the API: TooLarge (a StoreError) naming the file; allowed, the check passes
    plan = plan_sweep(parse_sweep(BIG, str(f)), str(tmp_path / "s.zarr"))
    with pytest.raises(TooLarge, match=f"^{f}: a cell needs about"):
        check_fits(plan)
    check_fits(plan, allow_large=True)
    import inspect

    from sweep import run_sweep

    assert inspect.signature(run_sweep).parameters["allow_large"].default is False


def test_the_disk_check_covers_local_stores_only(tmp_path, monkeypatch):
    small = parse_sweep(HEAD + "grid: {train.seed: [0, 1, 2]}\n", "small.yaml")
    plan = plan_sweep(small, str(tmp_path / "s.zarr"))
    assert fit_problems(plan) == []
    monkeypatch.setattr(sweep.run.plan, "free_disk", lambda path: (str(tmp_path), 100))
    (line,) = fit_problems(plan)
    assert line.startswith("small.yaml: the store needs up to ") and "more than the 100 B free at " in line
    with pytest.raises(TooLarge):
        check_fits(plan)
    remote = plan_sweep(small, "memory://bucket/s.zarr")  # an object store: only the memory check
    assert fit_problems(remote) == []
    monkeypatch.setattr(sweep.run.plan, "machine_memory", lambda: 1000)
    (line,) = fit_problems(remote)
    assert "a cell needs about" in line and "more than the 1 kB of this machine" in line


# ------------------------------------------------------------------------------ table and report stream
TRAINED = """
name: wide
seed: 4
data: {model: ising, n_visible: 3000, n_samples: 20}
rbm: {n_hidden: 3}
train: {method: exact, epochs: 4, record_every: 2, batch_size: 10}
grid:
  data.beta: [0.5, 1.0, 1.5]
  train.seed: [0, 1]
"""


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A store of 6 cells of 3 x 3000 weights over 3 records (written directly: no training), 5 done, 1 pending."""
    tmp = tmp_path_factory.mktemp("wide")
    sw = parse_sweep(TRAINED, "wide.yaml")
    grid = expand(sw)
    url = str(tmp / "wide.zarr")
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)
    layout.create(st, sw, grid, contract(), lease)
    rng = np.random.default_rng(1)
    sites = np.arange(3000)
    items, rows = [], {}
    for k, c in enumerate(grid):
        if k == 4:
            continue  # pending
        E = 3
        bump = np.exp(-0.5 * ((sites - 300 * (k + 1)) / (20 + 10 * k)) ** 2)
        w = (rng.normal(0, 0.1, (E, 3, 3000)) + bump).astype(np.float32)
        arrays = {"epoch": np.array([0, 2, 4]), "weights": w, "visible_fields": np.zeros((E, 3000), np.float32),
                  "hidden_theta": np.zeros((E, 3), np.float32), "hidden_gamma": np.ones((E, 3), np.float32),
                  "loglik_train": np.array([-3.0, -2.0, -1.0 - k]), "loglik_test": np.full(E, np.nan)}
        items.append((c, arrays))
        rows[c.index] = {"status": DONE, "attempts": 1, "wall_time": 0.5, "host": "h"}
    st.write_cells(items)
    CellTable(st, lease).write(rows)
    lease.release()
    return url


def test_the_table_is_computed_in_cell_batches_with_the_values_of_the_whole(wide):
    ds = open_results(wide)
    whole = sweep.cells_table(ds)
    w = ds["weights"]
    chunk = 4 * 3 * 3 * 3000
    per_cell = 2 * chunk + sweep.views.table.WORK_PER_VALUE * 9000 + 16 * 3
    batched = sweep.cells_table(ds, memory=per_cell + 10)  # one cell a batch
    assert batched.equals(sweep.cells_table(ds, memory=4 * per_cell))  # four cells, then two
    with pytest.raises(sweep.views.table.DoesNotFit, match="one cell's weights are 108 kB uncompressed"):
        sweep.cells_table(ds, memory=per_cell - 1)
    assert whole.equals(batched) or (whole.fillna(-1) == batched.fillna(-1)).all().all()
    final = analysis.final_weights(w)  # the reference: the whole store at once
    for name in ("R", "Q", "FWHM"):
        ref = np.ravel(analysis.order_parameter(final, name, over=("hidden",)).values)
        np.testing.assert_allclose(batched[name].to_numpy(), ref, rtol=1e-12, equal_nan=True)
    assert batched["final_epoch"].tolist()[:4] == [4, 4, 4, 4] and batched["final_epoch"].isna().tolist()[4]
    assert batched["loglik_train"].tolist()[:2] == [-1.0, -2.0]
    bare = sweep.cells_table(ds, observables=[], memory=200)  # no weight read: a tiny budget is enough
    assert "R" not in bare and bare["final_epoch"].tolist()[:4] == [4, 4, 4, 4]


def test_table_and_report_refuse_or_degrade_when_one_cell_does_not_fit(wide, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.views.table, "available_memory", lambda: 100_000)
    monkeypatch.setattr(sweep.views.report, "available_memory", lambda: 100_000)
    runner = CliRunner()
    r = runner.invoke(app, ["table", wide])
    one_line(r.exit_code, r.output, f"{wide}: one cell's weights are 108 kB uncompressed (3 x 3 x 3000 values over "
                                    "(epoch, hidden, visible))", "--observable none")
    r = runner.invoke(app, ["table", wide, "--observable", "none"])
    assert r.exit_code == 0 and "final_epoch" in r.output and " R " not in r.output, r.output
    r = runner.invoke(app, ["report", wide, "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert "no observable columns: one cell&#x27;s weights are 108 kB" in page
    assert "skipped: one cell&#x27;s weights are 108 kB uncompressed; drawing needs about" in page


@pytest.mark.slow  # about 20 s: a table and a report of a store of 1e8 visible units
def test_table_and_report_of_a_store_with_1e8_visible_units_stay_in_bounded_memory(tmp_path):
    """n_visible 1e8 (400 MB a record): the metadata only, no data; `table` and `report` must not read 1e8-wide
    arrays whole: the table is refused in one line (or given without observables), the report says what it left
    out."""
    text = ("data: {model: ising, n_visible: 100000000, n_samples: 20}\n"
            "train: {method: exact, epochs: 20, record_every: 10, batch_size: 10}\ngrid: {train.seed: [0]}\n")
    sw = parse_sweep(text, "huge.yaml")
    url = str(tmp_path / "huge.zarr")
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)
    layout.create(st, sw, expand(sw), contract(), lease)
    lease.release()
    code, out = sweep_cli("table", url, cap=MEMORY_CAP)
    one_line(code, out, f"{url}: one cell's weights are 1.2 GB uncompressed (3 x 1 x 100000000 values")
    code, out = sweep_cli("table", url, "--observable", "none", cap=MEMORY_CAP)
    assert code == 0 and "pending" in out, out
    code, out = sweep_cli("report", url, "--out", tmp_path / "r.html", cap=MEMORY_CAP)
    assert code == 0 and "Traceback" not in out, out
    page = (tmp_path / "r.html").read_text()
    assert "no observable columns: one cell&#x27;s weights are 1.2 GB uncompressed" in page
    assert "skipped: one cell&#x27;s weights are 1.2 GB uncompressed; drawing needs about" in page


# ------------------------------------------------------------------------------ finding 15: output paths
@pytest.mark.slow  # about 6 s: a command per path
def test_output_paths_never_create_folders_nor_files_under_dev(tmp_path, wide):
    code, out = sweep_cli("plot", "theory", "--out", "/nonexistent-16/x.png")
    one_line(code, out, "--out /nonexistent-16/x.png: the folder /nonexistent-16 does not exist")
    assert not os.path.exists("/nonexistent-16")
    code, out = sweep_cli("table", wide, "--out", "/dev/full.csv")
    one_line(code, out, "--out /dev/full.csv: /dev is a system folder")
    assert not os.path.exists("/dev/full.csv")
    for args in (["query", wide, "--out", "/dev/full"], ["table", wide, "--out", tmp_path / "no" / "t.csv"],
                 ["report", wide, "--out", tmp_path / "no" / "r.html"], ["table", wide, "--out", tmp_path]):
        code, out = sweep_cli(*args)
        one_line(code, out, f"--out {args[-1]}: ")
    assert not (tmp_path / "no").exists()
    code, out = sweep_cli("table", wide, "--out", tmp_path / "t.csv")  # written through a temporary file
    assert code == 0 and (tmp_path / "t.csv").read_text().startswith("beta,seed,status")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tmpfs needs root")
def test_a_full_or_read_only_disk_leaves_the_old_file_and_no_temporary(tmp_path, wide):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mnt / "p.png").write_text("old")
        (mnt / "t.csv").write_text("old")
        with open(mnt / "fill", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        for args in (["plot", "theory", "--out", mnt / "p.png"], ["table", wide, "--out", mnt / "t.csv"]):
            code, out = sweep_cli(*args)
            one_line(code, out, f"--out {args[-1]}: cannot write: No space left on device (ENOSPC)")
        assert (mnt / "p.png").read_text() == "old" and (mnt / "t.csv").read_text() == "old"
        assert sorted(p.name for p in mnt.iterdir()) == ["fill", "p.png", "t.csv"]
        (mnt / "fill").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        code, out = sweep_cli("table", wide, "--out", mnt / "t.csv")
        one_line(code, out, "cannot write: Read-only file system (EROFS)")
    finally:
        subprocess.run(["umount", str(mnt)])


# ------------------------------------------------------------------------------ finding 16: plan on a reordered grid
def test_plan_on_a_reordered_grid_says_what_run_says(tmp_path):
    text = HEAD + "grid:\n  data.beta: [0.5, 1.0, 1.5]\n"
    sw = parse_sweep(text, "a.yaml")
    url = str(tmp_path / "s.zarr")
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)
    layout.create(st, sw, expand(sw), contract(), lease)
    lease.release()
    f = tmp_path / "b.yaml"
    f.write_text(text.replace("[0.5, 1.0, 1.5]", "[1.0, 0.5, 1.5]"))
    code, out = sweep_cli("plan", f, "--store", url)
    assert code == 0 and "(no change)" not in out, out
    assert "  ~ data.beta: values reordered" in out
    assert "run would refuse this store:" in out
    assert "  - grid data.beta: values reordered (values may only be appended)" in out
    code, run_out = sweep_cli("run", f, "--store", url)
    assert code == 2 and "Traceback" not in run_out
    assert "grid data.beta: values reordered (values may only be appended)" in run_out


def test_plan_refuses_a_growth_that_run_would_refuse(tmp_path):
    text = HEAD.replace(", epochs: 1", "") + "grid:\n  zip:\n    - {train.seed: [0, 1], train.epochs: [1, 1]}\n"
    sw = parse_sweep(text, "a.yaml")
    url = str(tmp_path / "s.zarr")
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)
    layout.create(st, sw, expand(sw), contract(), lease)
    lease.release()
    f = tmp_path / "b.yaml"
    f.write_text(text.replace("[0, 1], train.epochs: [1, 1]", "[0, 1, 2], train.epochs: [1, 1, 3]"))
    code, out = sweep_cli("plan", f, "--store", url)
    assert code == 0 and "run would refuse this store:" in out, out
    assert "the extended grid changes the recorded epochs every cell of the store holds" in out
    code, run_out = sweep_cli("run", f, "--store", url)
    assert code == 2 and "the extended grid changes the recorded epochs" in run_out and "Ray" not in run_out
