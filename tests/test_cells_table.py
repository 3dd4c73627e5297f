"""sweep.cells_table and `sweep table`: one row per cell of real (small) stores, built without Ray: cells computed
by sweep.run.cell.cell_arrays and written as the driver writes them, some done, one failed, one pending."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sweep
from sweep import open_results, parse_sweep
from sweep.science import analysis
from sweep.store import layout
from sweep.run.cell import cell_arrays
from sweep.cli import app
from sweep.config.grid import expand
from sweep.store.lease import Lease
from sweep.run.provenance import contract
from sweep.store.results_store import DONE, FAILED, RUNNING, ResultsStore
from sweep.store.cell_table import CellTable

ISING = """
name: cells-ising
seed: 5
data: {model: ising, n_visible: 8}
rbm: {hidden: spin, n_hidden: 2}
train: {method: exact, learning_rate: 0.05, batch_size: 10, record_every: 2, test_fraction: 0.25}
grid:
  data.beta: [0.5, 1.0]
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [40, 60], train.epochs: [6, 2]}
"""

XY = """
name: cells-xy
seed: 6
data: {model: xy, n_visible: 6, q: 3, n_samples: 40, beta: 0.8}
rbm: {hidden: double_well, theta: -1.0, gamma: 2.0}
train: {method: pcd, pcd_steps: 2, batch_size: 20, epochs: 4, record_every: 2}
grid:
  rbm.n_hidden: [1, 3]
"""

STATS = """
name: cells-stats
seed: 12
data: {model: ising, n_visible: 10}
train: {method: statistics}
grid:
  data.beta: [0.3, 1.0]
  data.n_samples: [30, 100]
