"""Integrity of the store itself (issue 16): chunks bound to their cell by the digests of the cell table, a
repair that proves the sweep file, store damage answered in one line, `verify` beside a live driver.

One small reference run (module fixture, local Ray); each test damages a copy of it and checks what the commands
say, then (where a repair applies) that `verify --repair` and a rerun give the reference's bits again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sweep import run_sweep
from sweep.run.cell import VARIABLES
from sweep.store.chunks import fast_chunk_bytes
from sweep.store.lease import Lease
from sweep.store.location import Location
from sweep.store.results_store import ResultsStore

pytestmark = pytest.mark.slow  # a reference run on local Ray (module fixture), then a rerun per repair: about 20 s

SWEEP = """
name: istore
seed: {seed}
data: {{model: ising, n_visible: 8, n_samples: 100}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: pcd, pcd_steps: 1, learning_rate: 0.05, batch_size: 20, epochs: 4, record_every: 2,
        checkpoint_every: 4, test_fraction: 0.2}}
grid:
  data.beta: {betas}
  train.seed: [0, 1]
"""


def sweep_file(folder: Path, betas="[0.5, 1.0]", seed=2020, name="s.yaml") -> Path:
    p = folder / name
    p.write_text(SWEEP.format(betas=betas, seed=seed))
    return p


def data(url) -> dict:
    ds = xr.open_zarr(Location(str(url)).zarr_store()).load()
    return {v: ds[v].values for v in VARIABLES + ("cell_data_seed", "cell_train_seed", "status", "chunk_digest")
            if v in ds}


def assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def cli(*args) -> tuple[int, str]:
    """`sweep ARGS` in this process (CliRunner): (exit code, output); never an exception other than an exit."""
    from typer.testing import CliRunner

    from sweep.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.output, repr(r.exception))
    return r.exit_code, r.output


def one_line(code_out, code=2) -> str:
    got, out = code_out
    assert got == code and "Traceback" not in out and out.strip().count("\n") == 0, out
    head = out.split(": ", 1)[0]
    assert not out.startswith(f"{head}: {head}: "), out  # the store named once
    return out.strip()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_local):
    folder = tmp_path_factory.mktemp("ref")
    f = sweep_file(folder)
    url = folder / "ref.zarr"
    assert run_sweep(f, store=str(url), progress=False, log=False).ok
    return {"file": f, "url": url, "data": data(url)}


@pytest.fixture
def store(tmp_path, reference) -> Path:
    """A copy of the reference store (without its lease folder)."""
    url = tmp_path / "s.zarr"
    shutil.copytree(reference["url"], url, ignore=shutil.ignore_patterns("_lease"))
    return url


def chunk(url: Path, var: str, idx: tuple) -> Path:
    ndim = len(xr.open_zarr(str(url))[var].dims)
    return url / var / ("c." + ".".join(str(i) for i in idx + (0,) * (ndim - len(idx))))


def rerun(reference, url, cells: int) -> None:
    """`verify --repair` was run: a rerun recomputes exactly `cells` cells, to the reference's bits."""
    summary = run_sweep(reference["file"], store=str(url), progress=False, log=False)
    assert summary.ok and summary.ran == cells, summary.text()
    assert_same(reference["data"], data(url))
    assert cli("verify", url)[0] == 0


# ------------------------------------------------------------------------------------- chunks bound to their cell
def _swap(url):
    a, b = chunk(url, "weights", (0, 0)), chunk(url, "weights", (0, 1))
    x, y = a.read_bytes(), b.read_bytes()
    a.write_bytes(y)
    b.write_bytes(x)
    return {(0, 0): "weights", (0, 1): "weights"}


def _duplicate(url):
    shutil.copyfile(chunk(url, "weights", (1, 0)), chunk(url, "weights", (1, 1)))
    return {(1, 1): "weights"}


def _recrc(url):
    """A value changed and the chunk encoded again, with a valid CRC32C of its new bytes."""
    from sweep.store.chunks import fast_chunk_values

    import zarr

    p = chunk(url, "visible_fields", (1, 0))
    a = zarr.open_array(str(url / "visible_fields"), mode="r")
    block = np.array(fast_chunk_values(a, p.read_bytes()))
    block[-1, 0] += np.float32(0.25)
    p.write_bytes(fast_chunk_bytes(block))
    return {(1, 0): "visible_fields"}


