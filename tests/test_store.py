"""The results store without Ray: cell table chunks, whole-chunk data writes, root metadata, verify on the table."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from sweep.config.grid import expand
from sweep import parse_sweep, run_cell
from sweep.run.cell import cell_arrays
from sweep.run.cell import VARIABLES
from sweep.store.chunks import (CHECKED, TABLE_CHUNK_CELLS, chunk_region, chunk_regions, fast_chunk_bytes,
                          fast_chunk_values, fast_codecs, table_chunks)
from sweep.store import layout
from sweep.store.lease import Lease
from sweep.run.provenance import contract
from sweep.store.results_store import DONE, FAILED, PENDING, RUNNING, ResultsStore
from sweep.store.cell_table import CellTable, read_table
from sweep.store.verify import verify

SWEEP = """
name: store-test
seed: 3
data: {{model: ising, n_visible: 10, n_samples: 60}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: exact, epochs: 2, batch_size: 20, record_every: 1}}
grid:
  data.beta: {betas}
  train.seed: {{arange: [0, {seeds}, 1]}}
"""


def make(tmp_path, betas="[0.5, 1.0]", seeds=600, name="s.zarr"):
    sweep = parse_sweep(SWEEP.format(betas=betas, seeds=seeds), "store-test.yaml")
    grid = expand(sweep)
    st = ResultsStore(str(tmp_path / name))
    lease = Lease.acquire(st.location)
    layout.create(st, sweep, grid, contract(), lease)
    st.lease = lease  # held for the test's writes
    return sweep, grid, st


def write_table(st, rows):
    CellTable(st, st.lease).write(rows)


def test_table_chunks_fill_trailing_dimensions_up_to_the_budget():
    assert table_chunks((5, 3, 3)) == (5, 3, 3)
    assert table_chunks((3, 2000)) == (1, TABLE_CHUNK_CELLS)
    assert table_chunks((100, 100)) == (10, 100)
    assert table_chunks((7,)) == (7,)
    for shape in [(5, 3, 3), (3, 2000), (100, 100), (2, 600), (40, 40, 40)]:
        assert np.prod(table_chunks(shape)) <= TABLE_CHUNK_CELLS


def test_chunk_regions_cover_the_array_once_and_clip_to_a_selection():
    regions = list(chunk_regions((2, 3), (5, 7)))
    hit = np.zeros((5, 7), dtype=int)
    for sel in regions:
        hit[sel] += 1
    assert (hit == 1).all() and len(regions) == 9
    assert chunk_region((2, 2), (2, 3), (5, 7)) == (slice(4, 5), slice(6, 7))
    inner = list(chunk_regions((2, 3), (5, 7), within=(slice(1, 3), slice(2, 4))))
    assert inner == [(slice(1, 2), slice(2, 3)), (slice(1, 2), slice(3, 4)), (slice(2, 3), slice(2, 3)),
                     (slice(2, 3), slice(3, 4))]


def test_fast_chunk_bytes_decode_as_zarr_writes_them(tmp_path):
    g = zarr.open_group(str(tmp_path / "f.zarr"), mode="w")
    a = g.create_array("w", shape=(4, 3, 5), chunks=(1, 3, 5), dtype="f4", fill_value=np.nan, compressors=CHECKED)
    plain = g.create_array("p", shape=(4, 3), chunks=(1, 3), dtype="f4", fill_value=np.nan)
    assert fast_codecs(a) and not fast_codecs(plain)  # other codecs: zarr writes those chunks itself
    block = np.random.default_rng(0).normal(size=(1, 3, 5)).astype(np.float32)
    block[0, 1, 2] = np.nan
    (tmp_path / "f.zarr" / "w" / "c" / "2" / "0").mkdir(parents=True)
    (tmp_path / "f.zarr" / "w" / "c" / "2" / "0" / "0").write_bytes(fast_chunk_bytes(block))
    np.testing.assert_array_equal(a[2:3], block)
    assert np.isnan(a[0]).all()
    # zarr's own encoding of the same chunk decodes to the same values, and the checksum guards ours
    a[1:2] = block
    np.testing.assert_array_equal(a[1:2], a[2:3])
    raw = bytearray(fast_chunk_bytes(block))
    raw[len(raw) // 2] ^= 1
    (tmp_path / "f.zarr" / "w" / "c" / "2" / "0" / "0").write_bytes(bytes(raw))
    with pytest.raises(Exception):
        a[2:3]
    # and the direct reader (sweep verify) decodes zarr's own chunk, and refuses flipped or truncated bytes
    zarrs_own = (tmp_path / "f.zarr" / "w" / "c" / "1" / "0" / "0").read_bytes()
    np.testing.assert_array_equal(fast_chunk_values(a, zarrs_own), block)
    with pytest.raises(ValueError, match="CRC32C"):
        fast_chunk_values(a, bytes(raw))
    with pytest.raises(ValueError, match="CRC32C"):
        fast_chunk_values(a, zarrs_own[:-5])


def test_cells_write_one_object_per_variable_and_the_table_few(tmp_path):
    sweep, grid, st = make(tmp_path)
    cells = [grid.cell((1, i)) for i in range(0, 40)]
    st.write_cells([(c, cell_arrays(c.config, c.data_seed, c.train_seed)) for c in cells])
    write_table(st, {c.index: {"status": DONE, "attempts": 1, "host": "h", "cell_data_seed": np.uint64(c.data_seed),
                              "cell_train_seed": np.uint64(c.train_seed)} for c in cells})
    root = tmp_path / "s.zarr"
    for var in VARIABLES:  # one object per cell and variable, side by side in the variable's folder
        assert sorted(p.name for p in (root / var).iterdir() if p.name.startswith("c")) == sorted(
            f"c.1.{i}" + ".0" * (len(xr.open_zarr(root)[var].dims) - 2) for i in range(40)), var
    status_chunks = [p for p in (root / "status").iterdir() if p.name.startswith("c")]
    assert len(status_chunks) == 1 and grid.size == 1200  # table: one chunk holds 1024 cells here
    assert not list(root.rglob("*.partial"))
    ds = xr.open_zarr(root)
    one = run_cell({**cells[7].config.as_dict(), "seed": sweep.seed})
    np.testing.assert_array_equal(ds["weights"].isel(beta=1, seed=7).values, one["weights"].values)
    np.testing.assert_array_equal(ds["loglik_test"].isel(beta=1, seed=7).values, one["loglik_test"].values)
    assert int(ds["cell_train_seed"].isel(beta=1, seed=7)) == cells[7].train_seed
    st_ = ds["status"].values
    assert (st_[1, :40] == DONE).all() and (st_[1, 40:] == PENDING).all() and (st_[0] == PENDING).all()
    assert np.isnan(ds["weights"].isel(beta=0).values).all()


def test_table_rows_merge_across_chunks_and_keep_other_cells(tmp_path):
    _, grid, st = make(tmp_path, betas="[0.5, 1.0, 1.5]", seeds=700)
    assert st.group("r")["status"].chunks == (1, 700)
    write_table(st, {(0, 3): {"status": RUNNING, "attempts": 1}, (2, 699): {"status": FAILED, "error": "boom"}})
    write_table(st, {(0, 3): {"status": DONE, "wall_time": 0.5, "provenance": json.dumps({"a": 1})},
                    (1, 0): {"attempts": 4}})
    t = read_table(st)
    assert t["status"][0, 3] == DONE and t["attempts"][0, 3] == 1 and t["wall_time"][0, 3] == 0.5
    assert t["status"][2, 699] == FAILED and t["error"][2, 699] == "boom"
    assert t["attempts"][1, 0] == 4 and t["status"][1, 0] == PENDING
    assert (t["status"] != PENDING).sum() == 2


def test_run_records_keep_the_consolidated_listing(tmp_path):
    _, _, st = make(tmp_path, seeds=4)
    pos = st.record_run({"command": "sweep run x", "end": None})
    meta = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())
    assert meta.get("consolidated_metadata") and json.loads(meta["attributes"]["runs"])[pos]["command"]
    st.finish_run(pos, end="now", cells_run=3)
    meta = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())
    assert meta.get("consolidated_metadata") and json.loads(meta["attributes"]["runs"])[pos]["cells_run"] == 3
    assert layout.metadata_problems(st) == []  # nothing to heal


def test_a_grow_cut_short_is_healed(tmp_path):
    """A driver killed after resizing some arrays, before the root took the new sweep: the arrays' shapes are
    problems a run mends (back to the root's sweep), and then nothing is left to mend."""
    _, _, st = make(tmp_path, seeds=4)
    g = st.group("r+")
    for name in ("status", "attempts", "wall_time", "host", "error", "provenance", "cell_data_seed", "cell_train_seed"):
        g[name].resize((3, 4))
    problems = layout.metadata_problems(st)
    assert {p.kind for p in problems} == {"shape"} and len(problems) == 8
    assert all(p.kind in layout.HEALABLE for p in problems)
    layout.restore_metadata(st, problems, st.lease)
    assert layout.metadata_problems(st) == []
    listed = zarr.open_group(str(tmp_path / "s.zarr"), mode="r", use_consolidated=True)
    assert listed["status"].shape == (2, 4) and st.group("r")["status"].shape == (2, 4)


def test_verify_repairs_a_corrupt_table_chunk_by_recomputing_its_cells(tmp_path):
    _, grid, st = make(tmp_path, seeds=4)
    cells = list(grid)
    st.write_cells([(c, cell_arrays(c.config, c.data_seed, c.train_seed)) for c in cells])
    write_table(st, {c.index: {"status": DONE} for c in cells})
    assert verify(st).corrupt == {}
    chunk = next(p for p in (tmp_path / "s.zarr" / "status").iterdir() if p.name.startswith("c"))
    chunk.write_bytes(chunk.read_bytes()[:-3])
    rep = verify(st)
    assert set(rep.corrupt) == {c.index for c in cells}  # the chunk held every cell
    assert "status" in rep.corrupt[(0, 0)][0]
    verify(st, repair=True, lease=st.lease)
    assert verify(st).corrupt == {}
    assert (read_table(st)["status"] == PENDING).all()


def test_a_cell_recording_epochs_the_store_lacks_is_refused(tmp_path):
    """A store laid out by another version (other recorded epochs) is never written at wrong positions."""
    from sweep.store.results_store import StoreError

    _, grid, st = make(tmp_path, seeds=2)
    c = grid.cell((0, 0))
    arrays = cell_arrays(c.config, c.data_seed, c.train_seed)
    arrays["epoch"] = arrays["epoch"] + 1  # 1, 2, 3: the store records 0, 1, 2
    with pytest.raises(StoreError, match=r"lacks epochs this cell records \(\[3\]\)"):
        st.write_cells([(c, arrays)])


def test_other_zarr_stores_and_non_empty_folders_are_never_touched(tmp_path):
    from typer.testing import CliRunner

    from sweep.cli import app

    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(SWEEP.format(betas="[0.5]", seeds=2))
    other = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    other.create_array("x", shape=(3,), dtype="f8")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    cli = CliRunner()
    for args in (["run", str(sweep_file), "--store", str(tmp_path / "other.zarr")],
                 ["plan", str(sweep_file), "--store", str(tmp_path / "other.zarr")],
                 ["status", str(tmp_path / "other.zarr")], ["verify", str(tmp_path / "other.zarr")]):
        r = cli.invoke(app, args)
        assert r.exit_code == 2 and "a Zarr store that `sweep run` did not write" in r.output, (args, r.output)
    r = cli.invoke(app, ["run", str(sweep_file), "--store", str(folder)])
    assert r.exit_code == 2 and "a folder that holds other files" in r.output, r.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert list(zarr.open_group(str(tmp_path / "other.zarr"), mode="r").array_keys()) == ["x"]