"""


def build(tmp_path, text, name, skip=(), fail=()):
    """A store of `text` with every cell done except the indices in `skip` (left pending) and `fail` (failed);
    returns (url, {index: what the table was given})."""
    sw = parse_sweep(text, f"{name}.yaml")
    grid = expand(sw)
    url = str(tmp_path / f"{name}.zarr")
    st = ResultsStore(url)
    lease = Lease.acquire(st.location)
    layout.create(st, sw, grid, contract(), lease)
    rows, done = {}, []
    for k, c in enumerate(grid):
        if c.index in skip:
            continue
        if c.index in fail:
            rows[c.index] = {"status": FAILED, "attempts": 3, "wall_time": 0.25, "host": "node-f",
                             "error": "Traceback (most recent call last):\nRuntimeError: boom"}
            continue
        done.append((c, cell_arrays(c.config, c.data_seed, c.train_seed)))
        rows[c.index] = {"status": DONE, "attempts": 1 + k % 2, "wall_time": 0.5 + k, "host": f"node-{k}"}
    st.write_cells(done)
    CellTable(st, lease).write(rows)
    lease.release()
    return url, rows


@pytest.fixture(scope="module")
def ising(tmp_path_factory):
    return build(tmp_path_factory.mktemp("ising"), ISING, "ising", skip={(1, 1, 1)}, fail={(0, 1, 0)})


def test_one_row_per_cell_with_every_coordinate_and_the_table(ising):
    url, rows = ising
    ds = open_results(url)
    df = sweep.cells_table(ds)
    assert len(df) == ds["status"].size == 8
    assert list(df.columns[:4]) == ["beta", "seed", "n_samples", "epochs"]  # the zipped coordinate follows its dim
    assert list(df.columns[4:]) == ["status", "attempts", "wall_time", "host", "final_epoch", "loglik_train",
                                    "loglik_test", "R", "Q", "FWHM"]
    idx = list(np.ndindex(ds["status"].shape))  # rows in grid order
    for r, i in enumerate(idx):
        row = df.iloc[r]
        assert row["beta"] == ds["beta"].values[i[0]] and row["seed"] == ds["seed"].values[i[1]]
        assert row["n_samples"] == ds["n_samples"].values[i[2]] and row["epochs"] == [6, 2][i[2]]
        given = rows.get(i, {})
        assert row["status"] == {DONE: "done", FAILED: "failed"}.get(given.get("status"), "pending")
        assert row["attempts"] == given.get("attempts", 0)
        assert row["host"] == given.get("host", "")
        assert (np.isnan(row["wall_time"]) if "wall_time" not in given else row["wall_time"] == given["wall_time"])
    assert set(df["status"].cat.categories) == {"pending", "running", "done", "failed"}


def test_final_epoch_is_each_cells_last_record(ising):
    url, _ = ising
    ds = open_results(url)
    df = sweep.cells_table(ds)
    done = df[df["status"] == "done"]
    assert (done["final_epoch"] == done["epochs"]).all()  # 6 and 2: the cells record different epoch counts
    assert set(done["final_epoch"]) == {6, 2}
    assert df.loc[df["status"] != "done", "final_epoch"].isna().all()
    for _, row in done.iterrows():
        cell = ds.sel(beta=row["beta"], seed=row["seed"], n_samples=row["n_samples"])
        e = int(row["final_epoch"])
        assert np.isnan(cell["weights"].sel(epoch=slice(e + 1, None)).values).all()  # NaN past the last record
        for v in ("loglik_train", "loglik_test"):
            expect = float(cell[v].sel(epoch=e))
            assert np.isfinite(expect) and row[v] == expect
    assert df.loc[df["status"] != "done", ["loglik_train", "R", "Q", "FWHM"]].isna().all().all()


def test_observables_are_analysis_values_at_the_last_epoch_averaged_over_hidden_units(ising):
    url, _ = ising
    ds = open_results(url)
    df = sweep.cells_table(ds, observables=("r", "fwhm", "IPR", "Q"))
    assert list(df.columns[-4:]) == ["R", "FWHM", "IPR", "Q"]
    fns = {"R": analysis.localization, "FWHM": analysis.fwhm, "IPR": analysis.ipr, "Q": analysis.smoothness}
    done = df[df["status"] == "done"]
    assert len(done) == 6
    for _, row in done.iterrows():
        w = ds["weights"].sel(beta=row["beta"], seed=row["seed"], n_samples=row["n_samples"],
                              epoch=row["epochs"]).load()
        for name, fn in fns.items():
            assert row[name] == pytest.approx(float(fn(w).mean("hidden")), rel=1e-12), name
        # and R by its definition, per unit then averaged
        phi = 2 * np.pi * np.arange(8) / 8
        w2 = w.values.astype(np.float64) ** 2
        R = np.abs((w2 * np.exp(1j * phi)).sum(-1)) / w2.sum(-1)
        assert row["R"] == pytest.approx(R.mean(), rel=1e-9)
    assert done["R"].nunique() == 6  # values per cell, not one broadcast number


def test_selections_unknown_and_inapplicable_observables(ising):
    url, _ = ising
    ds = open_results(url)
    sub = sweep.cells_table(ds.sel(beta=1.0, seed=0))
    assert len(sub) == 2 and (sub["beta"] == 1.0).all() and (sub["seed"] == 0).all()
    full = sweep.cells_table(ds)
    pd.testing.assert_frame_equal(sub.reset_index(drop=True),
                                  full[(full["beta"] == 1.0) & (full["seed"] == 0)].reset_index(drop=True))
    with pytest.raises(ValueError, match="unknown observable 'width'"):
        sweep.cells_table(ds, observables=["width"])
    with pytest.raises(ValueError, match="angular_order needs XY weights"):
        sweep.cells_table(ds, observables=["angular_order"])
    assert list(sweep.cells_table(ds, observables=[]).columns)[-1] == "loglik_test"


def test_xy_store_ignores_padded_hidden_units(tmp_path):
    url, _ = build(tmp_path, XY, "xy")
    ds = open_results(url)
    df = sweep.cells_table(ds, observables=["R", "angular_order", "spatial_order"])
    assert list(df["n_hidden"]) == [1, 3] and list(df["final_epoch"]) == [4, 4]
    for k, n_hidden in enumerate((1, 3)):
        w = ds["weights"].sel(n_hidden=n_hidden, epoch=4).isel(hidden=slice(0, n_hidden)).load()
        assert np.isfinite(w.values).all()
        for col, fn in (("R", analysis.localization), ("angular_order", analysis.angular_order),
                        ("spatial_order", analysis.spatial_order)):
            assert df[col][k] == pytest.approx(float(fn(w).mean("hidden")), rel=1e-12), col
    assert np.isnan(ds["weights"].sel(n_hidden=1).isel(hidden=slice(1, None)).values).all()  # the padding


def test_statistics_store_shows_its_statistics(tmp_path):
    url, _ = build(tmp_path, STATS, "stats", skip={(1, 1)})
    ds = open_results(url)
    df = sweep.cells_table(ds)
    assert list(df.columns) == ["beta", "n_samples", "status", "attempts", "wall_time", "host", "top_eigenvalue",
                                "top_mode_weight"]
    assert list(df["status"]) == ["done", "done", "done", "pending"]
    for v in ("top_eigenvalue", "top_mode_weight"):
        np.testing.assert_array_equal(df[v].values, ds[v].values.ravel())
    assert np.isfinite(df["top_eigenvalue"][:3]).all() and np.isnan(df["top_eigenvalue"][3])
    with pytest.raises(ValueError, match="statistics store"):
        sweep.cells_table(ds, observables=["R"])


def test_cli_prints_and_writes_csv_json_and_refuses_other_formats(ising, tmp_path):
    url, _ = ising
    ds = open_results(url)
    cli = CliRunner()
    r = cli.invoke(app, ["table", url])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].split()[:5] == ["beta", "seed", "n_samples", "epochs", "status"] and len(lines) == 1 + 8
    assert sum("failed" in ln for ln in lines) == 1 and sum("pending" in ln for ln in lines) == 1
    r = cli.invoke(app, ["table", url, "--sel", "beta=1.0", "--observable", "fwhm", "--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 0 and "wrote" in r.output and "(4 cells)" in r.output, r.output
    back = pd.read_csv(tmp_path / "c.csv")
    want = sweep.cells_table(ds.sel(beta=1.0), observables=["FWHM"])
    assert list(back.columns) == list(want.columns) and len(back) == 4
    np.testing.assert_allclose(back["FWHM"].values, want["FWHM"].values, rtol=1e-12)
    assert list(back["status"]) == list(want["status"].astype(str))
    r = cli.invoke(app, ["table", url, "--out", str(tmp_path / "c.json")])
    assert r.exit_code == 0, r.output
    recs = json.loads((tmp_path / "c.json").read_text())
    assert len(recs) == 8 and recs[0]["status"] in ("done", "failed", "pending") and "R" in recs[0]
    pending = [x for x in recs if x["status"] == "pending"]
    assert len(pending) == 1 and pending[0]["R"] is None and pending[0]["final_epoch"] is None
    for bad, msg in ((["--out", str(tmp_path / "c.txt")], "unknown format '.txt'; use .csv, .parquet or .json"),
                     (["--observable", "width"], "unknown observable 'width'"),
                     (["--sel", "beta=0.7"], "0.7 is not on the grid")):
        r = cli.invoke(app, ["table", url] + bad)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, (bad, r.output)
        assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "c.txt").exists()
    r = cli.invoke(app, ["table", str(tmp_path / "nothing.zarr")])
    assert r.exit_code == 2 and "no sweep store there" in r.output


def test_cli_parquet_is_written_or_refused_in_one_line(ising, tmp_path):
    import importlib.util

    url, _ = ising
    out = tmp_path / "c.parquet"
    r = CliRunner().invoke(app, ["table", url, "--out", str(out)])
    if importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet"):
        assert r.exit_code == 0, r.output
        assert len(pd.read_parquet(out)) == 8
    else:
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
        assert ".parquet needs pyarrow, which is not installed (pip install pyarrow)" in r.output
        assert not out.exists()