@pytest.mark.parametrize("damage", [_swap, _duplicate, _recrc], ids=["swap", "duplicate", "recrc"])
def test_moved_copied_or_rewritten_chunks_are_corrupt_cells(store, reference, damage):
    """Finding 2: chunks swapped between two cells, one cell's chunk copied over another's, a value rewritten
    with its CRC recomputed: each decodes cleanly, yet `verify` reports the cells, `--repair` marks exactly them,
    and the rerun gives the reference's bits."""
    hit = damage(store)
    code, out = cli("verify", store)
    assert code == 1, out
    for (b, s), var in hit.items():
        assert f"corrupt beta[{b}], seed[{s}]: {var}: its chunk is not the one recorded for this cell" in out, out
    assert f"{len(hit)} corrupt" in out and "note:" not in out, out
    code, out = cli("verify", store, "--repair")
    assert code == 0 and "repaired" in out, out
    rerun(reference, store, cells=len(hit))


def test_a_missing_chunk_of_a_done_cell_is_corrupt(store, reference):
    chunk(store, "loglik_test", (0, 1)).unlink()
    code, out = cli("verify", store)
    assert code == 1 and "corrupt beta[0], seed[1]: loglik_test: its chunk is missing" in out, out
    assert cli("verify", store, "--repair")[0] == 0
    rerun(reference, store, cells=1)


def test_the_digests_grow_with_the_grid(store, reference, tmp_path):
    """A growth along beta: the digest array takes the new cells' rows, the old ones keep theirs, verify is clean
    and a chunk moved between an old and a new cell is found."""
    grown = sweep_file(tmp_path, betas="[0.5, 1.0, 1.5]", name="grown.yaml")
    summary = run_sweep(grown, store=str(store), progress=False, log=False)
    assert summary.ok and summary.ran == 2
    d = data(store)["chunk_digest"]
    assert d.shape == (3, 2, len(VARIABLES)) and (d != 0).all()
    assert np.array_equal(d[:2], reference["data"]["chunk_digest"])
    assert cli("verify", store)[0] == 0
    shutil.copyfile(chunk(store, "weights", (2, 1)), chunk(store, "weights", (0, 1)))
    code, out = cli("verify", store)
    assert code == 1 and "corrupt beta[0], seed[1]: weights: its chunk is not the one recorded" in out, out


def _as_old_store(url: Path) -> None:
    """The store as a version before chunk digests wrote it: no digest array, no `variable`, no root attribute."""
    from sweep.store import layout
    from sweep.config.grid import expand

    st = ResultsStore(str(url))
    attrs = st.attrs()
    del attrs["chunk_digests"]
    shutil.rmtree(url / "chunk_digest")
    shutil.rmtree(url / "variable")
    files = layout.build(expand(st.sweep()), attrs)
    (url / "zarr.json").write_bytes(files["zarr.json"])


def test_a_store_made_before_digests_opens_verifies_and_resumes(store, reference):
    _as_old_store(store)
    code, out = cli("verify", store)
    assert code == 0 and out.count("place") == 1, out
    assert "note: this store was made before chunk digests" in out and "not against their place" in out, out
    code, out = cli("table", store)
    assert code == 0 and "done" in out, out
    # a flipped byte is still found by its CRC, repaired and recomputed; the rerun writes no digests into it
    p = chunk(store, "weights", (1, 1))
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 1
    p.write_bytes(bytes(raw))
    code, out = cli("verify", store)
    assert code == 1 and "corrupt beta[1], seed[1]: weights" in out and "CRC32C" in out, out
    assert cli("verify", store, "--repair")[0] == 0
    summary = run_sweep(reference["file"], store=str(store), progress=False, log=False)
    assert summary.ok and summary.ran == 1
    ref = {k: v for k, v in reference["data"].items() if k != "chunk_digest"}
    assert_same(ref, data(store))
    assert not (store / "chunk_digest").exists()
    assert cli("verify", store)[0] == 0


def test_a_bit_flip_is_one_line_naming_the_cell_in_table_and_query(store):
    """Finding 13: a flipped byte makes `table` and `query` (and `report`, `plot`) say which variable of which
    cell (coordinate values) is corrupt, in one line, not a traceback."""
    p = chunk(store, "weights", (1, 0))
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 1
    p.write_bytes(bytes(raw))
    for args in (["table", store], ["query", store, "--var", "weights"], ["query", store, "--sel", "beta=1.0"],
                 ["report", store, "--out", store.parent / "r.html"],
                 ["plot", "weights", store, "--sel", "beta=1.0", "--sel", "seed=0", "--out", store.parent / "w.png"]):
        out = one_line(cli(*args))
        assert "a corrupt chunk: weights of the cell beta=1.0, seed=0" in out and "--repair" in out, (args, out)
    code, out = cli("query", store, "--sel", "beta=0.5", "--var", "weights")  # the other cells read
    assert code == 0, out


# ------------------------------------------------------------------------------------- repair proves the sweep
def test_repair_refuses_a_sweep_file_that_is_not_the_stores(store, reference, tmp_path):
    """Finding 1: after the root `zarr.json` is gone, `verify --repair --sweep` refuses a file of the same grid
    shape with other values or another master seed, naming the first mismatch, and accepts the right one."""
    (store / "zarr.json").unlink()
    wrong_values = sweep_file(tmp_path, betas="[0.6, 1.1]", seed=7, name="values.yaml")
    out = one_line(cli("verify", store, "--repair", "--sweep", wrong_values))
    assert "is not the sweep this store was made with: coordinate beta: stored [0.5, 1.0], the file gives " \
           "[0.6, 1.1]" in out, out
    wrong_seed = sweep_file(tmp_path, seed=7, name="seed.yaml")
    out = one_line(cli("verify", store, "--repair", "--sweep", wrong_seed))
    ds_seed = int(reference["data"]["cell_data_seed"][0, 0])
    assert f"cell beta=0.5, seed=0: stored data seed {ds_seed}, the file derives " in out, out
    assert not (store / "zarr.json").exists()  # nothing written
    code, out = cli("verify", store, "--repair", "--sweep", reference["file"])
    assert code == 0 and "restored the root metadata" in out, out
    assert cli("verify", store)[0] == 0
    rerun(reference, store, cells=0)


def test_repair_proves_the_training_seed_too(store, reference, tmp_path):
    """Same data section, another training configuration: the data seeds agree, the training seeds do not."""
    (store / "zarr.json").unlink()
    other = sweep_file(tmp_path, name="lr.yaml")
    other.write_text(other.read_text().replace("learning_rate: 0.05", "learning_rate: 0.07"))
    out = one_line(cli("verify", store, "--repair", "--sweep", other))
    assert "cell beta=0.5, seed=0: stored training seed" in out, out


def test_an_unreadable_root_is_one_line_everywhere_and_repaired_from_the_file(store, reference):
    """Finding 13: invalid JSON in the root `zarr.json`: every command says so in one line; `verify --repair
    --sweep` restores it once the file proves to be the store's."""
    (store / "zarr.json").write_text("{not json")
    f = reference["file"]
    for args in (["status", store], ["show", store], ["table", store], ["query", store], ["verify", store],
                 ["report", store, "--out", store.parent / "r.html"], ["plan", f, "--store", store],
                 ["run", f, "--store", store], ["verify", store, "--repair"]):
        out = one_line(cli(*args))
        assert "root metadata" in out and "not valid JSON" in out, (args, out)
    code, out = cli("verify", store, "--repair", "--sweep", f)
    assert code == 0 and "restored the root metadata" in out, out
    rerun(reference, store, cells=0)


# ------------------------------------------------------------------------------------- store damage: one line
def _corrupt_status(url):
    p = next(p for p in (url / "status").iterdir() if p.name.startswith("c"))
    p.write_bytes(p.read_bytes()[:-3])


def test_a_corrupt_status_chunk(store, reference):
    _corrupt_status(store)
    f = reference["file"]
    for args in (["run", f, "--store", store], ["plan", f, "--store", store], ["status", store],
                 ["report", store, "--out", store.parent / "r.html"]):
        out = one_line(cli(*args))
        assert "a chunk of the cell table's status is corrupt" in out and "--repair" in out, (args, out)
    code, out = cli("verify", store)
    assert code == 1 and "corrupt beta[0], seed[0]: status" in out, out
    assert cli("verify", store, "--repair")[0] == 0
    rerun(reference, store, cells=4)


def _set_root_attr(url: Path, **attrs) -> None:
    meta = json.loads((url / "zarr.json").read_text())
    meta["attributes"].update(attrs)
    (url / "zarr.json").write_text(json.dumps(meta))


def test_a_sweep_attribute_of_the_wrong_type(store, reference):
    _set_root_attr(store, sweep_yaml=5)
    f = reference["file"]
    for args in (["verify", store], ["run", f, "--store", store], ["status", store]):
        out = one_line(cli(*args))
        assert "root attribute sweep_yaml is int, not a sweep file's text" in out and "--sweep FILE" in out, out
    code, out = cli("verify", store, "--repair", "--sweep", f)
    assert code == 0 and "restored the root metadata" in out, out
    assert len(ResultsStore(str(store)).runs()) == 1  # the run record read, so it was kept
    rerun(reference, store, cells=0)


@pytest.mark.parametrize("name", ["runs", "environment"])
def test_unreadable_runs_or_environment(store, reference, name):
    _set_root_attr(store, **{name: "[{oops"})
    code, out = cli("verify", store)
    assert code == 1 and f"metadata: root attribute {name} is not valid JSON" in out and "Traceback" not in out, out
    out = one_line(cli("run", reference["file"], "--store", store))
    assert f"root attribute {name} is not valid JSON" in out and "sweep verify" in out, out
    code, out = cli("verify", store, "--repair")
    assert code == 0 and "repaired" in out, out
    assert cli("verify", store)[0] == 0
    attrs = ResultsStore(str(store)).attrs()
    assert attrs[f"{name}_unreadable"] == "[{oops"
    if name == "runs":
        rerun(reference, store, cells=0)
    else:  # the environment the data were computed in is unknown now: a run must be told to go on
        out = cli("run", reference["file"], "--store", store)[1]
        assert "--allow-env-change" in out and "not recorded" in out, out


def test_symbolic_links_as_the_store(tmp_path, reference):
    loop, dangling = tmp_path / "loop.zarr", tmp_path / "dangling.zarr"
    os.symlink(loop, loop)
    os.symlink(tmp_path / "nowhere" / "x.zarr", dangling)
    for args in (["status", loop], ["verify", loop], ["unlock", loop], ["run", reference["file"], "--store", loop]):
        out = one_line(cli(*args))
        assert "symbolic link" in out, (args, out)
    for args in (["status", dangling], ["verify", dangling], ["run", reference["file"], "--store", dangling]):
        code, out = cli(*args)
        assert code == 2 and "Traceback" not in out and "File exists" not in out, (args, out)
    out = one_line(cli("run", reference["file"], "--store", dangling))
    assert "a symbolic link to" in out and "which does not exist" in out, out


# ------------------------------------------------------------------------------------- verify beside a live run
def test_verify_ignores_the_partial_files_of_a_live_driver(store):
    """Finding 16: while a live driver holds the store its `*.partial` files are writes in flight: `verify` says
    how many it ignored and exits 0; once the holder is gone the same file is stray."""
    partial = store / "weights" / "c.0.0.0.0.0.0123456789ab.partial"
    partial.write_bytes(b"half")
    lease = Lease.acquire(Location(str(store)), "sweep run (a test's stand-in)")
    try:
        code, out = cli("verify", store)
        assert code == 0 and "1 in-flight partial files of the running driver ignored" in out, out
        assert "stray" not in out, out
    finally:
        lease.release()
    code, out = cli("verify", store)
    assert code == 1 and "stray partial file: weights/c.0.0.0.0.0.0123456789ab.partial" in out, out
